import { Command, CommanderError } from "commander";
import { registerDemo } from "./commands/demo.ts";
import { registerMigrate } from "./commands/migrate.ts";
import { registerOperatorCommands } from "./commands/operators.ts";
import { registerServe } from "./commands/serve.ts";
import { registerSimulator } from "./commands/simulator.ts";
import { registerStart } from "./commands/start.ts";
import { CliError, EXIT_FAILURE, EXIT_USAGE } from "./runtime.ts";

const program = new Command()
  .name("codex-pooler")
  .description("Self-hosted gateway that pools ChatGPT/Codex subscription accounts behind Pool API keys.")
  .showHelpAfterError("(add --help for usage)")
  .exitOverride();

registerMigrate(program);
registerServe(program);
registerSimulator(program);
registerOperatorCommands(program);
registerDemo(program);
registerStart(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; usage errors were already printed by commander.
    process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  }
  if (err instanceof CliError) {
    process.stderr.write(`codex-pooler: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`codex-pooler: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(EXIT_FAILURE);
}
