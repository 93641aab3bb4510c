/**
 * The relay's HTTP/1.1 client: keep-alive connections to the Codex backend,
 * one request at a time per connection, responses parsed straight from the
 * socket's chunks.
 *
 * Why our own and not undici: this is the measured hot path. Under the short
 * streamed workload undici's dispatch (request validation, its wasm parser,
 * header objects built twice, handler wrapping) was about a quarter of the
 * gateway's CPU and a fifth of its allocation per request. The gateway sends few, well-formed requests to one
 * origin and needs only: status, headers, the body's bytes in order with
 * backpressure, timeouts and abort. That is what this does, following RFC
 * 9112: status line and fields, 1xx skipped, `chunked` (extensions and
 * trailers read and dropped), `content-length`, or read until close; a
 * connection is reused only after a response fully framed by the server
 * with nothing left over, and is closed a second before the idle timeout the
 * server announces in `keep-alive: timeout=N`. A request that finds its
 * reused connection closed or reset within a second of being written and
 * before any byte of an answer (the server closed it while idle) is sent
 * once more on a new connection, so an account is not blamed for a stale
 * connection; later failures are the caller's to handle. The caller's
 * control (`ExchangeControl`) reaches only its own exchange, never a later
 * one on the same connection. Everything else (token refresh, probes)
 * still goes through undici. (README, Performance: "Upstream client".)
 */
import * as net from "node:net";
import * as tls from "node:tls";

export interface ConnectionTimeouts {
  connectMs: number;
  /** Longest silence while the response head is awaited (each byte of it, or a 1xx, starts it again). */
  headersMs: number;
  /** Longest silence between body bytes. */
  bodyIdleMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveMs: number;
}

/** Where requests go: one origin. */
export interface Origin {
  key: string;
  secure: boolean;
  host: string;
  port: number;
  /** The `host` header value. */
  authority: string;
}

export function parseOrigin(url: URL): Origin {
  const secure = url.protocol === "https:";
  if (!secure && url.protocol !== "http:") throw new Error(`unsupported upstream protocol ${url.protocol}`);
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return { key: url.origin, secure, host, port, authority: url.host };
}

/** The caller's side of one exchange. Exactly one of `onEnd`/`onError` ends it (none after `abort`). */
export interface ExchangeHandler {
  /** The final (non-1xx) head. Lower-case names; repeated fields joined by ", ". */
  onHead(status: number, headers: Record<string, string>): void;
  /** Body bytes in order (views into the socket's chunk: keep, do not modify). */
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: Error): void;
}

export interface ExchangeControl {
  pause(): void;
  resume(): void;
  /** Stops the exchange and closes its connection; the handler hears nothing more. */
  abort(): void;
}

export class UpstreamHttpError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "UpstreamHttpError";
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * The head is written as UTF-8 (uWS hands us header values decoded from
 * UTF-8, so this sends a client's bytes as it sent them), and UTF-8 encodes
 * every non-ASCII character with bytes ≥ 0x80: only ASCII controls (tab
 * aside) could split a field, so only they are refused.
 */
const BAD_REQUEST_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
const BAD_REQUEST_PATH = /[\0-\x20\x7f]/;
/** A response field value holding a line break or NUL (a bare LF would split it for the next reader). */
const BAD_RESPONSE_VALUE = /[\0\r\n]/;
/** A request whose reused connection fails this soon after it was written, before any answer byte, is sent again. */
const RESEND_WINDOW_MS = 1000;
const MAX_HEAD_BYTES = 64 * 1024;
const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

/** Field names already checked (requests reuse a small set). */
const goodNames = new Set<string>();

/** `METHOD path HTTP/1.1` and its fields, ready to write; throws on a name or value that could split it. */
export function requestHead(
  method: string,
  path: string,
  origin: Origin,
  headers: Record<string, string>,
  bodyLength: number | undefined,
): string {
  if (BAD_REQUEST_PATH.test(path))
    throw new UpstreamHttpError("invalid request path", "UPSTREAM_INVALID_REQUEST");
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${origin.authority}\r\n`;
  for (const name in headers) {
    const value = headers[name]!;
    if (!goodNames.has(name)) {
      const lower = name.toLowerCase();
      if (
        !TOKEN.test(name) ||
        lower === "host" ||
        lower === "content-length" ||
        lower === "transfer-encoding" ||
        lower === "connection"
      )
        throw new UpstreamHttpError(
          `request header ${JSON.stringify(name)} not allowed`,
          "UPSTREAM_INVALID_REQUEST",
        );
      if (goodNames.size < 1024) goodNames.add(name);
    }
    if (BAD_REQUEST_VALUE.test(value))
      throw new UpstreamHttpError(`invalid value for request header ${name}`, "UPSTREAM_INVALID_REQUEST");
    head += `${name}: ${value}\r\n`;
  }
  if (bodyLength !== undefined) head += `content-length: ${bodyLength}\r\n`;
  return `${head}\r\n`;
}

enum State {
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
}

/** The caller's handle on one exchange; it follows the exchange to a new connection if it is sent again. */
class Exchange implements ExchangeControl {
  /** @internal The connection carrying the exchange (it ignores calls once the exchange is over). */
  conn: Connection | undefined;

  constructor(readonly handler: ExchangeHandler) {}

  pause(): void {
    this.conn?.pause(this);
  }

  resume(): void {
    this.conn?.resume(this);
  }

  abort(): void {
    this.conn?.abort(this);
  }
}

export class Http1Pool {
  readonly #idle = new Map<string, Connection[]>();
  readonly #open = new Set<Connection>();
  #closed = false;

  /** `tlsOptions` add to the defaults for https origins (e.g. `ca` for a private authority). */
  constructor(
    readonly timeouts: ConnectionTimeouts,
    readonly tlsOptions: Readonly<tls.ConnectionOptions> = {},
  ) {}

  /** Sends one request on an idle kept-alive connection or a new one. */
  exchange(
    origin: Origin,
    head: string,
    body: string | Buffer | undefined,
    handler: ExchangeHandler,
  ): ExchangeControl {
    if (this.#closed) throw new UpstreamHttpError("upstream client closed", "UPSTREAM_CLIENT_CLOSED");
    let conn: Connection | undefined;
    const idle = this.#idle.get(origin.key);
    while (idle && idle.length > 0) {
      const c = idle.pop()!;
      if (c.usable) {
        conn = c;
        break;
      }
    }
    const exchange = new Exchange(handler);
    (conn ?? this.#connect(origin)).start(head, body, exchange);
    return exchange;
  }

  /** @internal A request whose reused connection was found closed goes out once more on a new one. */
  resend(
    origin: Origin,
    head: string,
    body: string | Buffer | undefined,
    exchange: Exchange,
    err: Error,
  ): void {
    if (this.#closed) {
      exchange.handler.onError(err);
      return;
    }
    this.#connect(origin).start(head, body, exchange);
  }

  #connect(origin: Origin): Connection {
    const conn = new Connection(this, origin);
    this.#open.add(conn);
    return conn;
  }

  /** @internal */
  release(conn: Connection): void {
    if (this.#closed) {
      conn.close();
      return;
    }
    let list = this.#idle.get(conn.origin.key);
    if (!list) {
      list = [];
      this.#idle.set(conn.origin.key, list);
    }
    list.push(conn);
  }

  /** @internal */
  forget(conn: Connection): void {
    this.#open.delete(conn);
    const list = this.#idle.get(conn.origin.key);
    const i = list ? list.indexOf(conn) : -1;
    if (i >= 0) list!.splice(i, 1);
  }

  /** Idle connections close now; busy ones when their exchange ends. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const c of list.splice(0)) c.close();
  }

  /** Every connection closes now; exchanges under way fail. */
  destroy(): void {
    this.#closed = true;
    for (const c of [...this.#open])
      c.close(new UpstreamHttpError("upstream client destroyed", "UPSTREAM_CLIENT_CLOSED"));
  }
}

/** One connection, carrying one exchange at a time. */
class Connection {
  readonly origin: Origin;
  readonly #pool: Http1Pool;
  readonly #socket: net.Socket;
  #connected = false;
  #dead = false;
  /** The exchange under way. */
  #exchange: Exchange | undefined;
  #state = State.Idle;
  /** The response must end with the connection (no framing, or `connection: close`). */
  #closeAfter = false;
  #remaining = 0;
  /** Bytes of an unfinished head, or of an unfinished chunk-size/trailer line. */
  #partial: Buffer | undefined;
  #noBody = false;
  /** Idle time allowed after this answer (the server's keep-alive hint, if shorter than ours). */
  #keepAliveMs: number;
  #exchanges = 0;
  /**
   * On a reused connection, the request (its head holds the account's
   * token), kept until the first byte of its answer in case the connection
   * turns out closed and it must be sent again; never on a new connection.
   */
  #head: string | undefined;
  #body: string | Buffer | undefined;
  #sentAt = 0;

  constructor(pool: Http1Pool, origin: Origin) {
    this.#pool = pool;
    this.origin = origin;
    const t = pool.timeouts;
    this.#keepAliveMs = t.keepAliveMs;
    this.#socket = origin.secure
      ? tls.connect({
          ...pool.tlsOptions,
          host: origin.host,
          port: origin.port,
          servername: net.isIP(origin.host) ? undefined : origin.host,
          ALPNProtocols: ["http/1.1"],
        })
      : net.connect({ host: origin.host, port: origin.port });
    const s = this.#socket;
    s.setNoDelay(true);
    s.setTimeout(t.connectMs);
    s.once(origin.secure ? "secureConnect" : "connect", () => {
      this.#connected = true;
      s.setKeepAlive(true, 60_000);
      s.setTimeout(this.#exchange ? t.headersMs : t.keepAliveMs);
    });
    s.on("data", (chunk: Buffer) => this.#onData(chunk));
    s.on("end", () => this.#onEnd());
    s.on("error", (err) => this.#fail(err));
    s.on("close", () =>
      this.#fail(new UpstreamHttpError("upstream connection closed", "UPSTREAM_SOCKET_CLOSED")),
    );
    s.on("timeout", () => this.#onTimeout());
  }

  /** Can carry a new request. */
  get usable(): boolean {
    return !this.#dead && this.#exchange === undefined && !this.#socket.destroyed;
  }

  start(head: string, body: string | Buffer | undefined, exchange: Exchange): void {
    this.#exchange = exchange;
    exchange.conn = this;
    this.#state = State.Head;
    this.#closeAfter = false;
    this.#noBody = head.startsWith("HEAD ");
    if (++this.#exchanges > 1) {
      this.#head = head;
      this.#body = body;
      this.#sentAt = Date.now();
    }
    const s = this.#socket;
    if (this.#connected) s.setTimeout(this.#pool.timeouts.headersMs);
    if (body === undefined || body.length === 0) s.write(head, "utf8");
    else {
      s.cork();
      s.write(head, "utf8");
      s.write(body);
      s.uncork();
    }
  }

  /** The exchange's consumer is behind: stop reading (and stop counting upstream silence meanwhile). */
  pause(exchange: Exchange): void {
    if (exchange !== this.#exchange) return;
    this.#socket.pause();
    this.#socket.setTimeout(0);
  }

  resume(exchange: Exchange): void {
    if (exchange !== this.#exchange) return;
    this.#socket.resume();
    const t = this.#pool.timeouts;
    this.#socket.setTimeout(this.#state === State.Head ? t.headersMs : t.bodyIdleMs);
  }

  abort(exchange: Exchange): void {
    if (exchange !== this.#exchange) return;
    this.#exchange = undefined;
    this.close();
  }

  /** Closes the connection; an exchange under way fails with `err`. */
  close(err?: Error): void {
    if (err) this.#fail(err);
    else this.#kill();
  }

  #kill(): void {
    this.#head = undefined;
    this.#body = undefined;
    if (this.#dead) return;
    this.#dead = true;
    this.#pool.forget(this);
    this.#socket.destroy();
  }

  #fail(err: Error): void {
    const exchange = this.#exchange;
    const head = this.#head;
    const body = this.#body;
    this.#exchange = undefined;
    this.#kill();
    if (!exchange) return;
    if (head !== undefined && Date.now() - this.#sentAt <= RESEND_WINDOW_MS && isStaleConnection(err)) {
      this.#pool.resend(this.origin, head, body, exchange, err);
      return;
    }
    exchange.handler.onError(err);
  }

  #onTimeout(): void {
    if (!this.#exchange) {
      this.#kill(); // idle past keep-alive, or connecting with nothing to send
      return;
    }
    const [what, code] = !this.#connected
      ? ["connect", "UPSTREAM_CONNECT_TIMEOUT"]
      : this.#state === State.Head
        ? ["headers", "UPSTREAM_HEADERS_TIMEOUT"]
        : ["body", "UPSTREAM_BODY_TIMEOUT"];
    this.#fail(new UpstreamHttpError(`upstream ${what} timeout`, code));
  }

  #onEnd(): void {
    const exchange = this.#exchange;
    if (this.#state === State.UntilClose && exchange) {
      this.#exchange = undefined;
      this.#kill();
      exchange.handler.onEnd();
      return;
    }
    this.#fail(new UpstreamHttpError("upstream closed the connection", "UPSTREAM_SOCKET_CLOSED"));
  }

  #protocolError(what: string): void {
    this.#fail(
      new UpstreamHttpError(`upstream sent an invalid response: ${what}`, "UPSTREAM_PROTOCOL_ERROR"),
    );
  }

  #onData(chunk: Buffer): void {
    if (this.#head !== undefined) {
      this.#head = undefined;
      this.#body = undefined;
    }
    let buf = chunk;
    while (buf.length > 0) {
      const handler = this.#exchange?.handler;
      if (!handler) {
        // Bytes nobody asked for (an idle connection), or after an abort.
        this.#kill();
        return;
      }
      switch (this.#state) {
        case State.Head:
        case State.ChunkSize:
        case State.ChunkEnd: // the CRLF after a chunk's data (it may arrive one byte at a time)
        case State.Trailers: {
          const rest = this.#state === State.Head ? this.#readHead(buf) : this.#readLine(buf);
          if (rest === undefined) return;
          buf = rest;
          break;
        }
        case State.Length:
          buf = this.#deliver(buf, handler);
          if (this.#remaining === 0) {
            this.#complete(buf);
            return;
          }
          break;
        case State.ChunkData:
          buf = this.#deliver(buf, handler);
          if (this.#remaining === 0) this.#state = State.ChunkEnd;
          break;
        case State.UntilClose:
          handler.onData(buf);
          return;
        default:
          this.#kill();
          return;
      }
    }
  }

  /** Hands the handler up to `#remaining` bytes of `buf`; returns the bytes after them. */
  #deliver(buf: Buffer, handler: ExchangeHandler): Buffer {
    const n = Math.min(this.#remaining, buf.length);
    this.#remaining -= n;
    if (n === buf.length) {
      handler.onData(buf);
      return EMPTY;
    }
    handler.onData(buf.subarray(0, n));
    return buf.subarray(n);
  }

  /** Reads the response head; returns the bytes after it, or undefined when more are needed or it failed. */
  #readHead(chunk: Buffer): Buffer | undefined {
    let buf = chunk;
    let from = 0;
    if (this.#partial) {
      from = Math.max(0, this.#partial.length - 3);
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    const end = buf.indexOf(HEAD_END, from);
    if (end === -1) {
      if (buf.length > MAX_HEAD_BYTES) this.#protocolError("head too large");
      else this.#partial = Buffer.from(buf);
      return undefined;
    }
    if (end > MAX_HEAD_BYTES) {
      this.#protocolError("head too large");
      return undefined;
    }
    const text = buf.toString("latin1", 0, end);
    const rest = buf.subarray(end + 4);
    // Status line: HTTP/1.x NNN reason
    if (!text.startsWith("HTTP/1.") || text.charCodeAt(8) !== 0x20) {
      this.#protocolError("status line");
      return undefined;
    }
    const code = text.slice(9, 12);
    const status = Number(code);
    if (
      !/^\d{3}$/.test(code) ||
      status < 100 ||
      (text.length > 12 && text.charCodeAt(12) !== 0x20 && text.charCodeAt(12) !== 0x0d)
    ) {
      this.#protocolError("status code");
      return undefined;
    }
    const http10 = text.charCodeAt(7) === 0x30;
    const headers = Object.create(null) as Record<string, string>;
    let lineStart = text.indexOf("\r\n");
    while (lineStart !== -1) {
      lineStart += 2;
      const lineEnd = text.indexOf("\r\n", lineStart);
      const stop = lineEnd === -1 ? text.length : lineEnd;
      const colon = text.indexOf(":", lineStart);
      if (colon === -1 || colon > stop || colon === lineStart) {
        this.#protocolError("header line");
        return undefined;
      }
      const name = text.slice(lineStart, colon).toLowerCase();
      if (!TOKEN.test(name)) {
        this.#protocolError("header name");
        return undefined;
      }
      lineStart = lineEnd;
      if (name === "__proto__") continue;
      const value = text.slice(colon + 1, stop).trim();
      if (BAD_RESPONSE_VALUE.test(value)) {
        this.#protocolError("header value");
        return undefined;
      }
      const prev = headers[name];
      headers[name] = prev === undefined ? value : `${prev}, ${value}`;
    }
    if (status < 200) {
      if (status === 101) {
        this.#protocolError("unexpected upgrade");
        return undefined;
      }
      return rest; // informational: the real head follows
    }
    const connection = headers["connection"]?.toLowerCase();
    this.#closeAfter = http10
      ? connection !== "keep-alive"
      : connection === "close" || (connection?.includes("close") ?? false);
    const hint = headers["keep-alive"];
    if (hint !== undefined) {
      const m = /timeout\s*=\s*(\d+)/i.exec(hint);
      if (m) {
        const ms = Number(m[1]) * 1000 - 1000;
        if (ms <= 0) this.#closeAfter = true;
        else if (ms < this.#keepAliveMs) this.#keepAliveMs = ms;
      }
    }
    const te = headers["transfer-encoding"];
    const cl = headers["content-length"];
    if (this.#noBody || status === 204 || status === 304) {
      this.#remaining = 0;
    } else if (te !== undefined) {
      // Both framings announced: the answer is read as chunked, and the connection not trusted after it.
      if (cl !== undefined) this.#closeAfter = true;
      if (!/(?:^|,)\s*chunked\s*$/i.test(te)) {
        this.#closeAfter = true;
        this.#state = State.UntilClose;
      } else this.#state = State.ChunkSize;
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) {
        this.#protocolError("content-length");
        return undefined;
      }
      this.#remaining = Number(cl);
      this.#state = State.Length;
    } else {
      this.#closeAfter = true;
      this.#state = State.UntilClose;
    }
    this.#socket.setTimeout(this.#pool.timeouts.bodyIdleMs);
    const exchange = this.#exchange!;
    exchange.handler.onHead(status, headers);
    if (this.#exchange !== exchange) return undefined; // aborted from onHead
    if (
      (this.#noBody || status === 204 || status === 304 || this.#state === State.Length) &&
      this.#remaining === 0
    ) {
      this.#complete(rest);
      return undefined;
    }
    return rest;
  }

  /** A chunk-size line, a chunk's trailing CRLF or a trailer line. */
  #readLine(chunk: Buffer): Buffer | undefined {
    let buf = chunk;
    if (this.#partial) {
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    if (this.#state === State.ChunkEnd && (buf[0] !== 0x0d || (buf.length > 1 && buf[1] !== 0x0a))) {
      this.#protocolError("chunk end");
      return undefined;
    }
    const eol = buf.indexOf(CRLF);
    if (eol === -1) {
      if (buf.length > 4096) this.#protocolError("chunk line too long");
      else this.#partial = Buffer.from(buf);
      return undefined;
    }
    const rest = buf.subarray(eol + 2);
    switch (this.#state) {
      case State.ChunkEnd:
        if (eol !== 0) {
          this.#protocolError("chunk end");
          return undefined;
        }
        this.#state = State.ChunkSize;
        return rest;
      case State.ChunkSize: {
        let end = eol;
        const semi = buf.indexOf(0x3b, 0); // extensions are ignored
        if (semi !== -1 && semi < eol) end = semi;
        const hex = buf.toString("latin1", 0, end).trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) {
          this.#protocolError("chunk size");
          return undefined;
        }
        const size = Number.parseInt(hex, 16);
        if (size === 0) this.#state = State.Trailers;
        else {
          this.#remaining = size;
          this.#state = State.ChunkData;
        }
        return rest;
      }
      default:
        // Trailers: dropped; an empty line ends the message.
        if (eol === 0) {
          this.#complete(rest);
          return undefined;
        }
        return rest;
    }
  }

  /** The response is complete; `rest` are bytes after it (there should be none). */
  #complete(rest: Buffer): void {
    const exchange = this.#exchange;
    this.#exchange = undefined;
    this.#state = State.Idle;
    if (this.#dead || !exchange) return;
    if (this.#closeAfter || rest.length > 0) this.#kill();
    else {
      // Its consumer may have paused it on the answer's last bytes: an idle connection must read
      // (stray bytes or the server's close end it there, not in the next request).
      if (this.#socket.isPaused()) this.#socket.resume();
      this.#socket.setTimeout(this.#keepAliveMs);
      this.#pool.release(this);
    }
    exchange.handler.onEnd();
  }
}

const EMPTY = Buffer.alloc(0);

/** The failures of a request written to a connection the server had already closed. */
function isStaleConnection(err: Error): boolean {
  const code = (err as { code?: string }).code;
  return code === "UPSTREAM_SOCKET_CLOSED" || code === "ECONNRESET" || code === "EPIPE";
}
