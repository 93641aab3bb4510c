#!/usr/bin/env node
// `npm run bench`: installs the locked dependencies when they are missing or
// stale, then runs bench/run.ts with the given options.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { installIfStale, root } from "./deps.js";

if (!installIfStale()) process.exit(1);
const r = spawnSync(
  process.execPath,
  [join(root, "bin", "run-ts.js"), "bench/run.ts", ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: "inherit",
  },
);
process.exit(r.status ?? 1);
