/**
 * Concrete AWS-backed adapters built from plain settings, so composition
 * roots (the CLI host, Lambda entries) never import the AWS SDK themselves.
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { type AwsTarget, awsClientConfig } from "./aws.ts";
import { SqsQueue, type SqsQueueOptions } from "./sqs-queue.ts";

export function createSqsQueue(target: AwsTarget, options: Omit<SqsQueueOptions, "client"> = {}): SqsQueue {
  return new SqsQueue({ ...options, client: new SQSClient(awsClientConfig(target)) });
}

export function createSecretsManagerClient(target: AwsTarget): SecretsManagerClient {
  return new SecretsManagerClient(awsClientConfig(target));
}
