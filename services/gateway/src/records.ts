/**
 * Metadata-only request accounting. Each finished request yields one record
 * and one per upstream attempt; they are packed into queue messages (many
 * requests per message, many messages per send) and a worker writes them.
 * Never a prompt, a body, a header value with a credential, or a token: the
 * types below have no field that could hold one.
 */
import type {
  AttemptRecord,
  Logger,
  QueueProducer,
  RecordBatchMessage,
  RequestRecord,
} from "@codex-pooler/core";

export type { AttemptRecord, RecordBatchMessage, RequestRecord };

/** A new record for a request that starts now; filled in as it proceeds. */
export function startRecord(init: {
  id: string;
  route: string;
  transport: RequestRecord["transport"];
  originator: string | undefined;
  startedAt: number;
}): RequestRecord {
  return {
    id: init.id,
    poolId: null,
    apiKeyId: null,
    accountId: null,
    model: null,
    route: init.route,
    transport: init.transport,
    status: "failed",
    httpStatus: null,
    errorCode: null,
    clientOriginator: init.originator?.slice(0, 64) ?? null,
    startedAt: init.startedAt,
    completedAt: init.startedAt,
    ttfbMs: null,
    durationMs: 0,
    gatewayOverheadMs: null,
    usage: null,
    attempts: [],
  };
}

/** Appends a new attempt to `record` and returns it. */
export function startAttempt(
  record: RequestRecord,
  init: { id: string; attemptNo: number; accountId: string; startedAt: number },
): AttemptRecord {
  const attempt: AttemptRecord = {
    id: init.id,
    attemptNo: init.attemptNo,
    accountId: init.accountId,
    status: "failed",
    httpStatus: null,
    errorCode: null,
    startedAt: init.startedAt,
    ttfbMs: null,
    durationMs: null,
    usage: null,
  };
  record.attempts.push(attempt);
  return attempt;
}

export interface RecorderOptions {
  queue: string;
  producer: QueueProducer;
  logger: Logger;
  flushIntervalMs?: number;
  /** Requests packed into one queue message (SQS messages are ≤ 256 KiB). */
  recordsPerMessage?: number;
  /** Records kept while the queue is unreachable; beyond this the oldest are dropped and counted. */
  maxBuffered?: number;
}

/**
 * Records wait here as JSON text, not objects: a record can wait a flush
 * interval (250 ms), long enough to outlive a young-generation collection,
 * and one flat string per record is much cheaper for the collector to copy
 * and promote than the record's objects (the gateway's p99 latency follows
 * those pauses).
 */
export class RequestRecorder {
  #buffer: string[] = [];
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout;
  #failures = 0;
  dropped = 0;
  sent = 0;

  constructor(private readonly options: RecorderOptions) {
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 250);
    this.#timer.unref();
  }

  get pending(): number {
    return this.#buffer.length;
  }

  record(record: RequestRecord): void {
    this.#buffer.push(JSON.stringify(record));
    const max = this.options.maxBuffered ?? 100_000;
    if (this.#buffer.length > max) {
      const over = this.#buffer.length - max;
      this.#buffer.splice(0, over);
      this.dropped += over;
      this.options.logger.error(
        { dropped: over, total: this.dropped },
        "request record buffer full: oldest records dropped",
      );
    }
    if (this.#buffer.length >= (this.options.recordsPerMessage ?? 100) * 10) void this.flush();
  }

  /** Sends what is buffered; on failure keeps it for the next try (with backoff through the interval). */
  flush(): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    if (this.#buffer.length === 0) return Promise.resolve();
    const per = this.options.recordsPerMessage ?? 100;
    const batch = this.#buffer.splice(0, per * 10);
    const bodies: string[] = [];
    for (let i = 0; i < batch.length; i += per) {
      bodies.push(`{"v":1,"records":[${batch.slice(i, i + per).join(",")}]}`);
    }
    this.#inFlight = this.options.producer
      .send(this.options.queue, bodies)
      .then(() => {
        this.sent += batch.length;
        this.#failures = 0;
      })
      .catch((err: unknown) => {
        this.#failures++;
        this.#buffer.unshift(...batch);
        if (this.#failures === 1 || this.#failures % 20 === 0) {
          this.options.logger.warn(
            { err, pending: this.#buffer.length },
            "request records not sent yet; will retry",
          );
        }
      })
      .finally(() => {
        this.#inFlight = undefined;
      });
    return this.#inFlight;
  }

  /** Flushes until empty or `timeoutMs` passes (shutdown). */
  async close(timeoutMs = 5000): Promise<void> {
    clearInterval(this.#timer);
    const deadline = Date.now() + timeoutMs;
    while ((this.#buffer.length > 0 || this.#inFlight) && Date.now() < deadline) {
      await this.flush();
      if (this.#buffer.length > 0) await new Promise((r) => setTimeout(r, 100));
    }
  }
}
