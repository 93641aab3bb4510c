#!/usr/bin/env node
// The project runs its TypeScript sources directly (bin/ts-hooks.mjs compiles
// each file with esbuild as it loads): one code path for the CLI, the tests
// and the benchmarks, no build step to forget.
import { spawn } from "node:child_process";
import { register } from "node:module";
import { availableParallelism, constants } from "node:os";

/**
 * `serve` on a single CPU (a one-vCPU container, or a process pinned to one
 * core) runs with V8's garbage collector on the main thread. With its helper
 * threads on the same CPU, a main-thread marking step that waits for a helper
 * lasted 13–18 ms at 1,000 requests/s (against ≤ 2 ms single-threaded, in the
 * same benchmark's `--trace-gc --trace-incremental-marking`), and every
 * request arriving meanwhile waited as long. The flag has to be on Node's
 * command line (NODE_OPTIONS does not take it), so `serve` starts itself
 * again with it. CODEX_POOLER_SINGLE_THREADED_GC=1 or 0 forces the choice.
 */
function wantsSingleThreadedGc() {
  if (process.argv[2] !== "serve" || process.execArgv.includes("--single-threaded-gc")) return false;
  const forced = process.env["CODEX_POOLER_SINGLE_THREADED_GC"];
  if (forced === "1" || forced === "0") return forced === "1";
  return availableParallelism() === 1;
}

if (wantsSingleThreadedGc()) {
  const child = spawn(
    process.execPath,
    ["--single-threaded-gc", ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: "inherit",
    },
  );
  // A process manager signals this process: pass it on. Ctrl-C reaches the whole
  // process group, the child included, so SIGINT is only kept from ending this one early.
  for (const signal of ["SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  process.on("SIGINT", () => {});
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
} else {
  process.setSourceMapsEnabled(true);
  register("./ts-hooks.mjs", import.meta.url);
  await import("../services/cli/src/main.ts");
}
