import { rmSync } from "node:fs";
import { codexExec, codexHome } from "../../../../tests/support/codex.ts";

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
  const home = codexHome(o.config, o.files);
  o.prepare?.(home.dir);
  const result = await codexExec({
    home,
    prompt: o.prompt,
    ...(o.env ? { env: o.env } : {}),
    ...(o.args ? { args: o.args } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  });
  return { ...result, home: home.dir };
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
