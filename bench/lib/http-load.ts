/**
 * The HTTP load generator: plain keep-alive HTTP/1.1 on raw sockets.
 *
 * Why our own client and not autocannon or wrk: it must read Server-Sent
 * Events streams to their end (chunked framing) and check that each one
 * ended with `response.completed`, count the events, measure time to first
 * byte and to the last byte, send at a fixed rate without waiting for
 * answers (open loop: a slow answer never delays the next request, so there
 * is no coordinated omission), and hold thousands of streams open — all in
 * one process with no dependency and a few microseconds of CPU per request,
 * so the generator is never the bottleneck (its CPU is reported next to the
 * gateway's to show it).
 */
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";

export interface Endpoint {
  host: string;
  port: number;
}

/** One complete request, ready to write. */
export function buildRequest(opts: {
  endpoint: Endpoint;
  method?: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}): Buffer {
  const body = Buffer.from(opts.body);
  let head = `${opts.method ?? "POST"} ${opts.path} HTTP/1.1\r\nhost: ${opts.endpoint.host}:${opts.endpoint.port}\r\n`;
  for (const [k, v] of Object.entries(opts.headers)) head += `${k}: ${v}\r\n`;
  head += `content-length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

export interface Outcome {
  /** 0 when the connection broke before a complete answer. */
  status: number;
  /** Microseconds from the write to the first byte of the answer. */
  ttfbUs: number;
  /** Microseconds from the write to the last byte of the answer. */
  totalUs: number;
  bodyBytes: number;
  /** SSE events seen (blank-line terminated blocks). */
  events: number;
  /** The stream carried a `response.completed` event. */
  completed: boolean;
  error?: string;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");
const BLANK_LINE = Buffer.from("\n\n");
const COMPLETED = "event: response.completed";
const COMPLETED_BYTES = Buffer.from(COMPLETED);

enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailer,
}

interface Pending {
  startedAt: number;
  status: number;
  firstByteAt: number;
  bodyBytes: number;
  events: number;
  lastWasNewline: boolean;
  tail: string;
  completed: boolean;
  onFirstBody: ((status: number) => void) | undefined;
  resolve: (o: Outcome) => void;
}

/** A keep-alive connection that carries one request at a time and parses the answer incrementally. */
export class HttpConnection {
  readonly socket: Socket;
  #state = State.Head;
  #carry: Buffer | undefined;
  #remaining = 0;
  #closeAfter = false;
  #current: Pending | undefined;
  closed = false;

  constructor(endpoint: Endpoint) {
    this.socket = connect(endpoint.port, endpoint.host);
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    this.socket.on("error", () => {});
    this.socket.on("close", () => {
      this.closed = true;
      this.#fail("connection closed");
    });
  }

  get busy(): boolean {
    return this.#current !== undefined;
  }

  /** Writes a request; resolves when its answer ended (never rejects: a broken connection is status 0). */
  send(request: Buffer, onFirstBody?: (status: number) => void): Promise<Outcome> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve(brokenOutcome("connection closed", 0));
        return;
      }
      if (this.#current) throw new Error("one request at a time per connection");
      this.#current = {
        startedAt: performance.now(),
        status: 0,
        firstByteAt: -1,
        bodyBytes: 0,
        events: 0,
        lastWasNewline: false,
        tail: "",
        completed: false,
        onFirstBody,
        resolve,
      };
      this.socket.write(request);
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.destroy();
    });
  }

  #fail(error: string): void {
    const cur = this.#current;
    if (!cur) return;
    this.#current = undefined;
    const o = brokenOutcome(error, (performance.now() - cur.startedAt) * 1000);
    o.bodyBytes = cur.bodyBytes;
    o.events = cur.events;
    cur.resolve(o);
  }

  #finish(): void {
    const cur = this.#current!;
    this.#current = undefined;
    this.#state = State.Head;
    const now = performance.now();
    cur.resolve({
      status: cur.status,
      ttfbUs: (cur.firstByteAt - cur.startedAt) * 1000,
      totalUs: (now - cur.startedAt) * 1000,
      bodyBytes: cur.bodyBytes,
      events: cur.events,
      completed: cur.completed,
    });
    if (this.#closeAfter) void this.close();
  }

  #body(buf: Buffer, start: number, end: number): void {
    const cur = this.#current!;
    if (end <= start) return;
    if (cur.bodyBytes === 0) cur.onFirstBody?.(cur.status);
    cur.bodyBytes += end - start;
    const view = buf.subarray(start, end);
    if (cur.lastWasNewline && view[0] === 10) cur.events++;
    let i = view.indexOf(BLANK_LINE);
    while (i >= 0) {
      cur.events++;
      i = view.indexOf(BLANK_LINE, i + 2);
    }
    cur.lastWasNewline = view[view.length - 1] === 10;
    if (!cur.completed) {
      // The marker may straddle two reads: look at the previous tail joined to this start, then the rest.
      const head = view.toString("latin1", 0, Math.min(view.length, COMPLETED.length));
      if ((cur.tail + head).includes(COMPLETED) || view.indexOf(COMPLETED_BYTES) >= 0) cur.completed = true;
      cur.tail = view.toString("latin1", Math.max(0, view.length - COMPLETED.length));
    }
  }

  #onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.#carry) {
      buf = Buffer.concat([this.#carry, chunk]);
      this.#carry = undefined;
    }
    let off = 0;
    while (off < buf.length) {
      const cur = this.#current;
      if (!cur) {
        // Bytes nobody asked for: the framing is lost.
        this.socket.destroy();
        return;
      }
      switch (this.#state) {
        case State.Head: {
          if (cur.firstByteAt < 0) cur.firstByteAt = performance.now();
          const end = buf.indexOf(CRLFCRLF, off);
          if (end < 0) {
            this.#carry = buf.subarray(off);
            return;
          }
          const head = buf.toString("latin1", off, end).toLowerCase();
          off = end + 4;
          cur.status = Number(head.slice(9, 12));
          this.#closeAfter = /\r\nconnection:\s*close/.test(head);
          if (/\r\ntransfer-encoding:\s*chunked/.test(head)) this.#state = State.ChunkSize;
          else {
            const m = /\r\ncontent-length:\s*(\d+)/.exec(head);
            this.#remaining = m ? Number(m[1]) : 0;
            if (this.#remaining === 0) this.#finish();
            else this.#state = State.Length;
          }
          break;
        }
        case State.Length:
        case State.ChunkData: {
          const n = Math.min(this.#remaining, buf.length - off);
          this.#body(buf, off, off + n);
          off += n;
          this.#remaining -= n;
          if (this.#remaining === 0) {
            if (this.#state === State.Length) this.#finish();
            else this.#state = State.ChunkDataEnd;
          }
          break;
        }
        case State.ChunkSize: {
          const end = buf.indexOf(CRLF, off);
          if (end < 0) {
            this.#carry = buf.subarray(off);
            return;
          }
          const size = Number.parseInt(buf.toString("latin1", off, end), 16);
          off = end + 2;
          if (!Number.isFinite(size)) {
            this.socket.destroy();
            return;
          }
          if (size === 0) this.#state = State.Trailer;
          else {
            this.#remaining = size;
            this.#state = State.ChunkData;
          }
          break;
        }
        case State.ChunkDataEnd: {
          if (buf.length - off < 2) {
            this.#carry = buf.subarray(off);
            return;
          }
          off += 2;
          this.#state = State.ChunkSize;
          break;
        }
        case State.Trailer: {
          const end = buf.indexOf(CRLF, off);
          if (end < 0) {
            this.#carry = buf.subarray(off);
            return;
          }
          // An empty line ends the message; trailer fields (never sent here) are skipped.
          const empty = end === off;
          off = end + 2;
          if (empty) this.#finish();
          break;
        }
      }
    }
  }
}

function brokenOutcome(error: string, totalUs: number): Outcome {
  return { status: 0, ttfbUs: 0, totalUs, bodyBytes: 0, events: 0, completed: false, error };
}

/** What one load run produced. */
export interface LoadRun {
  sent: number;
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  latenciesUs: number[];
  ttfbUs: number[];
  events: number;
  bodyBytes: number;
  elapsedMs: number;
  connectionsOpened: number;
  /** Fixed rate only: how late the generator sent, p99 in microseconds. */
  sendLagP99Us?: number;
}

function newRun(): LoadRun {
  return {
    sent: 0,
    ok: 0,
    errors: 0,
    errorKinds: {},
    latenciesUs: [],
    ttfbUs: [],
    events: 0,
    bodyBytes: 0,
    elapsedMs: 0,
    connectionsOpened: 0,
  };
}

/** A success is a 200 whose stream ended with `response.completed`. */
function account(run: LoadRun, o: Outcome): void {
  run.events += o.events;
  run.bodyBytes += o.bodyBytes;
  if (o.status === 200 && o.completed) {
    run.ok++;
    run.latenciesUs.push(o.totalUs);
    run.ttfbUs.push(o.ttfbUs);
    return;
  }
  run.errors++;
  const kind =
    o.status === 0 ? (o.error ?? "broken") : o.status === 200 ? "incomplete_stream" : `http_${o.status}`;
  run.errorKinds[kind] = (run.errorKinds[kind] ?? 0) + 1;
}

/**
 * Closed loop: `requests.length` connections, each sending its request again
 * as soon as the previous answer ended, for `durationMs` (maximum throughput).
 */
export async function closedLoop(opts: {
  endpoint: Endpoint;
  requests: Buffer[];
  durationMs: number;
}): Promise<LoadRun> {
  const run = newRun();
  const conns = opts.requests.map(() => new HttpConnection(opts.endpoint));
  run.connectionsOpened = conns.length;
  const t0 = performance.now();
  const until = t0 + opts.durationMs;
  await Promise.all(
    conns.map(async (conn, i) => {
      const req = opts.requests[i]!;
      while (performance.now() < until && !conn.closed) {
        run.sent++;
        account(run, await conn.send(req));
      }
    }),
  );
  run.elapsedMs = performance.now() - t0;
  await Promise.all(conns.map((c) => c.close()));
  return run;
}

/**
 * Open loop at a fixed rate: request i is due at t0 + i/rate whatever the
 * answers are doing. Idle connections are reused; when none is free a new
 * one is opened (counted), so requests never queue inside the generator.
 */
export async function fixedRate(opts: {
  endpoint: Endpoint;
  requests: Buffer[];
  rate: number;
  durationMs: number;
  prewarmConnections: number;
}): Promise<LoadRun> {
  const run = newRun();
  const idle: HttpConnection[] = [];
  const all: HttpConnection[] = [];
  const open = () => {
    const c = new HttpConnection(opts.endpoint);
    all.push(c);
    run.connectionsOpened++;
    return c;
  };
  for (let i = 0; i < opts.prewarmConnections; i++) idle.push(open());
  // Let the prewarmed connections finish their handshakes before the clock starts.
  await Promise.all(
    idle.map(
      (c) => new Promise<void>((r) => (c.socket.connecting ? c.socket.once("connect", () => r()) : r())),
    ),
  );
  const total = Math.round((opts.rate * opts.durationMs) / 1000);
  const lags: number[] = [];
  const inflight = new Set<Promise<void>>();
  let i = 0;
  const t0 = performance.now();
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - t0) * opts.rate) / 1000) + 1);
      while (i < due) {
        const intended = t0 + (i * 1000) / opts.rate;
        lags.push((now - intended) * 1000);
        let conn = idle.pop();
        while (conn?.closed) conn = idle.pop();
        conn ??= open();
        const c = conn;
        const req = opts.requests[i % opts.requests.length]!;
        i++;
        run.sent++;
        const p = c.send(req).then((o) => {
          account(run, o);
          if (!c.closed) idle.push(c);
          inflight.delete(p);
        });
        inflight.add(p);
      }
      if (i >= total) {
        done();
        return;
      }
      const next = t0 + (i * 1000) / opts.rate;
      setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  });
  await Promise.all(inflight);
  run.elapsedMs = performance.now() - t0;
  lags.sort((a, b) => a - b);
  run.sendLagP99Us = Math.round(lags[Math.floor(lags.length * 0.99)] ?? 0);
  await Promise.all(all.map((c) => c.close()));
  return run;
}

export interface IdleStreams {
  /** Streams whose 200 head and first events arrived. */
  open: number;
  failed: number;
  errorKinds: Record<string, number>;
  openMs: number;
  /** Streams still open now (not ended or cut by the server). */
  stillOpen(): number;
  close(): Promise<void>;
}

/**
 * Opens `count` streaming requests (a few per tick, so no listen backlog
 * overflows) and keeps them open; resolves when every one has either
 * started streaming or failed, or after `timeoutMs`.
 */
export async function openIdleStreams(opts: {
  endpoint: Endpoint;
  request: (i: number) => Buffer;
  count: number;
  perTick: number;
  timeoutMs: number;
}): Promise<IdleStreams> {
  const conns: HttpConnection[] = [];
  const errorKinds: Record<string, number> = {};
  let open = 0;
  let failed = 0;
  const started = new Set<HttpConnection>();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      const missing = opts.count - open - failed;
      if (missing > 0) errorKinds["no_answer_in_time"] = missing;
      failed += missing;
      resolve();
    }, opts.timeoutMs);
    const settle = () => {
      if (open + failed === opts.count) {
        clearTimeout(timer);
        resolve();
      }
    };
    let next = 0;
    const openSome = () => {
      for (let k = 0; k < opts.perTick && next < opts.count; k++, next++) {
        const c = new HttpConnection(opts.endpoint);
        conns.push(c);
        void c
          .send(opts.request(next), (status) => {
            if (status !== 200) return;
            started.add(c);
            open++;
            settle();
          })
          .then((o) => {
            if (started.has(c)) return; // ended later: seen by stillOpen()
            failed++;
            const kind = o.status === 0 ? (o.error ?? "broken") : `http_${o.status}`;
            errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
            settle();
          });
      }
      if (next < opts.count) setTimeout(openSome, 5);
    };
    openSome();
  });
  const openMs = performance.now() - t0;
  return {
    open,
    failed,
    errorKinds,
    openMs,
    stillOpen: () => [...started].filter((c) => !c.closed && c.busy).length,
    close: async () => {
      await Promise.all(conns.map((c) => c.close()));
    },
  };
}
