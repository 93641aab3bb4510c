// What integration tests use to reach the AWS emulator that the global setup
// started (tests/support/emulator.ts): `inject` works in test files only.
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Endpoint of this run's AWS emulator, e.g. http://127.0.0.1:41234. */
    awsEndpointUrl: string;
    /** Which emulator runs it. */
    awsEmulatorKind: "localstack" | "moto";
  }
}

export const AWS_TEST_REGION = "us-east-1";

/** The emulator's endpoint URL. */
export function awsEndpointUrl(): string {
  return inject("awsEndpointUrl");
}

export function awsEmulatorKind(): "localstack" | "moto" {
  return inject("awsEmulatorKind");
}

/**
 * Endpoint, region and the emulator's dummy credentials, so a test's clients
 * never pick up real AWS credentials from the environment.
 * Example: `new SQSClient(awsTestTarget())`
 */
export function awsTestTarget(): {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
} {
  return {
    endpoint: awsEndpointUrl(),
    region: AWS_TEST_REGION,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  };
}
