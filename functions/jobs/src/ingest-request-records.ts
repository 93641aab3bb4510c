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
  checkRecordBatchMessage,
  type Logger,
  type QueueBatchEvent,
  type QueueBatchResult,
} from "@codex-pooler/core";
import { type Db, recordBatchText, writeRecordBatch } from "@codex-pooler/db";
import middy from "@middy/core";

export function createIngestRequestRecordsHandler(deps: { db: Db; logger: Logger }) {
  const base = async (event: QueueBatchEvent): Promise<QueueBatchResult> => {
    const failures: QueueBatchResult["batchItemFailures"] = [];
    for (const message of event.Records) {
      // Only the message's text is held while Postgres writes: the parsed records are dropped before the wait.
      let text: string;
      try {
        // recordBatchMessageSchema's rules, checked without building a copy (see record-check.ts).
        const parsed = checkRecordBatchMessage(JSON.parse(message.body));
        if (!parsed.success) {
          deps.logger.warn(
            { messageId: message.messageId, path: parsed.path.join("."), problem: parsed.message },
            "request-record message refused",
          );
          failures.push({ itemIdentifier: message.messageId });
          continue;
        }
        text = recordBatchText(message.body, parsed.data);
      } catch {
        deps.logger.warn({ messageId: message.messageId }, "request-record message is not JSON");
        failures.push({ itemIdentifier: message.messageId });
        continue;
      }
      try {
        await writeRecordBatch(deps.db, text);
        // Let other work (the gateway, in a one-process install) run between messages.
        await new Promise((resolve) => setImmediate(resolve));
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
