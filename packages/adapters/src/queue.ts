import type { QueueBatchResult, QueueRecord } from "@codex-pooler/core";

/** How a dead-letter redrive moved the messages. */
export type RedriveMethod = "message-move-task" | "resend" | "in-process";

export interface RedriveResult {
  /** Messages moved from the dead-letter queue back to the source queue. */
  moved: number;
  method: RedriveMethod;
}

/** A queue transport whose dead letters can be sent back to their source queue. */
export interface DeadLetterRedrive {
  redriveDeadLetters(queue: string): Promise<RedriveResult>;
}

/**
 * Moves the dead letters of `queue` back onto it (after the cause was fixed).
 * SQS: StartMessageMoveTask where the endpoint has it, else receive-and-resend;
 * in-process: the in-memory dead-letter list.
 *
 * Example: `await redriveDeadLetters(sqsQueue, "codex-pooler-jobs") // → { moved: 3, method: "message-move-task" }`
 */
export function redriveDeadLetters(transport: DeadLetterRedrive, queue: string): Promise<RedriveResult> {
  return transport.redriveDeadLetters(queue);
}

export type QueueErrorCode = "queue_full" | "queue_send_failed" | "message_too_large" | "queue_not_found";

/** A send was refused or did not complete; nothing of the message bodies is in the message. */
export class QueueError extends Error {
  constructor(
    readonly code: QueueErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "QueueError";
  }
}

/** What went wrong where, for the consumer's error hook (which decides how to log it). */
export interface ConsumerErrorContext {
  queue: string;
  phase: "receive" | "handler" | "delete" | "send";
}

export type ConsumerErrorHook = (error: unknown, context: ConsumerErrorContext) => void;

/** Default hook: one line on stderr with the error's name and message (handlers must not put secrets there). */
export const stderrErrorHook: ConsumerErrorHook = (error, context) => {
  const e = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  process.stderr.write(`queue ${context.queue} ${context.phase} failed: ${e}\n`);
};

/**
 * Which records of a batch failed, with Lambda's ReportBatchItemFailures
 * rules: no result or an empty list → all succeeded; an item identifier that
 * is empty or not in the batch, or a malformed result → the whole batch failed.
 */
export function failedRecords(
  records: readonly QueueRecord[],
  result: QueueBatchResult | undefined | null,
): Set<string> | "all" {
  if (result === undefined || result === null) return new Set();
  const failures = (result as Partial<QueueBatchResult>).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return "all";
  const ids = new Set(records.map((r) => r.messageId));
  const failed = new Set<string>();
  for (const f of failures) {
    const id = (f as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== "string" || !ids.has(id)) return "all";
    failed.add(id);
  }
  return failed;
}

/** A sleep that ends early when `signal` aborts (resolves, never rejects). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
