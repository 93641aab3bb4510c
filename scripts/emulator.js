#!/usr/bin/env node
// `npm run emulator` entry: runs scripts/emulator.ts through tsx, like bin/run-ts.js.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./emulator.ts");
try {
  await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`[emulator] error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
