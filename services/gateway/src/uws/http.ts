/**
 * The only module that touches uWebSockets.js for plain HTTP. Its rules live
 * here so no route has to remember them:
 * - headers, URL and method are copied out synchronously (uWS's request
 *   object dies at the first await), and onAborted is attached before any await;
 * - the request body is collected eagerly into a bounded buffer (onData must
 *   be attached in the synchronous part of the handler);
 * - every write from a timer or a promise is corked, and the head waits for
 *   the first body write, so status, headers and the first chunk leave in one
 *   syscall; `corked()` batches several writes the same way;
 * - backpressure is surfaced (`write` returns false, `drained()` waits for
 *   onWritable) and nothing is touched after an abort.
 */

import uws from "uWebSockets.js";
import { DomainError } from "@codex-pooler/core";

export type HeaderList = ReadonlyArray<readonly [string, string]>;

export interface IncomingRequest {
  /** Upper-case method. */
  readonly method: string;
  readonly path: string;
  readonly query: string;
  /** Lower-case header names; a repeated header keeps its values joined by ", ". */
  readonly headers: Readonly<Record<string, string>>;
}

/** The body passed the route's limit: a 413 `body_too_large` for the client. */
export class BodyTooLargeError extends DomainError {
  constructor(readonly limit: number) {
    super("body_too_large");
    this.name = "BodyTooLargeError";
  }
}

export class RequestAbortedError extends Error {
  constructor() {
    super("client aborted the request");
    this.name = "RequestAbortedError";
  }
}

const STATUS_TEXT: Record<number, string> = {
  101: "101 Switching Protocols",
  200: "200 OK",
  201: "201 Created",
  204: "204 No Content",
  304: "304 Not Modified",
  400: "400 Bad Request",
  401: "401 Unauthorized",
  403: "403 Forbidden",
  404: "404 Not Found",
  405: "405 Method Not Allowed",
  408: "408 Request Timeout",
  409: "409 Conflict",
  413: "413 Payload Too Large",
  415: "415 Unsupported Media Type",
  422: "422 Unprocessable Entity",
  426: "426 Upgrade Required",
  429: "429 Too Many Requests",
  500: "500 Internal Server Error",
  502: "502 Bad Gateway",
  503: "503 Service Unavailable",
  504: "504 Gateway Timeout",
};

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Status`;
}

/** A response that is safe to use after the client went away: every call becomes a no-op. */
export class ResponseStream {
  #res: uws.HttpResponse;
  #aborted = false;
  #ended = false;
  #headSent = false;
  #pendingHead: { status: number; headers: HeaderList | Readonly<Record<string, string>> } | undefined;
  #corked = false;
  #abortHooks: Array<() => void> = [];
  #writableWaiters: Array<() => void> = [];
  #body: Promise<Buffer> | undefined;
  #bodyTaken = false;

  constructor(res: uws.HttpResponse) {
    this.#res = res;
    res.onAborted(() => {
      this.#aborted = true;
      for (const hook of this.#abortHooks.splice(0)) hook();
      for (const wake of this.#writableWaiters.splice(0)) wake();
    });
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  /** True once the response is complete or the client is gone. */
  get finished(): boolean {
    return this.#aborted || this.#ended;
  }

  /** True once status and headers left (a head set by `writeHead` but not yet sent can still be replaced). */
  get headSent(): boolean {
    return this.#headSent;
  }

  /** Runs `hook` when the client disconnects before the response ended (at once if it already did). */
  onAbort(hook: () => void): void {
    if (this.#aborted) hook();
    else if (!this.#ended) this.#abortHooks.push(hook);
  }

  /** @internal Called synchronously by the server for methods with a body. */
  collectBody(limit: number): void {
    this.#body = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      this.#abortHooks.push(() => reject(new RequestAbortedError()));
      this.#res.onData((chunk, isLast) => {
        if (failed) return;
        size += chunk.byteLength;
        if (size > limit) {
          failed = true;
          reject(new BodyTooLargeError(limit));
          return;
        }
        // uWS neuters the ArrayBuffer after the callback: copy it.
        chunks.push(Buffer.from(chunk.slice(0)));
        if (isLast) {
          resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
          // The abort hook's closure lives as long as the response: it must not hold the body.
          chunks.length = 0;
        }
      });
    });
    // A route that never reads the body must not produce an unhandled rejection.
    this.#body.catch(() => {});
  }

  /**
   * The request body (empty for methods without one). Rejects with
   * BodyTooLargeError over the limit. It can be taken once: the response does
   * not keep it (a streamed answer may outlive the request body by minutes).
   */
  body(): Promise<Buffer> {
    if (this.#bodyTaken) throw new Error("the request body was already taken");
    this.#bodyTaken = true;
    const body = this.#body ?? Promise.resolve(Buffer.alloc(0));
    this.#body = undefined;
    return body;
  }

  /**
   * Sets status and headers. They leave with the first `write`/`end` (one
   * syscall for head and body): uWS finishes a head only with body bytes.
   */
  writeHead(status: number, headers: HeaderList | Readonly<Record<string, string>> = []): void {
    if (this.finished || this.#headSent || this.#pendingHead) return;
    this.#pendingHead = { status, headers: Array.isArray(headers) ? (headers as HeaderList) : headers };
  }

  /** Must run corked. */
  #sendHead(): void {
    if (this.#headSent) return;
    this.#headSent = true;
    const head = this.#pendingHead;
    this.#pendingHead = undefined;
    const res = this.#res;
    if (!head) {
      res.writeStatus("200 OK");
      return;
    }
    res.writeStatus(statusLine(head.status));
    const h = head.headers;
    if (Array.isArray(h)) for (const [k, v] of h as HeaderList) res.writeHeader(k, v);
    else for (const k in h) res.writeHeader(k, (h as Record<string, string>)[k]!);
  }

  /**
   * Runs `fn` with every write corked: whatever it writes leaves in one
   * syscall. Writes from timers and promises are corked one by one anyway;
   * this batches several (a chunk's worth of translated events).
   */
  corked(fn: () => void): void {
    if (this.#corked || this.finished) {
      fn();
      return;
    }
    this.#corked = true;
    try {
      this.#res.cork(fn);
    } finally {
      this.#corked = false;
    }
  }

  /** Writes a chunk; false means the client is slow: wait for `drained()` before writing more. */
  write(chunk: string | Uint8Array): boolean {
    if (this.finished) return false;
    let ok = false;
    this.corked(() => {
      this.#sendHead();
      ok = this.#res.write(chunk);
    });
    if (!ok) this.#armWritable();
    return ok;
  }

  /** Resolves when the client has taken what was buffered (or went away). */
  drained(): Promise<void> {
    if (this.finished) return Promise.resolve();
    return new Promise((resolve) => {
      this.#writableWaiters.push(resolve);
    });
  }

  #armWritable(): void {
    this.#res.onWritable(() => {
      for (const wake of this.#writableWaiters.splice(0)) wake();
      return true;
    });
  }

  end(chunk?: string | Uint8Array, closeConnection = false): void {
    if (this.finished) return;
    this.#abortHooks.length = 0;
    this.corked(() => {
      this.#sendHead();
      this.#res.end(chunk, closeConnection);
    });
    this.#ended = true;
    for (const wake of this.#writableWaiters.splice(0)) wake();
  }

  /** Drops the connection at once (used when an upstream fails mid-body and the framing cannot be finished). */
  destroy(): void {
    if (this.finished) return;
    this.#ended = true;
    this.#abortHooks.length = 0;
    this.#res.close();
  }

  /** Sends a complete JSON answer. */
  json(status: number, body: unknown, headers: HeaderList = []): void {
    if (this.finished) return;
    if (this.#headSent) {
      this.end();
      return;
    }
    this.#pendingHead = undefined;
    this.writeHead(status, [["content-type", "application/json"], ...headers]);
    this.end(JSON.stringify(body));
  }
}

export type RouteHandler = (req: IncomingRequest, res: ResponseStream) => void | Promise<void>;

export interface Route {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "ANY";
  /** uWS pattern: exact path, `:param` segments or a trailing `*`. */
  pattern: string;
  handler: RouteHandler;
  /** Largest accepted request body in bytes (compressed size). */
  bodyLimit?: number;
}

export interface HttpServerOptions {
  routes: Route[];
  /** Called for anything no route matched. */
  fallback: RouteHandler;
  /** Called when a handler throws or rejects: must answer without internals. */
  onError: (err: unknown, req: IncomingRequest, res: ResponseStream) => void;
  defaultBodyLimit: number;
  /** Lets the websocket module attach its routes to the same app. */
  configure?: (app: uws.TemplatedApp) => void;
  /** Several processes listen on this port on purpose (`serve --workers`): bind with SO_REUSEPORT. */
  sharedPort?: boolean;
}

export interface RunningHttpServer {
  readonly port: number;
  /** Stops accepting connections; open ones finish their work. */
  stopListening(): void;
  /** Closes every connection at once. */
  close(): void;
}

const METHODS_WITH_BODY = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function readRequest(req: uws.HttpRequest): IncomingRequest {
  const headers: Record<string, string> = {};
  req.forEach((k, v) => {
    const prev = headers[k];
    headers[k] = prev === undefined ? v : `${prev}, ${v}`;
  });
  return {
    method: req.getCaseSensitiveMethod().toUpperCase(),
    path: req.getUrl(),
    query: req.getQuery() ?? "",
    headers,
  };
}

function dispatch(options: HttpServerOptions, handler: RouteHandler, bodyLimit: number) {
  return (raw: uws.HttpResponse, rawReq: uws.HttpRequest) => {
    const req = readRequest(rawReq);
    const res = new ResponseStream(raw);
    if (METHODS_WITH_BODY.has(req.method)) res.collectBody(bodyLimit);
    try {
      const out = handler(req, res);
      if (out && typeof (out as Promise<void>).then === "function") {
        (out as Promise<void>).catch((err: unknown) => options.onError(err, req, res));
      }
    } catch (err) {
      options.onError(err, req, res);
    }
  };
}

export function startHttpServer(
  host: string,
  port: number,
  options: HttpServerOptions,
): Promise<RunningHttpServer> {
  const app = uws.App();
  options.configure?.(app);
  for (const route of options.routes) {
    const fn = dispatch(options, route.handler, route.bodyLimit ?? options.defaultBodyLimit);
    switch (route.method) {
      case "GET":
        app.get(route.pattern, fn);
        break;
      case "POST":
        app.post(route.pattern, fn);
        break;
      case "PUT":
        app.put(route.pattern, fn);
        break;
      case "PATCH":
        app.patch(route.pattern, fn);
        break;
      case "DELETE":
        app.del(route.pattern, fn);
        break;
      case "ANY":
        app.any(route.pattern, fn);
        break;
    }
  }
  app.any("/*", dispatch(options, options.fallback, options.defaultBodyLimit));
  return new Promise((resolve, reject) => {
    // Exclusive unless shared on purpose: uWS binds with SO_REUSEPORT by default, which would
    // let a second server silently share the port (the kernel splitting connections between them).
    (
      app as unknown as {
        listen(h: string, p: number, o: number, cb: (s: uws.us_listen_socket | false) => void): void;
      }
    ).listen(
      host,
      port,
      options.sharedPort
        ? 0
        : (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT,
      (socket) => {
        if (!socket) {
          reject(new Error(`could not listen on ${host}:${port} (port in use or not permitted)`));
          return;
        }
        let listening = true;
        const stopListening = () => {
          if (listening) uws.us_listen_socket_close(socket);
          listening = false;
        };
        resolve({
          port: uws.us_socket_local_port(socket),
          stopListening,
          close: () => {
            stopListening();
            (app as unknown as { close(): void }).close();
          },
        });
      },
    );
  });
}
