import type { Command } from "commander";

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
      await runSimulatorCli(args);
    });
}
