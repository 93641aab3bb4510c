/**
 * Account selection: hard eligibility first (state, assignment, model,
 * quota, circuit), then the pool's strategy orders what is left, and the
 * ring size bounds how many candidates one request may try. Pure: the
 * caller passes the accounts' current view and the time.
 */
import { type QuotaWindow, quotaState } from "./quota.ts";

export type RoutingStrategy = "quota_first" | "least_recently_used" | "deterministic_rotation";
export type AccountStatus =
  | "active"
  | "paused"
  | "refresh_failed"
  | "reauth_required"
  | "disabled"
  | "deleted";

export interface AccountView {
  id: string;
  status: AccountStatus;
  /** Assignment to this pool is active. */
  assigned: boolean;
  /** Models the account reported; null when its catalog is unknown (then any model is allowed). */
  models: ReadonlySet<string> | null;
  quota: readonly QuotaWindow[];
  /** The circuit is open until this time (epoch ms); 0 when closed. */
  circuitOpenUntil: number;
  /** Last time a request was sent to it (epoch ms), 0 if never. */
  lastUsedAt: number;
}

export type Rejection =
  | "not_active"
  | "not_assigned"
  | "reauth_required"
  | "model_unsupported"
  | "quota_exhausted"
  | "circuit_open"
  | "excluded";

export interface SelectionInput {
  accounts: readonly AccountView[];
  model: string | undefined;
  now: number;
  strategy: RoutingStrategy;
  ringSize: number;
  /** Stable per-request seed for deterministic rotation (e.g. a hash of the thread id). */
  seed: number;
  /** Accounts already tried by this request. */
  exclude?: ReadonlySet<string>;
}

export interface Selection {
  /** Ordered candidates to try, at most ringSize. */
  candidates: AccountView[];
  rejected: Array<{ accountId: string; reason: Rejection }>;
  /** When no account is eligible and some are exhausted: the earliest of their resets (epoch ms). */
  earliestReset: number | undefined;
}

/** Why `account` cannot serve `model` now, or undefined when it can. */
export function ineligibility(
  account: AccountView,
  model: string | undefined,
  now: number,
  exclude?: ReadonlySet<string>,
): Rejection | undefined {
  if (exclude?.has(account.id)) return "excluded";
  if (!account.assigned) return "not_assigned";
  if (account.status === "reauth_required") return "reauth_required";
  if (account.status !== "active") return "not_active";
  if (model !== undefined && account.models !== null && !account.models.has(model))
    return "model_unsupported";
  if (!quotaState(account.quota, now).usable) return "quota_exhausted";
  if (account.circuitOpenUntil > now) return "circuit_open";
  return undefined;
}

/** 32-bit FNV-1a: a cheap stable hash for rotation seeds (not for security). */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function byId(a: AccountView, b: AccountView): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function orderByStrategy(
  eligible: AccountView[],
  strategy: RoutingStrategy,
  now: number,
  seed: number,
): AccountView[] {
  const list = [...eligible].sort(byId);
  switch (strategy) {
    case "quota_first": {
      // Most headroom first; among equals, the least recently used, so load spreads.
      const headroom = new Map(list.map((a) => [a.id, quotaState(a.quota, now).headroom]));
      return list.sort(
        (a, b) => headroom.get(b.id)! - headroom.get(a.id)! || a.lastUsedAt - b.lastUsedAt || byId(a, b),
      );
    }
    case "least_recently_used":
      return list.sort((a, b) => a.lastUsedAt - b.lastUsedAt || byId(a, b));
    case "deterministic_rotation": {
      if (list.length === 0) return list;
      const start = seed % list.length;
      return [...list.slice(start), ...list.slice(0, start)];
    }
  }
}

/**
 * Example: three active accounts, one exhausted → two candidates ordered by
 * the strategy; all exhausted → no candidates and `earliestReset` set.
 */
export function selectCandidates(input: SelectionInput): Selection {
  const eligible: AccountView[] = [];
  const rejected: Selection["rejected"] = [];
  let earliestReset: number | undefined;
  for (const account of input.accounts) {
    const reason = ineligibility(account, input.model, input.now, input.exclude);
    if (reason === undefined) {
      eligible.push(account);
      continue;
    }
    rejected.push({ accountId: account.id, reason });
    if (reason === "quota_exhausted") {
      const until = quotaState(account.quota, input.now).exhaustedUntil;
      if (until !== undefined && Number.isFinite(until)) {
        earliestReset = earliestReset === undefined ? until : Math.min(earliestReset, until);
      }
    }
  }
  const candidates = orderByStrategy(eligible, input.strategy, input.now, input.seed).slice(
    0,
    Math.max(1, input.ringSize),
  );
  // Only meaningful when nobody is eligible: then the client learns when to come back.
  return { candidates, rejected, earliestReset: candidates.length === 0 ? earliestReset : undefined };
}
