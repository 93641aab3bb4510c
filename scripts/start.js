#!/usr/bin/env node
// `npm start` on a fresh clone: installs the locked dependencies when they are
// missing or stale, then runs `codex-pooler start` (or the command given).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const marker = join(root, "node_modules", ".package-lock.json");
const lock = join(root, "package-lock.json");
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  process.stderr.write("Installing dependencies (npm ci)…\n");
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const args = process.argv.slice(2);
// A child we wait for asynchronously, so a supervisor's SIGTERM or SIGINT reaches the server.
const child = spawn(
  process.execPath,
  [join(root, "bin", "codex-pooler.js"), ...(args.length > 0 ? args : ["start"])],
  {
    cwd: root,
    stdio: "inherit",
  },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
