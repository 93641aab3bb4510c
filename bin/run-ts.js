#!/usr/bin/env node
// Runs a TypeScript entry point of the repository (scripts, benchmarks) with the same loader as the CLI.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { register } from "tsx/esm/api";

register();
const entry = process.argv[2];
if (!entry) {
  process.stderr.write("usage: run-ts <file.ts> [args…]\n");
  process.exit(2);
}
process.argv.splice(1, 2, resolve(entry));
await import(pathToFileURL(resolve(entry)).href);
