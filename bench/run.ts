/**
 * `npm run bench` — measures the gateway against the simulator, side by
 * side, and writes bench/results/<date>-<HHMM>.json (UTC) plus a Markdown table.
 *
 *   npm run bench                      the full run (≈ 4 minutes)
 *   npm run bench -- --smoke           every scenario, tiny (what `npm test` runs)
 *   npm run bench -- --profile short   the gateway under `--cpu-prof`, warm-up and one scenario (short,
 *                                      long or websocket); prints the hottest functions, keeps the
 *                                      .cpuprofile under .data/bench/
 *   npm run bench -- --only rate       warm-up and one scenario (short, rate, long, websocket or idle)
 *   npm run bench -- --no-pin          no core pinning
 *   npm run bench -- --out DIR         where results go (default bench/results)
 *   npm run bench -- --gateway-node-flags="--max-semi-space-size=8"
 *                                      extra Node flags for the gateway (an experiment; recorded)
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PLANS, runBench, SCENARIOS, type Scenario } from "./bench.ts";
import { profileMarkdown, summarizeProfile } from "./lib/profile.ts";
import { markdownReport } from "./lib/report.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    profile: { type: "string" },
    only: { type: "string" },
    "no-pin": { type: "boolean", default: false },
    out: { type: "string" },
    "gateway-node-flags": { type: "string" },
  },
});

const plan = { ...(values.smoke ? PLANS.smoke : PLANS.full) };
if (values["no-pin"]) plan.pin = false;
const started = Date.now();
const log = (line: string) =>
  process.stderr.write(`bench +${((Date.now() - started) / 1000).toFixed(1)}s: ${line}\n`);
// UTC date and start time (2026-12-04-1749): a second run the same day does not overwrite the first.
const stamp = new Date().toISOString();
const day = `${stamp.slice(0, 10)}-${stamp.slice(11, 13)}${stamp.slice(14, 16)}`;
const outDir = values.out ? resolve(values.out) : join(root, "bench", "results");
const profileScenario = values.profile as Scenario | undefined;
const only = (values.only ?? profileScenario) as Scenario | undefined;
if (only && !SCENARIOS.includes(only)) {
  process.stderr.write(`--profile and --only take one of: ${SCENARIOS.join(", ")}\n`);
  process.exit(2);
}
const profileDir = values.profile ? join(root, ".data", "bench", `profile-${Date.now()}`) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });

const nodeFlags = (values["gateway-node-flags"] ?? "").split(/\s+/).filter(Boolean);
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
const results = await runBench({
  plan,
  log,
  ...(profileDir ? { cpuProfileDir: profileDir } : {}),
  ...(only ? { only } : {}),
  ...(nodeFlags.length > 0 ? { gatewayNodeFlags: nodeFlags } : {}),
});
results.command = command;
results.source = sourceRevision();
const table = markdownReport(results);

mkdirSync(outDir, { recursive: true });
const suffix = profileScenario
  ? `-profile-${profileScenario}`
  : only
    ? `-only-${only}`
    : values.smoke
      ? "-smoke"
      : "";
const jsonFile = join(outDir, `${day}${suffix}.json`);
writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
// Biome owns the formatting of every JSON file in the repository.
spawnSync(join(root, "node_modules", ".bin", "biome"), ["format", "--write", jsonFile], { stdio: "ignore" });
process.stdout.write(`\n${table}\n`);

if (profileDir) {
  // The largest profile is the gateway's main thread (a waiting parent process and the module loader's thread write small ones).
  const profile = readdirSync(profileDir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort((a, b) => statSync(join(profileDir, b)).size - statSync(join(profileDir, a)).size)[0];
  if (!profile) throw new Error(`no .cpuprofile in ${profileDir}`);
  const summary = profileMarkdown(summarizeProfile(join(profileDir, profile)));
  const mdFile = join(outDir, `${day}-profile-${profileScenario}.md`);
  writeFileSync(mdFile, `# Gateway CPU profile, ${day}\n\nCommand: \`${command}\`\n\n${summary}`);
  spawnSync(join(root, "node_modules", ".bin", "biome"), ["format", "--write", mdFile], { stdio: "ignore" });
  process.stdout.write(`\n${summary}\nprofile: ${join(profileDir, profile)}\n`);
}
process.stdout.write(`\nresults: ${jsonFile}\n`);

/** The commit measured, and whether the working tree differed from it (figures of uncommitted code). */
function sourceRevision(): { commit: string; uncommittedChanges: boolean } {
  const git = (args: string[]) => spawnSync("git", args, { cwd: root, encoding: "utf8" });
  const head = git(["rev-parse", "HEAD"]);
  if (head.status !== 0) return { commit: "unknown", uncommittedChanges: false };
  const status = git(["status", "--porcelain", "--untracked-files=no"]);
  return { commit: head.stdout.trim(), uncommittedChanges: status.stdout.trim() !== "" };
}
