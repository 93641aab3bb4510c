#!/usr/bin/env node
// `npm run emulator` entry: runs scripts/emulator.ts with the loader of bin/run-ts.js.
import { register } from "node:module";

process.setSourceMapsEnabled(true);
register("../bin/ts-hooks.mjs", import.meta.url);
const { main } = await import("./emulator.ts");
try {
  await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`[emulator] error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
