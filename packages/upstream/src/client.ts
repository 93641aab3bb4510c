/**
 * HTTP calls to the Codex backend.
 *
 * `sendUpstream` (the relay's hot path) goes through our HTTP/1.1 client
 * (`http1.ts`, where the reason is given); the calls off that path (token
 * refresh, probes) use undici through `UpstreamAgent.dispatcher`.
 * `UpstreamBody` is the minimum the relays need: chunks in order,
 * backpressure (pause above a high-water mark), `destroy()` and a capped
 * `text()`.
 */
import { Agent, type Dispatcher } from "undici";
import type { AbortLike } from "./abort.ts";
import {
  type ExchangeControl,
  type ExchangeHandler,
  Http1Pool,
  type Origin,
  parseOrigin,
  requestHead,
} from "./http1.ts";

export type { Dispatcher };

export interface UpstreamResponse {
  status: number;
  /** Lower-case names; repeated headers joined by ", ". */
  headers: Record<string, string>;
  body: UpstreamBody;
}

export interface UpstreamTimeouts {
  connectMs: number;
  /** Until the response headers arrive (covers a slow first byte). */
  headersMs: number;
  /** Longest silence between body chunks. */
  bodyIdleMs: number;
}

export const DEFAULT_TIMEOUTS: UpstreamTimeouts = {
  connectMs: 10_000,
  headersMs: 120_000,
  bodyIdleMs: 300_000,
};

const KEEP_ALIVE_MS = 30_000;

/** Keep-alive connections to the upstream: ours for `sendUpstream`, undici's for everything else. */
export class UpstreamAgent {
  /** @internal */
  readonly pool: Http1Pool;
  readonly #timeouts: UpstreamTimeouts;
  #undici: Agent | undefined;

  constructor(timeouts: UpstreamTimeouts = DEFAULT_TIMEOUTS) {
    this.#timeouts = timeouts;
    this.pool = new Http1Pool({ ...timeouts, keepAliveMs: KEEP_ALIVE_MS });
  }

  /** An undici dispatcher with the same timeouts, for calls off the hot path (token refresh, probes). */
  get dispatcher(): Dispatcher {
    this.#undici ??= new Agent({
      connect: { timeout: this.#timeouts.connectMs },
      headersTimeout: this.#timeouts.headersMs,
      bodyTimeout: this.#timeouts.bodyIdleMs,
      keepAliveTimeout: KEEP_ALIVE_MS,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    });
    return this.#undici;
  }

  /** Idle connections close now, busy ones when their answer ends. */
  async close(): Promise<void> {
    this.pool.close();
    await this.#undici?.close();
  }

  /** Every connection closes now. */
  async destroy(): Promise<void> {
    this.pool.destroy();
    await this.#undici?.destroy();
  }
}

export function createUpstreamAgent(timeouts: UpstreamTimeouts = DEFAULT_TIMEOUTS): UpstreamAgent {
  return new UpstreamAgent(timeouts);
}

/** Header values as undici parses them, flattened in place: lower-case names, repeats joined by ", ". */
export function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  for (const k in raw) {
    const v = raw[k];
    if (v === undefined) delete raw[k];
    else if (typeof v !== "string") raw[k] = v.join(", ");
  }
  return raw as Record<string, string>;
}

export interface UpstreamRequest {
  /** e.g. `https://chatgpt.com/backend-api` */
  baseUrl: string;
  /** e.g. `/codex/responses` */
  path: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string | Buffer;
  signal?: AbortLike;
  agent: UpstreamAgent;
}

/** Buffered bytes above which the upstream socket is paused until the relay catches up. */
const HIGH_WATER = 256 * 1024;

type Next = IteratorResult<Buffer, undefined>;
const DONE: Next = { value: undefined, done: true };

/** The body of one upstream answer: an async iterable of chunks with backpressure. */
export class UpstreamBody implements AsyncIterable<Buffer> {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #waiter: { resolve: (r: Next) => void; reject: (e: Error) => void } | undefined;
  #controller: ExchangeControl | undefined;
  #paused = false;
  #onFinish: (() => void) | undefined;

  /** @internal */
  constructor(controller: ExchangeControl | undefined, onFinish?: () => void) {
    this.#controller = controller;
    this.#onFinish = onFinish;
  }

  /** True once the body ended, failed or was destroyed. */
  get finished(): boolean {
    return this.#ended || this.#error !== undefined;
  }

  /** @internal */
  push(chunk: Buffer): void {
    if (this.finished) return;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve({ value: chunk, done: false });
      return;
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    if (this.#buffered > HIGH_WATER && !this.#paused && this.#controller) {
      this.#paused = true;
      this.#controller.pause();
    }
  }

  /** @internal */
  end(): void {
    if (this.finished) return;
    this.#ended = true;
    this.#finish();
    const w = this.#waiter;
    if (w && this.#chunks.length === 0) {
      this.#waiter = undefined;
      w.resolve(DONE);
    }
  }

  /** @internal The body broke: chunks that already arrived are still read first, then `err`. */
  fail(err: Error): void {
    if (this.finished) return;
    this.#error = err;
    this.#finish();
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.reject(err);
    }
  }

  #finish(): void {
    const f = this.#onFinish;
    this.#onFinish = undefined;
    f?.();
  }

  /** Stops reading and closes the upstream request (a no-op once the body ended). */
  destroy(): void {
    this.#chunks.length = 0;
    this.#buffered = 0;
    if (this.finished) return;
    const err = abortError("upstream body destroyed");
    this.fail(err);
    this.#controller?.abort();
  }

  next(): Promise<Next> {
    const chunk = this.#chunks.shift();
    if (chunk !== undefined) {
      this.#buffered -= chunk.byteLength;
      if (this.#paused && !this.finished && this.#buffered <= HIGH_WATER / 4) {
        this.#paused = false;
        this.#controller?.resume();
      }
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer, undefined> {
    return {
      next: () => this.next(),
      return: () => {
        this.destroy();
        return Promise.resolve(DONE);
      },
    };
  }

  /** The whole body as UTF-8 text; rejects past `limit` bytes (default 64 MiB). */
  async text(limit = 64 * 1024 * 1024): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this) {
      size += chunk.byteLength;
      if (size > limit) {
        this.destroy();
        throw new Error(`upstream body larger than ${limit} bytes`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size).toString("utf8");
  }
}

/** Sends one request; rejects only on transport failure (any HTTP status resolves). */
export function sendUpstream(req: UpstreamRequest): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const signal = req.signal;
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const call = new UpstreamCall(signal, resolve, reject);
    try {
      const { origin, basePath } = targetOf(req.baseUrl);
      const body = req.body;
      const length =
        body === undefined
          ? req.method === "POST"
            ? 0
            : undefined
          : typeof body === "string"
            ? Buffer.byteLength(body)
            : body.byteLength;
      const head = requestHead(req.method, `${basePath}${req.path}`, origin, req.headers, length);
      call.started(req.agent.pool.exchange(origin, head, body, call));
    } catch (err) {
      call.onError(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/**
 * The handler of one exchange. A class rather than closures so that an
 * open stream keeps only these fields alive — not the request's headers
 * (the account's bearer token) or body.
 */
class UpstreamCall implements ExchangeHandler {
  #signal: AbortLike | undefined;
  #resolve: ((r: UpstreamResponse) => void) | undefined;
  #reject: ((e: Error) => void) | undefined;
  #control: ExchangeControl | undefined;
  #body: UpstreamBody | undefined;
  #onAbort = (): void => {
    // An answer under way: destroying its body aborts the exchange too.
    if (this.#body) {
      this.#body.destroy();
      return;
    }
    this.#settle(undefined, abortReason(this.#signal));
    this.#control?.abort();
  };

  constructor(
    signal: AbortLike | undefined,
    resolve: (r: UpstreamResponse) => void,
    reject: (e: Error) => void,
  ) {
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  started(control: ExchangeControl): void {
    this.#control = control;
  }

  #detach = (): void => {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#signal = undefined;
  };

  #settle(response: UpstreamResponse | undefined, err?: Error): void {
    const resolve = this.#resolve;
    const reject = this.#reject;
    this.#resolve = undefined;
    this.#reject = undefined;
    if (response) resolve?.(response);
    else if (err) reject?.(err);
  }

  onHead(status: number, headers: Record<string, string>): void {
    if (this.#body || !this.#resolve) return;
    this.#body = new UpstreamBody(this.#control, this.#detach);
    this.#settle({ status, headers, body: this.#body });
  }

  onData(chunk: Buffer): void {
    this.#body?.push(chunk);
  }

  onEnd(): void {
    if (this.#body) this.#body.end();
    else this.#detach();
  }

  onError(err: Error): void {
    if (this.#body) this.#body.fail(err);
    else {
      this.#detach();
      this.#settle(undefined, err);
    }
  }
}

let lastBase: { baseUrl: string; origin: Origin; basePath: string } | undefined;

/** Origin and path prefix of a base URL (the last one is kept: a process talks to one upstream). */
function targetOf(baseUrl: string): { origin: Origin; basePath: string } {
  if (lastBase?.baseUrl === baseUrl) return lastBase;
  const url = new URL(baseUrl);
  lastBase = { baseUrl, origin: parseOrigin(url), basePath: url.pathname.replace(/\/$/, "") };
  return lastBase;
}

function abortReason(signal: AbortLike | undefined): Error {
  const reason = signal?.reason;
  return reason instanceof Error ? reason : abortError("request aborted");
}

function abortError(message: string): Error {
  const err = new Error(message);
  err.name = "AbortError";
  return err;
}

/** Reads at most `limit` bytes of an error body as text, then discards the rest. */
export async function readCapped(body: UpstreamBody, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const b of body) {
      if (size < limit) chunks.push(b.subarray(0, limit - size));
      size += b.byteLength;
    }
  } catch {
    // A broken error body is still an error: classify what arrived.
  }
  return Buffer.concat(chunks).toString("utf8");
}
