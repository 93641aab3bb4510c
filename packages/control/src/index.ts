/**
 * Operator use cases — create pools, import upstream accounts from a Codex
 * `auth.json`, issue Pool API keys, read a pool's status. The CLI uses them
 * today; the admin API will call the same functions. Every mutation writes
 * an audit event in the same transaction; secrets are sealed before they
 * touch a row and raw keys are returned once, never stored.
 */
import { createHash, randomBytes } from "node:crypto";
import type { SealContext, Sealed } from "@codex-pooler/adapters";
import {
  type Clock,
  generatePoolKey,
  type IdPrefix,
  newId,
  parsePoolKey,
  parseUsagePayload,
  type RoutingStrategy,
} from "@codex-pooler/core";
import { createGatewayRepository, DatabaseError, type Db, type Tx, withTransaction } from "@codex-pooler/db";
import { readClaims, sendUpstream, type UpstreamAgent } from "@codex-pooler/upstream";
import { sql } from "kysely";
import { z } from "zod";

export interface Sealer {
  seal(plaintext: string, context: SealContext): Sealed;
}

export class ControlError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ControlError";
  }
}

export interface ControlContext {
  db: Db;
  clock?: Clock;
  /** Who acts, for the audit log. */
  actor: { type: "cli" | "operator" | "system"; id?: string };
}

const clockOf = (ctx: ControlContext): Clock => ctx.clock ?? { now: () => Date.now() };
const random = { bytes: (n: number) => randomBytes(n) };
const id = (ctx: ControlContext, prefix: IdPrefix) => newId(prefix, clockOf(ctx), random);

async function audit(
  tx: Tx,
  ctx: ControlContext,
  event: {
    action: string;
    targetType: string;
    targetId: string;
    poolId?: string | null;
    details?: Record<string, string | number | boolean | null>;
  },
): Promise<void> {
  await tx
    .insertInto("audit_events")
    .values({
      id: id(ctx, "aud"),
      actor_type: ctx.actor.type,
      actor_id: ctx.actor.id ?? null,
      action: event.action,
      target_type: event.targetType,
      target_id: event.targetId,
      pool_id: event.poolId ?? null,
      outcome: "success",
      details: JSON.stringify(event.details ?? {}),
    })
    .execute();
}

// ---------------------------------------------------------------- pools

export const poolInput = z.object({
  name: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      "must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ),
  routingStrategy: z
    .enum(["quota_first", "least_recently_used", "deterministic_rotation"])
    .default("quota_first"),
  ringSize: z.number().int().min(1).max(16).default(3),
  pinnedFailover: z.enum(["move", "refuse"]).default("move"),
  v1Enabled: z.boolean().default(true),
});

export interface PoolSummary {
  id: string;
  name: string;
  status: string;
  routingStrategy: RoutingStrategy;
  ringSize: number;
  pinnedFailover: "move" | "refuse";
  v1Enabled: boolean;
}

function invalid(error: z.ZodError): ControlError {
  const issue = error.issues[0];
  const field = issue?.path.join(".") || undefined;
  return new ControlError("invalid_input", `${field ?? "input"} ${issue?.message ?? "is invalid"}`, field);
}

export async function createPool(
  ctx: ControlContext,
  input: z.input<typeof poolInput>,
): Promise<PoolSummary> {
  const parsed = poolInput.safeParse(input);
  if (!parsed.success) throw invalid(parsed.error);
  const p = parsed.data;
  try {
    return await withTransaction(ctx.db, async (tx) => {
      const row = await tx
        .insertInto("pools")
        .values({
          id: id(ctx, "pool"),
          name: p.name,
          routing_strategy: p.routingStrategy,
          ring_size: p.ringSize,
          pinned_failover: p.pinnedFailover,
          v1_enabled: p.v1Enabled,
        })
        .returning(POOL_COLUMNS)
        .executeTakeFirstOrThrow();
      await audit(tx, ctx, {
        action: "pool.create",
        targetType: "pool",
        targetId: row.id,
        poolId: row.id,
        details: { name: row.name },
      });
      return toPoolSummary(row);
    });
  } catch (err) {
    if (err instanceof DatabaseError && err.code === "unique_violation") {
      throw new ControlError("pool_exists", `a pool named "${p.name}" already exists`, "name");
    }
    throw err;
  }
}

export async function findPool(db: Db, nameOrId: string): Promise<PoolSummary> {
  const row = await db
    .selectFrom("pools")
    .select(POOL_COLUMNS)
    .where((eb) =>
      eb.or([eb("id", "=", nameOrId), eb(sql<string>`lower(name)`, "=", nameOrId.toLowerCase())]),
    )
    .executeTakeFirst();
  if (!row) throw new ControlError("pool_not_found", `no pool named or with id "${nameOrId}"`, "pool");
  return toPoolSummary(row);
}

const POOL_COLUMNS = [
  "id",
  "name",
  "status",
  "routing_strategy",
  "ring_size",
  "pinned_failover",
  "v1_enabled",
] as const;

function toPoolSummary(row: {
  id: string;
  name: string;
  status: string;
  routing_strategy: RoutingStrategy;
  ring_size: number;
  pinned_failover: "move" | "refuse";
  v1_enabled: boolean;
}): PoolSummary {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    routingStrategy: row.routing_strategy,
    ringSize: row.ring_size,
    pinnedFailover: row.pinned_failover,
    v1Enabled: row.v1_enabled,
  };
}

// ---------------------------------------------------------------- accounts

/** `auth.json` as the Codex CLI writes it (spec §5.3); unknown keys are ignored. */
export const authJsonSchema = z.object({
  auth_mode: z.string().optional().nullable(),
  tokens: z.object({
    id_token: z.string().min(1).optional(),
    access_token: z.string().min(1, "is empty"),
    refresh_token: z.string().min(1, "is empty"),
    account_id: z.string().min(1).optional().nullable(),
  }),
  last_refresh: z.string().optional().nullable(),
});

export interface ImportedAccount {
  id: string;
  chatgptAccountId: string;
  email: string | null;
  planType: string | null;
  created: boolean;
  models: number;
  quotaKnown: boolean;
}

export interface ImportOptions {
  poolNameOrId: string;
  authJsonText: string;
  sealer: Sealer;
  label?: string;
  /** Where to fetch the account's model catalog and usage (best effort). */
  upstream?: { baseUrl: string; agent: UpstreamAgent };
  /**
   * Overwrite the tokens of an account the pool has already refreshed. Without
   * it such an import is refused: the file's refresh token was spent by that
   * refresh, and storing it would log the account out everywhere.
   */
  replace?: boolean;
}

/** Largest auth.json accepted (the real one is a few KB). */
export const MAX_AUTH_JSON_BYTES = 64 * 1024;

export async function importAccount(ctx: ControlContext, options: ImportOptions): Promise<ImportedAccount> {
  if (Buffer.byteLength(options.authJsonText) > MAX_AUTH_JSON_BYTES) {
    throw new ControlError("invalid_auth_json", "auth.json is larger than 64 KiB", "auth_json");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(options.authJsonText);
  } catch {
    throw new ControlError("invalid_auth_json", "auth.json is not valid JSON", "auth_json");
  }
  const parsed = authJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = `auth_json.${issue?.path.join(".")}`;
    throw new ControlError("invalid_auth_json", `${field} ${issue?.message ?? "is invalid"}`, field);
  }
  if (parsed.data.auth_mode && parsed.data.auth_mode !== "chatgpt") {
    throw new ControlError(
      "invalid_auth_json",
      "auth.json is not a ChatGPT login (auth_mode must be chatgpt)",
      "auth_json.auth_mode",
    );
  }
  const tokens = parsed.data.tokens;
  const claims = readClaims(tokens.access_token, tokens.id_token);
  const chatgptAccountId = tokens.account_id ?? claims.chatgptAccountId;
  if (!chatgptAccountId) {
    throw new ControlError(
      "invalid_auth_json",
      "auth.json names no ChatGPT account (tokens.account_id)",
      "auth_json.tokens.account_id",
    );
  }
  const pool = await findPool(ctx.db, options.poolNameOrId);
  const userId = claims.chatgptUserId ?? "";

  const result = await withTransaction(ctx.db, async (tx) => {
    const existing = await tx
      .selectFrom("upstream_accounts")
      .select(["id", "last_refresh_at", "credential_generation"])
      .where("chatgpt_account_id", "=", chatgptAccountId)
      .where("chatgpt_user_id", "=", userId)
      .forUpdate()
      .executeTakeFirst();
    const fileRefreshedAt = parsed.data.last_refresh ? safeDate(parsed.data.last_refresh) : null;
    const poolRefreshedSince =
      existing !== undefined &&
      existing.credential_generation > 1 &&
      existing.last_refresh_at !== null &&
      (fileRefreshedAt === null || existing.last_refresh_at > fileRefreshedAt);
    if (poolRefreshedSince && !options.replace) {
      throw new ControlError(
        "stale_auth_json",
        "this account is already in use by the gateway, which has refreshed its tokens since this auth.json was written " +
          "(its refresh token is spent); assign the existing account to the pool instead, or pass --replace after a new login",
        "auth_json",
      );
    }
    const accountId = existing?.id ?? id(ctx, "acct");
    const access = options.sealer.seal(tokens.access_token, {
      purpose: "upstream_account.access_token",
      rowId: accountId,
    });
    const refresh = options.sealer.seal(tokens.refresh_token, {
      purpose: "upstream_account.refresh_token",
      rowId: accountId,
    });
    if (access.keyVersion !== refresh.keyVersion) throw new Error("root key changed while sealing");
    const sealed = {
      access_token_ciphertext: access.ciphertext,
      access_token_nonce: access.nonce,
      refresh_token_ciphertext: refresh.ciphertext,
      refresh_token_nonce: refresh.nonce,
      secret_key_version: access.keyVersion,
      access_token_expires_at: claims.expiresAt ? new Date(claims.expiresAt) : null,
      last_refresh_at: parsed.data.last_refresh ? safeDate(parsed.data.last_refresh) : null,
    };
    const now = new Date(clockOf(ctx).now());
    if (existing) {
      await tx
        .updateTable("upstream_accounts")
        .set({
          ...sealed,
          email: claims.email ?? null,
          plan_type: claims.planType ?? null,
          status: "active",
          status_reason: "reimported",
          status_changed_at: now,
          credential_generation: sql<number>`credential_generation + 1`,
          updated_at: now,
          ...(options.label ? { label: options.label } : {}),
        })
        .where("id", "=", accountId)
        .execute();
    } else {
      await tx
        .insertInto("upstream_accounts")
        .values({
          id: accountId,
          chatgpt_account_id: chatgptAccountId,
          chatgpt_user_id: userId,
          email: claims.email ?? null,
          label: options.label ?? null,
          plan_type: claims.planType ?? null,
          ...sealed,
        })
        .execute();
    }
    await tx
      .insertInto("pool_assignments")
      .values({ pool_id: pool.id, account_id: accountId })
      .onConflict((oc) => oc.columns(["pool_id", "account_id"]).doUpdateSet({ status: "active" }))
      .execute();
    await audit(tx, ctx, {
      action: existing ? "upstream_account.reimport" : "upstream_account.import",
      targetType: "upstream_account",
      targetId: accountId,
      poolId: pool.id,
      details: { plan_type: claims.planType ?? null },
    });
    return { accountId, created: !existing };
  });

  let models = 0;
  let quotaKnown = false;
  if (options.upstream) {
    const probe = await probeAccount(options.upstream, tokens.access_token, chatgptAccountId);
    if (probe.models.length > 0) {
      await withTransaction(ctx.db, async (tx) => {
        await tx.deleteFrom("upstream_account_models").where("account_id", "=", result.accountId).execute();
        await tx
          .insertInto("upstream_account_models")
          .values(
            probe.models.map((m) => ({
              account_id: result.accountId,
              slug: m.slug,
              info: JSON.stringify(m.info),
            })),
          )
          .execute();
        await tx
          .updateTable("upstream_accounts")
          .set({ models_etag: probe.etag ?? null, models_fetched_at: new Date(clockOf(ctx).now()) })
          .where("id", "=", result.accountId)
          .execute();
      });
      models = probe.models.length;
    }
    const obs = probe.usage ? parseUsagePayload(probe.usage, clockOf(ctx).now()) : undefined;
    if (obs) {
      quotaKnown = true;
      await createGatewayRepository(ctx.db).saveQuota(result.accountId, obs);
    }
  }
  return {
    id: result.accountId,
    chatgptAccountId,
    email: claims.email ?? null,
    planType: claims.planType ?? null,
    created: result.created,
    models,
    quotaKnown,
  };
}

function safeDate(text: string): Date | null {
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? null : d;
}

interface Probe {
  models: Array<{ slug: string; info: Record<string, unknown> }>;
  etag: string | undefined;
  usage: unknown;
}

/** Reads the account's model catalog and usage from the upstream; failures leave them unknown. */
async function probeAccount(
  upstream: { baseUrl: string; agent: UpstreamAgent },
  accessToken: string,
  chatgptAccountId: string,
): Promise<Probe> {
  const headers = {
    authorization: `Bearer ${accessToken}`,
    "chatgpt-account-id": chatgptAccountId,
    originator: "codex_cli_rs",
    "user-agent": "codex_cli_rs/0.171.0",
    accept: "application/json",
  };
  const out: Probe = { models: [], etag: undefined, usage: undefined };
  const get = async (path: string) => {
    const res = await sendUpstream({
      baseUrl: upstream.baseUrl,
      path,
      method: "GET",
      headers,
      signal: AbortSignal.timeout(5000),
      agent: upstream.agent,
    });
    const text = await res.body.text();
    return { status: res.status, headers: res.headers, text };
  };
  try {
    const m = await get("/codex/models?client_version=0.171.0");
    if (m.status === 200) {
      const body = JSON.parse(m.text) as { models?: unknown };
      if (Array.isArray(body.models)) {
        for (const item of body.models) {
          if (item && typeof item === "object" && typeof (item as { slug?: unknown }).slug === "string") {
            out.models.push({ slug: (item as { slug: string }).slug, info: item as Record<string, unknown> });
          }
        }
      }
      out.etag = m.headers["etag"];
    }
  } catch {
    // Unknown catalog: the account then serves any model until the catalog job learns it.
  }
  try {
    const u = await get("/wham/usage");
    if (u.status === 200) out.usage = JSON.parse(u.text);
  } catch {
    // Unknown quota: routing treats it as full headroom until the first answer reports it.
  }
  return out;
}

// ---------------------------------------------------------------- keys

export interface CreatedKey {
  id: string;
  poolId: string;
  prefix: string;
  /** The raw key: shown once, never stored. */
  key: string;
}

export async function createKey(
  ctx: ControlContext,
  options: { poolNameOrId: string; name?: string },
): Promise<CreatedKey> {
  const pool = await findPool(ctx.db, options.poolNameOrId);
  const generated = generatePoolKey(random);
  const digest = createHash("sha256").update(generated.raw).digest();
  const keyId = id(ctx, "key");
  await withTransaction(ctx.db, async (tx) => {
    await tx
      .insertInto("api_keys")
      .values({ id: keyId, pool_id: pool.id, name: options.name ?? null, prefix: generated.prefix, digest })
      .execute();
    await audit(tx, ctx, {
      action: "api_key.create",
      targetType: "api_key",
      targetId: keyId,
      poolId: pool.id,
      details: { prefix: generated.prefix },
    });
  });
  return { id: keyId, poolId: pool.id, prefix: generated.prefix, key: generated.raw };
}

export async function setKeyStatus(
  ctx: ControlContext,
  prefixOrId: string,
  status: "active" | "paused" | "revoked",
): Promise<void> {
  // A whole key may be given: only its public prefix is used (and echoed).
  prefixOrId = parsePoolKey(prefixOrId)?.prefix ?? prefixOrId;
  await withTransaction(ctx.db, async (tx) => {
    const row = await tx
      .updateTable("api_keys")
      .set({ status, updated_at: new Date(), ...(status === "revoked" ? { revoked_at: new Date() } : {}) })
      .where((eb) => eb.or([eb("id", "=", prefixOrId), eb("prefix", "=", prefixOrId)]))
      .where("status", "!=", "revoked")
      .returning(["id", "pool_id"])
      .executeTakeFirst();
    if (!row) throw new ControlError("key_not_found", `no active or paused key "${prefixOrId}"`, "key");
    const action =
      status === "revoked" ? "api_key.revoke" : status === "paused" ? "api_key.pause" : "api_key.resume";
    await audit(tx, ctx, { action, targetType: "api_key", targetId: row.id, poolId: row.pool_id });
  });
}

// ---------------------------------------------------------------- status

export interface PoolStatus {
  pool: PoolSummary;
  keys: { active: number; total: number };
  accounts: Array<{
    id: string;
    label: string | null;
    email: string | null;
    planType: string | null;
    status: string;
    assignment: string;
    accessTokenExpiresAt: string | null;
    windows: Array<{
      limitId: string;
      kind: string;
      usedPercent: number;
      windowMinutes: number | null;
      resetAt: string | null;
      source: string;
    }>;
    models: number;
  }>;
}

export async function poolStatus(db: Db, poolNameOrId: string): Promise<PoolStatus> {
  const pool = await findPool(db, poolNameOrId);
  const [accounts, windows, models, keys] = await Promise.all([
    db
      .selectFrom("pool_assignments as pa")
      .innerJoin("upstream_accounts as a", "a.id", "pa.account_id")
      .select([
        "a.id",
        "a.label",
        "a.email",
        "a.plan_type",
        "a.status",
        "pa.status as assignment",
        "a.access_token_expires_at",
      ])
      .where("pa.pool_id", "=", pool.id)
      .orderBy("a.id")
      .execute(),
    db
      .selectFrom("quota_windows as q")
      .innerJoin("pool_assignments as pa", "pa.account_id", "q.account_id")
      .select([
        "q.account_id",
        "q.limit_id",
        "q.window_kind",
        "q.used_percent",
        "q.window_minutes",
        "q.reset_at",
        "q.source",
      ])
      .where("pa.pool_id", "=", pool.id)
      .execute(),
    db
      .selectFrom("upstream_account_models as m")
      .innerJoin("pool_assignments as pa", "pa.account_id", "m.account_id")
      .select(["m.account_id", db.fn.countAll<number>().as("n")])
      .where("pa.pool_id", "=", pool.id)
      .groupBy("m.account_id")
      .execute(),
    db.selectFrom("api_keys").select(["status"]).where("pool_id", "=", pool.id).execute(),
  ]);
  return {
    pool,
    keys: { active: keys.filter((k) => k.status === "active").length, total: keys.length },
    accounts: accounts.map((a) => ({
      id: a.id,
      label: a.label,
      email: a.email,
      planType: a.plan_type,
      status: a.status,
      assignment: a.assignment,
      accessTokenExpiresAt: a.access_token_expires_at?.toISOString() ?? null,
      windows: windows
        .filter((w) => w.account_id === a.id)
        .map((w) => ({
          limitId: w.limit_id,
          kind: w.window_kind,
          usedPercent: w.used_percent,
          windowMinutes: w.window_minutes,
          resetAt: w.reset_at?.toISOString() ?? null,
          source: w.source,
        })),
      models: Number(models.find((m) => m.account_id === a.id)?.n ?? 0),
    })),
  };
}
