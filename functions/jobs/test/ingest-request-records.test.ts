import type { QueueBatchEvent, RecordBatchMessage } from "@codex-pooler/core";
import { silentLogger } from "@codex-pooler/logging";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../tests/support/db.ts";
import { createIngestRequestRecordsHandler } from "../src/ingest-request-records.ts";

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0, 123);

const batch: RecordBatchMessage = {
  v: 1,
  records: [
    {
      id: "req_0000000000000000000000000a",
      poolId: "pool_0000000000000000000000000p",
      apiKeyId: "key_0000000000000000000000000k",
      accountId: "acct_000000000000000000000000b",
      model: "gpt-5.4",
      route: "responses",
      transport: "http_sse",
      status: "succeeded",
      httpStatus: 200,
      errorCode: null,
      clientOriginator: "codex_cli_rs",
      startedAt: T0,
      completedAt: T0 + 850,
      ttfbMs: 120.5,
      durationMs: 850,
      gatewayOverheadMs: 0.75,
      usage: {
        inputTokens: 1200,
        cachedInputTokens: 1000,
        outputTokens: 34,
        reasoningTokens: 8,
        totalTokens: 1234,
      },
      attempts: [
        {
          id: "att_0000000000000000000000001",
          attemptNo: 1,
          accountId: "acct_000000000000000000000000a",
          status: "retryable_failed",
          httpStatus: 429,
          errorCode: "usage_limit_reached",
          startedAt: T0 + 1,
          ttfbMs: null,
          durationMs: 15,
          usage: null,
        },
        {
          id: "att_0000000000000000000000002",
          attemptNo: 2,
          accountId: "acct_000000000000000000000000b",
          status: "succeeded",
          httpStatus: 200,
          errorCode: null,
          startedAt: T0 + 17,
          ttfbMs: 100,
          durationMs: 830,
          usage: {
            inputTokens: 1200,
            cachedInputTokens: 1000,
            outputTokens: 34,
            reasoningTokens: 8,
            totalTokens: 1234,
          },
        },
      ],
    },
    {
      id: "req_0000000000000000000000000b",
      poolId: null,
      apiKeyId: null,
      accountId: null,
      model: null,
      route: "responses",
      transport: "http_json",
      status: "rejected",
      httpStatus: 401,
      errorCode: "invalid_api_key",
      clientOriginator: null,
      startedAt: T0,
      completedAt: T0 + 1,
      ttfbMs: null,
      durationMs: 1,
      gatewayOverheadMs: null,
      usage: null,
      attempts: [],
    },
  ],
};

function event(...bodies: Array<{ id: string; body: string }>): QueueBatchEvent {
  return {
    Records: bodies.map((b) => ({
      messageId: b.id,
      receiptHandle: `rh-${b.id}`,
      body: b.body,
      attributes: { ApproximateReceiveCount: "1", SentTimestamp: String(T0) },
      eventSource: "aws:sqs" as const,
      eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:request-records",
    })),
  };
}

describe("ingest-request-records", () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase({ open: true });
  });
  afterAll(() => test.drop());

  it("writes every field of records and attempts, idempotently, and reports bad messages alone", async () => {
    const db = test.handle!.db;
    const handler = createIngestRequestRecordsHandler({ db, logger: silentLogger });
    const good = JSON.stringify(batch);
    const bad = JSON.stringify({ v: 1, records: [{ ...batch.records[1], prompt: "hello" }] });
    const result = await handler(
      event({ id: "m1", body: good }, { id: "m2", body: bad }, { id: "m3", body: "{not json" }),
      {} as never,
    );
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: "m2" }, { itemIdentifier: "m3" }]);
    // At-least-once delivery: the same message again changes nothing.
    expect((await handler(event({ id: "m1", body: good }), {} as never)).batchItemFailures).toEqual([]);

    const records = await sql<Record<string, unknown>>`
      SELECT id, pool_id, api_key_id, account_id, model, route, transport, status, http_status, error_code,
        attempt_count, client_originator, extract(epoch from started_at) * 1000 AS started_ms,
        extract(epoch from completed_at) * 1000 AS completed_ms, ttfb_ms, duration_ms, gateway_overhead_ms,
        input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, total_tokens
      FROM request_records ORDER BY id`.execute(db);
    expect(
      records.rows.map((r) => ({
        ...r,
        started_ms: Number(r["started_ms"]),
        completed_ms: Number(r["completed_ms"]),
      })),
    ).toEqual([
      {
        id: "req_0000000000000000000000000a",
        pool_id: "pool_0000000000000000000000000p",
        api_key_id: "key_0000000000000000000000000k",
        account_id: "acct_000000000000000000000000b",
        model: "gpt-5.4",
        route: "responses",
        transport: "http_sse",
        status: "succeeded",
        http_status: 200,
        error_code: null,
        attempt_count: 2,
        client_originator: "codex_cli_rs",
        started_ms: T0,
        completed_ms: T0 + 850,
        ttfb_ms: 120.5,
        duration_ms: 850,
        gateway_overhead_ms: 0.75,
        input_tokens: 1200,
        cached_input_tokens: 1000,
        output_tokens: 34,
        reasoning_tokens: 8,
        total_tokens: 1234,
      },
      {
        id: "req_0000000000000000000000000b",
        pool_id: null,
        api_key_id: null,
        account_id: null,
        model: null,
        route: "responses",
        transport: "http_json",
        status: "rejected",
        http_status: 401,
        error_code: "invalid_api_key",
        attempt_count: 0,
        client_originator: null,
        started_ms: T0,
        completed_ms: T0 + 1,
        ttfb_ms: null,
        duration_ms: 1,
        gateway_overhead_ms: null,
        input_tokens: null,
        cached_input_tokens: null,
        output_tokens: null,
        reasoning_tokens: null,
        total_tokens: null,
      },
    ]);

    const attempts = await sql<Record<string, unknown>>`
      SELECT id, request_id, attempt_no, account_id, status, http_status, error_code,
        extract(epoch from started_at) * 1000 AS started_ms, ttfb_ms, duration_ms, input_tokens, total_tokens
      FROM request_attempts ORDER BY id`.execute(db);
    expect(attempts.rows.map((r) => ({ ...r, started_ms: Number(r["started_ms"]) }))).toEqual([
      {
        id: "att_0000000000000000000000001",
        request_id: "req_0000000000000000000000000a",
        attempt_no: 1,
        account_id: "acct_000000000000000000000000a",
        status: "retryable_failed",
        http_status: 429,
        error_code: "usage_limit_reached",
        started_ms: T0 + 1,
        ttfb_ms: null,
        duration_ms: 15,
        input_tokens: null,
        total_tokens: null,
      },
      {
        id: "att_0000000000000000000000002",
        request_id: "req_0000000000000000000000000a",
        attempt_no: 2,
        account_id: "acct_000000000000000000000000b",
        status: "succeeded",
        http_status: 200,
        error_code: null,
        started_ms: T0 + 17,
        ttfb_ms: 100,
        duration_ms: 830,
        input_tokens: 1200,
        total_tokens: 1234,
      },
    ]);
  });

  it("stores a model name with a lone surrogate as U+FFFD instead of failing the batch", async () => {
    const db = test.handle!.db;
    const handler = createIngestRequestRecordsHandler({ db, logger: silentLogger });
    const record = { ...batch.records[1]!, id: "req_0000000000000000000000000c", model: "gpt-\ud800x" };
    const result = await handler(
      event({ id: "m4", body: JSON.stringify({ v: 1, records: [record] }) }),
      {} as never,
    );
    expect(result.batchItemFailures).toEqual([]);
    const row = await sql<{ model: string }>`
      SELECT model FROM request_records WHERE id = 'req_0000000000000000000000000c'`.execute(db);
    expect(row.rows).toEqual([{ model: "gpt-\ufffdx" }]);
  });
});
