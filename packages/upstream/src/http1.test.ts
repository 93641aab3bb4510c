import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ExchangeControl, type ExchangeHandler, Http1Pool, parseOrigin, requestHead } from "./http1.ts";

// A raw TCP server answers with exact bytes, so framing edge cases are what the client sees.
let server: Server;
let origin: ReturnType<typeof parseOrigin>;
let answer: (socket: Socket, request: string) => void = () => {};
const sockets = new Set<Socket>();
let connections = 0;

beforeAll(async () => {
  server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let buf = "";
    socket.on("data", (c) => {
      buf += c.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(buf)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      const request = buf.slice(0, end + 4 + length);
      buf = buf.slice(end + 4 + length);
      answer(socket, request);
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = parseOrigin(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const timeouts = { connectMs: 2000, headersMs: 2000, bodyIdleMs: 2000, keepAliveMs: 2000 };
let pool = new Http1Pool(timeouts);
afterEach(() => {
  pool.destroy();
  pool = new Http1Pool(timeouts);
});

interface Outcome {
  control?: ExchangeControl;
  status?: number;
  headers?: Record<string, string>;
  body: string;
  error?: Error;
}

function send(
  method = "GET",
  body?: string,
  p = pool,
  opts: {
    pauseAfterHead?: boolean;
    pauseAfterHeadMs?: number;
    pauseOnData?: boolean;
    headers?: Record<string, string>;
  } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: "" };
    const handler: ExchangeHandler = {
      onHead(status, headers) {
        out.status = status;
        out.headers = headers;
        if (opts.pauseAfterHead || opts.pauseAfterHeadMs) {
          control.pause();
          setTimeout(() => control.resume(), opts.pauseAfterHeadMs ?? 50);
        }
      },
      onData(chunk) {
        out.body += chunk.toString("latin1");
        // A consumer that falls behind on the answer's last bytes (and never catches up).
        if (opts.pauseOnData) control.pause();
      },
      onEnd: () => resolve(out),
      onError(err) {
        out.error = err;
        resolve(out);
      },
    };
    const head = requestHead(
      method,
      "/x",
      origin,
      opts.headers ?? { accept: "text/event-stream" },
      body === undefined ? undefined : Buffer.byteLength(body),
    );
    const control = p.exchange(origin, head, body, handler);
    out.control = control;
  });
}

/** Writes `bytes` one byte at a time (every split point the parser can meet). */
async function dribble(socket: Socket, bytes: string): Promise<void> {
  for (const ch of bytes) {
    socket.write(ch, "latin1");
    await new Promise((r) => setImmediate(r));
  }
}

describe("Http1Pool", () => {
  it("reads a chunked answer split at every byte, drops extensions and trailers, and reuses the connection", async () => {
    const wire =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Codex-A: 1\r\nx-codex-a: 2\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "5;ext=1\r\nhello\r\n1A\r\n" +
      "abcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: t\r\n\r\n";
    answer = (s) => void dribble(s, wire);
    const before = connections;
    const a = await send();
    expect(a.error).toBeUndefined();
    expect(a.status).toBe(200);
    expect(a.headers).toEqual({
      "content-type": "text/event-stream",
      "x-codex-a": "1, 2",
      "transfer-encoding": "chunked",
    });
    expect(a.body).toBe("helloabcdefghijklmnopqrstuvwxyz");
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc");
    const b = await send();
    expect(b.body).toBe("abc");
    expect(connections - before).toBe(1);
  });

  it("skips 1xx heads, honours content-length, and sends the body with its length", async () => {
    let seen = "";
    answer = (s, req) => {
      seen = req;
      s.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok");
    };
    const r = await send("POST", '{"a":"é"}');
    expect(r.status).toBe(201);
    expect(r.body).toBe("ok");
    expect(seen).toMatch(
      /^POST \/x HTTP\/1\.1\r\nhost: 127\.0\.0\.1:\d+\r\naccept: text\/event-stream\r\ncontent-length: 10\r\n\r\n/,
    );
    expect(Buffer.from(seen, "latin1").subarray(-10).toString("utf8")).toBe('{"a":"é"}');
  });

  it("reads to the close when the answer has no length, and does not reuse that connection", async () => {
    answer = (s) => {
      s.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart one, ");
      setTimeout(() => s.end("part two"), 20);
    };
    const before = connections;
    const r = await send();
    expect(r.error).toBeUndefined();
    expect(r.body).toBe("part one, part two");
    answer = (s) => s.write("HTTP/1.1 204 No Content\r\n\r\n");
    expect((await send()).status).toBe(204);
    expect(connections - before).toBe(2);
  });

  it("closes after `connection: close` and after bytes past the answer", async () => {
    const before = connections;
    answer = (s) => s.write("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na");
    expect((await send()).body).toBe("a");
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nbEXTRA");
    expect((await send()).body).toBe("b");
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nc");
    expect((await send()).body).toBe("c");
    expect(connections - before).toBe(3);
  });

  it("fails when the connection breaks mid-body, after delivering what arrived", async () => {
    answer = (s) => {
      s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n");
      setTimeout(() => s.destroy(), 20);
    };
    const r = await send();
    expect(r.body).toBe("abc");
    expect((r.error as { code?: string }).code).toBe("UPSTREAM_SOCKET_CLOSED");
  });

  it("rejects malformed answers with a protocol error", async () => {
    for (const wire of [
      "HTTX/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 1e2 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nx-a: 1\nx-b: 2\r\ncontent-length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\naXX",
    ]) {
      answer = (s) => s.write(wire);
      const r = await send();
      expect((r.error as { code?: string } | undefined)?.code, wire).toBe("UPSTREAM_PROTOCOL_ERROR");
    }
  });

  it("times out a silent head and a silent body", async () => {
    const quick = new Http1Pool({ ...timeouts, headersMs: 100, bodyIdleMs: 100 });
    answer = () => {};
    const head = await send("GET", undefined, quick);
    expect((head.error as { code?: string }).code).toBe("UPSTREAM_HEADERS_TIMEOUT");
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
    const body = await send("GET", undefined, quick);
    expect(body.body).toBe("abc");
    expect((body.error as { code?: string }).code).toBe("UPSTREAM_BODY_TIMEOUT");
    quick.destroy();
  });

  it("reports a refused connection as the socket error", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const o = parseOrigin(new URL(`http://127.0.0.1:${port}`));
    const r = await new Promise<Error>((resolve) => {
      pool.exchange(o, requestHead("GET", "/", o, {}, undefined), undefined, {
        onHead: () => {},
        onData: () => {},
        onEnd: () => resolve(new Error("ended")),
        onError: resolve,
      });
    });
    expect((r as { code?: string }).code).toBe("ECONNREFUSED");
  });

  it("resumes a paused connection and keeps it usable", async () => {
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nabcd");
    const r = await send("GET", undefined, pool, { pauseAfterHead: true });
    expect(r.body).toBe("abcd");
    expect((await send()).body).toBe("abcd");
  });

  it("a new connection replaces one the server closed while idle", async () => {
    answer = (s) => {
      s.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
    };
    expect((await send()).body).toBe("hi");
    await new Promise((r) => setTimeout(r, 50));
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nyo");
    const r = await send();
    expect(r.error).toBeUndefined();
    expect(r.body).toBe("yo");
  });

  it("sends a request once more on a new connection when its reused one was closed before any answer", async () => {
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
    expect((await send()).body).toBe("hi");
    const before = connections;
    let requests = 0;
    answer = (s) => {
      requests++;
      if (requests === 1)
        s.destroy(); // the kept-alive connection turns out to be gone
      else s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nyo");
    };
    const r = await send("POST", "{}");
    expect(r.error).toBeUndefined();
    expect(r.body).toBe("yo");
    expect(requests).toBe(2);
    expect(connections - before).toBe(1);

    // A new connection that fails is not tried again.
    const fresh = new Http1Pool(timeouts);
    requests = 0;
    answer = (s) => {
      requests++;
      s.destroy();
    };
    const failed = await send("POST", "{}", fresh);
    expect(["UPSTREAM_SOCKET_CLOSED", "ECONNRESET"]).toContain((failed.error as { code?: string }).code);
    expect(requests).toBe(1);
    fresh.destroy();
  });

  it("does not keep a connection past the idle timeout the server announces", async () => {
    const before = connections;
    answer = (s) => s.write("HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 1\r\n\r\na");
    expect((await send()).body).toBe("a");
    expect((await send()).body).toBe("a");
    expect(connections - before).toBe(2);
  });

  it("does not resend a request that failed after the resend window (the server may have acted on it)", async () => {
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
    expect((await send()).body).toBe("hi");
    let requests = 0;
    answer = (s) => {
      requests++;
      setTimeout(() => s.destroy(), 1100);
    };
    const r = await send("POST", "{}");
    expect(["UPSTREAM_SOCKET_CLOSED", "ECONNRESET"]).toContain((r.error as { code?: string }).code);
    expect(requests).toBe(1);
  });

  it("a connection paused on its answer's last bytes goes back to reading: stray bytes end it, not the next request", async () => {
    answer = (s) => {
      s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
      setTimeout(() => s.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nSTALE"), 30);
    };
    const first = await send("GET", undefined, pool, { pauseOnData: true });
    expect(first.body).toBe("hi");
    await new Promise((r) => setTimeout(r, 80));
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh");
    const second = await send();
    expect(second.error).toBeUndefined();
    expect(second.body).toBe("fresh");
  });

  it("a finished exchange's control no longer reaches its connection", async () => {
    answer = (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na");
    const before = connections;
    const first = await send();
    first.control!.abort();
    first.control!.pause();
    const second = await send();
    expect(second.body).toBe("a");
    expect(connections - before).toBe(1);
  });

  it("does not count upstream silence while its consumer holds it paused", async () => {
    const quick = new Http1Pool({ ...timeouts, bodyIdleMs: 100 });
    answer = (s) => s.write(`HTTP/1.1 200 OK\r\ncontent-length: 300000\r\n\r\n${"x".repeat(300000)}`);
    const r = await send("GET", undefined, quick, { pauseAfterHeadMs: 300 });
    expect(r.error).toBeUndefined();
    expect(r.body.length).toBe(300000);
    quick.destroy();
  });

  it("keeps response field names as data (no prototype lookups)", async () => {
    answer = (s) => s.write("HTTP/1.1 200 OK\r\nconstructor: y\r\ntoString: z\r\ncontent-length: 0\r\n\r\n");
    const r = await send();
    expect(r.headers?.["constructor"]).toBe("y");
    expect(r.headers?.["tostring"]).toBe("z");
    expect(r.headers?.["valueOf"]).toBeUndefined();
  });

  it("sends non-ASCII field values as UTF-8, so no character can become a line break", async () => {
    let seen = "";
    answer = (s, req) => {
      seen = req;
      s.write("HTTP/1.1 204 No Content\r\n\r\n");
    };
    // U+010D U+010A: their low bytes are CR and LF, which a latin1 write would have sent.
    const r = await send("GET", undefined, pool, {
      headers: { "x-codex-turn-metadata": "a\u010d\u010ab: é" },
    });
    expect(r.status).toBe(204);
    const lines = Buffer.from(seen, "latin1").toString("utf8").split("\r\n");
    expect(lines.filter((l) => l.startsWith("x-codex-turn-metadata:"))).toEqual([
      "x-codex-turn-metadata: a\u010d\u010ab: é",
    ]);
    expect(lines).not.toContain("b: é");
    expect(() => requestHead("GET", "/", origin, { "x-a": "1\u0001" }, undefined)).toThrow(/invalid value/);
    expect(() => requestHead("GET", "/a\tb", origin, {}, undefined)).toThrow(/path/);
  });

  it("refuses request fields that could split the request", () => {
    expect(() => requestHead("GET", "/", origin, { "x-a": "1\r\nx-b: 2" }, undefined)).toThrow(
      /invalid value/,
    );
    expect(() => requestHead("GET", "/", origin, { "x a": "1" }, undefined)).toThrow(/not allowed/);
    expect(() => requestHead("GET", "/", origin, { "Content-Length": "1" }, undefined)).toThrow(
      /not allowed/,
    );
    expect(() => requestHead("GET", "/a b", origin, {}, undefined)).toThrow(/path/);
  });
});

describe("Http1Pool over TLS", () => {
  let dir: string;
  let tlsServer: tls.Server;
  let secure: ReturnType<typeof parseOrigin>;
  let ca: string;

  beforeAll(async () => {
    // A throwaway self-signed certificate for localhost, made for this run.
    dir = mkdtempSync(join(tmpdir(), "cxp-http1-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    ca = readFileSync(join(dir, "cert.pem"), "utf8");
    tlsServer = tls.createServer(
      { key: readFileSync(join(dir, "key.pem")), cert: ca, ALPNProtocols: ["http/1.1"] },
      (socket) => {
        let seen = "";
        socket.on("data", (c) => {
          seen += c.toString("latin1");
          if (!seen.includes("\r\n\r\n")) return;
          const host = /\r\nhost: ([^\r]+)/.exec(seen)?.[1] ?? "";
          seen = "";
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${host.length}\r\n\r\n${host}`);
        });
        socket.on("error", () => {});
      },
    );
    await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.1", r));
    secure = parseOrigin(new URL(`https://localhost:${(tlsServer.address() as AddressInfo).port}`));
  });
  afterAll(async () => {
    await new Promise((r) => tlsServer.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  function get(p: Http1Pool): Promise<Outcome> {
    return new Promise((resolve) => {
      const out: Outcome = { body: "" };
      p.exchange(secure, requestHead("GET", "/", secure, {}, undefined), undefined, {
        onHead(status) {
          out.status = status;
        },
        onData(c) {
          out.body += c.toString("latin1");
        },
        onEnd: () => resolve(out),
        onError: (err) => {
          out.error = err;
          resolve(out);
        },
      });
    });
  }

  it("verifies the server's certificate against the name, and refuses one it cannot trust", async () => {
    const trusting = new Http1Pool(timeouts, { ca });
    const r = await get(trusting);
    expect(r.error).toBeUndefined();
    expect(r.body).toBe(`localhost:${secure.port}`);
    expect((await get(trusting)).body).toBe(`localhost:${secure.port}`);
    trusting.destroy();

    const strict = new Http1Pool(timeouts);
    const refused = await get(strict);
    expect(refused.status).toBeUndefined();
    expect((refused.error as { code?: string }).code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
    strict.destroy();
  });
});
