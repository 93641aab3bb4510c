/**
 * A whole Codex Pooler stack for end-to-end tests: the upstream simulator,
 * a fresh Postgres database, and the gateway + worker (`serve --role all`,
 * in this process) configured exactly as an operator would, through the
 * same operator functions the CLI calls. Logs are captured so tests can
 * search them for secrets.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { SecretBox } from "@codex-pooler/adapters";
import { loadConfig } from "@codex-pooler/config";
import { createKey, createPool, importAccount } from "@codex-pooler/control";
import { createLogger } from "@codex-pooler/logging";
import { type Simulator, type SimulatorOptions, startSimulator } from "@codex-pooler/simulator";
import { createUpstreamAgent } from "@codex-pooler/upstream";
import WebSocket from "ws";
import { type RunningHost, startHost } from "../../services/cli/src/host.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";

export interface StackOptions {
  accounts?: number;
  simulator?: Omit<SimulatorOptions, "accounts" | "authDir">;
  pool?: {
    routingStrategy?: "quota_first" | "least_recently_used" | "deterministic_rotation";
    pinnedFailover?: "move" | "refuse";
  };
  env?: Record<string, string>;
}

export interface Stack {
  sim: Simulator;
  db: TestDatabase;
  host: RunningHost;
  env: Record<string, string>;
  baseUrl: string;
  /** `http://127.0.0.1:<port>/backend-api/codex` */
  codexBaseUrl: string;
  poolId: string;
  key: string;
  /** Simulator account id by our account id, and back. */
  accountIds: Map<string, string>;
  simAccountOf(ourId: string): string;
  logs(): string;
  /** Starts another gateway process-equivalent (same database) on a free port. */
  startAnotherHost(): Promise<RunningHost>;
  close(): Promise<void>;
}

class Capture extends Writable {
  chunks: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.chunks.push(chunk.toString());
    cb();
  }
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const authDir = mkdtempSync(join(tmpdir(), "cxp-auth-"));
  const dataDir = mkdtempSync(join(tmpdir(), "cxp-data-"));
  const sim = await startSimulator({
    accounts: options.accounts ?? 3,
    authDir,
    ...(options.simulator ?? {}),
  });
  const db = await createTestDatabase();
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    CODEX_POOLER_DATA_DIR: dataDir,
    CODEX_POOLER_UPSTREAM_BASE_URL: `${sim.baseUrl}/backend-api`,
    CODEX_POOLER_AUTH_BASE_URL: sim.baseUrl,
    CODEX_POOLER_UPSTREAM_SECRET_KEY: randomBytes(32).toString("base64"),
    CODEX_POOLER_TOTP_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    CODEX_POOLER_HOST: "127.0.0.1",
    CODEX_POOLER_LOG_LEVEL: "debug",
    ...options.env,
  };
  const config = loadConfig(env);
  const capture = new Capture();
  const logger = createLogger({ level: "debug", name: "stack", destination: capture as never });
  const hosts: RunningHost[] = [];
  const host = await startHost({ config, role: "all", logger, port: 0 });
  hosts.push(host);

  const ctx = { db: host.database.db, actor: { type: "cli" as const } };
  const pool = await createPool(ctx, { name: `p${randomBytes(3).toString("hex")}`, ...(options.pool ?? {}) });
  const sealer = new SecretBox({ keys: [config.rootKeys.upstream!] });
  const agent = createUpstreamAgent();
  const accountIds = new Map<string, string>();
  for (const account of sim.accounts) {
    const file = join(authDir, account.id, "auth.json");
    const imported = await importAccount(ctx, {
      poolNameOrId: pool.id,
      authJsonText: readFileSync(file, "utf8"),
      sealer,
      upstream: { baseUrl: config.upstream.baseUrl, agent },
    });
    accountIds.set(imported.id, account.id);
  }
  await agent.close();
  const key = await createKey(ctx, { poolNameOrId: pool.id });
  await host.gateway!.registry.reload();
  const baseUrl = `http://127.0.0.1:${host.gateway!.port}`;

  return {
    sim,
    db,
    host,
    env,
    baseUrl,
    codexBaseUrl: `${baseUrl}/backend-api/codex`,
    poolId: pool.id,
    key: key.key,
    accountIds,
    simAccountOf(ourId) {
      const id = accountIds.get(ourId);
      if (!id) throw new Error(`unknown account ${ourId}`);
      return id;
    },
    logs: () => capture.chunks.join(""),
    async startAnotherHost() {
      const another = await startHost({ config, role: "all", logger, port: 0 });
      hosts.push(another);
      return another;
    },
    async close() {
      for (const h of hosts.reverse()) await h.stop().catch(() => {});
      await sim.close();
      await db.drop();
    },
  };
}

/** Reads an SSE body to the end and returns the parsed `data` objects in order. */
export async function readSse(res: Response): Promise<Array<Record<string, unknown>>> {
  const text = await res.text();
  const out: Array<Record<string, unknown>> = [];
  for (const block of text.split("\n\n")) {
    const data = block
      .split("\n")
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart())
      .join("\n");
    if (data && data !== "[DONE]") out.push(JSON.parse(data) as Record<string, unknown>);
  }
  return out;
}

export function userTurn(text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: "gpt-5.4",
    stream: true,
    store: false,
    input: [{ type: "message", role: "user", content: [{ type: "input_text", text }] }],
    ...extra,
  };
}

/** A websocket to the gateway's `path`, authenticated with the stack's Pool API key, once it is open. */
export async function openWebSocket(stack: Stack, path: string): Promise<WebSocket> {
  const ws = new WebSocket(`${stack.baseUrl.replace("http", "ws")}${path}`, {
    headers: { authorization: `Bearer ${stack.key}` },
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return ws;
}
