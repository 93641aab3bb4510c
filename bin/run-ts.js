#!/usr/bin/env node
// Runs a TypeScript entry point of the repository (scripts, benchmarks) with the same loader as the CLI.
import { register } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const entry = process.argv[2];
if (!entry) {
  process.stderr.write("usage: run-ts <file.ts> [args…]\n");
  process.exit(2);
}
process.setSourceMapsEnabled(true);
register("./ts-hooks.mjs", import.meta.url);
process.argv.splice(1, 2, resolve(entry));
await import(pathToFileURL(resolve(entry)).href);
