import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type SimulatorOptions, startSimulator } from "./simulator.ts";

export const SIMULATOR_HELP = `Usage: codex-pooler simulator [options]

Starts the Codex upstream simulator: the ChatGPT Codex backend (/backend-api/...) and the OpenAI auth
server (/oauth/token, device code, PKCE) on one origin, plus a control API on a second port.
Prints one JSON line first: {"baseUrl","controlUrl","accounts":[{"id","authFile"}]}. Runs until
SIGINT/SIGTERM.

Options:
  --port N                 backend + auth port (default 0 = any free port)
  --host HOST              listen address (default 127.0.0.1)
  --control-port N         control API port (default 0 = any free port)
  --accounts K             number of simulated accounts (default 1)
  --plan PLAN              plan of every account (default plus)
  --auth-dir DIR           write DIR/<account id>/auth.json for every account
  --tls-cert FILE          serve HTTPS/WSS with this certificate (PEM) ...
  --tls-key FILE           ... and this key (PEM)
  --clock-start UNIX_S     start the simulator clock at this unix time
  --token-ttl SECONDS      access-token lifetime (default 864000)
  --capacity TOKENS        primary (5 h) window capacity in tokens (default 5000000)
  --concurrency N          per-account concurrent response cap (default 0 = unlimited)
  --request-log N          keep the last N requests for the control API (default 1000, 0 = off)
  --no-bodies              keep request log entries without bodies
  --require-account-header answer 403 when chatgpt-account-id is missing
  -h, --help               show this help

Point a gateway at it with CODEX_POOLER_UPSTREAM_BASE_URL=<baseUrl>/backend-api and
CODEX_POOLER_AUTH_BASE_URL=<baseUrl>. The prompt directives (sim: reply, sim: tool, ...) and the control
API are described in packages/simulator/README.md.
`;

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`--${name} must be a non-negative integer, got '${value}'`);
  return Number(value);
}

/** Parses the `simulator` command's flags into options (exported for tests). */
export function parseSimulatorArgs(argv: string[]): SimulatorOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      "control-port": { type: "string" },
      accounts: { type: "string" },
      plan: { type: "string" },
      "auth-dir": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "clock-start": { type: "string" },
      "token-ttl": { type: "string" },
      capacity: { type: "string" },
      concurrency: { type: "string" },
      "request-log": { type: "string" },
      "no-bodies": { type: "boolean" },
      "require-account-header": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help";
  const count = intOption(values.accounts, "accounts") ?? 1;
  if (count < 1) throw new Error("--accounts must be at least 1");
  const capacity = intOption(values.capacity, "capacity");
  const concurrency = intOption(values.concurrency, "concurrency");
  const options: SimulatorOptions = {
    port: intOption(values.port, "port") ?? 0,
    controlPort: intOption(values["control-port"], "control-port") ?? 0,
    host: values.host ?? "127.0.0.1",
    accounts: Array.from({ length: count }, () => ({
      ...(values.plan ? { plan: values.plan } : {}),
      ...(capacity !== undefined ? { primary: { capacityTokens: capacity } } : {}),
      ...(concurrency !== undefined ? { concurrencyCap: concurrency } : {}),
    })),
    requestLog: {
      limit: intOption(values["request-log"], "request-log") ?? 1000,
      bodies: !values["no-bodies"],
    },
  };
  if (values["auth-dir"]) options.authDir = values["auth-dir"];
  if (values["tls-cert"] || values["tls-key"]) {
    if (!values["tls-cert"] || !values["tls-key"]) throw new Error("--tls-cert and --tls-key go together");
    options.tls = { certFile: values["tls-cert"], keyFile: values["tls-key"] };
    readFileSync(values["tls-cert"]);
    readFileSync(values["tls-key"]);
  }
  const clockStart = intOption(values["clock-start"], "clock-start");
  if (clockStart !== undefined) options.clock = { start: clockStart };
  const ttl = intOption(values["token-ttl"], "token-ttl");
  if (ttl !== undefined) options.accessTokenTtlSeconds = ttl;
  if (values["require-account-header"]) options.requireAccountHeader = true;
  return options;
}

/**
 * The `codex-pooler simulator` command: starts, prints one JSON line on stdout, then serves until SIGINT or
 * SIGTERM, closes, and resolves.
 */
export async function runSimulatorCli(argv: string[]): Promise<void> {
  const parsed = parseSimulatorArgs(argv);
  if (parsed === "help") {
    process.stdout.write(SIMULATOR_HELP);
    return;
  }
  const sim = await startSimulator(parsed);
  process.stdout.write(
    `${JSON.stringify({
      baseUrl: sim.baseUrl,
      controlUrl: sim.controlUrl,
      accounts: sim.accounts.map((a) => ({ id: a.id, authFile: a.authFile ?? null })),
    })}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await sim.close();
}
