// Standalone entry for running the simulator without the project CLI:
//   node bin/run-ts.js packages/simulator/src/main.ts --port 4100 --accounts 3 --auth-dir /tmp/sim-auth
import { runSimulatorCli } from "./cli.ts";

runSimulatorCli(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`simulator: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
