/**
 * What several commands open: the database (Postgres or the embedded
 * engine) and the root keys. Kept apart from host.ts so that commands which
 * only manage pools, accounts and keys do not load the gateway.
 */
import { createSecretsManagerClient, loadRootKeys, type RootKeys } from "@codex-pooler/adapters";
import type { AppConfig } from "@codex-pooler/config";
import type { Logger } from "@codex-pooler/core";
import { type DatabaseHandle, openDatabase } from "@codex-pooler/db";
import { dbLoggerFrom } from "./runtime.ts";

/** Root keys from env, Secrets Manager or the local key file (see packages/adapters). */
export async function rootKeysFor(config: Readonly<AppConfig>): Promise<RootKeys> {
  return loadRootKeys({
    config,
    dataDir: config.dataDir,
    ...(config.rootKeys.secretId
      ? {
          secretsManager: createSecretsManagerClient({
            endpointUrl: config.aws.endpointUrl,
            region: config.aws.region,
          }),
        }
      : {}),
  });
}

export async function openDatabaseFor(config: Readonly<AppConfig>, logger: Logger): Promise<DatabaseHandle> {
  return openDatabase({
    url: config.database.url,
    dataDir: config.dataDir,
    poolSize: config.database.poolSize,
    logger: dbLoggerFrom(logger),
  });
}
