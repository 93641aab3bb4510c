/**
 * HTTP calls to the Codex backend through one keep-alive undici Agent.
 *
 * The hot path uses undici's low-level `dispatch` with a small handler rather
 * than `request()`: `request()` wraps every body in a Node Readable and its
 * async iterator, which cost about 80 µs of CPU per short streamed answer in
 * our measurement (bench/README: "upstream client"), roughly half of the
 * client side. `UpstreamBody` is the minimum the relays need: chunks in
 * order, backpressure (pause above a high-water mark), `destroy()` and a
 * capped `text()`.
 */
import { Agent, type Dispatcher } from "undici";

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

export function createUpstreamAgent(timeouts: UpstreamTimeouts = DEFAULT_TIMEOUTS): Agent {
  return new Agent({
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyIdleMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    pipelining: 1,
  });
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
  signal?: AbortSignal;
  dispatcher: Dispatcher;
}

/** Buffered bytes above which the upstream socket is paused until the relay catches up. */
const HIGH_WATER = 256 * 1024;

interface DispatchController {
  pause(): void;
  resume(): void;
  abort(reason: Error): void;
  readonly aborted: boolean;
}

type Next = IteratorResult<Buffer, undefined>;
const DONE: Next = { value: undefined, done: true };

/** The body of one upstream answer: an async iterable of chunks with backpressure. */
export class UpstreamBody implements AsyncIterable<Buffer> {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #waiter: { resolve: (r: Next) => void; reject: (e: Error) => void } | undefined;
  #controller: DispatchController | undefined;
  #paused = false;
  #onFinish: (() => void) | undefined;

  /** @internal */
  constructor(controller: DispatchController | undefined, onFinish?: () => void) {
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
    this.#controller?.abort(err);
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
    const { origin, basePath } = originOf(req.baseUrl);
    req.dispatcher.dispatch(
      {
        origin,
        path: `${basePath}${req.path}`,
        method: req.method,
        headers: req.headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
      },
      new UpstreamCall(signal, resolve, reject) as unknown as Dispatcher.DispatchHandler,
    );
  });
}

/**
 * The dispatch handler of one request. A class rather than closures so that
 * an open stream keeps only these fields alive — not the request's headers
 * (the account's bearer token) or body.
 */
class UpstreamCall {
  #signal: AbortSignal | undefined;
  #resolve: ((r: UpstreamResponse) => void) | undefined;
  #reject: ((e: Error) => void) | undefined;
  #controller: DispatchController | undefined;
  #body: UpstreamBody | undefined;
  #onAbort = (): void => {
    // An answer under way: destroying its body aborts the request too.
    if (this.#body) {
      this.#body.destroy();
      return;
    }
    const reason = abortReason(this.#signal);
    this.#settle(undefined, reason);
    this.#controller?.abort(reason);
  };

  constructor(
    signal: AbortSignal | undefined,
    resolve: (r: UpstreamResponse) => void,
    reject: (e: Error) => void,
  ) {
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
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

  onRequestStart(c: DispatchController): void {
    this.#controller = c;
    if (this.#signal?.aborted) c.abort(abortReason(this.#signal));
  }

  onResponseStart(
    c: DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx informational answers come before the real one.
    if (statusCode < 200 || this.#body || !this.#resolve) return;
    // undici keeps the raw header buffers on its controller for the whole request; they are parsed already.
    (c as { rawHeaders?: unknown }).rawHeaders = null;
    this.#body = new UpstreamBody(c, this.#detach);
    this.#settle({ status: statusCode, headers: flattenHeaders(headers), body: this.#body });
  }

  onResponseData(_c: DispatchController, chunk: Buffer): void {
    this.#body?.push(chunk);
  }

  onResponseEnd(): void {
    if (this.#body) this.#body.end();
    else this.#detach();
  }

  onResponseError(_c: DispatchController, err: Error): void {
    if (this.#body) this.#body.fail(err);
    else {
      this.#detach();
      this.#settle(undefined, err);
    }
  }
}

let lastBase: { baseUrl: string; origin: string; basePath: string } | undefined;

/** Origin and path prefix of a base URL (the last one is kept: a process talks to one upstream). */
function originOf(baseUrl: string): { origin: string; basePath: string } {
  if (lastBase?.baseUrl === baseUrl) return lastBase;
  const url = new URL(baseUrl);
  lastBase = { baseUrl, origin: url.origin, basePath: url.pathname.replace(/\/$/, "") };
  return lastBase;
}

function abortReason(signal: AbortSignal | undefined): Error {
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
