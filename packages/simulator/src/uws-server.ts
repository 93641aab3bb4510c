import uWS from "uWebSockets.js";
import type { AuthServer } from "./auth-server.ts";
import type {
  JsonOutcome,
  Outcome,
  SimRequest,
  SimulatorCore,
  StreamEnd,
  StreamOutcome,
  WsSession,
} from "./core.ts";
import { NOT_FOUND, statusLine } from "./errors.ts";
import { type SimEvent, sseFrame } from "./events.ts";
import type { RequestLogEntry } from "./request-log.ts";

/**
 * The only module touching uWebSockets.js. Rules kept throughout: `onAborted` is registered before anything
 * asynchronous, writes from timers run inside `cork`, backpressure is respected (`onWritable` / `drain`), and
 * nothing touches a response or socket after it was aborted or closed.
 */

type HttpResponse = uWS.HttpResponse;
type HttpRequest = uWS.HttpRequest;
type Handler = (req: SimRequest, entry: RequestLogEntry | undefined) => Outcome;

/** SSE bytes are written in chunks of about this size, so a long stream never sits whole in memory. */
const CHUNK = 64 * 1024;
/** Websocket sends pause above this much buffered data until `drain`. */
const WS_HIGH_WATER = 1024 * 1024;

interface Live {
  aborted: boolean;
  onAbort: (() => void) | undefined;
}

export interface ServerHandle {
  port: number;
  close(): void;
}

export interface ServerOptions {
  host: string;
  port: number;
  tls?: { keyFile: string; certFile: string; passphrase?: string };
  maxBodyBytes: number;
}

function readHeaders(req: HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  req.forEach((k, v) => {
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  });
  return headers;
}

function toSimRequest(req: HttpRequest, transport: "http" | "ws"): SimRequest {
  return {
    transport,
    method: req.getMethod().toUpperCase(),
    path: req.getUrl(),
    query: req.getQuery() ?? "",
    headers: readHeaders(req),
    body: undefined,
  };
}

function writeHead(res: HttpResponse, status: number, headers: string[]): void {
  res.writeStatus(statusLine(status));
  for (let i = 0; i + 1 < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function startServer(
  core: SimulatorCore,
  auth: AuthServer,
  options: ServerOptions,
): Promise<ServerHandle> {
  const app = options.tls
    ? uWS.SSLApp({
        key_file_name: options.tls.keyFile,
        cert_file_name: options.tls.certFile,
        ...(options.tls.passphrase ? { passphrase: options.tls.passphrase } : {}),
      })
    : uWS.App();
  const openResponses = new Set<HttpResponse>();
  const openSockets = new Set<uWS.WebSocket<WsData>>();
  let closing = false;

  const http = (pattern: string, method: "get" | "post" | "any", handler: Handler, logBody = true) => {
    app[method](pattern, (res, req) => {
      // After close(), keep-alive connections opened earlier must not be served any more.
      if (closing) {
        res.close();
        return;
      }
      const simReq = toSimRequest(req, "http");
      const live: Live = { aborted: false, onAbort: undefined };
      openResponses.add(res);
      res.onAborted(() => {
        live.aborted = true;
        openResponses.delete(res);
        live.onAbort?.();
      });
      const run = (body: Buffer | undefined) => {
        simReq.body = body;
        const entry = core.logRequest(simReq, undefined, body?.length ?? 0);
        if (entry && logBody && body && body.length > 0 && core.log.keepBodies)
          entry.body = tryJson(body.toString("utf8"));
        let outcome: Outcome;
        try {
          outcome = handler(simReq, entry);
        } catch (e) {
          console.error("simulator: handler failed", e);
          outcome = {
            type: "json",
            status: 500,
            headers: ["content-type", "application/json"],
            body: '{"detail":"Simulator error"}',
            delayMs: 0,
          };
        }
        if (entry) entry.status = outcome.status;
        if (outcome.type === "json") {
          if (entry) entry.outcome = outcome.status < 400 ? "ok" : "rejected";
          sendJson(res, live, outcome, () => openResponses.delete(res));
        } else {
          new SseStream(res, live, outcome, entry, () => openResponses.delete(res)).start();
        }
      };
      if (simReq.method === "GET" || simReq.method === "HEAD") run(undefined);
      else readBody(res, live, options.maxBodyBytes, run);
    });
  };

  http("/backend-api/codex/responses", "post", (r, e) => core.handleResponsesHttp(r, e), false);
  http("/backend-api/codex/responses/compact", "post", (r, e) => core.handleCompact(r, e), false);
  http("/backend-api/codex/models", "get", (r, e) => core.handleModels(r, e));
  for (const p of ["/backend-api/wham/usage", "/api/codex/usage", "/wham/usage"]) {
    http(p, "get", (r, e) => core.handleUsage(r, e));
  }
  http("/backend-api/wham/accounts/check", "get", (r, e) => core.handleAccountsCheck(r, e));
  http("/oauth/token", "post", (r) => auth.token(r));
  http("/oauth/authorize", "get", (r) => auth.authorize(r));
  http("/oauth/revoke", "post", (r) => auth.revoke(r));
  http("/api/accounts/deviceauth/usercode", "post", (r) => auth.deviceUserCode(r));
  http("/api/accounts/deviceauth/token", "post", (r) => auth.deviceToken(r));
  http("/codex/device", "any", (r) => auth.devicePage(r));
  http("/*", "any", () => ({
    type: "json",
    status: 404,
    headers: ["content-type", "application/json"],
    body: NOT_FOUND,
    delayMs: 0,
  }));

  app.ws<WsData>("/backend-api/codex/responses", {
    compression: uWS.SHARED_COMPRESSOR,
    maxPayloadLength: options.maxBodyBytes,
    maxBackpressure: 256 * 1024 * 1024,
    idleTimeout: 960,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const simReq = toSimRequest(req, "ws");
      simReq.method = "GET";
      const key = req.getHeader("sec-websocket-key");
      const protocol = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      const entry = core.logRequest(simReq, undefined, 0);
      const result = closing
        ? ({ type: "json", status: 503, headers: [], body: "", delayMs: 0 } as JsonOutcome)
        : core.openWebsocket(simReq, entry);
      if ("type" in result) {
        if (entry) {
          entry.status = result.status;
          entry.outcome = "rejected";
        }
        writeHead(res, result.status, result.headers);
        res.end(result.body);
        return;
      }
      if (entry) {
        entry.status = 101;
        entry.accountId = result.account.id;
        entry.connectionId = result.id;
      }
      res.writeStatus("101 Switching Protocols");
      const h = core.websocketHeaders(result);
      for (let i = 0; i + 1 < h.length; i += 2) res.writeHeader(h[i]!, h[i + 1]!);
      const data: WsData = { session: result, closed: false, queue: [], current: undefined };
      res.upgrade(data, key, protocol, extensions, context);
    },
    open: (ws) => {
      openSockets.add(ws);
      core.stats.activeWs += 1;
    },
    message: (ws, message, isBinary) => {
      const data = ws.getUserData();
      // The ArrayBuffer is only valid during this call: copy it.
      const frame = Buffer.from(new Uint8Array(message));
      if (isBinary) {
        ws.send(
          JSON.stringify({
            type: "error",
            status: 400,
            error: { type: "invalid_request_error", message: "Binary frames are not supported." },
          }),
        );
        return;
      }
      data.queue.push(frame);
      if (!data.current) nextFrame(core, ws);
    },
    drain: (ws) => {
      ws.getUserData().current?.onDrain();
    },
    close: (ws) => {
      const data = ws.getUserData();
      data.closed = true;
      data.queue.length = 0;
      openSockets.delete(ws);
      core.stats.activeWs -= 1;
      data.current?.abort();
    },
  });

  return new Promise((resolve, reject) => {
    app.listen(options.host, options.port, (listenSocket) => {
      if (!listenSocket) {
        reject(new Error(`simulator could not listen on ${options.host}:${options.port}`));
        return;
      }
      resolve({
        port: uWS.us_socket_local_port(listenSocket),
        close() {
          closing = true;
          uWS.us_listen_socket_close(listenSocket);
          // Streams and sockets in flight are cut; idle keep-alive connections time out on their own (~10 s).
          for (const res of [...openResponses]) res.close();
          for (const ws of [...openSockets]) ws.close();
        },
      });
    });
  });
}

function readBody(res: HttpResponse, live: Live, limit: number, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((ab, isLast) => {
    if (live.aborted || size < 0) return;
    size += ab.byteLength;
    if (size > limit) {
      size = -1;
      res.cork(() => {
        writeHead(res, 413, ["content-type", "application/json", "connection", "close"]);
        res.end('{"detail":"Request body too large"}', true);
      });
      return;
    }
    // Copy: uWS reuses the ArrayBuffer after this callback.
    chunks.push(Buffer.from(new Uint8Array(ab)));
    if (isLast) done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  });
}

function sendJson(res: HttpResponse, live: Live, o: JsonOutcome, done: () => void): void {
  const write = () => {
    if (live.aborted) return;
    res.cork(() => {
      writeHead(res, o.status, o.headers);
      res.end(o.body);
    });
    done();
  };
  if (o.delayMs > 0) {
    const timer = setTimeout(write, o.delayMs);
    live.onAbort = () => clearTimeout(timer);
  } else write();
}

function endKind(e: SimEvent | undefined): StreamEnd {
  switch (e?.type) {
    case "response.completed":
      return "completed";
    case "response.failed":
      return "failed";
    case "response.incomplete":
      return "incomplete";
    default:
      return "error";
  }
}

/**
 * Writes one StreamOutcome as SSE. Events are batched into one write when no pacing is asked for, so a short
 * stream costs one syscall; pacing, keepalives and termination faults use timers.
 */
class SseStream {
  #i = 0;
  #timer: NodeJS.Timeout | undefined;
  #keepalive: NodeJS.Timeout | undefined;
  #finished = false;
  #waitingDrain = false;

  constructor(
    private readonly res: HttpResponse,
    private readonly live: Live,
    private readonly o: StreamOutcome,
    private readonly entry: RequestLogEntry | undefined,
    private readonly release: () => void,
  ) {}

  start(): void {
    this.live.onAbort = () => this.#finish("aborted");
    if (this.o.firstByteDelayMs > 0)
      this.#timer = setTimeout(() => this.#corked(() => this.#begin()), this.o.firstByteDelayMs);
    else this.#begin();
  }

  #corked(fn: () => void): void {
    if (this.live.aborted || this.#finished) return;
    this.res.cork(fn);
  }

  #begin(): void {
    writeHead(this.res, 200, this.o.headers);
    const preamble = this.o.preamble ? `event: codex.rate_limits\ndata: ${this.o.preamble}\n\n` : "";
    if (this.o.eventDelayMs > 0) {
      if (preamble) this.res.write(preamble);
      this.#step();
    } else this.#batch(preamble);
  }

  /** True when a termination fault cuts the stream before event #i. */
  #cutHere(): boolean {
    const t = this.o.termination;
    return t.kind !== "complete" && this.#i === t.afterEvents;
  }

  /** Unpaced: all events in as few writes as possible, pausing only for backpressure. */
  #batch(initial = ""): void {
    const events = this.o.events;
    let buf = initial;
    while (this.#i < events.length) {
      if (this.#cutHere()) {
        if (buf) this.res.write(buf);
        this.#terminate();
        return;
      }
      buf += sseFrame(events[this.#i++]!);
      if (buf.length >= CHUNK) {
        const ok = this.res.write(buf);
        buf = "";
        if (!ok) {
          this.#awaitDrain();
          return;
        }
      }
    }
    if (buf) this.res.write(buf);
    this.#end();
  }

  /** Paced: one event, then a timer for the next. */
  #step(): void {
    const events = this.o.events;
    if (this.#i < events.length && this.#cutHere()) {
      this.#terminate();
      return;
    }
    if (this.#i >= events.length) {
      this.#end();
      return;
    }
    const ok = this.res.write(sseFrame(events[this.#i++]!));
    if (this.#i >= events.length) this.#end();
    else if (!ok) this.#awaitDrain();
    else this.#schedule();
  }

  /** All events written: a clean end, or the termination fault when it was set past the last event. */
  #end(): void {
    if (this.o.termination.kind !== "complete") {
      this.#terminate();
      return;
    }
    this.#finish(endKind(this.o.events[this.o.events.length - 1]));
    this.res.end();
    this.release();
  }

  #schedule(): void {
    const { eventDelayMs: ms, keepaliveMs } = this.o;
    if (keepaliveMs > 0 && keepaliveMs < ms) {
      this.#keepalive = setInterval(() => this.#corked(() => this.res.write(": keepalive\n\n")), keepaliveMs);
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#keepalive) clearInterval(this.#keepalive);
      this.#keepalive = undefined;
      this.#corked(() => this.#step());
    }, ms);
  }

  #awaitDrain(): void {
    if (this.#waitingDrain) return;
    this.#waitingDrain = true;
    this.res.onWritable(() => {
      this.#waitingDrain = false;
      if (this.live.aborted || this.#finished) return true;
      if (this.o.eventDelayMs > 0) this.#schedule();
      else this.#batch();
      return true;
    });
  }

  #terminate(): void {
    const t = this.o.termination;
    switch (t.kind) {
      case "eof":
        this.#finish("eof");
        this.res.end();
        this.release();
        return;
      case "disconnect":
      case "ws_close":
        this.#finish("disconnect");
        // Close after the corked bytes went out, so the client sees the events, then the cut.
        setImmediate(() => {
          if (!this.live.aborted) this.res.close();
        });
        return;
      case "stall":
        if (t.keepaliveMs) {
          this.#keepalive = setInterval(
            () => this.#corked(() => this.res.write(": keepalive\n\n")),
            t.keepaliveMs,
          );
        }
        if (t.ms !== undefined) {
          this.#timer = setTimeout(() => {
            if (this.live.aborted || this.#finished) return;
            this.#finish("stall");
            this.res.close();
          }, t.ms);
        }
        // Otherwise hold the connection until the client leaves (onAborted) or the simulator closes.
        this.live.onAbort = () => this.#finish("stall");
        return;
      case "complete":
        return;
    }
  }

  #finish(end: StreamEnd): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#keepalive) clearInterval(this.#keepalive);
    if (this.entry) this.entry.outcome = end;
    this.o.finish(end);
  }
}

// ---- websocket --------------------------------------------------------------------------------------

interface WsData {
  session: WsSession;
  closed: boolean;
  queue: Buffer[];
  current: WsStream | undefined;
}

function headersObject(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const k = flat[i]!;
    if (k.startsWith("x-codex-") || k === "retry-after") out[k] = flat[i + 1]!;
  }
  return out;
}

/** Wraps an HTTP-style error as the websocket error frame of spec §1.2. */
export function wrapError(o: JsonOutcome): string {
  let parsed: Record<string, unknown> | undefined;
  try {
    const v: unknown = JSON.parse(o.body);
    if (v !== null && typeof v === "object") parsed = v as Record<string, unknown>;
  } catch {
    parsed = undefined;
  }
  const error =
    parsed?.["error"] !== undefined && typeof parsed["error"] === "object"
      ? parsed["error"]
      : {
          type: o.status >= 500 ? "server_error" : "invalid_request_error",
          message: parsed?.["detail"] ?? o.body,
        };
  return JSON.stringify({ type: "error", status: o.status, error, headers: headersObject(o.headers) });
}

function nextFrame(core: SimulatorCore, ws: uWS.WebSocket<WsData>): void {
  const data = ws.getUserData();
  const frame = data.queue.shift();
  if (!frame || data.closed) return;
  const s = data.session;
  const entry = core.logRequest(
    {
      transport: "ws",
      method: "WS",
      path: "/backend-api/codex/responses",
      query: "",
      headers: s.headers,
      body: frame,
    },
    undefined,
    frame.length,
  );
  if (entry) entry.connectionId = s.id;
  let outcome: Outcome;
  try {
    outcome = core.handleWsFrame(s, frame, entry);
  } catch (e) {
    console.error("simulator: websocket handler failed", e);
    outcome = { type: "json", status: 500, headers: [], body: '{"detail":"Simulator error"}', delayMs: 0 };
  }
  if (entry) entry.status = outcome.status;
  if (outcome.type === "json") {
    if (entry) entry.outcome = "rejected";
    const o = outcome;
    const send = () => {
      if (data.closed) return;
      ws.cork(() => {
        ws.send(wrapError(o));
        if (o.closeAfter) ws.end(1000, "connection limit reached");
      });
      if (!o.closeAfter) nextFrame(core, ws);
    };
    if (o.delayMs > 0) setTimeout(send, o.delayMs);
    else send();
    return;
  }
  data.current = new WsStream(ws, outcome, entry, () => {
    data.current = undefined;
    if (!data.closed) nextFrame(core, ws);
  });
  data.current.start();
}

/** Sends one StreamOutcome as websocket text frames, one event per frame. */
class WsStream {
  #i = 0;
  #timer: NodeJS.Timeout | undefined;
  #finished = false;
  #waitingDrain = false;

  constructor(
    private readonly ws: uWS.WebSocket<WsData>,
    private readonly o: StreamOutcome,
    private readonly entry: RequestLogEntry | undefined,
    private readonly next: () => void,
  ) {}

  get #closed(): boolean {
    return this.ws.getUserData().closed;
  }

  start(): void {
    const begin = () => {
      if (this.#closed) return;
      this.ws.cork(() => {
        if (this.o.preamble) this.ws.send(this.o.preamble);
        this.#pump();
      });
    };
    if (this.o.firstByteDelayMs > 0) this.#timer = setTimeout(begin, this.o.firstByteDelayMs);
    else begin();
  }

  #pump(): void {
    const { events, termination, eventDelayMs } = this.o;
    while (this.#i < events.length) {
      if (termination.kind !== "complete" && this.#i === termination.afterEvents) {
        this.#terminate();
        return;
      }
      this.ws.send(events[this.#i++]!.data);
      if (this.#i < events.length && eventDelayMs > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          if (!this.#closed) this.ws.cork(() => this.#pump());
        }, eventDelayMs);
        return;
      }
      if (this.ws.getBufferedAmount() > WS_HIGH_WATER) {
        this.#waitingDrain = true;
        return;
      }
    }
    if (termination.kind !== "complete" && termination.afterEvents >= events.length) {
      this.#terminate();
      return;
    }
    this.#finish(endKind(events[events.length - 1]));
    this.next();
  }

  onDrain(): void {
    if (!this.#waitingDrain || this.#finished) return;
    if (this.ws.getBufferedAmount() > WS_HIGH_WATER) return;
    this.#waitingDrain = false;
    this.ws.cork(() => this.#pump());
  }

  #terminate(): void {
    const t = this.o.termination;
    switch (t.kind) {
      case "disconnect":
        this.#finish("disconnect");
        // As for SSE: let the corked frames go out before the socket is cut.
        setImmediate(() => {
          if (!this.#closed) this.ws.close();
        });
        return;
      case "ws_close":
      case "eof":
        this.#finish(t.kind === "eof" ? "eof" : "ws_close");
        this.ws.end(t.kind === "ws_close" ? (t.code ?? 1011) : 1000, "closing before response.completed");
        return;
      case "stall":
        if (t.ms !== undefined) {
          this.#timer = setTimeout(() => {
            if (this.#closed) return;
            this.#finish("stall");
            this.ws.close();
          }, t.ms);
        }
        return;
      case "complete":
        return;
    }
  }

  abort(): void {
    this.#finish(this.o.termination.kind === "stall" ? "stall" : "aborted");
  }

  #finish(end: StreamEnd): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.entry) this.entry.outcome = end;
    this.o.finish(end);
  }
}
