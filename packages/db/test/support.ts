// Helpers shared by this package's integration tests and their child processes (no vitest imports here).
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DEFAULT_MIGRATIONS_DIR } from "@codex-pooler/db";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const RUN_TS = join(REPO_ROOT, "bin/run-ts.js");

export async function makeTempDir(label: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `cxp-db-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Is the embedded engine of `dataDir` served by this very process? */
export async function isServedByMe(dataDir: string): Promise<boolean> {
  const text = await readFile(join(dataDir, "pglite", "server.json"), "utf8").catch(() => "{}");
  return (JSON.parse(text) as { pid?: number }).pid === process.pid;
}

/** A copy of the real migrations plus extra files, in a fresh folder. */
export async function migrationsWith(
  extra: Record<string, string> = {},
): Promise<{ dir: string; remove(): Promise<void> }> {
  const temp = await makeTempDir("migrations");
  await cp(DEFAULT_MIGRATIONS_DIR, temp.path, { recursive: true });
  for (const [name, text] of Object.entries(extra)) await writeFile(join(temp.path, name), text);
  return { dir: temp.path, remove: temp.remove };
}

export interface TsRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript entry of this repository in a child process (`node bin/run-ts.js`). */
export function runTs(entry: string, args: string[], timeoutMs = 90_000): Promise<TsRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [RUN_TS, resolve(REPO_ROOT, entry), ...args], { cwd: REPO_ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`${entry} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** A long-lived child process speaking JSON lines (test/fixtures/embedded-peer.ts). */
export class Peer {
  readonly child: ChildProcessWithoutNullStreams;
  #events: Array<Record<string, unknown>> = [];
  #waiters: Array<() => void> = [];
  #stderr = "";

  constructor(dataDir: string) {
    this.child = spawn(
      process.execPath,
      [RUN_TS, join(REPO_ROOT, "packages/db/test/fixtures/embedded-peer.ts"), dataDir],
      {
        cwd: REPO_ROOT,
      },
    );
    this.child.stderr.on("data", (d: Buffer) => {
      this.#stderr += d.toString();
    });
    const lines = createInterface({ input: this.child.stdout });
    lines.on("line", (line) => {
      this.#events.push(JSON.parse(line) as Record<string, unknown>);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.child.on("exit", () => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  send(command: Record<string, unknown>): void {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
  }

  /** Resolves with the next event named `event` (an "error" event rejects). */
  async next(event: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#events.findIndex((e) => e.event === event || e.event === "error");
      if (index >= 0) {
        const [found] = this.#events.splice(index, 1);
        if (found?.event === "error") throw new Error(`peer failed: ${String(found.message)}`);
        return found!;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `peer exited (${this.child.exitCode ?? this.child.signalCode}) before "${event}": ${this.#stderr}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`peer sent no "${event}" within ${timeoutMs} ms: ${this.#stderr}`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          wake();
        });
      });
    }
  }

  /** Has an event named `event` arrived (without consuming it)? */
  has(event: string): boolean {
    return this.#events.some((e) => e.event === event);
  }

  async request(command: Record<string, unknown>, event: string): Promise<Record<string, unknown>> {
    this.send(command);
    return this.next(event);
  }

  kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((done) => {
      this.child.once("exit", () => done());
      this.child.kill("SIGKILL");
    });
  }

  exited(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((done) => this.child.once("exit", () => done()));
  }
}
