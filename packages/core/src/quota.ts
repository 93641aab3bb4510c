/**
 * Quota evidence: what the upstream told us about an account's 5-hour
 * (primary) and weekly (secondary) windows, from response headers
 * (`x-codex-primary-used-percent` …), `codex.rate_limits` stream events,
 * 429 `usage_limit_reached` bodies and the usage endpoint — and what that
 * means for routing.
 */

export type WindowKind = "primary" | "secondary";
export type QuotaSource = "headers" | "event" | "error" | "usage_endpoint" | "import";

export interface QuotaWindow {
  /** Limit family: `codex` for the account-wide limit, else e.g. `codex_bengalfox`. */
  limitId: string;
  kind: WindowKind;
  usedPercent: number;
  windowMinutes: number | null;
  /** Epoch milliseconds, or null when unknown. */
  resetAt: number | null;
}

export interface QuotaObservation {
  windows: QuotaWindow[];
  planType?: string | undefined;
  source: QuotaSource;
  observedAt: number;
}

/** The account-wide family; other families only bind the models they name. */
export const PRIMARY_LIMIT_ID = "codex";

type HeaderGetter = (name: string) => string | undefined;

function num(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === "") return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function windowFromHeaders(
  get: HeaderGetter,
  prefix: string,
  limitId: string,
  kind: WindowKind,
  now: number,
) {
  const used = num(get(`${prefix}-${kind}-used-percent`));
  if (used === undefined) return undefined;
  const minutes = num(get(`${prefix}-${kind}-window-minutes`));
  const resetAtSec = num(get(`${prefix}-${kind}-reset-at`));
  const resetAfter = num(get(`${prefix}-${kind}-reset-after-seconds`));
  // Same presence rule as the Codex client: a window of zeros with no reset is absent.
  if (used === 0 && (minutes ?? 0) === 0 && resetAtSec === undefined && resetAfter === undefined)
    return undefined;
  let resetAt: number | null = null;
  if (resetAtSec !== undefined) resetAt = resetAtSec * 1000;
  else if (resetAfter !== undefined) resetAt = now + resetAfter * 1000;
  return {
    limitId,
    kind,
    usedPercent: Math.max(0, Math.min(100, used)),
    windowMinutes: minutes ?? null,
    resetAt,
  } satisfies QuotaWindow;
}

const FAMILY_HEADER = /^x-([a-z0-9-]+)-(primary|secondary)-used-percent$/;

/**
 * Parses the `x-codex-*` family and extra `x-<limit>-*` families.
 * Example: `{ "x-codex-primary-used-percent": "42", "x-codex-primary-window-minutes": "300",
 * "x-codex-primary-reset-at": "1796320000" }` → one primary window of limit `codex`.
 */
export function parseQuotaHeaders(
  get: HeaderGetter,
  names: Iterable<string>,
  now: number,
): QuotaObservation | undefined {
  const prefixes = new Set<string>();
  for (const name of names) {
    const m = FAMILY_HEADER.exec(name);
    if (m) prefixes.add(m[1]!);
  }
  if (prefixes.size === 0) return undefined;
  const windows: QuotaWindow[] = [];
  for (const family of prefixes) {
    const prefix = `x-${family}`;
    const limitName = get(`${prefix}-limit-name`);
    const limitId = family === "codex" ? PRIMARY_LIMIT_ID : (limitName ?? family).replace(/-/g, "_");
    for (const kind of ["primary", "secondary"] as const) {
      const w = windowFromHeaders(get, prefix, limitId, kind, now);
      if (w) windows.push(w);
    }
  }
  if (windows.length === 0) return undefined;
  return { windows, planType: get("x-codex-plan-type") || undefined, source: "headers", observedAt: now };
}

function windowFromObject(
  raw: unknown,
  limitId: string,
  kind: WindowKind,
  now: number,
): QuotaWindow | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const o = raw as Record<string, unknown>;
  const used = typeof o["used_percent"] === "number" ? o["used_percent"] : undefined;
  if (used === undefined) return undefined;
  const minutes =
    typeof o["window_minutes"] === "number"
      ? o["window_minutes"]
      : typeof o["limit_window_seconds"] === "number"
        ? Math.ceil(o["limit_window_seconds"] / 60)
        : null;
  let resetAt: number | null = null;
  if (typeof o["reset_at"] === "number") resetAt = o["reset_at"] * 1000;
  else if (typeof o["reset_after_seconds"] === "number") resetAt = now + o["reset_after_seconds"] * 1000;
  return { limitId, kind, usedPercent: Math.max(0, Math.min(100, used)), windowMinutes: minutes, resetAt };
}

/** Parses a `codex.rate_limits` event (SSE or websocket frame). */
export function parseRateLimitEvent(event: unknown, now: number): QuotaObservation | undefined {
  if (!event || typeof event !== "object") return undefined;
  const e = event as Record<string, unknown>;
  const limits = e["rate_limits"] as Record<string, unknown> | undefined;
  if (!limits || typeof limits !== "object") return undefined;
  const name = typeof e["metered_limit_name"] === "string" ? e["metered_limit_name"] : PRIMARY_LIMIT_ID;
  const limitId = name.replace(/-/g, "_");
  const windows = (["primary", "secondary"] as const)
    .map((k) => windowFromObject(limits[k], limitId, k, now))
    .filter((w): w is QuotaWindow => w !== undefined);
  if (windows.length === 0) return undefined;
  const planType = typeof e["plan_type"] === "string" ? e["plan_type"] : undefined;
  return { windows, planType, source: "event", observedAt: now };
}

/** Parses the usage endpoint's JSON (`/backend-api/wham/usage`). */
export function parseUsagePayload(payload: unknown, now: number): QuotaObservation | undefined {
  if (!payload || typeof payload !== "object") return undefined;
  const p = payload as Record<string, unknown>;
  const rl = p["rate_limit"] as Record<string, unknown> | undefined;
  const windows: QuotaWindow[] = [];
  if (rl && typeof rl === "object") {
    const pw = windowFromObject(rl["primary_window"], PRIMARY_LIMIT_ID, "primary", now);
    const sw = windowFromObject(rl["secondary_window"], PRIMARY_LIMIT_ID, "secondary", now);
    if (pw) windows.push(pw);
    if (sw) windows.push(sw);
  }
  const extra = p["additional_rate_limits"];
  if (Array.isArray(extra)) {
    for (const item of extra) {
      if (!item || typeof item !== "object") continue;
      const it = item as Record<string, unknown>;
      const id = String(it["limit_name"] ?? it["metered_feature"] ?? "").replace(/-/g, "_");
      const r = it["rate_limit"] as Record<string, unknown> | undefined;
      if (!id || !r) continue;
      const pw = windowFromObject(r["primary_window"], id, "primary", now);
      const sw = windowFromObject(r["secondary_window"], id, "secondary", now);
      if (pw) windows.push(pw);
      if (sw) windows.push(sw);
    }
  }
  if (windows.length === 0) return undefined;
  return {
    windows,
    planType: typeof p["plan_type"] === "string" ? p["plan_type"] : undefined,
    source: "usage_endpoint",
    observedAt: now,
  };
}

export interface UsageLimitError {
  resetAt: number | null;
  planType: string | undefined;
}

/**
 * Reads a 429 body. `usage_limit_reached` (or `usage_not_included`) means the
 * account is exhausted until `resets_at`; plain `rate_limit_exceeded` is
 * transient and returns undefined.
 */
export function parseUsageLimitBody(body: unknown, now: number): UsageLimitError | undefined {
  if (!body || typeof body !== "object") return undefined;
  const err = (body as Record<string, unknown>)["error"];
  if (!err || typeof err !== "object") return undefined;
  const e = err as Record<string, unknown>;
  const kind = e["type"] ?? e["code"];
  if (kind !== "usage_limit_reached") return undefined;
  let resetAt: number | null = null;
  if (typeof e["resets_at"] === "number") resetAt = e["resets_at"] * 1000;
  else if (typeof e["resets_in_seconds"] === "number") resetAt = now + e["resets_in_seconds"] * 1000;
  return { resetAt, planType: typeof e["plan_type"] === "string" ? e["plan_type"] : undefined };
}

/** The windows an exhaustion error implies: the primary window at 100 % until the reset. */
export function exhaustionWindows(err: UsageLimitError, now: number): QuotaObservation {
  return {
    windows: [
      {
        limitId: PRIMARY_LIMIT_ID,
        kind: "primary",
        usedPercent: 100,
        windowMinutes: null,
        // Without a reset time, assume the shortest window: back in 5 minutes to probe.
        resetAt: err.resetAt ?? now + 5 * 60_000,
      },
    ],
    planType: err.planType,
    source: "error",
    observedAt: now,
  };
}

export interface QuotaState {
  /** False while a binding window is at 100 % and its reset lies ahead. */
  usable: boolean;
  /** When the account becomes usable again (epoch ms), if it is not now. */
  exhaustedUntil: number | undefined;
  /** 0..1, the smallest headroom over the binding windows (1 with no evidence). */
  headroom: number;
}

/**
 * Folds the account-wide windows into a routing decision. A window whose
 * reset has passed no longer counts (the upstream rolled it over).
 */
export function quotaState(windows: readonly QuotaWindow[], now: number): QuotaState {
  let headroom = 1;
  let exhaustedUntil: number | undefined;
  for (const w of windows) {
    if (w.limitId !== PRIMARY_LIMIT_ID) continue;
    if (w.resetAt !== null && w.resetAt <= now) continue;
    headroom = Math.min(headroom, Math.max(0, (100 - w.usedPercent) / 100));
    if (w.usedPercent >= 100) {
      const until = w.resetAt ?? Number.POSITIVE_INFINITY;
      exhaustedUntil = exhaustedUntil === undefined ? until : Math.max(exhaustedUntil, until);
    }
  }
  return { usable: exhaustedUntil === undefined, exhaustedUntil, headroom };
}

/** Merges a new observation into known windows (newer evidence replaces the same limit+kind). */
export function mergeWindows(known: readonly QuotaWindow[], incoming: readonly QuotaWindow[]): QuotaWindow[] {
  const out = new Map<string, QuotaWindow>();
  for (const w of known) out.set(`${w.limitId}/${w.kind}`, w);
  for (const w of incoming) out.set(`${w.limitId}/${w.kind}`, w);
  return [...out.values()];
}
