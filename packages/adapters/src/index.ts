export { type AwsTarget, awsClientConfig } from "./aws.ts";
export { systemClock, systemRandom } from "./clock.ts";
export { createSecretsManagerClient, createSqsQueue } from "./factories.ts";
export {
  type DeadLetter,
  InProcessQueue,
  type InProcessQueueOptions,
  type InProcessQueueSettings,
  type InProcessQueueStats,
} from "./in-process-queue.ts";
export { type ProvisionOptions, type ProvisionResult, provisionAws } from "./provision.ts";
export {
  type ConsumerErrorContext,
  type ConsumerErrorHook,
  type DeadLetterRedrive,
  failedRecords,
  QueueError,
  type QueueErrorCode,
  type RedriveMethod,
  type RedriveResult,
  redriveDeadLetters,
  stderrErrorHook,
} from "./queue.ts";
export {
  generateRootKeysDocument,
  loadRootKeys,
  parseRootKeysDocument,
  ROOT_KEYS_FILE,
  type RootKeys,
  type RootKeysConfig,
  RootKeysError,
  type RootKeysErrorCode,
  rootKeysDocument,
} from "./root-keys.ts";
export {
  type SealContext,
  type Sealed,
  SecretBox,
  SecretBoxError,
  type SecretBoxErrorCode,
  type VersionedKey,
} from "./secret-box.ts";
export { SqsQueue, type SqsQueueOptions } from "./sqs-queue.ts";
