#!/usr/bin/env node
// The project runs its TypeScript sources directly (bin/ts-hooks.mjs compiles
// each file with esbuild as it loads): one code path for the CLI, the tests
// and the benchmarks, no build step to forget.
import { register } from "node:module";

process.setSourceMapsEnabled(true);
register("./ts-hooks.mjs", import.meta.url);
await import("../services/cli/src/main.ts");
