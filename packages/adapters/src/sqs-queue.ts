import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import type {
  QueueBatchEvent,
  QueueConsumer,
  QueueHandler,
  QueueProducer,
  QueueRecord,
} from "@codex-pooler/core";
import {
  type ConsumerErrorHook,
  type DeadLetterRedrive,
  failedRecords,
  pause,
  QueueError,
  type RedriveResult,
  stderrErrorHook,
} from "./queue.ts";

export interface SqsQueueOptions {
  client: SQSClient;
  /** Long-poll wait per ReceiveMessage (0–20 s). Default 20. */
  waitTimeSeconds?: number;
  /** Visibility timeout for received batches; default: the queue's own. */
  visibilityTimeoutSeconds?: number;
  /** Largest SendMessageBatch payload in bytes (SQS limit: 256 KiB on most endpoints). */
  maxBatchBytes?: number;
  /** Batches sent in parallel by one send() call. Default 4. */
  sendConcurrency?: number;
  /** Called for receive/handler/delete failures (which the consumer survives). Default: one line on stderr. */
  onError?: ConsumerErrorHook;
  /** How `redriveDeadLetters` moves messages. Default "auto": StartMessageMoveTask if supported, else resend. */
  redriveMethod?: "auto" | "message-move-task" | "resend";
}

interface ResolvedQueue {
  url: string;
  arn: string;
}

const MAX_BATCH_ENTRIES = 10;
const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;
const SEND_ATTEMPTS = 4;

/**
 * SQS behind the core queue ports, with the semantics of an SQS-triggered
 * Lambda: batches of up to 10 records, partial batch failures via
 * `batchItemFailures` (those stay for redelivery, the rest are deleted), a
 * handler that throws fails the whole batch, and the queue's redrive policy
 * dead-letters what keeps failing.
 *
 * Example:
 *   const q = new SqsQueue({ client: new SQSClient(awsClientConfig(cfg)) });
 *   await q.send("codex-pooler-jobs", [JSON.stringify(job)]);
 *   q.start("codex-pooler-jobs", handler, { concurrency: 2 });
 *   await q.stop(); // finishes in-flight batches first
 */
export class SqsQueue implements QueueProducer, QueueConsumer, DeadLetterRedrive {
  readonly #client: SQSClient;
  readonly #waitTimeSeconds: number;
  readonly #visibilityTimeoutSeconds: number | undefined;
  readonly #maxBatchBytes: number;
  readonly #sendConcurrency: number;
  readonly #onError: ConsumerErrorHook;
  readonly #redriveMethod: "auto" | "message-move-task" | "resend";
  readonly #queues = new Map<string, Promise<ResolvedQueue>>();
  #poll = new AbortController();
  #moveTaskUnsupported = false;
  #workers: Promise<void>[] = [];

  constructor(options: SqsQueueOptions) {
    this.#client = options.client;
    this.#waitTimeSeconds = options.waitTimeSeconds ?? 20;
    this.#visibilityTimeoutSeconds = options.visibilityTimeoutSeconds;
    this.#maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.#sendConcurrency = options.sendConcurrency ?? 4;
    this.#onError = options.onError ?? stderrErrorHook;
    this.#redriveMethod = options.redriveMethod ?? "auto";
    if (this.#waitTimeSeconds < 0 || this.#waitTimeSeconds > 20)
      throw new Error("waitTimeSeconds must be 0–20");
  }

  /** The queue's URL and ARN (cached; a name that is already a URL is used as is). */
  resolveQueue(queue: string): Promise<ResolvedQueue> {
    let found = this.#queues.get(queue);
    if (!found) {
      found = this.#lookup(queue);
      this.#queues.set(queue, found);
      found.catch(() => this.#queues.delete(queue));
    }
    return found;
  }

  async #lookup(queue: string): Promise<ResolvedQueue> {
    let url = queue;
    if (!/^https?:\/\//.test(queue)) {
      try {
        const out = await this.#client.send(new GetQueueUrlCommand({ QueueName: queue }));
        if (!out.QueueUrl) throw new Error("GetQueueUrl returned no URL");
        url = out.QueueUrl;
      } catch (err) {
        if (isQueueMissing(err)) {
          throw new QueueError("queue_not_found", `SQS queue "${queue}" does not exist`, { cause: err });
        }
        throw err;
      }
    }
    const attrs = await this.#client.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
    );
    const arn = attrs.Attributes?.QueueArn;
    if (!arn) throw new Error(`SQS queue "${queue}" has no QueueArn attribute`);
    return { url, arn };
  }

  /** SendMessageBatch in chunks of ≤10 entries and ≤ maxBatchBytes; retries entries SQS could not take. */
  async send(queue: string, bodies: readonly string[]): Promise<void> {
    if (bodies.length === 0) return;
    const { url } = await this.resolveQueue(queue);
    const chunks: string[][] = [];
    let current: string[] = [];
    let bytes = 0;
    for (const body of bodies) {
      const size = Buffer.byteLength(body, "utf8");
      if (size > this.#maxBatchBytes) {
        throw new QueueError(
          "message_too_large",
          `a message for "${queue}" has ${size} bytes; the limit is ${this.#maxBatchBytes}`,
        );
      }
      if (current.length === MAX_BATCH_ENTRIES || bytes + size > this.#maxBatchBytes) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push(body);
      bytes += size;
    }
    if (current.length) chunks.push(current);

    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++];
        if (chunk) await this.#sendChunk(queue, url, chunk);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#sendConcurrency, chunks.length) }, worker));
  }

  async #sendChunk(queue: string, url: string, chunk: readonly string[]): Promise<void> {
    let entries: SendMessageBatchRequestEntry[] = chunk.map((body, i) => ({
      Id: String(i),
      MessageBody: body,
    }));
    for (let attempt = 1; ; attempt++) {
      const out = await this.#client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
      const failed = out.Failed ?? [];
      if (failed.length === 0) return;
      const senderFault = failed.find((f) => f.SenderFault);
      if (senderFault || attempt >= SEND_ATTEMPTS) {
        const f = senderFault ?? failed[0];
        throw new QueueError(
          "queue_send_failed",
          `${failed.length} of ${entries.length} messages were not accepted by "${queue}" (${f?.Code ?? "unknown"}: ${f?.Message ?? ""})`,
        );
      }
      const retry = new Set(failed.map((f) => f.Id));
      entries = entries.filter((e) => retry.has(e.Id));
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }

  /**
   * Polls `queue` with `concurrency` long-poll loops (default 1), each handing
   * batches of up to `batchSize` (1–10, default 10) records to `handler`.
   */
  start(
    queue: string,
    handler: QueueHandler,
    options: { batchSize?: number; concurrency?: number } = {},
  ): void {
    const batchSize = Math.min(Math.max(options.batchSize ?? 10, 1), MAX_BATCH_ENTRIES);
    const concurrency = Math.max(options.concurrency ?? 1, 1);
    const signal = this.#poll.signal;
    for (let i = 0; i < concurrency; i++) {
      this.#workers.push(this.#loop(queue, handler, batchSize, signal));
    }
  }

  /**
   * Stops polling and waits until the batches being handled are finished and
   * their successes deleted. A long poll cut short may have taken messages
   * nobody will handle: they come back after the visibility timeout.
   */
  async stop(): Promise<void> {
    this.#poll.abort();
    const workers = this.#workers;
    this.#workers = [];
    this.#poll = new AbortController();
    await Promise.all(workers);
  }

  async #loop(queue: string, handler: QueueHandler, batchSize: number, signal: AbortSignal): Promise<void> {
    let backoffMs = 0;
    while (!signal.aborted) {
      let messages: Message[];
      let arn: string;
      let url: string;
      try {
        ({ url, arn } = await this.resolveQueue(queue));
        const out = await this.#client.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: this.#waitTimeSeconds,
            VisibilityTimeout: this.#visibilityTimeoutSeconds,
            MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
            // The older parameter, for endpoints that predate MessageSystemAttributeNames.
            AttributeNames: ["All"],
          }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
        backoffMs = 0;
      } catch (err) {
        if (signal.aborted) break;
        this.#onError(err, { queue, phase: "receive" });
        backoffMs = Math.min(backoffMs ? backoffMs * 2 : 200, 10_000);
        await pause(backoffMs, signal);
        continue;
      }
      if (messages.length === 0) continue;

      const records = messages.map((m) => toRecord(m, arn));
      const event: QueueBatchEvent = { Records: records };
      let failed: Set<string> | "all";
      try {
        failed = failedRecords(records, await handler(event));
      } catch (err) {
        this.#onError(err, { queue, phase: "handler" });
        failed = "all";
      }
      if (failed === "all") continue;
      const done = records.filter((r) => !failed.has(r.messageId));
      if (done.length === 0) continue;
      try {
        // Not tied to the stop signal: a drain must finish its deletes.
        const out = await this.#client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: url,
            Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
          }),
        );
        if (out.Failed?.length) {
          this.#onError(
            new Error(
              `${out.Failed.length} deletes failed (${out.Failed[0]?.Code ?? "unknown"}); those messages will be redelivered`,
            ),
            {
              queue,
              phase: "delete",
            },
          );
        }
      } catch (err) {
        this.#onError(err, { queue, phase: "delete" });
      }
    }
  }

  /**
   * Moves the messages of `queue`'s dead-letter queue (from its RedrivePolicy)
   * back to `queue`. Uses StartMessageMoveTask and waits for it to finish, or
   * where the endpoint lacks it (moto), receives from the DLQ, resends to the
   * source and deletes what was resent.
   */
  async redriveDeadLetters(queue: string, options: { timeoutMs?: number } = {}): Promise<RedriveResult> {
    const source = await this.resolveQueue(queue);
    const attrs = await this.#client.send(
      new GetQueueAttributesCommand({ QueueUrl: source.url, AttributeNames: ["RedrivePolicy"] }),
    );
    const policy = attrs.Attributes?.RedrivePolicy;
    const dlqArn = policy
      ? (JSON.parse(policy) as { deadLetterTargetArn?: string }).deadLetterTargetArn
      : undefined;
    if (!dlqArn) throw new Error(`SQS queue "${queue}" has no dead-letter queue (no RedrivePolicy)`);

    if (this.#redriveMethod !== "resend" && !this.#moveTaskUnsupported) {
      try {
        const moved = await this.#moveTask(dlqArn, source.arn, options.timeoutMs ?? 60_000);
        return { moved, method: "message-move-task" };
      } catch (err) {
        if (this.#redriveMethod === "message-move-task" || !(err instanceof MoveTaskStartError)) throw err;
        this.#moveTaskUnsupported = true;
      }
    }
    const [, , , , account, dlqName] = dlqArn.split(":");
    if (!dlqName) throw new Error(`bad dead-letter queue ARN in the RedrivePolicy of "${queue}"`);
    const dlq = await this.#client.send(
      new GetQueueUrlCommand({ QueueName: dlqName, QueueOwnerAWSAccountId: account || undefined }),
    );
    if (!dlq.QueueUrl) throw new Error(`dead-letter queue of "${queue}" not found`);
    return { moved: await this.#resend(dlq.QueueUrl, source.url, queue), method: "resend" };
  }

  async #moveTask(sourceArn: string, destinationArn: string, timeoutMs: number): Promise<number> {
    const started = Date.now();
    let TaskHandle: string | undefined;
    try {
      ({ TaskHandle } = await this.#client.send(
        new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn }),
      ));
    } catch (err) {
      if (isUnsupported(err)) throw new MoveTaskStartError(err);
      throw err;
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const out = await this.#client.send(
        new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }),
      );
      const results = out.Results ?? [];
      // Running tasks carry their handle; finished ones are recognised as the newest started since ours.
      const task =
        results.find((r) => TaskHandle && r.TaskHandle === TaskHandle) ??
        results.find((r) => (r.StartedTimestamp ?? 0) >= started - 5_000);
      if (task?.Status === "COMPLETED") return task.ApproximateNumberOfMessagesMoved ?? 0;
      if (task?.Status === "FAILED" || task?.Status === "CANCELLED") {
        throw new Error(
          `message move task ${task.Status.toLowerCase()}: ${task.FailureReason ?? "no reason given"}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`message move task did not finish within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async #resend(dlqUrl: string, sourceUrl: string, queue: string): Promise<number> {
    let moved = 0;
    for (;;) {
      const out = await this.#client.send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MaxNumberOfMessages: MAX_BATCH_ENTRIES,
          // Long enough that a message cannot come round again in this loop.
          VisibilityTimeout: 120,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ["All"],
        }),
      );
      const messages = out.Messages ?? [];
      if (messages.length === 0) return moved;
      const sent = await this.#client.send(
        new SendMessageBatchCommand({
          QueueUrl: sourceUrl,
          Entries: messages.map((m, i) => ({
            Id: String(i),
            MessageBody: m.Body ?? "",
            MessageAttributes: m.MessageAttributes,
          })),
        }),
      );
      const ok = new Set((sent.Successful ?? []).map((s) => s.Id));
      const toDelete = messages.flatMap((m, i) =>
        ok.has(String(i)) && m.ReceiptHandle ? [{ Id: String(i), ReceiptHandle: m.ReceiptHandle }] : [],
      );
      if (toDelete.length) {
        await this.#client.send(new DeleteMessageBatchCommand({ QueueUrl: dlqUrl, Entries: toDelete }));
      }
      moved += toDelete.length;
      if (sent.Failed?.length) {
        throw new QueueError(
          "queue_send_failed",
          `redrive to "${queue}" stopped after ${moved} messages: ${sent.Failed.length} could not be resent (${sent.Failed[0]?.Code ?? "unknown"})`,
        );
      }
    }
  }
}

/** StartMessageMoveTask is not implemented by this endpoint. */
class MoveTaskStartError extends Error {
  constructor(cause: unknown) {
    super("StartMessageMoveTask is not supported by this SQS endpoint", { cause });
    this.name = "MoveTaskStartError";
  }
}

function toRecord(m: Message, arn: string): QueueRecord {
  return {
    messageId: m.MessageId ?? "",
    receiptHandle: m.ReceiptHandle ?? "",
    body: m.Body ?? "",
    attributes: {
      ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? "1",
      SentTimestamp: m.Attributes?.SentTimestamp ?? "0",
    },
    eventSource: "aws:sqs",
    eventSourceARN: arn,
  };
}

function errorName(err: unknown): string {
  return (err as { name?: string; Code?: string }).name ?? "";
}

function isQueueMissing(err: unknown): boolean {
  const name = errorName(err);
  return name === "QueueDoesNotExist" || name === "AWS.SimpleQueueService.NonExistentQueue";
}

/**
 * The endpoint does not implement the operation. moto, for one, answers
 * StartMessageMoveTask with an HTML error page, which the SDK reports as a
 * deserialization error rather than an AWS error code.
 */
function isUnsupported(err: unknown): boolean {
  const e = err as {
    name?: string;
    $metadata?: { httpStatusCode?: number };
    $response?: { statusCode?: number; headers?: Record<string, string> };
  };
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const contentType = e.$response?.headers?.["content-type"] ?? "";
  return (
    ["UnsupportedOperation", "InvalidAction", "NotImplemented", "UnknownOperationException"].includes(
      e.name ?? "",
    ) ||
    status === 404 ||
    status === 501 ||
    (e.name === "SyntaxError" && !contentType.includes("json"))
  );
}
