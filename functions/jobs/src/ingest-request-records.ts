/**
 * SQS consumer: writes the gateway's metadata-only request records. Each
 * message holds many requests; each is validated strictly (a record that
 * could carry anything but metadata is refused) and written in one
 * transaction with its attempts. Delivery is at-least-once, so writes are
 * idempotent (ON CONFLICT DO NOTHING on the record and attempt ids). A bad
 * message is reported as a partial batch failure and, after the queue's
 * maxReceiveCount, lands in the dead-letter queue; good ones are not held up.
 */

import {
  type Logger,
  type QueueBatchEvent,
  type QueueBatchResult,
  type RequestRecord,
  recordBatchMessageSchema,
} from "@codex-pooler/core";
import { type Db, withTransaction } from "@codex-pooler/db";
import middy from "@middy/core";

const ms = (t: number) => new Date(t);

function usageColumns(u: RequestRecord["usage"]) {
  return {
    input_tokens: u?.inputTokens ?? null,
    cached_input_tokens: u?.cachedInputTokens ?? null,
    output_tokens: u?.outputTokens ?? null,
    reasoning_tokens: u?.reasoningTokens ?? null,
    total_tokens: u?.totalTokens ?? null,
  };
}

export async function writeRequestRecords(db: Db, records: readonly RequestRecord[]): Promise<void> {
  if (records.length === 0) return;
  await withTransaction(db, async (tx) => {
    await tx
      .insertInto("request_records")
      .values(
        records.map((r) => ({
          id: r.id,
          pool_id: r.poolId,
          api_key_id: r.apiKeyId,
          account_id: r.accountId,
          model: r.model,
          route: r.route,
          transport: r.transport,
          status: r.status,
          http_status: r.httpStatus,
          error_code: r.errorCode,
          attempt_count: r.attempts.length,
          client_originator: r.clientOriginator,
          started_at: ms(r.startedAt),
          completed_at: ms(r.completedAt),
          ttfb_ms: r.ttfbMs,
          duration_ms: r.durationMs,
          gateway_overhead_ms: r.gatewayOverheadMs,
          ...usageColumns(r.usage),
        })),
      )
      .onConflict((oc) => oc.column("id").doNothing())
      .execute();
    const attempts = records.flatMap((r) =>
      r.attempts.map((a) => ({
        id: a.id,
        request_id: r.id,
        attempt_no: a.attemptNo,
        account_id: a.accountId,
        status: a.status,
        http_status: a.httpStatus,
        error_code: a.errorCode,
        started_at: ms(a.startedAt),
        ttfb_ms: a.ttfbMs,
        duration_ms: a.durationMs,
        ...usageColumns(a.usage),
      })),
    );
    if (attempts.length > 0) {
      await tx
        .insertInto("request_attempts")
        .values(attempts)
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
  });
}

export function createIngestRequestRecordsHandler(deps: { db: Db; logger: Logger }) {
  const base = async (event: QueueBatchEvent): Promise<QueueBatchResult> => {
    const failures: QueueBatchResult["batchItemFailures"] = [];
    for (const message of event.Records) {
      let parsed: ReturnType<typeof recordBatchMessageSchema.safeParse>;
      try {
        parsed = recordBatchMessageSchema.safeParse(JSON.parse(message.body));
      } catch {
        deps.logger.warn({ messageId: message.messageId }, "request-record message is not JSON");
        failures.push({ itemIdentifier: message.messageId });
        continue;
      }
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        deps.logger.warn(
          { messageId: message.messageId, path: issue?.path.join("."), problem: issue?.message },
          "request-record message refused",
        );
        failures.push({ itemIdentifier: message.messageId });
        continue;
      }
      try {
        await writeRequestRecords(deps.db, parsed.data.records);
      } catch (err) {
        deps.logger.error(
          { err, messageId: message.messageId },
          "request records not written; will be retried",
        );
        failures.push({ itemIdentifier: message.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
  return middy<QueueBatchEvent, QueueBatchResult>().handler(base);
}
