/**
 * `codex-pooler serve` as an operator runs it: on embedded defaults (with
 * other commands working while it runs), on Postgres (draining on SIGTERM),
 * and refusing a bad configuration with one clear line.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { createTestDatabase } from "../support/db.ts";
import { freePort } from "../support/serve-process.ts";

const BIN = fileURLToPath(new URL("../../bin/codex-pooler.js", import.meta.url));
const run = promisify(execFile);
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function baseEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...extra };
}

/** `serve` as a process pinned to one core starts it (taskset: util-linux). */
const ONE_CORE = ["taskset", "-c", "0"];

async function startServe(
  env: Record<string, string>,
  prefix: string[] = [],
): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  const port = await freePort();
  const command = [...prefix, process.execPath, BIN, "serve", "--port", String(port)];
  const child = spawn(command[0]!, command.slice(1), {
    env: baseEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited: ${out}`);
    const ok = await fetch(`${url}/healthz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`serve never became healthy: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, exited };
}

it("runs on embedded defaults, migrates, answers /readyz, and shares its database with other commands", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "cxp-embedded-"));
  dirs.push(dataDir);
  const env = { CODEX_POOLER_DATA_DIR: dataDir };
  const serve = await startServe(env);
  const ready = await fetch(`${serve.url}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ status: "ok", checks: { database: "ok" } });

  const cli = (...args: string[]) =>
    run(process.execPath, [BIN, ...args], { env: baseEnv(env), timeout: 60_000 });
  await cli("pool", "create", "--name", "laptop");
  const key = JSON.parse((await cli("key", "create", "--pool", "laptop", "--json")).stdout) as {
    key: string;
  };
  const status = JSON.parse((await cli("pool", "status", "laptop", "--json")).stdout) as {
    keys: { active: number };
  };
  expect(status.keys.active).toBe(1);
  // The running gateway sees the key the other process created: authenticated, but the pool has no account yet.
  await new Promise((r) => setTimeout(r, 2200));
  const res = await fetch(`${serve.url}/backend-api/codex/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-5.4", input: [] }),
  });
  expect(res.status).toBe(503);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe("no_eligible_account");

  // A second server on the same port is refused, not silently sharing it.
  const second = await run(process.execPath, [BIN, "serve", "--port", new URL(serve.url).port], {
    env: baseEnv({ CODEX_POOLER_DATA_DIR: mkdtempSync(join(tmpdir(), "cxp-second-")) }),
    timeout: 60_000,
  }).catch((e: { code: number; stderr: string }) => e);
  expect((second as { code: number }).code).not.toBe(0);
  expect((second as { stderr: string }).stderr).toMatch(/could not listen/);

  serve.child.kill("SIGTERM");
  expect(await serve.exited).toBe(0);
});

/** The command lines of a process's children. */
function childCommandLines(pid: number): string[][] {
  const out: string[][] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
    for (const c of children ? children.split(" ") : [])
      out.push(readFileSync(`/proc/${c}/cmdline`, "utf8").split("\0").filter(Boolean));
  }
  return out;
}

it.each([
  ["", []],
  [" (on one core: started again with single-threaded GC)", ONE_CORE],
])("reports draining on /readyz after SIGTERM, then exits 0%s", async (_, prefix) => {
  const db = await createTestDatabase();
  try {
    const dataDir = mkdtempSync(join(tmpdir(), "cxp-pg-"));
    dirs.push(dataDir);
    const serve = await startServe({ DATABASE_URL: db.url, CODEX_POOLER_DATA_DIR: dataDir }, prefix);
    expect((await fetch(`${serve.url}/readyz`)).status).toBe(200);
    const restarted = childCommandLines(serve.child.pid!).filter((c) => c.includes("--single-threaded-gc"));
    // Pinned: the gateway is the child, with the flag; otherwise there is no such child.
    expect(restarted).toHaveLength(prefix.length ? 1 : 0);
    serve.child.kill("SIGTERM");
    let sawDraining = false;
    for (let i = 0; i < 100 && !sawDraining; i++) {
      const r = await fetch(`${serve.url}/readyz`).catch(() => undefined);
      if (r?.status === 503) sawDraining = ((await r.json()) as { reason: string }).reason === "draining";
      else await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(sawDraining).toBe(true);
    expect(await serve.exited).toBe(0);
  } finally {
    await db.drop();
  }
});

it.each([
  ["", []],
  [" (through the restart on one core)", ONE_CORE],
])("refuses a bad configuration with exit 78 and one line naming the variable%s", async (_, prefix) => {
  const command = [...prefix, process.execPath, BIN, "serve"];
  const err = await run(command[0]!, command.slice(1), {
    env: baseEnv({ CODEX_POOLER_UPSTREAM_SECRET_KEY: Buffer.alloc(16).toString("base64") }),
  }).catch((e: { code: number; stderr: string }) => e);
  expect((err as { code: number }).code).toBe(78);
  const lines = (err as { stderr: string }).stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    /CODEX_POOLER_UPSTREAM_SECRET_KEY: must be base64 that decodes to exactly 32 bytes/,
  );
});
