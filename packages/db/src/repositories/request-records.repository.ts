/**
 * Request accounting rows (metadata only), written by the queue worker.
 */
import type { RecordBatchMessage, RequestRecord } from "@codex-pooler/core";
import { sql } from "kysely";
import type { Db } from "../types.ts";

/**
 * Inserts records and their attempts in one statement: the batch travels as
 * one JSON parameter that Postgres unpacks with json_to_recordset. Measured
 * in the benchmark, where the worker shares a process with the gateway:
 * per-row VALUES lists, and later one Postgres array per column (every
 * element escaped in JavaScript by the driver), were each a visible share of
 * the gateway's CPU; this is a single native call.
 * Idempotent (ON CONFLICT DO NOTHING), and atomic as one statement.
 */
export async function writeRequestRecords(db: Db, records: readonly RequestRecord[]): Promise<void> {
  if (records.length === 0) return;
  await writeRecordBatch(db, JSON.stringify({ v: 1, records: records.map(wellFormedRecord) }));
}

/** A lone UTF-16 surrogate written as a JSON escape (see `wellFormedRecord`). */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * The text to hand `writeRecordBatch` for a batch message already validated:
 * the message's own text, so the worker holds no object graph of the records
 * while Postgres writes them (in a one-process install those would outlive
 * young-generation collections and slow the gateway's); re-encoded only when
 * it carries a lone-surrogate escape.
 */
export function recordBatchText(messageText: string, message: RecordBatchMessage): string {
  if (!SURROGATE_ESCAPE.test(messageText)) return messageText;
  return JSON.stringify({ v: 1, records: message.records.map(wellFormedRecord) });
}

/** Writes the records of a batch message given as JSON text (`{"v":1,"records":[…]}`), validated by the caller. */
export async function writeRecordBatch(db: Db, messageText: string): Promise<void> {
  await sql`
    WITH r AS (
      SELECT * FROM json_to_recordset((${messageText}::json)->'records') AS x(
        id text, "poolId" text, "apiKeyId" text, "accountId" text, model text, route text, transport text,
        status text, "httpStatus" int, "errorCode" text, "clientOriginator" text, "startedAt" float8,
        "completedAt" float8, "ttfbMs" float8, "durationMs" float8, "gatewayOverheadMs" float8, usage json,
        attempts json)
    ), records AS (
      INSERT INTO request_records (
        id, pool_id, api_key_id, account_id, model, route, transport, status, http_status, error_code,
        attempt_count, client_originator, started_at, completed_at, ttfb_ms, duration_ms, gateway_overhead_ms,
        input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, total_tokens)
      SELECT id, "poolId", "apiKeyId", "accountId", model, route, transport, status, "httpStatus", "errorCode",
        json_array_length(attempts), "clientOriginator", to_timestamp("startedAt" / 1000.0),
        to_timestamp("completedAt" / 1000.0), "ttfbMs", "durationMs", "gatewayOverheadMs",
        (usage->>'inputTokens')::int, (usage->>'cachedInputTokens')::int, (usage->>'outputTokens')::int,
        (usage->>'reasoningTokens')::int, (usage->>'totalTokens')::int
      FROM r
      ON CONFLICT (id) DO NOTHING
    )
    INSERT INTO request_attempts (
      id, request_id, attempt_no, account_id, status, http_status, error_code, started_at, ttfb_ms, duration_ms,
      input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, total_tokens)
    SELECT a.id, r.id, a."attemptNo", a."accountId", a.status, a."httpStatus", a."errorCode",
      to_timestamp(a."startedAt" / 1000.0), a."ttfbMs", a."durationMs",
      (a.usage->>'inputTokens')::int, (a.usage->>'cachedInputTokens')::int, (a.usage->>'outputTokens')::int,
      (a.usage->>'reasoningTokens')::int, (a.usage->>'totalTokens')::int
    FROM r, json_to_recordset(r.attempts) AS a(
      id text, "attemptNo" int, "accountId" text, status text, "httpStatus" int, "errorCode" text,
      "startedAt" float8, "ttfbMs" float8, "durationMs" float8, usage json)
    ON CONFLICT DO NOTHING`.execute(db);
}

/**
 * Free-text fields (the model a client named, its originator) may hold a lone
 * UTF-16 surrogate: JSON.stringify writes it as `\ud800`, which Postgres
 * refuses — failing the whole batch, other clients' records with it. Such
 * characters become U+FFFD, as the driver's UTF-8 encoding would make them.
 */
function wellFormedRecord(r: RequestRecord): RequestRecord {
  const model = wellFormed(r.model);
  const clientOriginator = wellFormed(r.clientOriginator);
  return model === r.model && clientOriginator === r.clientOriginator ? r : { ...r, model, clientOriginator };
}

function wellFormed(s: string | null): string | null {
  // String.prototype.isWellFormed/toWellFormed: Node 20 has them; TypeScript's ES2023 lib does not declare them.
  const str = s as (string & { isWellFormed(): boolean; toWellFormed(): string }) | null;
  return str === null || str.isWellFormed() ? s : str.toWellFormed();
}
