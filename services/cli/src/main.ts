import { Command, CommanderError } from "commander";
import { CliError, EXIT_FAILURE, EXIT_USAGE } from "./runtime.ts";

type Register = (program: Command) => void;

/**
 * The command modules, in help order, each loaded only when needed: a
 * command loads its own module alone (the control plane for `key create`,
 * the gateway for `serve`, nothing heavy for the supervising process of
 * `serve --workers`); help and unknown commands load them all.
 */
const COMMANDS: Array<[names: string[], load: () => Promise<Register>]> = [
  [["migrate"], async () => (await import("./commands/migrate.ts")).registerMigrate],
  [["serve"], async () => (await import("./commands/serve.ts")).registerServe],
  [["simulator"], async () => (await import("./commands/simulator.ts")).registerSimulator],
  [
    ["pool", "account", "key"],
    async () => (await import("./commands/operators.ts")).registerOperatorCommands,
  ],
  [["demo"], async () => (await import("./commands/demo.ts")).registerDemo],
  [["start"], async () => (await import("./commands/start.ts")).registerStart],
];

const program = new Command()
  .name("codex-pooler")
  .description("Self-hosted gateway that pools ChatGPT/Codex subscription accounts behind Pool API keys.")
  .showHelpAfterError("(add --help for usage)")
  .exitOverride();

const named = process.argv[2];
const only = COMMANDS.find(([names]) => named !== undefined && names.includes(named));
for (const [, load] of only ? [only] : COMMANDS) (await load())(program);

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
