import type { Command } from "commander";
import { cliLogger, configOrExit, dbLoggerFrom } from "../runtime.ts";
import { runServe } from "./serve.ts";

/**
 * `npm start`: the local convenience. On embedded defaults with no upstream
 * account imported yet there is nothing to serve, so it starts the demo
 * (simulated upstream, clearly labelled); otherwise it is `serve --role all`.
 */
export function registerStart(program: Command): void {
  program
    .command("start")
    .description(
      "Local start: `serve --role all`, or — on embedded defaults before any upstream account was imported — the `demo` " +
        "(simulated upstream).",
    )
    .option("--port <port>", "listen port (default: PORT, CODEX_POOLER_HTTP_PORT or 4000)")
    .action(async (opts: { port?: string }) => {
      const config = configOrExit();
      if (config.database.url === undefined && config.aws.endpointUrl === undefined) {
        const log = cliLogger(config, "start");
        const [{ migrate }, { openDatabaseFor }] = await Promise.all([
          import("@codex-pooler/db"),
          import("../resources.ts"),
        ]);
        const handle = await openDatabaseFor(config, log);
        let accounts = 0;
        try {
          // Embedded installs migrate on start anyway; doing it first makes the count below safe.
          await migrate(handle, { logger: dbLoggerFrom(log) });
          const row = await handle.db
            .selectFrom("upstream_accounts")
            .select((eb) => eb.fn.countAll<number>().as("n"))
            .executeTakeFirst();
          accounts = Number(row?.n ?? 0);
        } finally {
          await handle.close();
        }
        if (accounts === 0) {
          process.stdout.write("No upstream account imported yet: starting the demo (simulated upstream).\n");
          const { runDemo } = await import("./demo.ts");
          await runDemo(opts.port ? { port: opts.port } : {});
          return;
        }
      }
      await runServe(opts.port ? { port: opts.port } : {});
    });
}
