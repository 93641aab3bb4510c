/**
 * The benchmark's stack, each part its own process as an operator runs it:
 * - the upstream simulator (`codex-pooler simulator`, request log off);
 * - a fresh Postgres database `cxp_bench_<random>` on the local server,
 *   migrated with `codex-pooler migrate` and dropped at the end;
 * - a pool, the simulator's accounts and a Pool API key, made with the CLI
 *   (`pool create`, `account import --auth-json`, `key create --json`);
 * - the gateway: `codex-pooler serve --role all` (HTTP + websocket gateway,
 *   queue worker writing request records, scheduler), optionally with
 *   `--cpu-prof`.
 * The simulator and the gateway can be pinned to cores (see proc.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { Endpoint } from "./http-load.ts";
import { pinnedCommand } from "./proc.ts";

const BIN = fileURLToPath(new URL("../../bin/codex-pooler.js", import.meta.url));

export function adminUrl(database = "postgres"): string {
  const url = new URL(
    process.env["CODEX_POOLER_BENCH_ADMIN_URL"] ||
      process.env["CODEX_POOLER_TEST_ADMIN_URL"] ||
      "postgres://postgres@127.0.0.1:5432/postgres",
  );
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Keeps the last `limit` characters a child printed, for error messages. */
class OutputTail {
  text = "";
  constructor(private readonly limit = 32_000) {}
  push(chunk: Buffer): void {
    this.text = (this.text + chunk.toString()).slice(-this.limit);
  }
}

interface Child {
  process: ChildProcess;
  output: OutputTail;
  pid: number;
}

function startChild(command: string[], env: NodeJS.ProcessEnv): Child {
  const output = new OutputTail();
  const child = spawn(command[0]!, command.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (c: Buffer) => output.push(c));
  child.stderr?.on("data", (c: Buffer) => output.push(c));
  if (child.pid === undefined) throw new Error(`could not start ${command.join(" ")}`);
  return { process: child, output, pid: child.pid };
}

async function stopChild(child: Child, timeoutMs = 15_000): Promise<number | null> {
  const p = child.process;
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
  const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
  p.kill("SIGTERM");
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** Runs one CLI command to its end; its stdout, or an error with its output. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`codex-pooler ${args.join(" ")} exited ${code}:\n${err}${out}`));
    });
  });
}

export interface StackOptions {
  accounts: number;
  gatewayCore: number | undefined;
  simulatorCore: number | undefined;
  /** Extra Node flags for the gateway process (e.g. V8 tracing while investigating). */
  nodeFlags?: string[];
  /** Directory for `--cpu-prof` output of the gateway; no profiling when absent. */
  cpuProfileDir?: string;
  log: (line: string) => void;
}

export interface SimulatorProcess {
  pid: number;
  baseUrl: string;
  controlUrl: string;
  endpoint: Endpoint;
  /** Access tokens of the simulated accounts (direct calls). */
  tokens: string[];
}

/** The running gateway; a restart updates this object in place. */
export interface GatewayProcess {
  /** The `serve` process (with several workers, their primary). */
  pid: number;
  /** Gateway processes sharing the port (`serve --workers`). */
  workers: number;
  baseUrl: string;
  endpoint: Endpoint;
  key: string;
}

export interface RecordCount {
  total: number;
  byStatus: Record<string, number>;
}

export interface BenchStack {
  sim: SimulatorProcess;
  gateway: GatewayProcess;
  database: string;
  countRecords(): Promise<RecordCount>;
  /** Waits until `expected` records are in Postgres (or `timeoutMs`), returning the last count. */
  waitForRecords(expected: number, timeoutMs: number): Promise<RecordCount>;
  /** Rows written per table since the database was made (pg_stat_user_tables). */
  tableWrites(): Promise<Record<string, { inserted: number; updated: number; deleted: number }>>;
  /** SIGTERM to the gateway (it drains and flushes its records); its exit code. */
  stopGateway(): Promise<number | null>;
  /**
   * A fresh gateway (same database, new port), `workers` processes sharing the
   * port (default 1); `gateway` is updated in place.
   */
  restartGateway(workers?: number): Promise<void>;
  gatewayOutput(): string;
  close(): Promise<void>;
}

function endpointOf(baseUrl: string): Endpoint {
  const u = new URL(baseUrl);
  return { host: u.hostname, port: Number(u.port) };
}

async function waitReady(url: string, child: Child, workers: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.process.exitCode !== null)
      throw new Error(`gateway exited early (${child.process.exitCode}):\n${child.output.text}`);
    // With several workers, the primary prints its banner once every one of them listens.
    if (workers > 1 && !child.output.text.includes("  workers:")) {
      if (Date.now() > deadline)
        throw new Error(`gateway workers not ready after ${timeoutMs} ms:\n${child.output.text}`);
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`gateway not ready after ${timeoutMs} ms:\n${child.output.text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function freePort(): Promise<number> {
  return import("node:net").then(
    ({ createServer }) =>
      new Promise<number>((resolve, reject) => {
        const srv = createServer();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
          const port = (srv.address() as { port: number }).port;
          srv.close(() => resolve(port));
        });
      }),
  );
}

export async function startBenchStack(options: StackOptions): Promise<BenchStack> {
  const work = mkdtempSync(join(tmpdir(), "cxp-bench-"));
  const database = `cxp_bench_${randomBytes(5).toString("hex")}`;
  const dbUrl = adminUrl(database);
  const cleanups: Array<() => Promise<unknown>> = [
    async () => rmSync(work, { recursive: true, force: true }),
  ];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };

  try {
    // Simulator: its own process, request log off (a gateway benchmark should not pay for the test log).
    options.log("starting the simulator");
    const sim = startChild(
      [
        ...pinnedCommand(options.simulatorCore),
        process.execPath,
        BIN,
        "simulator",
        "--port",
        "0",
        "--accounts",
        String(options.accounts),
        "--auth-dir",
        join(work, "auth"),
        "--request-log",
        "0",
      ],
      { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" },
    );
    cleanups.push(() => stopChild(sim));
    const info = await new Promise<{
      baseUrl: string;
      controlUrl: string;
      accounts: Array<{ id: string; authFile: string }>;
    }>((resolve, reject) => {
      let buf = "";
      const onData = (c: Buffer) => {
        buf += c.toString();
        const nl = buf.indexOf("\n");
        if (nl >= 0) {
          sim.process.stdout?.off("data", onData);
          try {
            resolve(JSON.parse(buf.slice(0, nl)));
          } catch (err) {
            reject(err);
          }
        }
      };
      sim.process.stdout?.on("data", onData);
      sim.process.once("exit", (code) => reject(new Error(`simulator exited ${code}:\n${sim.output.text}`)));
    });
    // Quota large enough that no run exhausts an account (the bench measures relaying, not quota).
    const huge = { capacityTokens: 1e13, usedTokens: 0 };
    for (const a of info.accounts) {
      const res = await fetch(`${info.controlUrl}/accounts/${a.id}/quota`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ primary: huge, secondary: huge }),
      });
      if (!res.ok) throw new Error(`simulator quota setup failed: ${res.status} ${await res.text()}`);
    }
    const accounts = (await (await fetch(`${info.controlUrl}/accounts`)).json()) as Array<{
      accessToken: string;
    }>;

    // Database: fresh, migrated by the CLI, dropped at the end.
    options.log(`creating database ${database}`);
    await withClient(adminUrl(), (c) => c.query(`CREATE DATABASE "${database}"`));
    cleanups.push(() =>
      withClient(adminUrl(), (c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)),
    );
    const env: NodeJS.ProcessEnv = {
      PATH: process.env["PATH"] ?? "",
      HOME: process.env["HOME"] ?? "",
      DATABASE_URL: dbUrl,
      CODEX_POOLER_DATA_DIR: join(work, "data"),
      CODEX_POOLER_UPSTREAM_BASE_URL: `${info.baseUrl}/backend-api`,
      CODEX_POOLER_AUTH_BASE_URL: info.baseUrl,
      CODEX_POOLER_UPSTREAM_SECRET_KEY: randomBytes(32).toString("base64"),
      CODEX_POOLER_TOTP_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      CODEX_POOLER_HOST: "127.0.0.1",
    };
    await cli(["migrate"], env);

    options.log(`pool, ${info.accounts.length} accounts and a key through the CLI`);
    await cli(["pool", "create", "--name", "bench", "--json"], env);
    const [keyJson] = await Promise.all([
      cli(["key", "create", "--pool", "bench", "--json"], env),
      ...info.accounts.map((a) =>
        cli(["account", "import", "--pool", "bench", "--auth-json", a.authFile, "--json"], env),
      ),
    ]);
    const key = (JSON.parse(keyJson) as { key: string }).key;

    const nodeFlags = [
      ...(options.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir] : []),
      ...(options.nodeFlags ?? []),
    ];
    let gw: Child | undefined;
    const gateway: GatewayProcess = {
      pid: 0,
      workers: 1,
      baseUrl: "",
      endpoint: { host: "127.0.0.1", port: 0 },
      key,
    };
    const startGateway = async (workers = 1) => {
      options.log(`starting the gateway (serve --role all${workers > 1 ? ` --workers ${workers}` : ""})`);
      const port = await freePort();
      const child = startChild(
        [
          ...pinnedCommand(options.gatewayCore),
          process.execPath,
          ...nodeFlags,
          BIN,
          "serve",
          "--role",
          "all",
          "--port",
          String(port),
          ...(workers > 1 ? ["--workers", String(workers)] : []),
        ],
        env,
      );
      gw = child;
      gateway.pid = child.pid;
      gateway.workers = workers;
      gateway.baseUrl = `http://127.0.0.1:${port}`;
      gateway.endpoint = endpointOf(gateway.baseUrl);
      await waitReady(`${gateway.baseUrl}/readyz`, child, workers, 30_000);
    };
    const stopGateway = async () => (gw ? stopChild(gw) : null);
    cleanups.push(stopGateway);
    await startGateway();

    const countRecords = () =>
      withClient(dbUrl, async (c) => {
        const { rows } = await c.query<{ status: string; n: string }>(
          "SELECT status, count(*) AS n FROM request_records GROUP BY status",
        );
        const byStatus: Record<string, number> = {};
        let total = 0;
        for (const r of rows) {
          byStatus[r.status] = Number(r.n);
          total += Number(r.n);
        }
        return { total, byStatus };
      });

    return {
      sim: {
        pid: sim.pid,
        baseUrl: info.baseUrl,
        controlUrl: info.controlUrl,
        endpoint: endpointOf(info.baseUrl),
        tokens: accounts.map((a) => a.accessToken),
      },
      gateway,
      database,
      countRecords,
      async waitForRecords(expected, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        let last = await countRecords();
        while (last.total < expected && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          last = await countRecords();
        }
        return last;
      },
      tableWrites: () =>
        withClient(dbUrl, async (c) => {
          // Statistics reach the view shortly after each transaction; give the last ones a moment.
          await new Promise((r) => setTimeout(r, 1000));
          const { rows } = await c.query<{ relname: string; ins: string; upd: string; del: string }>(
            `SELECT relname, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_del AS del FROM pg_stat_user_tables
              WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname`,
          );
          return Object.fromEntries(
            rows.map((r) => [
              r.relname,
              { inserted: Number(r.ins), updated: Number(r.upd), deleted: Number(r.del) },
            ]),
          );
        }),
      stopGateway,
      async restartGateway(workers = 1) {
        const code = await stopGateway();
        if (code !== 0) throw new Error(`gateway exited ${code} on SIGTERM:\n${gw?.output.text ?? ""}`);
        await startGateway(workers);
      },
      gatewayOutput: () => gw?.output.text ?? "",
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
