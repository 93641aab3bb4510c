export type { EmbeddedEngineOptions, Endpoint } from "./embedded/engine.ts";
export * from "./errors.ts";
export type { DbLogger, LogFields } from "./logger.ts";
export {
  DEFAULT_MIGRATIONS_DIR,
  MIGRATION_LOCK_KEY,
  type MigrateOptions,
  type MigrateResult,
  MigrationError,
  type MigrationFile,
  migrate,
  migrationChecksum,
  readMigrations,
} from "./migrate.ts";
export {
  type DatabaseEngine,
  type DatabaseHandle,
  type OpenDatabaseOptions,
  openDatabase,
} from "./open.ts";
export * from "./repositories/gateway.repository.ts";
export * from "./repositories/request-records.repository.ts";
export * from "./schema/index.ts";
export { type TransactionOptions, withTransaction } from "./transaction.ts";
export type { Db, DbOrTx, Tx } from "./types.ts";
export { redactDatabaseUrl } from "./url.ts";
