/**
 * Admission per route class (a bulkhead per process): at most `concurrency`
 * requests of a class run at once, up to `queue` more wait up to
 * `queueTimeoutMs`, and anything beyond is refused at once with 503
 * `server_is_overloaded` and a Retry-After, before any upstream work.
 */
import { readFileSync } from "node:fs";
import { DomainError } from "@codex-pooler/core";

export type RouteClass = "stream" | "websocket" | "compact" | "other";

export interface BulkheadLimits {
  concurrency: number;
  queue: number;
  queueTimeoutMs: number;
}

export const DEFAULT_BULKHEADS: Record<RouteClass, BulkheadLimits> = {
  // Streams mostly wait on the upstream: the limit protects memory and file
  // descriptors (two per relayed stream), not CPU.
  stream: { concurrency: 16_384, queue: 1024, queueTimeoutMs: 10_000 },
  websocket: { concurrency: 8192, queue: 1024, queueTimeoutMs: 10_000 },
  compact: { concurrency: 64, queue: 128, queueTimeoutMs: 10_000 },
  other: { concurrency: 256, queue: 512, queueTimeoutMs: 5_000 },
};

export class Bulkhead {
  #running = 0;
  readonly #waiting: Array<{ grant: () => void; timer: NodeJS.Timeout }> = [];

  constructor(
    readonly routeClass: RouteClass,
    readonly limits: BulkheadLimits,
  ) {}

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  /** Resolves with a release function; rejects with server_is_overloaded. Call release exactly once. */
  acquire(): Promise<() => void> {
    if (this.#running < this.limits.concurrency) {
      this.#running++;
      return Promise.resolve(this.#releaser());
    }
    if (this.#waiting.length >= this.limits.queue) return Promise.reject(overloaded());
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          this.#running++;
          resolve(this.#releaser());
        },
        timer: setTimeout(() => {
          const i = this.#waiting.indexOf(waiter);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(overloaded());
        }, this.limits.queueTimeoutMs),
      };
      this.#waiting.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      const next = this.#waiting.shift();
      if (next) next.grant();
    };
  }
}

/** Open files kept for everything that is not a relayed stream: listeners, Postgres, logs, timers. */
export const RESERVED_OPEN_FILES = 128;

/**
 * The default limits fitted to the process's open-files limit. A relayed
 * stream or websocket holds two sockets (client and upstream); past
 * (limit − reserve) / 2 the upstream connect would fail with EMFILE — a 502
 * that also counts against a healthy account. Refused at admission instead,
 * the client gets a clean 503 with Retry-After.
 */
export function bulkheadLimitsFor(openFiles: number | undefined): Record<RouteClass, BulkheadLimits> {
  if (openFiles === undefined) return DEFAULT_BULKHEADS;
  const cap = Math.max(16, Math.floor((openFiles - RESERVED_OPEN_FILES) / 2));
  const fit = (l: BulkheadLimits): BulkheadLimits => ({ ...l, concurrency: Math.min(l.concurrency, cap) });
  return {
    ...DEFAULT_BULKHEADS,
    stream: fit(DEFAULT_BULKHEADS.stream),
    websocket: fit(DEFAULT_BULKHEADS.websocket),
  };
}

/** The soft open-files limit of a process, this one by default (Linux `/proc`); undefined where it cannot be read. */
export function openFilesLimit(pid: number | "self" = "self"): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function overloaded(): DomainError {
  return new DomainError("server_is_overloaded", { retryAfterSeconds: 1 });
}

export function createBulkheads(limits: Record<RouteClass, BulkheadLimits> = DEFAULT_BULKHEADS) {
  return {
    stream: new Bulkhead("stream", limits.stream),
    websocket: new Bulkhead("websocket", limits.websocket),
    compact: new Bulkhead("compact", limits.compact),
    other: new Bulkhead("other", limits.other),
  } satisfies Record<RouteClass, Bulkhead>;
}
