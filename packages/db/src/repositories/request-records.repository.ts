/**
 * Request accounting rows (metadata only), written by the queue worker.
 */
import type { AttemptRecord, RequestRecord } from "@codex-pooler/core";
import { sql } from "kysely";
import { withTransaction } from "../transaction.ts";
import type { Db } from "../types.ts";

/**
 * Inserts records and attempts with one statement each, as column arrays
 * through unnest(): a few parameters instead of twenty per row, so building
 * and sending a 1,000-record batch stays cheap for the worker (measured:
 * the per-row VALUES list dominated the ingest when it shares a process
 * with the gateway).
 */
export async function writeRequestRecords(db: Db, records: readonly RequestRecord[]): Promise<void> {
  if (records.length === 0) return;
  const col = <T>(f: (r: RequestRecord) => T) => records.map(f);
  const attempts = records.flatMap((r) => r.attempts.map((a) => ({ r, a })));
  const acol = <T>(f: (x: { r: RequestRecord; a: AttemptRecord }) => T) => attempts.map(f);
  const ts = (t: number) => new Date(t).toISOString();
  await withTransaction(db, async (tx) => {
    await sql`
      INSERT INTO request_records (
        id, pool_id, api_key_id, account_id, model, route, transport, status, http_status, error_code,
        attempt_count, client_originator, started_at, completed_at, ttfb_ms, duration_ms, gateway_overhead_ms,
        input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, total_tokens)
      SELECT * FROM unnest(
        ${col((r) => r.id)}::text[], ${col((r) => r.poolId)}::text[], ${col((r) => r.apiKeyId)}::text[],
        ${col((r) => r.accountId)}::text[], ${col((r) => r.model)}::text[], ${col((r) => r.route)}::text[],
        ${col((r) => r.transport)}::text[], ${col((r) => r.status)}::text[], ${col((r) => r.httpStatus)}::int[],
        ${col((r) => r.errorCode)}::text[], ${col((r) => r.attempts.length)}::int[],
        ${col((r) => r.clientOriginator)}::text[], ${col((r) => ts(r.startedAt))}::timestamptz[],
        ${col((r) => ts(r.completedAt))}::timestamptz[], ${col((r) => r.ttfbMs)}::float8[],
        ${col((r) => r.durationMs)}::float8[], ${col((r) => r.gatewayOverheadMs)}::float8[],
        ${col((r) => r.usage?.inputTokens ?? null)}::int[], ${col((r) => r.usage?.cachedInputTokens ?? null)}::int[],
        ${col((r) => r.usage?.outputTokens ?? null)}::int[], ${col((r) => r.usage?.reasoningTokens ?? null)}::int[],
        ${col((r) => r.usage?.totalTokens ?? null)}::int[])
      ON CONFLICT (id) DO NOTHING`.execute(tx);
    if (attempts.length === 0) return;
    await sql`
      INSERT INTO request_attempts (
        id, request_id, attempt_no, account_id, status, http_status, error_code, started_at, ttfb_ms, duration_ms,
        input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, total_tokens)
      SELECT * FROM unnest(
        ${acol((x) => x.a.id)}::text[], ${acol((x) => x.r.id)}::text[], ${acol((x) => x.a.attemptNo)}::int[],
        ${acol((x) => x.a.accountId)}::text[], ${acol((x) => x.a.status)}::text[], ${acol((x) => x.a.httpStatus)}::int[],
        ${acol((x) => x.a.errorCode)}::text[], ${acol((x) => ts(x.a.startedAt))}::timestamptz[],
        ${acol((x) => x.a.ttfbMs)}::float8[], ${acol((x) => x.a.durationMs)}::float8[],
        ${acol((x) => x.a.usage?.inputTokens ?? null)}::int[], ${acol((x) => x.a.usage?.cachedInputTokens ?? null)}::int[],
        ${acol((x) => x.a.usage?.outputTokens ?? null)}::int[], ${acol((x) => x.a.usage?.reasoningTokens ?? null)}::int[],
        ${acol((x) => x.a.usage?.totalTokens ?? null)}::int[])
      ON CONFLICT DO NOTHING`.execute(tx);
  });
}
