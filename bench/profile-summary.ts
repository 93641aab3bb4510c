/**
 * Prints where a `.cpuprofile` spent its time (self time by code area and by function).
 *
 *   node bin/run-ts.js bench/profile-summary.ts FILE.cpuprofile [--top N]
 */
import { parseArgs } from "node:util";
import { profileMarkdown, summarizeProfile } from "./lib/profile.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "30" } },
});
for (const file of positionals) {
  process.stdout.write(`${file}\n\n${profileMarkdown(summarizeProfile(file, Number(values.top)))}\n`);
}
