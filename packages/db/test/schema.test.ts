import type { Database } from "@codex-pooler/db";
import type { Insertable, Selectable } from "kysely";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../tests/support/db.ts";

/**
 * The Kysely `Database` type against the schema the migrations really build.
 * The manifest below is checked by the compiler against the types (every
 * table, every column, nullability, optional-on-insert) and by this test
 * against information_schema — so a migration and its <table>.table.ts
 * cannot drift apart unnoticed.
 */

type Nullability<T, K extends keyof T> = null extends T[K] ? "nullable" : "not null";
type InsertShape<T, K extends keyof T> = undefined extends T[K] ? "optional" : "required";
type Manifest = {
  [Table in keyof Database]: {
    [Column in keyof Selectable<Database[Table]>]: readonly [
      Nullability<Selectable<Database[Table]>, Column>,
      Column extends keyof Insertable<Database[Table]>
        ? InsertShape<Insertable<Database[Table]>, Column>
        : "optional",
    ];
  };
};

const N = "nullable" as const;
const NN = "not null" as const;
const opt = "optional" as const;
const req = "required" as const;

const manifest: Manifest = {
  instance_settings: {
    id: [NN, opt],
    settings: [NN, opt],
    lock_version: [NN, opt],
    updated_at: [NN, opt],
    updated_by: [N, opt],
  },
  pools: {
    id: [NN, req],
    name: [NN, req],
    status: [NN, opt],
    routing_strategy: [NN, opt],
    ring_size: [NN, opt],
    pinned_failover: [NN, opt],
    v1_enabled: [NN, opt],
    created_at: [NN, opt],
    updated_at: [NN, opt],
  },
  upstream_accounts: {
    id: [NN, req],
    chatgpt_account_id: [NN, req],
    chatgpt_user_id: [NN, opt],
    email: [N, opt],
    label: [N, opt],
    plan_type: [N, opt],
    status: [NN, opt],
    status_reason: [N, opt],
    status_changed_at: [NN, opt],
    access_token_ciphertext: [NN, req],
    access_token_nonce: [NN, req],
    refresh_token_ciphertext: [NN, req],
    refresh_token_nonce: [NN, req],
    secret_key_version: [NN, req],
    access_token_expires_at: [N, opt],
    credential_generation: [NN, opt],
    last_refresh_at: [N, opt],
    last_refresh_error: [N, opt],
    refresh_lease_owner: [N, opt],
    refresh_lease_until: [N, opt],
    models_etag: [N, opt],
    models_fetched_at: [N, opt],
    created_at: [NN, opt],
    updated_at: [NN, opt],
  },
  upstream_account_models: {
    account_id: [NN, req],
    slug: [NN, req],
    info: [NN, req],
    fetched_at: [NN, opt],
  },
  pool_assignments: {
    pool_id: [NN, req],
    account_id: [NN, req],
    status: [NN, opt],
    created_at: [NN, opt],
  },
  api_keys: {
    id: [NN, req],
    pool_id: [NN, req],
    name: [N, opt],
    prefix: [NN, req],
    digest: [NN, req],
    status: [NN, opt],
    expires_at: [N, opt],
    last_used_at: [N, opt],
    created_at: [NN, opt],
    updated_at: [NN, opt],
    revoked_at: [N, opt],
  },
  quota_windows: {
    account_id: [NN, req],
    limit_id: [NN, opt],
    window_kind: [NN, req],
    used_percent: [NN, req],
    window_minutes: [N, opt],
    reset_at: [N, opt],
    source: [NN, req],
    observed_at: [NN, opt],
  },
  thread_affinities: {
    pool_id: [NN, req],
    anchor_hash: [NN, req],
    anchor_kind: [NN, req],
    account_id: [NN, req],
    created_at: [NN, opt],
    last_seen_at: [NN, opt],
    expires_at: [NN, req],
  },
  request_records: {
    id: [NN, req],
    pool_id: [N, opt],
    api_key_id: [N, opt],
    account_id: [N, opt],
    model: [N, opt],
    route: [NN, req],
    transport: [NN, req],
    status: [NN, req],
    http_status: [N, opt],
    error_code: [N, opt],
    attempt_count: [NN, opt],
    client_originator: [N, opt],
    started_at: [NN, req],
    completed_at: [N, opt],
    ttfb_ms: [N, opt],
    duration_ms: [N, opt],
    gateway_overhead_ms: [N, opt],
    input_tokens: [N, opt],
    cached_input_tokens: [N, opt],
    output_tokens: [N, opt],
    reasoning_tokens: [N, opt],
    total_tokens: [N, opt],
    recorded_at: [NN, opt],
  },
  request_attempts: {
    id: [NN, req],
    request_id: [NN, req],
    attempt_no: [NN, req],
    account_id: [N, opt],
    status: [NN, req],
    http_status: [N, opt],
    error_code: [N, opt],
    started_at: [NN, req],
    ttfb_ms: [N, opt],
    duration_ms: [N, opt],
    input_tokens: [N, opt],
    cached_input_tokens: [N, opt],
    output_tokens: [N, opt],
    reasoning_tokens: [N, opt],
    total_tokens: [N, opt],
  },
  audit_events: {
    id: [NN, req],
    occurred_at: [NN, opt],
    actor_type: [NN, req],
    actor_id: [N, opt],
    action: [NN, req],
    target_type: [N, opt],
    target_id: [N, opt],
    pool_id: [N, opt],
    outcome: [NN, opt],
    source_ip: [N, opt],
    details: [NN, opt],
  },
  schema_migrations: {
    version: [NN, req],
    name: [NN, req],
    checksum: [NN, req],
    applied_at: [NN, opt],
  },
};

let test: TestDatabase;
beforeAll(async () => {
  test = await createTestDatabase({ open: true });
});
afterAll(() => test.drop());

describe("Database type", () => {
  it("matches the migrated schema: tables, columns, nullability and defaults", async () => {
    const { rows } = await sql<{
      table_name: string;
      column_name: string;
      is_nullable: "YES" | "NO";
      has_default: boolean;
    }>`
      select table_name, column_name, is_nullable, column_default is not null as has_default
        from information_schema.columns where table_schema = 'public'`.execute(test.handle!.db);

    const actual: Record<string, Record<string, readonly [string, string]>> = {};
    for (const row of rows) {
      const table = actual[row.table_name] ?? {};
      actual[row.table_name] = table;
      const nullable = row.is_nullable === "YES";
      table[row.column_name] = [nullable ? N : NN, nullable || row.has_default ? opt : req];
    }
    const sortDeep = (o: Record<string, Record<string, readonly [string, string]>>) =>
      Object.fromEntries(
        Object.entries(o)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([t, cols]) => [
            t,
            Object.fromEntries(Object.entries(cols).sort(([a], [b]) => a.localeCompare(b))),
          ]),
      );
    expect(sortDeep(actual)).toEqual(sortDeep(manifest as never));
  });
});
