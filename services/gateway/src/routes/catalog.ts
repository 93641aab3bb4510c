/**
 * GET /backend-api/codex/models — the pool's catalog in the Codex shape,
 * with a deterministic ETag (a hash of the catalog), answering 304 to a
 * matching If-None-Match. And the usage routes — the pool's quota evidence
 * folded into the Codex `/wham/usage` shape.
 */
import { createHash } from "node:crypto";
import { type Clock, PRIMARY_LIMIT_ID, type QuotaWindow, quotaState } from "@codex-pooler/core";
import { authorizePoolRequest, type KeyAuthenticator } from "../auth/keys.ts";
import type { Registry } from "../state/registry.ts";
import type { IncomingRequest, ResponseStream } from "../uws/http.ts";

export interface CatalogDeps {
  keys: KeyAuthenticator;
  registry: Registry;
  clock: Clock;
  newId: (prefix: "req") => string;
}

export function modelsEtag(models: readonly unknown[]): string {
  return `W/"${createHash("sha256").update(JSON.stringify(models)).digest("base64url").slice(0, 27)}"`;
}

export function poolModels(registry: Registry, poolId: string): Array<Record<string, unknown>> {
  return [...registry.catalog(poolId).entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([slug, info]) => ({ ...info, slug }));
}

function authorisedPool(deps: CatalogDeps, req: IncomingRequest) {
  return authorizePoolRequest(deps.keys, deps.registry, req.headers["authorization"]);
}

export function createModelsHandler(deps: CatalogDeps) {
  return async (req: IncomingRequest, res: ResponseStream): Promise<void> => {
    const { pool } = await authorisedPool(deps, req);
    const models = poolModels(deps.registry, pool.row.id);
    const etag = modelsEtag(models);
    const requestId = deps.newId("req");
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, [
        ["etag", etag],
        ["x-request-id", requestId],
      ]);
      res.end();
      return;
    }
    res.json(200, { models }, [
      ["etag", etag],
      ["x-models-etag", etag],
      ["x-request-id", requestId],
    ]);
  };
}

interface WindowOut {
  used_percent: number;
  limit_window_seconds: number | null;
  reset_after_seconds: number | null;
  reset_at: number | null;
}

/**
 * Pool-level view of one window kind: the usable capacity left across the
 * pool's active accounts. used_percent is the mean over accounts (an
 * exhausted account counts 100 %); reset is the earliest future reset.
 */
function foldWindows(
  windows: ReadonlyArray<readonly QuotaWindow[]>,
  kind: "primary" | "secondary",
  now: number,
): WindowOut | null {
  const picked = windows
    .map((ws) => ws.find((w) => w.limitId === PRIMARY_LIMIT_ID && w.kind === kind))
    .filter((w): w is QuotaWindow => w !== undefined && (w.resetAt === null || w.resetAt > now));
  if (picked.length === 0) return null;
  const accounts = windows.length;
  // Accounts without evidence for this window count as unused.
  const used = picked.reduce((sum, w) => sum + w.usedPercent, 0) / accounts;
  const resets = picked.map((w) => w.resetAt).filter((r): r is number => r !== null);
  const resetAt = resets.length > 0 ? Math.min(...resets) : null;
  const minutes = picked.find((w) => w.windowMinutes !== null)?.windowMinutes ?? null;
  return {
    used_percent: Math.round(used),
    limit_window_seconds: minutes === null ? null : minutes * 60,
    reset_after_seconds: resetAt === null ? null : Math.max(0, Math.ceil((resetAt - now) / 1000)),
    reset_at: resetAt === null ? null : Math.ceil(resetAt / 1000),
  };
}

export function poolUsage(registry: Registry, poolId: string, now: number): Record<string, unknown> {
  const pool = registry.pool(poolId);
  const accounts = (pool?.accountIds ?? [])
    .map((id) => registry.account(id))
    .filter((a) => a !== undefined && a.row.status === "active");
  const windows = accounts.map((a) => registry.quotaWindows(a!.row.id));
  const anyUsable = windows.some((ws) => quotaState(ws, now).usable);
  const plans = new Set(accounts.map((a) => a!.planType).filter((p): p is string => !!p));
  return {
    plan_type: plans.size === 1 ? [...plans][0] : plans.size > 1 ? "team" : null,
    rate_limit: {
      allowed: anyUsable,
      limit_reached: accounts.length > 0 && !anyUsable,
      primary_window: foldWindows(windows, "primary", now),
      secondary_window: foldWindows(windows, "secondary", now),
    },
    additional_rate_limits: [],
    credits: { has_credits: false, unlimited: false, balance: "0" },
  };
}

export function createUsageHandler(deps: CatalogDeps) {
  return async (req: IncomingRequest, res: ResponseStream): Promise<void> => {
    const { pool } = await authorisedPool(deps, req);
    res.json(200, poolUsage(deps.registry, pool.row.id, deps.clock.now()), [
      ["x-request-id", deps.newId("req")],
    ]);
  };
}
