import { ROLES, type Role } from "@codex-pooler/config";
import type { Command } from "commander";
import { CliError, cliLogger, configOrExit, EXIT_USAGE } from "../runtime.ts";
import { isServeWorker, runPrimary, runWorker } from "../workers.ts";

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description(
      "Run Codex Pooler. Roles: gateway (HTTP + websocket surfaces), worker (queue consumers), " +
        "scheduler (periodic jobs), all (everything in one process; the default).",
    )
    .option("--role <role>", `one of ${ROLES.join(", ")} (default: CODEX_POOLER_ROLE or all)`)
    .option("--port <port>", "listen port (default: PORT, CODEX_POOLER_HTTP_PORT or 4000)")
    .option("--host <address>", "listen address (default: CODEX_POOLER_HOST or 0.0.0.0)")
    .option(
      "--workers <n>",
      "gateway processes sharing the port, e.g. one per core (default: CODEX_POOLER_WORKERS or 1; needs DATABASE_URL)",
    )
    .action((opts: ServeOptions) => runServe(opts));
}

interface ServeOptions {
  role?: string;
  port?: string;
  host?: string;
  workers?: string;
}

export async function runServe(opts: ServeOptions): Promise<void> {
  const config = configOrExit({
    ...process.env,
    ...(opts.port !== undefined ? { PORT: opts.port } : {}),
    ...(opts.host !== undefined ? { CODEX_POOLER_HOST: opts.host } : {}),
    ...(opts.workers !== undefined ? { CODEX_POOLER_WORKERS: opts.workers } : {}),
  });
  const role = (opts.role ?? config.role) as Role;
  if (!ROLES.includes(role)) throw new CliError(`--role must be one of ${ROLES.join(", ")}`, EXIT_USAGE);
  const log = cliLogger(config, `serve:${role}`, "info");
  if (isServeWorker()) return runWorker(config, role, log);
  if (config.http.workers > 1) return runPrimary(config, role, log);
  // Loaded here, not at the top: the supervising process of --workers never needs it.
  const { startHost } = await import("../host.ts");
  const host = await startHost({ config, role, logger: log });
  for (const line of host.describe()) process.stdout.write(`${line}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    await host.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
