import type { ApiKeysTable } from "./api-keys.table.ts";
import type { AuditEventsTable } from "./audit-events.table.ts";
import type { InstanceSettingsTable } from "./instance-settings.table.ts";
import type { PoolAssignmentsTable } from "./pool-assignments.table.ts";
import type { PoolsTable } from "./pools.table.ts";
import type { QuotaWindowsTable } from "./quota-windows.table.ts";
import type { RequestAttemptsTable } from "./request-attempts.table.ts";
import type { RequestRecordsTable } from "./request-records.table.ts";
import type { SchemaMigrationsTable } from "./schema-migrations.table.ts";
import type { ThreadAffinitiesTable } from "./thread-affinities.table.ts";
import type { UpstreamAccountModelsTable } from "./upstream-account-models.table.ts";
import type { UpstreamAccountsTable } from "./upstream-accounts.table.ts";

/**
 * The schema as Kysely sees it, one entry per table of migrations/*.sql.
 * Keep in step with the migrations: a new migration that changes a table
 * changes its <table>.table.ts in the same commit (the schema test in
 * packages/db/test compares the two).
 */
export interface Database {
  instance_settings: InstanceSettingsTable;
  pools: PoolsTable;
  upstream_accounts: UpstreamAccountsTable;
  upstream_account_models: UpstreamAccountModelsTable;
  pool_assignments: PoolAssignmentsTable;
  api_keys: ApiKeysTable;
  quota_windows: QuotaWindowsTable;
  thread_affinities: ThreadAffinitiesTable;
  request_records: RequestRecordsTable;
  request_attempts: RequestAttemptsTable;
  audit_events: AuditEventsTable;
  schema_migrations: SchemaMigrationsTable;
}
