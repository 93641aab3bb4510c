import { randomBytes } from "node:crypto";
import { accessTokenClaims, idTokenClaims, signJwt, type TokenSubject } from "./jwt.ts";
import {
  type AdditionalLimit,
  applyWindowSpec,
  type Credits,
  isExhausted,
  makeWindow,
  type QuotaWindow,
  rollWindow,
  type WindowSpec,
} from "./quota.ts";

export const DEFAULT_MODELS = ["gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex"];

export interface AdditionalLimitSpec {
  limitName: string;
  meteredFeature?: string;
  primary?: WindowSpec | null;
  secondary?: WindowSpec | null;
}

/** How a test describes one simulated ChatGPT account. Every field has a default. */
export interface AccountSpec {
  id?: string;
  email?: string;
  userId?: string;
  plan?: string;
  /** 5 h window by default; `null` = the account has no primary window. */
  primary?: WindowSpec | null;
  /** Weekly window by default; `null` = none. */
  secondary?: WindowSpec | null;
  credits?: Partial<Credits>;
  additionalLimits?: AdditionalLimitSpec[];
  /** Max concurrent responses; 0 = unlimited (default). */
  concurrencyCap?: number;
  models?: string[];
  accessTokenTtlSeconds?: number;
}

export type AccountStatus = "active" | "deactivated";

export interface TokenRecord {
  account: SimAccount;
  exp: number;
  /** Forced expiry (control API) regardless of `exp`. */
  expired: boolean;
  invalidated: boolean;
}

export type RefreshState = "current" | "spent" | "revoked" | "expired";

export interface RefreshRecord {
  account: SimAccount;
  state: RefreshState;
  /** All refresh tokens of one login chain share a family; reuse revokes the family. */
  family: number;
}

/** The mutable state of one simulated account. */
export class SimAccount {
  readonly id: string;
  readonly email: string;
  readonly userId: string;
  plan: string;
  status: AccountStatus = "active";
  primary: QuotaWindow | null;
  secondary: QuotaWindow | null;
  credits: Credits;
  additional: AdditionalLimit[];
  concurrencyCap: number;
  active = 0;
  models: string[];
  accessTokenTtlSeconds: number;
  accessToken = "";
  accessTokenExp = 0;
  idToken = "";
  refreshToken = "";
  lastRefresh = "";
  refreshCount = 0;
  authFile: string | undefined;
  /** prompt_cache_key → input tokens of the last request, for cached-token accounting. */
  readonly promptCache = new Map<string, number>();
  modelsEtag = "";
  modelsBody = "";

  constructor(spec: AccountSpec, index: number, now: number, defaultTtl: number) {
    const n = String(index + 1).padStart(4, "0");
    this.id = spec.id ?? `acct-sim-${n}`;
    this.email = spec.email ?? `sim-${n}@example.com`;
    this.userId = spec.userId ?? `user-sim-${n}`;
    this.plan = spec.plan ?? "plus";
    this.primary =
      spec.primary === null
        ? null
        : makeWindow(spec.primary ?? {}, { minutes: 300, capacity: 5_000_000 }, now);
    this.secondary =
      spec.secondary === null
        ? null
        : makeWindow(spec.secondary ?? {}, { minutes: 10080, capacity: 50_000_000 }, now);
    this.credits = { hasCredits: false, unlimited: false, balance: "0", ...spec.credits };
    this.additional = (spec.additionalLimits ?? []).map((a) => ({
      limitName: a.limitName,
      meteredFeature: a.meteredFeature ?? a.limitName,
      primary:
        a.primary === null ? null : makeWindow(a.primary ?? {}, { minutes: 300, capacity: 5_000_000 }, now),
      secondary: a.secondary ? makeWindow(a.secondary, { minutes: 10080, capacity: 50_000_000 }, now) : null,
    }));
    this.concurrencyCap = spec.concurrencyCap ?? 0;
    this.models = spec.models ?? DEFAULT_MODELS;
    this.accessTokenTtlSeconds = spec.accessTokenTtlSeconds ?? defaultTtl;
  }

  get subject(): TokenSubject {
    return { accountId: this.id, userId: this.userId, email: this.email, plan: this.plan };
  }

  roll(now: number): void {
    if (this.primary) rollWindow(this.primary, now);
    if (this.secondary) rollWindow(this.secondary, now);
    for (const a of this.additional) {
      if (a.primary) rollWindow(a.primary, now);
      if (a.secondary) rollWindow(a.secondary, now);
    }
  }

  /** Unix time when the account can serve again, or undefined when it is not exhausted. */
  exhaustedUntil(): number | undefined {
    let until: number | undefined;
    for (const w of [this.primary, this.secondary]) {
      if (w && isExhausted(w)) until = Math.max(until ?? 0, w.resetAt);
    }
    return until;
  }

  consume(tokens: number): void {
    if (tokens <= 0) return;
    if (this.primary) this.primary.used += tokens;
    if (this.secondary) this.secondary.used += tokens;
  }

  applyQuota(patch: QuotaPatch, now: number): void {
    this.roll(now);
    for (const key of ["primary", "secondary"] as const) {
      const spec = patch[key];
      if (spec === undefined) continue;
      if (spec === null) this[key] = null;
      else if (this[key] === null)
        this[key] = makeWindow(spec, { minutes: key === "primary" ? 300 : 10080, capacity: 5_000_000 }, now);
      else applyWindowSpec(this[key], spec, now);
    }
    if (patch.credits) this.credits = { ...this.credits, ...patch.credits };
    if (patch.plan) this.plan = patch.plan;
  }
}

export interface QuotaPatch {
  primary?: WindowSpec | null;
  secondary?: WindowSpec | null;
  credits?: Partial<Credits>;
  plan?: string;
}

/** Every token the simulator minted, by value, so a bearer is resolved with one map lookup. */
export class TokenStore {
  readonly access = new Map<string, TokenRecord>();
  readonly refresh = new Map<string, RefreshRecord>();
  readonly #secret: string;
  #jti = 0;
  #family = 0;

  constructor(secret: string) {
    this.#secret = secret;
  }

  /** Mints a fresh access + id token for the account (`exp` may lie in the past to hand out stale tokens). */
  mintAccess(account: SimAccount, now: number, exp = now + account.accessTokenTtlSeconds): void {
    this.#jti += 1;
    const jti = `${randomBytes(6).toString("hex")}-${this.#jti}`;
    account.accessToken = signJwt(accessTokenClaims(account.subject, now, exp, jti), this.#secret);
    account.accessTokenExp = exp;
    account.idToken = signJwt(idTokenClaims(account.subject, now, now + 3600), this.#secret);
    this.access.set(account.accessToken, { account, exp, expired: false, invalidated: false });
  }

  /** Mints a refresh token; without `family` it starts a new login chain. */
  mintRefresh(account: SimAccount, family?: number): string {
    const token = `rt_sim_${randomBytes(24).toString("base64url")}`;
    const fam = family ?? ++this.#family;
    this.refresh.set(token, { account, state: "current", family: fam });
    account.refreshToken = token;
    return token;
  }

  /** Revokes the live refresh token of a login chain (spent ones keep answering `refresh_token_reused`). */
  revokeFamily(family: number): void {
    for (const rec of this.refresh.values())
      if (rec.family === family && rec.state === "current") rec.state = "revoked";
  }

  setRefreshState(account: SimAccount, state: RefreshState): void {
    for (const rec of this.refresh.values())
      if (rec.account === account && rec.state === "current") rec.state = state;
  }
}
