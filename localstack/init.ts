// Creates the project's SQS queues (each with a dead-letter queue and a redrive
// policy) and the root-keys secret, through the AWS SDK, against
// AWS_ENDPOINT_URL: LocalStack in docker compose, LocalStack or moto from
// `npm run emulator`, or (without an endpoint) the AWS account in the
// environment. Idempotent; an existing secret is never overwritten.
//
//   AWS_ENDPOINT_URL=http://127.0.0.1:4566 node bin/run-ts.js localstack/init.ts
//
// Env: AWS_ENDPOINT_URL, AWS_REGION (us-east-1), CODEX_POOLER_REQUEST_RECORDS_QUEUE,
// CODEX_POOLER_JOBS_QUEUE, CODEX_POOLER_ROOT_KEYS_SECRET_ID (codex-pooler/root-keys),
// CODEX_POOLER_MAX_RECEIVE_COUNT (5).
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type ProvisionResult, provisionAws } from "@codex-pooler/adapters/provision";
import { loadConfig } from "@codex-pooler/config";

export { type ProvisionOptions, type ProvisionResult, provisionAws } from "@codex-pooler/adapters/provision";

export const DEFAULT_ROOT_KEYS_SECRET_ID = "codex-pooler/root-keys";

/** Provisions what the app's configuration names, against `endpointUrl` (default: AWS_ENDPOINT_URL). */
export async function provisionFromEnv(
  endpointUrl?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProvisionResult> {
  const config = loadConfig(env);
  const maxReceiveCount = env.CODEX_POOLER_MAX_RECEIVE_COUNT ? Number(env.CODEX_POOLER_MAX_RECEIVE_COUNT) : 5;
  if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
    throw new Error("CODEX_POOLER_MAX_RECEIVE_COUNT: must be a whole number from 1 to 1000");
  }
  const target = endpointUrl ?? config.aws.endpointUrl;
  const result = await provisionAws({
    endpointUrl: target,
    region: config.aws.region,
    queues: [config.aws.requestRecordsQueue, config.aws.jobsQueue],
    secretId: config.rootKeys.secretId ?? DEFAULT_ROOT_KEYS_SECRET_ID,
    maxReceiveCount,
  });
  const where = target ?? "AWS";
  for (const [name, url] of Object.entries(result.queueUrls)) {
    process.stderr.write(`[aws-init] queue ${name} → ${url} (dead letters: ${result.dlqUrls[name]})\n`);
  }
  process.stderr.write(
    `[aws-init] secret ${result.secretId} ${result.secretCreated ? "created with new random root keys" : "already exists (kept)"} on ${where}\n`,
  );
  return result;
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(resolve(entry)).href) {
  provisionFromEnv().then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (err: unknown) => {
      process.stderr.write(
        `[aws-init] error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
