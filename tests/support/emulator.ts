// AWS half of the integration project's global setup: one emulator for the
// whole run on a free port (LocalStack, or moto where LocalStack cannot run;
// CODEX_POOLER_EMULATOR=moto|localstack forces one), handed to the tests
// through `provide` (read it with tests/support/aws.ts).
import type { TestProject } from "vitest/node";
import { startEmulator } from "../../scripts/emulator.ts";
import type {} from "./aws.ts";

export async function setupEmulator(project: TestProject): Promise<{ teardown(): Promise<void> }> {
  // The SDK's notice that releases after January 2027 need Node 22 would repeat
  // in every test worker; it is known (see the adapters' notes), not a test result.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const emulator = await startEmulator();
  project.provide("awsEndpointUrl", emulator.endpointUrl);
  project.provide("awsEmulatorKind", emulator.kind);
  return { teardown: () => emulator.stop() };
}
