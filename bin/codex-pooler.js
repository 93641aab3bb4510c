#!/usr/bin/env node
// The project runs its TypeScript sources directly through tsx's loader: one
// code path for the CLI, the tests and the benchmarks, no build step to forget.
import { register } from "tsx/esm/api";

register();
await import("../services/cli/src/main.ts");
