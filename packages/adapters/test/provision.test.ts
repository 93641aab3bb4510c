// provisionAws and the localstack/init.ts CLI against this run's emulator.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import { awsEndpointUrl, awsTestTarget } from "../../../tests/support/aws.ts";
import { provisionAws } from "../src/provision.ts";

const repo = join(import.meta.dirname, "../../..");
const sqs = new SQSClient(awsTestTarget());
const sm = new SecretsManagerClient(awsTestTarget());
afterAll(() => {
  sqs.destroy();
  sm.destroy();
});

async function attributes(url: string) {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }));
  return out.Attributes ?? {};
}

async function secretValue(secretId: string): Promise<string | undefined> {
  return (await sm.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
}

describe("provisionAws", () => {
  it("creates queues with dead-letter queues and redrive policies, and the secret once", async () => {
    const id = randomUUID().slice(0, 8);
    const queues = [`records-${id}`, `jobs-${id}`];
    const secretId = `codex-pooler-test/${id}/root-keys`;
    const region = awsTestTarget().region;
    const first = await provisionAws({ region, queues, secretId, sqs, secretsManager: sm });
    expect(first.secretCreated).toBe(true);
    expect(Object.keys(first.queueUrls)).toEqual(queues);
    for (const q of queues) {
      const dlq = await attributes(first.dlqUrls[q] as string);
      expect(dlq.QueueArn).toMatch(new RegExp(`:${q}-dlq$`));
      const src = await attributes(first.queueUrls[q] as string);
      const policy = JSON.parse(src.RedrivePolicy ?? "{}");
      expect(policy.deadLetterTargetArn).toBe(dlq.QueueArn);
      expect(Number(policy.maxReceiveCount)).toBe(5);
      expect(src.VisibilityTimeout).toBe("60");
    }
    const secretBefore = await secretValue(secretId);
    const doc = JSON.parse(secretBefore ?? "{}");
    expect(Buffer.from(doc.upstream_secret_key, "base64")).toHaveLength(32);
    expect(Buffer.from(doc.totp_encryption_key, "base64")).toHaveLength(32);
    expect(doc).toMatchObject({ upstream_secret_key_version: 1, totp_key_version: 1 });

    // Again, with a changed setting: same URLs, attributes converged, secret untouched.
    const second = await provisionAws({
      region,
      queues,
      secretId,
      maxReceiveCount: 3,
      sqs,
      secretsManager: sm,
    });
    expect(second.queueUrls).toEqual(first.queueUrls);
    expect(second.dlqUrls).toEqual(first.dlqUrls);
    expect(second.secretCreated).toBe(false);
    const policy = JSON.parse(
      (await attributes(first.queueUrls[queues[0] as string] as string)).RedrivePolicy ?? "{}",
    );
    expect(Number(policy.maxReceiveCount)).toBe(3);
    expect(await secretValue(secretId)).toBe(secretBefore);
  });

  it("refuses a name that leaves no room for the -dlq suffix", async () => {
    await expect(provisionAws({ region: "us-east-1", queues: ["q".repeat(78)], sqs })).rejects.toThrow(
      /too long/,
    );
  });
});

describe("localstack/init.ts (the CLI docker compose runs)", () => {
  it("provisions the configured names against AWS_ENDPOINT_URL, idempotently", async () => {
    const id = randomUUID().slice(0, 8);
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_ENDPOINT_URL: awsEndpointUrl(),
      AWS_REGION: "us-east-1",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      CODEX_POOLER_REQUEST_RECORDS_QUEUE: `cli-records-${id}`,
      CODEX_POOLER_JOBS_QUEUE: `cli-jobs-${id}`,
      CODEX_POOLER_ROOT_KEYS_SECRET_ID: `codex-pooler-test/${id}/cli-root-keys`,
    };
    const run = () =>
      promisify(execFile)(process.execPath, ["bin/run-ts.js", "localstack/init.ts"], {
        cwd: repo,
        env,
        timeout: 60_000,
      });
    const first = await run();
    const result = JSON.parse(first.stdout);
    expect(Object.keys(result.queueUrls)).toEqual([`cli-records-${id}`, `cli-jobs-${id}`]);
    expect(Object.keys(result.dlqUrls)).toEqual([`cli-records-${id}`, `cli-jobs-${id}`]);
    expect(result.secretCreated).toBe(true);
    expect(first.stderr).toContain("created with new random root keys");
    const secret = await secretValue(env.CODEX_POOLER_ROOT_KEYS_SECRET_ID);

    const second = await run();
    expect(JSON.parse(second.stdout)).toMatchObject({ queueUrls: result.queueUrls, secretCreated: false });
    expect(second.stderr).toContain("already exists (kept)");
    expect(await secretValue(env.CODEX_POOLER_ROOT_KEYS_SECRET_ID)).toBe(secret);
    // Key material goes to Secrets Manager only, never to the output.
    const doc = JSON.parse(secret ?? "{}");
    expect(first.stdout + first.stderr).not.toContain(doc.upstream_secret_key);
  });
});
