/**
 * `codex-pooler serve --workers 2`: two gateway processes on one port. The
 * kernel spreads connections over both, a worker that dies is replaced while
 * the other keeps serving, SIGTERM stops them all with every request
 * recorded, and the embedded database (one process only) is refused.
 */
import { execFile, execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { Agent, type IncomingMessage, request } from "node:http";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServeProcess, startServeProcess } from "../support/serve-process.ts";
import { type Stack, startStack, userTurn } from "../support/stack.ts";

const BIN = fileURLToPath(new URL("../../bin/codex-pooler.js", import.meta.url));
const run = promisify(execFile);

/** The worker processes: `node` children of the primary (not the esbuild service the loader starts). */
function workerPids(pid: number): number[] {
  const out = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(pid)], { encoding: "utf8" });
  return out
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter(([p, comm]) => Number(p) > 0 && comm === "node")
    .map(([p]) => Number(p))
    .sort((a, b) => a - b);
}

/**
 * Sockets on local `port` in TCP state `state` (01 established, 0A listening)
 * that process `pid` holds (Linux /proc).
 */
function socketsOn(pid: number, port: number, state: "01" | "0A"): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1]?.endsWith(`:${hexPort}`) && f[3] === state) inodes.add(f[9]!);
    }
  }
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** POSTs one streamed turn on a connection of its own; `onResponse` reads the answer. */
function postTurn(baseUrl: string, key: string, text: string, onResponse: (res: IncomingMessage) => void) {
  const req = request(
    `${baseUrl}/backend-api/codex/responses`,
    {
      method: "POST",
      agent: false,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    },
    onResponse,
  );
  req.end(JSON.stringify(userTurn(text)));
  return req;
}

/** One streamed turn; resolves with the status and whether it completed. */
function turn(baseUrl: string, key: string): Promise<{ status: number; completed: boolean }> {
  return new Promise((resolve, reject) => {
    postTurn(baseUrl, key, "sim: reply PONG", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, completed: text.includes("event: response.completed") }),
      );
    }).on("error", reject);
  });
}

/**
 * A streamed turn the simulator leaves open after four events: resolves once
 * events arrive (the stream is committed); the connection stays open until the
 * server ends it.
 */
function openStalledStream(baseUrl: string, key: string): Promise<{ ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    postTurn(baseUrl, key, "sim: fail stall 4", (res) => {
      const ended = new Promise<void>((done) => {
        res.on("close", done);
        res.on("error", done);
      });
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
        if (text.includes("event: ")) resolve({ ended });
      });
    }).on("error", reject);
  });
}

/** Keep-alive connections that stay open (one /healthz each), to see where the kernel put them. */
async function holdConnections(port: number, n: number): Promise<() => void> {
  const agent = new Agent({ keepAlive: true, maxSockets: n });
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve, reject) => {
          const req = request({ host: "127.0.0.1", port, path: "/healthz", agent }, (res) => {
            res.resume();
            res.on("end", resolve);
          });
          req.on("error", reject);
          req.end();
        }),
    ),
  );
  return () => agent.destroy();
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForAsync<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("serve --workers", () => {
  let stack: Stack;
  let serve: ServeProcess;
  let sent = 0;
  const countByStatus = async (status: "succeeded" | "cancelled") => {
    const row = await stack.host.database.db
      .selectFrom("request_records")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("status", "=", status)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  };
  const succeeded = () => countByStatus("succeeded");

  beforeAll(async () => {
    stack = await startStack({ accounts: 2 });
    serve = await startServeProcess(stack.env, ["--workers", "2"]);
    await waitFor("the workers line", () =>
      /workers: +2 processes/.test(serve.output()) ? true : undefined,
    );
  }, 60_000);

  afterAll(async () => {
    await serve?.stop();
    await stack?.close();
  });

  it("spreads connections over two processes that both serve streamed turns", async () => {
    const workers = workerPids(serve.pid);
    expect(workers).toHaveLength(2);
    expect(serve.output()).toContain(`pids ${workers.join(", ")}`);
    // The workers serve with uWebSockets.js; the supervising process never loads the gateway.
    const loadsUws = (pid: number) => /uws_linux_[^/]*\.node/.test(readFileSync(`/proc/${pid}/maps`, "utf8"));
    expect(workers.map(loadsUws)).toEqual([true, true]);
    expect(loadsUws(serve.pid)).toBe(false);

    const release = await holdConnections(serve.port, 40);
    try {
      const counts = workers.map((pid) => socketsOn(pid, serve.port, "01"));
      // 40, plus the keep-alive connection left from polling /readyz at start.
      expect(counts[0]! + counts[1]!).toBeGreaterThanOrEqual(40);
      expect(Math.min(...counts)).toBeGreaterThan(0);
    } finally {
      release();
    }

    const results = await Promise.all(Array.from({ length: 20 }, () => turn(serve.baseUrl, stack.key)));
    sent += results.length;
    expect(results.every((r) => r.status === 200 && r.completed)).toBe(true);
    // Both processes write their records (before the next test kills one of them).
    await waitForAsync("20 request records", async () => ((await succeeded()) === 20 ? true : undefined));
  });

  it("replaces a worker that dies while the other keeps serving", async () => {
    const [victim, survivor] = workerPids(serve.pid);
    process.kill(victim!, "SIGKILL");
    // Connections the dead process had accepted die with it; once it is gone, every new
    // turn is answered by the survivor (the dead process's listening socket left the group).
    await waitFor("the killed worker to be gone", () => {
      try {
        process.kill(victim!, 0);
        return undefined;
      } catch {
        return true;
      }
    });
    const during = await Promise.all(Array.from({ length: 10 }, () => turn(serve.baseUrl, stack.key)));
    sent += during.length;
    expect(during.every((r) => r.status === 200 && r.completed)).toBe(true);

    const replaced = await waitFor("a replacement worker", () => {
      const now = workerPids(serve.pid);
      return now.length === 2 && !now.includes(victim!) && now.includes(survivor!) ? now : undefined;
    });
    const fresh = replaced.find((p) => p !== survivor)!;
    await waitFor("the replacement to listen", () =>
      socketsOn(fresh, serve.port, "0A") === 1 ? true : undefined,
    );
    const release = await holdConnections(serve.port, 40);
    try {
      expect(socketsOn(fresh, serve.port, "01")).toBeGreaterThan(0);
    } finally {
      release();
    }
    expect(serve.output()).toMatch(/gateway worker exited; starting a new one/);
  });

  it("refuses a second serve --workers on a port already in use", async () => {
    const err = await run(
      process.execPath,
      [BIN, "serve", "--role", "all", "--workers", "2", "--port", String(serve.port)],
      {
        env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...stack.env },
        timeout: 60_000,
      },
    ).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(new RegExp(`port ${serve.port} is in use`));
    expect(workerPids(serve.pid)).toHaveLength(2);
  });

  it("stops every worker on SIGTERM with each request recorded, streams still open included", async () => {
    const workers = workerPids(serve.pid);
    const open = await Promise.all([1, 2].map(() => openStalledStream(serve.baseUrl, stack.key)));
    expect(await serve.stop()).toBe(0);
    await Promise.all(open.map((o) => o.ended));
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
    expect(await succeeded()).toBe(sent);
    expect(await countByStatus("cancelled")).toBe(2);
  });
});

it("workers whose supervising process was killed drain, record their streams and exit", async () => {
  const stack = await startStack({ accounts: 1 });
  const serve = await startServeProcess(stack.env, ["--workers", "2"]);
  try {
    await waitFor("the workers line", () =>
      /workers: +2 processes/.test(serve.output()) ? true : undefined,
    );
    const workers = workerPids(serve.pid);
    const open = await openStalledStream(serve.baseUrl, stack.key);
    process.kill(serve.pid, "SIGKILL");
    await open.ended;
    await waitFor("both workers to exit", () =>
      workers.every((pid) => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      })
        ? true
        : undefined,
    );
    const row = await stack.host.database.db
      .selectFrom("request_records")
      .select(["status", "error_code"])
      .executeTakeFirstOrThrow();
    expect(row.status).toBe("cancelled");
    expect(serve.output()).toMatch(/supervising process is gone; draining and exiting/);
  } finally {
    await serve.stop();
    await stack.close();
  }
}, 60_000);

it("refuses --workers on the embedded database with one clear line", async () => {
  const err = await run(process.execPath, [BIN, "serve", "--workers", "2"], {
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" },
    timeout: 60_000,
  }).catch((e: { code: number; stderr: string }) => e);
  expect((err as { code: number }).code).toBe(2);
  expect((err as { stderr: string }).stderr).toMatch(/--workers needs DATABASE_URL/);
});
