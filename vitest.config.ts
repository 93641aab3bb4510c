import { defineConfig } from "vitest/config";

// Two projects: `unit` (pure, no servers) and `integration` (real Postgres,
// the AWS emulator, the simulator, real clients). The integration project's
// global setup creates this run's own database template and starts the
// emulator on a free port, and removes both at the end.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "packages/*/src/**/*.test.ts",
            "services/*/src/**/*.test.ts",
            "functions/*/src/**/*.test.ts",
          ],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: [
            "packages/*/test/**/*.test.ts",
            "services/*/test/**/*.test.ts",
            "functions/*/test/**/*.test.ts",
            "tests/**/*.test.ts",
          ],
          environment: "node",
          globalSetup: ["tests/support/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
