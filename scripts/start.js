#!/usr/bin/env node
// `npm start` on a fresh clone: installs the locked dependencies when they are
// missing or stale, then runs `codex-pooler start` (or the command given).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { installIfStale, root } from "./deps.js";

if (!installIfStale()) process.exit(1);
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
