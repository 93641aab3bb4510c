import type { Command } from "commander";
import { CliError, EXIT_USAGE } from "../runtime.ts";

export function registerSimulator(program: Command): void {
  program
    .command("simulator")
    .description(
      "Start the Codex upstream + OpenAI auth simulator (tests, benchmarks, demo; never used in a deployment). " +
        "Run `codex-pooler simulator --help` for its flags.",
    )
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument("[args...]")
    .action(async (args: string[]) => {
      const { runSimulatorCli } = await import("@codex-pooler/simulator");
      try {
        await runSimulatorCli(args);
      } catch (err) {
        // Its only failures are bad flags and a port it cannot take: usage errors.
        throw new CliError(`simulator: ${err instanceof Error ? err.message : String(err)}`, EXIT_USAGE);
      }
    });
}
