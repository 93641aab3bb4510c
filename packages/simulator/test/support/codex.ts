import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Path of the real Codex CLI launcher from the npm package `@openai/codex`. */
export function codexBin(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve("@openai/codex/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { bin: string | Record<string, string> };
  const bin = typeof pkg.bin === "string" ? pkg.bin : pkg.bin["codex"];
  if (!bin) throw new Error("@openai/codex has no codex bin");
  return join(dirname(pkgPath), bin);
}

export interface CodexRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The `--json` JSONL events. */
  events: Record<string, unknown>[];
  /** Content of the `-o` file: the last agent message. */
  lastMessage: string;
  home: string;
}

export interface CodexRunOptions {
  /** config.toml content (the home is fresh for every run). */
  config: string;
  prompt: string;
  env?: Record<string, string>;
  /** Files to place in CODEX_HOME before the run (e.g. auth.json). */
  files?: Record<string, string>;
  /** Extra CLI flags. */
  args?: string[];
  timeoutMs?: number;
  /** Called with the home directory before the CLI starts. */
  prepare?: (home: string) => void;
}

/** Runs `codex exec` once, offline, in a fresh CODEX_HOME, with stdin closed (spec §7.1). */
export async function runCodex(o: CodexRunOptions): Promise<CodexRun> {
  const home = mkdtempSync(join(tmpdir(), "codex-home-"));
  writeFileSync(join(home, "config.toml"), o.config);
  for (const [name, content] of Object.entries(o.files ?? {}))
    writeFileSync(join(home, name), content, { mode: 0o600 });
  o.prepare?.(home);
  const out = join(home, "last-message.txt");
  const args = [
    "exec",
    "--skip-git-repo-check",
    "--ephemeral",
    "--json",
    "-o",
    out,
    ...(o.args ?? []),
    o.prompt,
  ];
  const env: Record<string, string> = {};
  // Only what the CLI needs: no inherited proxies or API keys can redirect it to a live service.
  for (const k of ["PATH", "HOME", "LANG", "TMPDIR"]) if (process.env[k]) env[k] = process.env[k]!;
  Object.assign(env, { CODEX_HOME: home, RUST_LOG: "error" }, o.env);
  const child = spawn(codexBin(), args, { cwd: home, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 45_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  clearTimeout(timer);
  const events = stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  let lastMessage = "";
  try {
    lastMessage = readFileSync(out, "utf8");
  } catch {
    lastMessage = "";
  }
  return { code, stdout, stderr, events, lastMessage, home };
}

export function removeHome(run: CodexRun): void {
  rmSync(run.home, { recursive: true, force: true });
}

/** config.toml for an API-key custom provider pointed at `baseUrl` (spec §7.1). */
export function providerConfig(baseUrl: string, websockets: boolean): string {
  return `model = "gpt-5.4"
model_provider = "sim"
check_for_update_on_startup = false

[model_providers.sim]
name = "Simulator"
base_url = "${baseUrl}/backend-api/codex"
wire_api = "responses"
env_key = "SIM_ACCESS_TOKEN"
supports_websockets = ${websockets}
request_max_retries = 2
stream_max_retries = 2
stream_idle_timeout_ms = 20000
`;
}
