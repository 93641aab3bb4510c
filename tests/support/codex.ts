/**
 * Drives the real Codex CLI (`@openai/codex` from the npm registry) offline:
 * a private CODEX_HOME with a config.toml, stdin closed, only PATH/HOME/LANG
 * inherited so nothing can point it at a live service.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export function codexBin(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve("@openai/codex/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { bin: string | Record<string, string> };
  const bin = typeof pkg.bin === "string" ? pkg.bin : pkg.bin["codex"];
  if (!bin) throw new Error("@openai/codex has no codex bin");
  return join(dirname(pkgPath), bin);
}

/** config.toml of an API-key custom provider (spec §7.1). */
export function poolProviderConfig(
  codexBaseUrl: string,
  options: { websockets?: boolean; envKey?: string } = {},
): string {
  return `model = "gpt-5.4"
model_provider = "pool"

[model_providers.pool]
name = "Pool"
base_url = "${codexBaseUrl}"
wire_api = "responses"
env_key = "${options.envKey ?? "POOL_API_KEY"}"
supports_websockets = ${options.websockets ?? false}
request_max_retries = 1
stream_max_retries = 1
stream_idle_timeout_ms = 20000
`;
}

export interface CodexHome {
  dir: string;
  remove(): void;
}

export function codexHome(config: string, files: Record<string, string> = {}): CodexHome {
  const dir = mkdtempSync(join(tmpdir(), "codex-home-"));
  writeFileSync(join(dir, "config.toml"), config);
  for (const [name, content] of Object.entries(files))
    writeFileSync(join(dir, name), content, { mode: 0o600 });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface CodexResult {
  code: number | null;
  stdout: string;
  stderr: string;
  events: Array<Record<string, unknown>>;
  lastMessage: string;
}

export interface CodexExecOptions {
  home: CodexHome;
  prompt: string;
  env?: Record<string, string>;
  /** Extra arguments before the prompt (e.g. `["--dangerously-bypass-approvals-and-sandbox"]`). */
  args?: string[];
  /** `exec resume --last` in the same home instead of a new session. */
  resumeLast?: boolean;
  /** Keep the session on disk (needed to resume later). Default: ephemeral. */
  persist?: boolean;
  timeoutMs?: number;
}

export async function codexExec(o: CodexExecOptions): Promise<CodexResult> {
  const out = join(o.home.dir, `last-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  const common = [
    "--skip-git-repo-check",
    "--json",
    "-o",
    out,
    ...(o.persist || o.resumeLast ? [] : ["--ephemeral"]),
    ...(o.args ?? []),
  ];
  const args = o.resumeLast
    ? ["exec", "resume", "--last", ...common, o.prompt]
    : ["exec", ...common, o.prompt];
  const env: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "LANG", "TMPDIR"]) if (process.env[k]) env[k] = process.env[k]!;
  Object.assign(env, { CODEX_HOME: o.home.dir, RUST_LOG: "error" }, o.env);
  const child = spawn(codexBin(), args, { cwd: o.home.dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 60_000);
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
  return { code, stdout, stderr, events, lastMessage };
}
