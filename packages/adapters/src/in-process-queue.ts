import { randomUUID } from "node:crypto";
import type {
  Clock,
  QueueBatchEvent,
  QueueConsumer,
  QueueHandler,
  QueueProducer,
  QueueRecord,
} from "@codex-pooler/core";
import { systemClock } from "./clock.ts";
import {
  type ConsumerErrorHook,
  type DeadLetterRedrive,
  failedRecords,
  QueueError,
  type RedriveResult,
  stderrErrorHook,
} from "./queue.ts";

export interface InProcessQueueSettings {
  /** How long a received message stays invisible before it is redelivered. Default 30 000 ms. */
  visibilityTimeoutMs: number;
  /** Receives after which a message goes to the dead-letter list instead. Default 5. */
  maxReceiveCount: number;
  /** Messages a queue holds (waiting + in flight); send() beyond that throws `queue_full`. Default 10 000. */
  maxMessages: number;
  /** Dead letters kept per queue; past that the oldest are dropped (and counted). Default 10 000. */
  maxDeadLetters: number;
}

export interface InProcessQueueOptions extends Partial<InProcessQueueSettings> {
  clock?: Clock;
  /** Per-queue overrides of the settings above. */
  queues?: Record<string, Partial<InProcessQueueSettings>>;
  onError?: ConsumerErrorHook;
}

export interface DeadLetter {
  messageId: string;
  body: string;
  sentTimestamp: number;
  receiveCount: number;
  deadLetteredAt: number;
}

export interface InProcessQueueStats {
  /** Waiting to be received (visible or waiting out a visibility timeout). */
  waiting: number;
  /** Received and not yet deleted or timed out. */
  inFlight: number;
  deadLetters: number;
  /** Dead letters dropped because the dead-letter list was full. */
  droppedDeadLetters: number;
}

interface StoredMessage {
  messageId: string;
  body: string;
  sentTimestamp: number;
  receiveCount: number;
  visibleAt: number;
  receiptHandle: string | undefined;
}

interface QueueState {
  name: string;
  settings: InProcessQueueSettings;
  messages: StoredMessage[];
  deadLetters: DeadLetter[];
  droppedDeadLetters: number;
  wakers: Set<() => void>;
}

const DEFAULTS: InProcessQueueSettings = {
  visibilityTimeoutMs: 30_000,
  maxReceiveCount: 5,
  maxMessages: 10_000,
  maxDeadLetters: 10_000,
};

/**
 * The embedded default's queue: the same ports and Lambda batch semantics as
 * `SqsQueue`, in memory. Messages live as long as the process (a restart loses
 * what is waiting — the embedded default trades that for having no broker).
 * Each queue is bounded; a full queue refuses send() with `QueueError("queue_full")`
 * rather than growing without limit.
 *
 * Example:
 *   const q = new InProcessQueue({ maxReceiveCount: 5 });
 *   q.start("codex-pooler-jobs", handler);
 *   await q.send("codex-pooler-jobs", [body]);
 *   q.deadLetters("codex-pooler-jobs"); // what failed maxReceiveCount times
 */
export class InProcessQueue implements QueueProducer, QueueConsumer, DeadLetterRedrive {
  readonly #clock: Clock;
  readonly #defaults: InProcessQueueSettings;
  readonly #overrides: Record<string, Partial<InProcessQueueSettings>>;
  readonly #onError: ConsumerErrorHook;
  readonly #queues = new Map<string, QueueState>();
  #stop = new AbortController();
  #workers: Promise<void>[] = [];

  constructor(options: InProcessQueueOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#defaults = {
      visibilityTimeoutMs: options.visibilityTimeoutMs ?? DEFAULTS.visibilityTimeoutMs,
      maxReceiveCount: options.maxReceiveCount ?? DEFAULTS.maxReceiveCount,
      maxMessages: options.maxMessages ?? DEFAULTS.maxMessages,
      maxDeadLetters: options.maxDeadLetters ?? DEFAULTS.maxDeadLetters,
    };
    this.#overrides = options.queues ?? {};
    this.#onError = options.onError ?? stderrErrorHook;
  }

  #state(queue: string): QueueState {
    let s = this.#queues.get(queue);
    if (!s) {
      s = {
        name: queue,
        settings: { ...this.#defaults, ...this.#overrides[queue] },
        messages: [],
        deadLetters: [],
        droppedDeadLetters: 0,
        wakers: new Set(),
      };
      this.#queues.set(queue, s);
    }
    return s;
  }

  /** Enqueues all bodies or none: throws `queue_full` if they do not all fit. */
  async send(queue: string, bodies: readonly string[]): Promise<void> {
    if (bodies.length === 0) return;
    const s = this.#state(queue);
    if (s.messages.length + bodies.length > s.settings.maxMessages) {
      throw new QueueError(
        "queue_full",
        `in-process queue "${queue}" is full (${s.messages.length} of ${s.settings.maxMessages} messages; ${bodies.length} more refused): its consumer is not keeping up or not running`,
      );
    }
    const now = this.#clock.now();
    for (const body of bodies) {
      s.messages.push({
        messageId: randomUUID(),
        body,
        sentTimestamp: now,
        receiveCount: 0,
        visibleAt: now,
        receiptHandle: undefined,
      });
    }
    this.#wake(s);
  }

  start(
    queue: string,
    handler: QueueHandler,
    options: { batchSize?: number; concurrency?: number } = {},
  ): void {
    const batchSize = Math.max(options.batchSize ?? 10, 1);
    const concurrency = Math.max(options.concurrency ?? 1, 1);
    const signal = this.#stop.signal;
    for (let i = 0; i < concurrency; i++) this.#workers.push(this.#loop(queue, handler, batchSize, signal));
  }

  /** Stops the consumers after the batches in hand are handled and settled. */
  async stop(): Promise<void> {
    this.#stop.abort();
    for (const s of this.#queues.values()) this.#wake(s);
    const workers = this.#workers;
    this.#workers = [];
    this.#stop = new AbortController();
    await Promise.all(workers);
  }

  /** Copies of the queue's dead letters, oldest first. */
  deadLetters(queue: string): DeadLetter[] {
    return this.#state(queue).deadLetters.map((d) => ({ ...d }));
  }

  stats(queue: string): InProcessQueueStats {
    const s = this.#state(queue);
    const now = this.#clock.now();
    const inFlight = s.messages.filter((m) => m.receiptHandle !== undefined && m.visibleAt > now).length;
    return {
      waiting: s.messages.length - inFlight,
      inFlight,
      deadLetters: s.deadLetters.length,
      droppedDeadLetters: s.droppedDeadLetters,
    };
  }

  /**
   * Puts dead letters back on the queue as fresh messages (receive count 0),
   * oldest first, as many as fit under maxMessages; the rest stay dead letters.
   */
  async redriveDeadLetters(queue: string): Promise<RedriveResult> {
    const s = this.#state(queue);
    const room = Math.max(s.settings.maxMessages - s.messages.length, 0);
    const moving = s.deadLetters.splice(0, room);
    const now = this.#clock.now();
    for (const d of moving) {
      s.messages.push({
        messageId: d.messageId,
        body: d.body,
        sentTimestamp: d.sentTimestamp,
        receiveCount: 0,
        visibleAt: now,
        receiptHandle: undefined,
      });
    }
    if (moving.length) this.#wake(s);
    return { moved: moving.length, method: "in-process" };
  }

  /** Takes up to `max` visible messages, dead-lettering those past maxReceiveCount (as SQS does on receive). */
  #receive(s: QueueState, max: number): StoredMessage[] {
    const now = this.#clock.now();
    const out: StoredMessage[] = [];
    for (let i = 0; i < s.messages.length && out.length < max; ) {
      const m = s.messages[i];
      if (!m || m.visibleAt > now) {
        i++;
        continue;
      }
      if (m.receiveCount >= s.settings.maxReceiveCount) {
        s.messages.splice(i, 1);
        s.deadLetters.push({
          messageId: m.messageId,
          body: m.body,
          sentTimestamp: m.sentTimestamp,
          receiveCount: m.receiveCount,
          deadLetteredAt: now,
        });
        if (s.deadLetters.length > s.settings.maxDeadLetters) {
          s.deadLetters.shift();
          s.droppedDeadLetters++;
        }
        continue;
      }
      m.receiveCount++;
      m.visibleAt = now + s.settings.visibilityTimeoutMs;
      m.receiptHandle = randomUUID();
      out.push(m);
      i++;
    }
    return out;
  }

  #delete(s: QueueState, receiptHandle: string): void {
    const i = s.messages.findIndex((m) => m.receiptHandle === receiptHandle);
    if (i >= 0) s.messages.splice(i, 1);
  }

  #wake(s: QueueState): void {
    const wakers = [...s.wakers];
    s.wakers.clear();
    for (const w of wakers) w();
  }

  /** Waits for a send, the next visibility timeout to run out, or stop. */
  #idle(s: QueueState, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    const now = this.#clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const m of s.messages) if (m.visibleAt < next) next = m.visibleAt;
    // A message may have become visible since #receive read the clock: then
    // there is nothing to wait for (waiting on "the next one in the future"
    // would find none and sleep until the next send).
    if (next <= now) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        s.wakers.delete(done);
        resolve();
      };
      s.wakers.add(done);
      if (Number.isFinite(next)) timer = setTimeout(done, Math.max(next - now, 1));
    });
  }

  async #loop(queue: string, handler: QueueHandler, batchSize: number, signal: AbortSignal): Promise<void> {
    const s = this.#state(queue);
    const arn = `arn:codex-pooler:in-process:local:${queue}`;
    while (!signal.aborted) {
      const batch = this.#receive(s, batchSize);
      if (batch.length === 0) {
        await this.#idle(s, signal);
        continue;
      }
      const records: QueueRecord[] = batch.map((m) => ({
        messageId: m.messageId,
        receiptHandle: m.receiptHandle ?? "",
        body: m.body,
        attributes: {
          ApproximateReceiveCount: String(m.receiveCount),
          SentTimestamp: String(m.sentTimestamp),
        },
        eventSource: "aws:sqs",
        eventSourceARN: arn,
      }));
      const event: QueueBatchEvent = { Records: records };
      let failed: Set<string> | "all";
      try {
        failed = failedRecords(records, await handler(event));
      } catch (err) {
        this.#onError(err, { queue, phase: "handler" });
        failed = "all";
      }
      if (failed === "all") continue;
      for (const r of records) if (!failed.has(r.messageId)) this.#delete(s, r.receiptHandle);
      // Yield so a handler that resolves synchronously cannot starve the event loop.
      await new Promise((r) => setImmediate(r));
    }
  }
}
