/**
 * `codex-pooler demo`: a newcomer's first minute. Starts the upstream
 * simulator (never the real ChatGPT service), the whole stack on embedded
 * defaults in its own throw-away data folder, a pool of three simulated
 * accounts and a key, then prints a Codex CLI configuration and a curl line
 * that work as printed. Refuses to run where a deployment is configured.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { SecretBox } from "@codex-pooler/adapters";
import { loadConfig } from "@codex-pooler/config";
import { createKey, createPool, importAccount } from "@codex-pooler/control";
import { createUpstreamAgent } from "@codex-pooler/upstream";
import type { Command } from "commander";
import { startHost } from "../host.ts";
import { rootKeysFor } from "../resources.ts";
import { CliError, cliLogger, configOrExit, EXIT_USAGE, printJson } from "../runtime.ts";

export interface DemoInfo {
  simulated: true;
  baseUrl: string;
  codexBaseUrl: string;
  key: string;
  envVar: string;
  codexConfig: string;
  /** Runs the Codex CLI with a CODEX_HOME holding exactly `codexConfig`. */
  codexCommand: string;
  curl: string;
}

export function demoTexts(baseUrl: string, key: string, codexHomeDir: string): DemoInfo {
  const envVar = "CODEX_POOLER_KEY";
  const codexBaseUrl = `${baseUrl}/backend-api/codex`;
  const codexConfig = `model = "gpt-5.4"
model_provider = "codex-pooler"

[model_providers.codex-pooler]
name = "Codex Pooler"
base_url = "${codexBaseUrl}"
wire_api = "responses"
env_key = "${envVar}"
`;
  const body = JSON.stringify({
    model: "gpt-5.4",
    stream: true,
    store: false,
    input: [
      {
        type: "message",
        role: "user",
        content: [{ type: "input_text", text: "sim: reply Hello from a pooled account!" }],
      },
    ],
  });
  return {
    simulated: true,
    baseUrl,
    codexBaseUrl,
    key,
    envVar,
    codexConfig,
    // `npx @openai/codex` alone can fail inside this repository with "could not determine executable to
    // run": npm may pick the installed platform package (an alias whose package name is also
    // @openai/codex, without a bin). Naming the bin with --package avoids that choice.
    codexCommand: `CODEX_HOME=${codexHomeDir} ${envVar}=${key} npx --package=@openai/codex codex exec --skip-git-repo-check "sim: reply PONG" < /dev/null`,
    curl: `curl -sN ${codexBaseUrl}/responses -H 'authorization: Bearer ${key}' -H 'content-type: application/json' -d '${body}'`,
  };
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "Try Codex Pooler in a minute: starts a SIMULATED upstream (no real ChatGPT account is used), a pool of three " +
        "simulated accounts and a key, on embedded defaults in <data folder>/demo (wiped on every start), and prints a " +
        "Codex CLI configuration and a curl line. Not for deployments: refuses to run with DATABASE_URL or AWS_ENDPOINT_URL set.",
    )
    .option("--port <port>", "gateway port (default: PORT, CODEX_POOLER_HTTP_PORT or 4000)")
    .option("--json", "print the connection details as one JSON line")
    .action((opts: { port?: string; json?: boolean }) => runDemo(opts));
}

export async function runDemo(opts: { port?: string; json?: boolean }): Promise<void> {
  const base = configOrExit({ ...process.env, ...(opts.port ? { PORT: opts.port } : {}) });
  if (base.database.url || base.aws.endpointUrl || base.rootKeys.secretId) {
    throw new CliError(
      "demo runs only on embedded defaults: unset DATABASE_URL, AWS_ENDPOINT_URL and CODEX_POOLER_ROOT_KEYS_SECRET_ID",
      EXIT_USAGE,
    );
  }
  const dataDir = resolve(base.dataDir, "demo");
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(join(dataDir, "auth"), { recursive: true, mode: 0o700 });

  const { startSimulator } = await import("@codex-pooler/simulator");
  const sim = await startSimulator({ accounts: 3, authDir: join(dataDir, "auth"), host: "127.0.0.1" });
  const config = loadConfig({
    ...process.env,
    ...(opts.port ? { PORT: opts.port } : {}),
    CODEX_POOLER_DATA_DIR: dataDir,
    CODEX_POOLER_UPSTREAM_BASE_URL: `${sim.baseUrl}/backend-api`,
    CODEX_POOLER_AUTH_BASE_URL: sim.baseUrl,
    CODEX_POOLER_DEMO: "true",
  });
  const logger = cliLogger(config, "demo");
  const host = await startHost({ config, role: "all", logger });
  const ctx = { db: host.database.db, actor: { type: "cli" as const, id: "demo" } };
  const pool = await createPool(ctx, { name: "demo" });
  const keys = await rootKeysFor(config);
  const sealer = new SecretBox({ keys: [keys.upstream] });
  const agent = createUpstreamAgent();
  for (const account of sim.accounts) {
    await importAccount(ctx, {
      poolNameOrId: pool.id,
      authJsonText: readFileSync(join(dataDir, "auth", account.id, "auth.json"), "utf8"),
      sealer,
      label: `simulated ${account.id}`,
      upstream: { baseUrl: config.upstream.baseUrl, agent },
    });
  }
  await agent.close();
  const key = await createKey(ctx, { poolNameOrId: pool.id, name: `demo-${randomBytes(2).toString("hex")}` });
  await host.gateway!.registry.reload();

  const codexHomeDir = join(dataDir, "codex-home");
  const info = demoTexts(`http://localhost:${host.gateway!.port}`, key.key, codexHomeDir);
  mkdirSync(codexHomeDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(codexHomeDir, "config.toml"), info.codexConfig);
  if (opts.json) printJson(info);
  else {
    const out = [
      "",
      "  ┌──────────────────────────────────────────────────────────────────────┐",
      "  │ DEMO — the upstream is the bundled SIMULATOR, not ChatGPT.           │",
      "  │ Three simulated accounts, one pool (demo), one Pool API key.         │",
      "  └──────────────────────────────────────────────────────────────────────┘",
      "",
      ...host.describe(),
      "",
      "Stream an answer through the pool:",
      `  ${info.curl}`,
      "",
      `Codex CLI configuration (written to ${codexHomeDir}/config.toml; paste it into your own $CODEX_HOME/config.toml to use it elsewhere):`,
      ...info.codexConfig
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`),
      "Run the Codex CLI through the pool:",
      `  ${info.codexCommand}`,
      "",
      'Try `sim: tool exec_command {"cmd":"echo hi"}` as a prompt (with --dangerously-bypass-approvals-and-sandbox) for a tool call.',
      "Ctrl-C stops the demo; its data folder is wiped on the next start.",
      "",
    ];
    process.stdout.write(`${out.join("\n")}\n`);
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await host.stop();
    await sim.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}
