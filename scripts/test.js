#!/usr/bin/env node
// `npm test`: every check a change must pass, in one command.
// 1. installs dependencies when node_modules is missing or older than the lock file;
// 2. type-checks the whole tree, tests included;
// 3. lints and checks formatting;
// 4. runs every Vitest project (unit, then integration against real Postgres,
//    the AWS emulator, the simulator and real clients; the integration
//    project's global setup prepares its own database and emulator);
// 5. prints one closing line: "tests: N passed, N failed, N skipped".
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { dependenciesStale, root } from "./deps.js";

const extra = process.argv.slice(2);

function run(label, cmd, args) {
  const started = Date.now();
  process.stderr.write(`\n▶ ${label}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: process.env });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (r.status !== 0) {
    process.stderr.write(`✖ ${label} failed after ${secs}s\n`);
    return false;
  }
  process.stderr.write(`✔ ${label} (${secs}s)\n`);
  return true;
}

if (dependenciesStale()) {
  if (!run("install dependencies (npm ci)", "npm", ["ci", "--no-audit", "--no-fund"])) process.exit(1);
}

const bin = (name) => join(root, "node_modules", ".bin", name);
let ok = run("type-check (tsc, tests included)", bin("tsc"), ["-p", "tsconfig.json", "--noEmit"]);
ok = run("lint + format (biome)", bin("biome"), ["check", "."]) && ok;

mkdirSync(join(root, ".data"), { recursive: true });
const report = join(root, ".data", "vitest-report.json");
const vitestOk = run("tests (vitest: unit + integration)", bin("vitest"), [
  "run",
  "--reporter=default",
  "--reporter=json",
  `--outputFile.json=${report}`,
  ...extra,
]);
ok = vitestOk && ok;

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, "utf8"));
  passed = r.numPassedTests ?? 0;
  failed = r.numFailedTests ?? 0;
  // A file that failed to load counts, even though no test in it ran.
  if (!vitestOk && failed === 0) failed = Math.max(1, r.numFailedTestSuites ?? 0);
  skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
} else {
  failed = 1;
}
process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(ok ? 0 : 1);
