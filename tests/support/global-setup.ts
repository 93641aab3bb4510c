// Global setup of the integration project: creates this run's database template and starts the AWS emulator.
import type { TestProject } from "vitest/node";
import { setupDatabaseTemplate } from "./db.ts";
import { setupEmulator } from "./emulator.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Database half (tests/support/db.ts): this run's migrated template, dropped with every clone at teardown.
  const database = await setupDatabaseTemplate();
  project.provide("databaseTemplateUrl", database.templateUrl);

  // AWS half (tests/support/emulator.ts): the SQS + Secrets Manager emulator, as "awsEndpointUrl".
  const emulator = await setupEmulator(project).catch(async (err: unknown) => {
    await database.teardown();
    throw err;
  });

  return async () => {
    await emulator.teardown();
    await database.teardown();
  };
}
