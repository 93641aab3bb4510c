import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { awsClientConfig } from "./aws.ts";
import { generateRootKeysDocument } from "./root-keys.ts";

export interface ProvisionOptions {
  /** AWS_ENDPOINT_URL (LocalStack, moto); undefined for AWS itself. */
  endpointUrl?: string | undefined;
  region: string;
  /** Queue names; each gets `<name>-dlq` and a redrive policy. */
  queues: readonly string[];
  /** Secrets Manager secret with the root keys; created with random keys if absent, never overwritten. */
  secretId?: string | undefined;
  /** Receives before a message is dead-lettered. Default 5. */
  maxReceiveCount?: number;
  /** Source queues' visibility timeout. Default 60 s. */
  visibilityTimeoutSeconds?: number;
  sqs?: SQSClient;
  secretsManager?: SecretsManagerClient;
}

export interface ProvisionResult {
  queueUrls: Record<string, string>;
  dlqUrls: Record<string, string>;
  secretId: string | undefined;
  /** True when this call created the secret. */
  secretCreated: boolean;
}

const DLQ_SUFFIX = "-dlq";
const FOUR_DAYS = 4 * 24 * 3600;
const FOURTEEN_DAYS = 14 * 24 * 3600;

/**
 * Creates (or brings up to date) the project's queues, their dead-letter
 * queues and redrive policies, and the root-keys secret. Idempotent: queues
 * that exist get their attributes set again; an existing secret is left as is.
 *
 * Example: `await provisionAws({ endpointUrl: "http://127.0.0.1:4566", region: "us-east-1",
 *   queues: ["codex-pooler-jobs"], secretId: "codex-pooler/root-keys" })`
 */
export async function provisionAws(options: ProvisionOptions): Promise<ProvisionResult> {
  const config = awsClientConfig({ endpointUrl: options.endpointUrl, region: options.region });
  const sqs = options.sqs ?? new SQSClient(config);
  const sm = options.secretsManager ?? (options.secretId ? new SecretsManagerClient(config) : undefined);
  try {
    const maxReceiveCount = options.maxReceiveCount ?? 5;
    const visibility = options.visibilityTimeoutSeconds ?? 60;
    const queueUrls: Record<string, string> = {};
    const dlqUrls: Record<string, string> = {};
    for (const name of options.queues) {
      const dlqName = `${name}${DLQ_SUFFIX}`;
      if (dlqName.length > 80)
        throw new Error(`queue name "${name}" is too long to add "${DLQ_SUFFIX}" (SQS allows 80)`);
      const dlqUrl = await ensureQueue(sqs, dlqName, { MessageRetentionPeriod: String(FOURTEEN_DAYS) });
      const dlqArn = (
        await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }))
      ).Attributes?.QueueArn;
      if (!dlqArn) throw new Error(`queue "${dlqName}" has no QueueArn`);
      queueUrls[name] = await ensureQueue(sqs, name, {
        VisibilityTimeout: String(visibility),
        MessageRetentionPeriod: String(FOUR_DAYS),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: String(maxReceiveCount),
        }),
      });
      dlqUrls[name] = dlqUrl;
    }

    let secretCreated = false;
    if (options.secretId && sm) secretCreated = await ensureSecret(sm, options.secretId);
    return { queueUrls, dlqUrls, secretId: options.secretId, secretCreated };
  } finally {
    if (!options.sqs) sqs.destroy();
    if (!options.secretsManager) sm?.destroy();
  }
}

async function ensureQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  try {
    const out = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (out.QueueUrl) return out.QueueUrl;
  } catch (err) {
    // Exists with other attributes: converge them instead of failing.
    const errName = (err as { name?: string }).name;
    if (errName !== "QueueNameExists" && errName !== "QueueAlreadyExists") throw err;
  }
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!QueueUrl) throw new Error(`queue "${name}" has no URL`);
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
  return QueueUrl;
}

async function ensureSecret(sm: SecretsManagerClient, secretId: string): Promise<boolean> {
  try {
    await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
    return false;
  } catch (err) {
    if ((err as { name?: string }).name !== "ResourceNotFoundException") throw err;
  }
  try {
    await sm.send(
      new CreateSecretCommand({
        Name: secretId,
        Description: "Codex Pooler root keys (upstream-secret key, TOTP key), versioned",
        SecretString: JSON.stringify(generateRootKeysDocument()),
      }),
    );
    return true;
  } catch (err) {
    // Another provisioner won the race: theirs stands.
    if ((err as { name?: string }).name === "ResourceExistsException") return false;
    throw err;
  }
}
