import { migrate, openDatabase } from "@codex-pooler/db";
import type { Command } from "commander";
import { cliLogger, configOrExit, dbLoggerFrom, printJson } from "../runtime.ts";

export function registerMigrate(program: Command): void {
  program
    .command("migrate")
    .description(
      "Apply pending SQL migrations from migrations/ (forward-only, idempotent, safe to run concurrently). " +
        "Uses DATABASE_URL, or the embedded engine under the data folder when it is unset.",
    )
    .option("--json", "print the result as one JSON object")
    .action(async (opts: { json?: boolean }) => {
      const config = configOrExit();
      const log = cliLogger(config, "migrate");
      const handle = await openDatabase({
        url: config.database.url,
        dataDir: config.dataDir,
        logger: dbLoggerFrom(log),
      });
      try {
        const result = await migrate(handle, { logger: dbLoggerFrom(log) });
        if (opts.json)
          printJson({
            engine: handle.engine,
            applied: result.applied,
            alreadyApplied: result.alreadyApplied,
          });
        else if (result.applied.length === 0)
          process.stdout.write(`Database is up to date (${result.alreadyApplied} migrations).\n`);
        else
          process.stdout.write(
            `Applied ${result.applied.length} migration(s): ${result.applied.join(", ")}\n`,
          );
      } finally {
        await handle.close();
      }
    });
}
