/** One rate-limit window of an account, counted in tokens. */
export interface QuotaWindow {
  windowSeconds: number;
  capacity: number;
  used: number;
  /** Unix seconds at which `used` drops back to 0. */
  resetAt: number;
}

/** How a test describes a window; percent wins over tokens when both are given. */
export interface WindowSpec {
  windowMinutes?: number;
  capacityTokens?: number;
  usedTokens?: number;
  usedPercent?: number;
  resetAt?: number;
  resetInSeconds?: number;
}

export interface Credits {
  hasCredits: boolean;
  unlimited: boolean;
  balance: string;
}

export function makeWindow(spec: WindowSpec, defaults: { minutes: number; capacity: number }, now: number) {
  const windowSeconds = Math.round((spec.windowMinutes ?? defaults.minutes) * 60);
  const capacity = Math.max(1, spec.capacityTokens ?? defaults.capacity);
  const w: QuotaWindow = { windowSeconds, capacity, used: 0, resetAt: now + windowSeconds };
  applyWindowSpec(w, spec, now);
  return w;
}

export function applyWindowSpec(w: QuotaWindow, spec: WindowSpec, now: number): void {
  if (spec.windowMinutes !== undefined) w.windowSeconds = Math.round(spec.windowMinutes * 60);
  if (spec.capacityTokens !== undefined) w.capacity = Math.max(1, spec.capacityTokens);
  if (spec.usedTokens !== undefined) w.used = Math.max(0, spec.usedTokens);
  if (spec.usedPercent !== undefined) w.used = Math.max(0, (spec.usedPercent / 100) * w.capacity);
  if (spec.resetAt !== undefined) w.resetAt = spec.resetAt;
  if (spec.resetInSeconds !== undefined) w.resetAt = now + spec.resetInSeconds;
}

/** Rolls the window over when its reset time has passed; the next window starts at the old reset time. */
export function rollWindow(w: QuotaWindow, now: number): void {
  if (now < w.resetAt) return;
  const periods = Math.floor((now - w.resetAt) / w.windowSeconds) + 1;
  w.resetAt += periods * w.windowSeconds;
  w.used = 0;
}

export function usedPercent(w: QuotaWindow): number {
  return Math.min(100, (w.used / w.capacity) * 100);
}

export function isExhausted(w: QuotaWindow | null): boolean {
  return w !== null && w.used >= w.capacity;
}

/** Header values are short decimals like the upstream's ("42.5", "100"). */
export function formatPercent(p: number): string {
  return String(Math.round(p * 10) / 10);
}

function windowHeaders(out: string[], name: string, w: QuotaWindow | null, now: number): void {
  if (w === null) {
    out.push(`x-codex-${name}-used-percent`, "0", `x-codex-${name}-window-minutes`, "0");
    return;
  }
  out.push(
    `x-codex-${name}-used-percent`,
    formatPercent(usedPercent(w)),
    `x-codex-${name}-window-minutes`,
    String(Math.ceil(w.windowSeconds / 60)),
    `x-codex-${name}-reset-at`,
    String(w.resetAt),
    `x-codex-${name}-reset-after-seconds`,
    String(Math.max(0, w.resetAt - now)),
  );
}

const pyBool = (b: boolean) => (b ? "True" : "False");

/**
 * The `x-codex-*` family of spec §4.1 as a flat [name, value, name, value, …] list (cheap to write to uWS).
 */
export function rateLimitHeaders(
  plan: string,
  primary: QuotaWindow | null,
  secondary: QuotaWindow | null,
  credits: Credits,
  now: number,
): string[] {
  const out: string[] = [];
  windowHeaders(out, "primary", primary, now);
  windowHeaders(out, "secondary", secondary, now);
  out.push(
    "x-codex-primary-over-secondary-limit-percent",
    "0",
    "x-codex-active-limit",
    "codex",
    "x-codex-plan-type",
    plan,
    "x-codex-credits-has-credits",
    pyBool(credits.hasCredits),
    "x-codex-credits-unlimited",
    pyBool(credits.unlimited),
    "x-codex-credits-balance",
    credits.balance,
  );
  return out;
}

function eventWindow(w: QuotaWindow | null) {
  if (w === null) return null;
  return {
    used_percent: Math.round(usedPercent(w) * 10) / 10,
    window_minutes: Math.ceil(w.windowSeconds / 60),
    reset_at: w.resetAt,
  };
}

/** The `codex.rate_limits` frame of spec §4.2. */
export function rateLimitsEvent(
  plan: string,
  primary: QuotaWindow | null,
  secondary: QuotaWindow | null,
  credits: Credits,
): string {
  return JSON.stringify({
    type: "codex.rate_limits",
    plan_type: plan,
    rate_limits: { primary: eventWindow(primary), secondary: eventWindow(secondary) },
    credits: { has_credits: credits.hasCredits, unlimited: credits.unlimited, balance: credits.balance },
    metered_limit_name: "codex",
  });
}

function usageWindow(w: QuotaWindow | null, now: number) {
  if (w === null) return null;
  return {
    used_percent: Math.round(usedPercent(w)),
    limit_window_seconds: w.windowSeconds,
    reset_after_seconds: Math.max(0, w.resetAt - now),
    reset_at: w.resetAt,
  };
}

export interface AdditionalLimit {
  limitName: string;
  meteredFeature: string;
  primary: QuotaWindow | null;
  secondary: QuotaWindow | null;
}

/** `GET /backend-api/wham/usage` body (spec §4.3), computed from the same state as the headers. */
export function usagePayload(
  plan: string,
  primary: QuotaWindow | null,
  secondary: QuotaWindow | null,
  credits: Credits,
  additional: AdditionalLimit[],
  now: number,
): Record<string, unknown> {
  const limitReached = isExhausted(primary) || isExhausted(secondary);
  return {
    plan_type: plan,
    rate_limit: {
      allowed: !limitReached,
      limit_reached: limitReached,
      primary_window: usageWindow(primary, now),
      secondary_window: usageWindow(secondary, now),
    },
    code_review_rate_limit: null,
    additional_rate_limits: additional.map((a) => ({
      limit_name: a.limitName,
      metered_feature: a.meteredFeature,
      rate_limit: {
        allowed: !(isExhausted(a.primary) || isExhausted(a.secondary)),
        limit_reached: isExhausted(a.primary) || isExhausted(a.secondary),
        primary_window: usageWindow(a.primary, now),
        secondary_window: usageWindow(a.secondary, now),
      },
    })),
    credits: { has_credits: credits.hasCredits, unlimited: credits.unlimited, balance: credits.balance },
    rate_limit_reached_type: limitReached ? { type: "rate_limit_reached" } : null,
  };
}
