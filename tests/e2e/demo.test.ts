/**
 * A newcomer's first minute: `codex-pooler demo` prints a curl line and a
 * Codex CLI command; both must work exactly as printed.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { freePort } from "../support/serve-process.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const sh = promisify(execFile);
let child: ChildProcess | undefined;
const dataDir = mkdtempSync(join(tmpdir(), "cxp-demo-"));

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
});

it("prints a curl line and a Codex CLI command that work as printed", async () => {
  const port = await freePort();
  const env = {
    PATH: process.env["PATH"] ?? "",
    HOME: process.env["HOME"] ?? "",
    CODEX_POOLER_DATA_DIR: dataDir,
  };
  child = spawn(
    process.execPath,
    [join(ROOT, "bin/codex-pooler.js"), "demo", "--json", "--port", String(port)],
    {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = "";
    child!.stdout?.on("data", (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child!.once("exit", (code) => reject(new Error(`demo exited ${code}: ${stderr}`)));
  });
  const info = JSON.parse(line) as { simulated: boolean; curl: string; codexCommand: string; key: string };
  expect(info.simulated).toBe(true);

  const curl = await sh("sh", ["-c", info.curl], { cwd: ROOT, env, timeout: 20_000 });
  expect(curl.stdout).toContain("event: response.completed");
  expect(curl.stdout).toContain("Hello from a pooled account!");

  const codex = await sh("sh", ["-c", info.codexCommand], { cwd: ROOT, env, timeout: 60_000 });
  expect(codex.stdout.trim().split("\n").at(-1)).toBe("PONG");
});
