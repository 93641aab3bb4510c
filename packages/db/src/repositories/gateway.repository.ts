/**
 * What the gateway reads and writes, on the hot path's terms: one snapshot
 * of pools/accounts/evidence, key lookups by prefix, quota evidence, account
 * status, credential updates under a row lock, and thread affinity. Rows
 * carry sealed (encrypted) tokens only.
 */

import { randomBytes } from "node:crypto";
import type {
  AccountStatus,
  AnchorKind,
  QuotaObservation,
  QuotaWindow,
  RoutingStrategy,
} from "@codex-pooler/core";
import { sql } from "kysely";
import { withTransaction } from "../transaction.ts";
import type { Db, Tx } from "../types.ts";

export type KeyStatus = "active" | "paused" | "revoked";

export interface KeyRow {
  id: string;
  poolId: string;
  prefix: string;
  /** SHA-256 of the whole raw key. */
  digest: Buffer;
  status: KeyStatus;
  expiresAt: Date | null;
}

export interface PoolSettingsRow {
  id: string;
  name: string;
  status: "active" | "disabled" | "archived";
  routingStrategy: RoutingStrategy;
  ringSize: number;
  pinnedFailover: "move" | "refuse";
  v1Enabled: boolean;
}

export interface SealedTokens {
  accessCiphertext: Buffer;
  accessNonce: Buffer;
  refreshCiphertext: Buffer;
  refreshNonce: Buffer;
  keyVersion: number;
}

export interface AccountRow {
  id: string;
  chatgptAccountId: string;
  status: AccountStatus;
  planType: string | null;
  label: string | null;
  accessTokenExpiresAt: Date | null;
  credentialGeneration: number;
  sealed: SealedTokens;
}

export interface ModelRow {
  accountId: string;
  slug: string;
  info: Record<string, unknown>;
}

export interface Snapshot {
  pools: PoolSettingsRow[];
  assignments: Array<{ poolId: string; accountId: string; status: "active" | "paused" }>;
  accounts: AccountRow[];
  quota: Array<{ accountId: string; window: QuotaWindow; observedAt: number }>;
  models: ModelRow[];
}

/** The outcome of one locked refresh decision. */
export type CredentialUpdate =
  | { kind: "tokens"; sealed: SealedTokens; accessTokenExpiresAt: Date | null }
  | { kind: "status"; status: AccountStatus; reason: string };

export interface KeyUsage {
  requests: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  totalTokens: number;
}

export interface AffinityAnchor {
  hash: Buffer;
  kind: AnchorKind;
}

export interface GatewayRepository {
  findKeyByPrefix(prefix: string): Promise<KeyRow | undefined>;
  keyStatuses(ids: readonly string[]): Promise<Map<string, KeyRow>>;
  touchKeys(ids: readonly string[], at: Date): Promise<void>;
  loadSnapshot(): Promise<Snapshot>;
  saveQuota(accountId: string, observation: QuotaObservation): Promise<void>;
  setAccountStatus(accountId: string, status: AccountStatus, reason: string): Promise<void>;
  /**
   * Takes the account's refresh lease when its credentials are still those of
   * `seenGeneration` and nobody else holds a live lease. Not acquired: the
   * current row tells why (a newer generation, or another holder).
   */
  acquireRefreshLease(
    accountId: string,
    owner: string,
    seenGeneration: number,
    leaseMs: number,
  ): Promise<{ acquired: boolean; row: AccountRow }>;
  /** Writes the refresh outcome and releases the lease, only while `owner` still holds it. */
  completeRefresh(
    accountId: string,
    owner: string,
    update: CredentialUpdate,
  ): Promise<AccountRow | undefined>;
  releaseRefreshLease(accountId: string, owner: string, error: string): Promise<void>;
  /** Token usage recorded for one key since a time (the key's own view, /v1/usage). */
  keyUsage(keyId: string, since: Date): Promise<KeyUsage>;
  /** The account owning the first anchor found (anchors strongest first). */
  findAffinity(poolId: string, anchors: readonly AffinityAnchor[], now: Date): Promise<string | undefined>;
  /** Records anchors → account; an existing anchor keeps its owner. Returns the owner of the strongest anchor. */
  claimAffinity(
    poolId: string,
    anchors: readonly AffinityAnchor[],
    accountId: string,
    expiresAt: Date,
  ): Promise<string>;
  /** Moves a thread from `from` to `to` (only rows still owned by `from`). */
  moveAffinity(
    poolId: string,
    anchors: readonly AffinityAnchor[],
    from: string,
    to: string,
    expiresAt: Date,
  ): Promise<void>;
}

function toAccountRow(r: {
  id: string;
  chatgpt_account_id: string;
  status: AccountStatus;
  plan_type: string | null;
  label: string | null;
  access_token_expires_at: Date | null;
  credential_generation: number;
  access_token_ciphertext: Buffer;
  access_token_nonce: Buffer;
  refresh_token_ciphertext: Buffer;
  refresh_token_nonce: Buffer;
  secret_key_version: number;
}): AccountRow {
  return {
    id: r.id,
    chatgptAccountId: r.chatgpt_account_id,
    status: r.status,
    planType: r.plan_type,
    label: r.label,
    accessTokenExpiresAt: r.access_token_expires_at,
    credentialGeneration: r.credential_generation,
    sealed: {
      accessCiphertext: r.access_token_ciphertext,
      accessNonce: r.access_token_nonce,
      refreshCiphertext: r.refresh_token_ciphertext,
      refreshNonce: r.refresh_token_nonce,
      keyVersion: r.secret_key_version,
    },
  };
}

const ACCOUNT_COLUMNS = [
  "id",
  "chatgpt_account_id",
  "status",
  "plan_type",
  "label",
  "access_token_expires_at",
  "credential_generation",
  "access_token_ciphertext",
  "access_token_nonce",
  "refresh_token_ciphertext",
  "refresh_token_nonce",
  "secret_key_version",
] as const;

/** The gateway changed an account's status (auth failure, deactivation): who, what, why. */
async function auditStatusChange(
  tx: Tx,
  accountId: string,
  status: AccountStatus,
  reason: string,
  outcome: "success" | "failure",
): Promise<void> {
  await tx
    .insertInto("audit_events")
    .values({
      id: `aud_${Date.now().toString(36)}${randomBytes(8).toString("hex")}`,
      actor_type: "gateway",
      action: "upstream_account.status_change",
      target_type: "upstream_account",
      target_id: accountId,
      outcome,
      details: JSON.stringify({ status, reason }),
    })
    .execute();
}

export function createGatewayRepository(db: Db): GatewayRepository {
  return {
    async findKeyByPrefix(prefix) {
      const r = await db
        .selectFrom("api_keys")
        .select(["id", "pool_id", "prefix", "digest", "status", "expires_at"])
        .where("prefix", "=", prefix)
        .executeTakeFirst();
      return r
        ? {
            id: r.id,
            poolId: r.pool_id,
            prefix: r.prefix,
            digest: r.digest,
            status: r.status,
            expiresAt: r.expires_at,
          }
        : undefined;
    },

    async keyStatuses(ids) {
      const out = new Map<string, KeyRow>();
      if (ids.length === 0) return out;
      const rows = await db
        .selectFrom("api_keys")
        .select(["id", "pool_id", "prefix", "digest", "status", "expires_at"])
        .where("id", "in", [...ids])
        .execute();
      for (const r of rows) {
        out.set(r.id, {
          id: r.id,
          poolId: r.pool_id,
          prefix: r.prefix,
          digest: r.digest,
          status: r.status,
          expiresAt: r.expires_at,
        });
      }
      return out;
    },

    async touchKeys(ids, at) {
      if (ids.length === 0) return;
      await db
        .updateTable("api_keys")
        .set({ last_used_at: at })
        .where("id", "in", [...ids])
        .execute();
    },

    async loadSnapshot() {
      const [pools, assignments, accounts, quota, models] = await Promise.all([
        db
          .selectFrom("pools")
          .select(["id", "name", "status", "routing_strategy", "ring_size", "pinned_failover", "v1_enabled"])
          .execute(),
        db.selectFrom("pool_assignments").select(["pool_id", "account_id", "status"]).execute(),
        db.selectFrom("upstream_accounts").select(ACCOUNT_COLUMNS).where("status", "!=", "deleted").execute(),
        db
          .selectFrom("quota_windows")
          .select([
            "account_id",
            "limit_id",
            "window_kind",
            "used_percent",
            "window_minutes",
            "reset_at",
            "observed_at",
          ])
          .execute(),
        db.selectFrom("upstream_account_models").select(["account_id", "slug", "info"]).execute(),
      ]);
      return {
        pools: pools.map((p) => ({
          id: p.id,
          name: p.name,
          status: p.status,
          routingStrategy: p.routing_strategy,
          ringSize: p.ring_size,
          pinnedFailover: p.pinned_failover,
          v1Enabled: p.v1_enabled,
        })),
        assignments: assignments.map((a) => ({
          poolId: a.pool_id,
          accountId: a.account_id,
          status: a.status,
        })),
        accounts: accounts.map(toAccountRow),
        quota: quota.map((q) => ({
          accountId: q.account_id,
          observedAt: q.observed_at.getTime(),
          window: {
            limitId: q.limit_id,
            kind: q.window_kind,
            usedPercent: q.used_percent,
            windowMinutes: q.window_minutes,
            resetAt: q.reset_at ? q.reset_at.getTime() : null,
          },
        })),
        models: models.map((m) => ({
          accountId: m.account_id,
          slug: m.slug,
          info: m.info as Record<string, unknown>,
        })),
      };
    },

    async saveQuota(accountId, observation) {
      if (observation.windows.length === 0) return;
      const observedAt = new Date(observation.observedAt);
      await db
        .insertInto("quota_windows")
        .values(
          observation.windows.map((w) => ({
            account_id: accountId,
            limit_id: w.limitId,
            window_kind: w.kind,
            used_percent: w.usedPercent,
            window_minutes: w.windowMinutes,
            reset_at: w.resetAt === null ? null : new Date(w.resetAt),
            source: observation.source,
            observed_at: observedAt,
          })),
        )
        .onConflict((oc) =>
          oc
            .columns(["account_id", "limit_id", "window_kind"])
            .doUpdateSet((eb) => ({
              used_percent: eb.ref("excluded.used_percent"),
              window_minutes: eb.ref("excluded.window_minutes"),
              reset_at: eb.ref("excluded.reset_at"),
              source: eb.ref("excluded.source"),
              observed_at: eb.ref("excluded.observed_at"),
            }))
            .where("quota_windows.observed_at", "<=", observedAt),
        )
        .execute();
      if (observation.planType) {
        await db
          .updateTable("upstream_accounts")
          .set({ plan_type: observation.planType })
          .where("id", "=", accountId)
          .where((eb) => eb.or([eb("plan_type", "is", null), eb("plan_type", "!=", observation.planType!)]))
          .execute();
      }
    },

    async setAccountStatus(accountId, status, reason) {
      await withTransaction(db, async (tx) => {
        const updated = await tx
          .updateTable("upstream_accounts")
          .set({ status, status_reason: reason, status_changed_at: new Date(), updated_at: new Date() })
          .where("id", "=", accountId)
          .where("status", "!=", status)
          .returning("id")
          .executeTakeFirst();
        if (!updated) return;
        await auditStatusChange(tx, accountId, status, reason, "success");
      });
    },

    async acquireRefreshLease(accountId, owner, seenGeneration, leaseMs) {
      const taken = await db
        .updateTable("upstream_accounts")
        .set({
          refresh_lease_owner: owner,
          refresh_lease_until: sql<Date>`now() + make_interval(secs => ${leaseMs / 1000})`,
        })
        .where("id", "=", accountId)
        .where("credential_generation", "=", seenGeneration)
        .where((eb) =>
          eb.or([eb("refresh_lease_until", "is", null), eb("refresh_lease_until", "<", sql<Date>`now()`)]),
        )
        .returning(ACCOUNT_COLUMNS)
        .executeTakeFirst();
      if (taken) return { acquired: true, row: toAccountRow(taken) };
      const current = await db
        .selectFrom("upstream_accounts")
        .select(ACCOUNT_COLUMNS)
        .where("id", "=", accountId)
        .executeTakeFirstOrThrow();
      return { acquired: false, row: toAccountRow(current) };
    },

    async completeRefresh(accountId, owner, update) {
      const now = new Date();
      return withTransaction(db, async (tx) => {
        if (update.kind === "tokens") {
          const row = await tx
            .updateTable("upstream_accounts")
            .set({
              access_token_ciphertext: update.sealed.accessCiphertext,
              access_token_nonce: update.sealed.accessNonce,
              refresh_token_ciphertext: update.sealed.refreshCiphertext,
              refresh_token_nonce: update.sealed.refreshNonce,
              secret_key_version: update.sealed.keyVersion,
              access_token_expires_at: update.accessTokenExpiresAt,
              credential_generation: sql<number>`credential_generation + 1`,
              last_refresh_at: now,
              last_refresh_error: null,
              refresh_lease_owner: null,
              refresh_lease_until: null,
              updated_at: now,
            })
            .where("id", "=", accountId)
            .where("refresh_lease_owner", "=", owner)
            .returning(ACCOUNT_COLUMNS)
            .executeTakeFirst();
          return row ? toAccountRow(row) : undefined;
        }
        const row = await tx
          .updateTable("upstream_accounts")
          .set({
            status: update.status,
            status_reason: update.reason,
            status_changed_at: now,
            last_refresh_error: update.reason,
            refresh_lease_owner: null,
            refresh_lease_until: null,
            updated_at: now,
          })
          .where("id", "=", accountId)
          .where("refresh_lease_owner", "=", owner)
          .returning(ACCOUNT_COLUMNS)
          .executeTakeFirst();
        if (!row) return undefined;
        await auditStatusChange(tx, accountId, update.status, update.reason, "failure");
        return toAccountRow(row);
      });
    },

    async keyUsage(keyId, since) {
      const r = await db
        .selectFrom("request_records")
        .select((eb) => [
          eb.fn.countAll<string>().as("requests"),
          eb.fn.coalesce(eb.fn.sum<string>("input_tokens"), sql<string>`0`).as("input"),
          eb.fn.coalesce(eb.fn.sum<string>("cached_input_tokens"), sql<string>`0`).as("cached"),
          eb.fn.coalesce(eb.fn.sum<string>("output_tokens"), sql<string>`0`).as("output"),
          eb.fn.coalesce(eb.fn.sum<string>("reasoning_tokens"), sql<string>`0`).as("reasoning"),
          eb.fn.coalesce(eb.fn.sum<string>("total_tokens"), sql<string>`0`).as("total"),
        ])
        .where("api_key_id", "=", keyId)
        .where("started_at", ">=", since)
        .executeTakeFirstOrThrow();
      return {
        requests: Number(r.requests),
        inputTokens: Number(r.input),
        cachedInputTokens: Number(r.cached),
        outputTokens: Number(r.output),
        reasoningTokens: Number(r.reasoning),
        totalTokens: Number(r.total),
      };
    },

    async releaseRefreshLease(accountId, owner, error) {
      await db
        .updateTable("upstream_accounts")
        .set({ refresh_lease_owner: null, refresh_lease_until: null, last_refresh_error: error })
        .where("id", "=", accountId)
        .where("refresh_lease_owner", "=", owner)
        .execute();
    },

    async findAffinity(poolId, anchors, now) {
      if (anchors.length === 0) return undefined;
      const rows = await db
        .selectFrom("thread_affinities")
        .select(["anchor_hash", "account_id"])
        .where("pool_id", "=", poolId)
        .where(
          "anchor_hash",
          "in",
          anchors.map((a) => a.hash),
        )
        .where("expires_at", ">", now)
        .execute();
      for (const a of anchors) {
        const hit = rows.find((r) => r.anchor_hash.equals(a.hash));
        if (hit) return hit.account_id;
      }
      return undefined;
    },

    async claimAffinity(poolId, anchors, accountId, expiresAt) {
      if (anchors.length === 0) return accountId;
      await db
        .insertInto("thread_affinities")
        .values(
          anchors.map((a) => ({
            pool_id: poolId,
            anchor_hash: a.hash,
            anchor_kind: a.kind,
            account_id: accountId,
            expires_at: expiresAt,
          })),
        )
        .onConflict((oc) =>
          oc.columns(["pool_id", "anchor_hash"]).doUpdateSet((eb) => ({
            // An expired anchor is reclaimed; a live one keeps its owner.
            account_id: sql<string>`CASE WHEN thread_affinities.expires_at <= now() THEN ${eb.ref("excluded.account_id")} ELSE thread_affinities.account_id END`,
            expires_at: eb.ref("excluded.expires_at"),
            last_seen_at: sql<Date>`now()`,
          })),
        )
        .execute();
      const owner = await db
        .selectFrom("thread_affinities")
        .select("account_id")
        .where("pool_id", "=", poolId)
        .where("anchor_hash", "=", anchors[0]!.hash)
        .executeTakeFirst();
      return owner?.account_id ?? accountId;
    },

    async moveAffinity(poolId, anchors, from, to, expiresAt) {
      if (anchors.length === 0) return;
      await db
        .updateTable("thread_affinities")
        .set({ account_id: to, expires_at: expiresAt, last_seen_at: new Date() })
        .where("pool_id", "=", poolId)
        .where("account_id", "=", from)
        .where(
          "anchor_hash",
          "in",
          anchors.map((a) => a.hash),
        )
        .execute();
      // Anchors this thread had not recorded yet (e.g. a new turn state) join it on the new account.
      await this.claimAffinity(poolId, anchors, to, expiresAt);
    },
  };
}
