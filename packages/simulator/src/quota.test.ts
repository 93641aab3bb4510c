import { describe, expect, it } from "vitest";
import { makeWindow, rateLimitHeaders, rollWindow, usagePayload, usedPercent } from "./quota.ts";

describe("quota windows", () => {
  it("rolls over at reset and starts the next window at the old reset time", () => {
    const w = makeWindow({ capacityTokens: 1000, usedTokens: 900 }, { minutes: 300, capacity: 1 }, 1000);
    expect(w.resetAt).toBe(1000 + 18000);
    rollWindow(w, 1000 + 17999);
    expect(w.used).toBe(900);
    rollWindow(w, 1000 + 18000 * 2 + 5);
    expect(w.used).toBe(0);
    expect(w.resetAt).toBe(1000 + 18000 * 3);
  });

  it("reports the same state in headers and in the usage payload", () => {
    const now = 5000;
    const primary = makeWindow({ capacityTokens: 1000, usedPercent: 42 }, { minutes: 300, capacity: 1 }, now);
    const secondary = makeWindow(
      { capacityTokens: 10000, usedPercent: 12 },
      { minutes: 10080, capacity: 1 },
      now,
    );
    const credits = { hasCredits: true, unlimited: false, balance: "9.99" };
    const flat = rateLimitHeaders("plus", primary, secondary, credits, now);
    const h = Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]]] : [])));
    expect(h).toMatchObject({
      "x-codex-primary-used-percent": "42",
      "x-codex-primary-window-minutes": "300",
      "x-codex-primary-reset-at": String(now + 18000),
      "x-codex-secondary-used-percent": "12",
      "x-codex-secondary-window-minutes": "10080",
      "x-codex-plan-type": "plus",
      "x-codex-credits-has-credits": "True",
      "x-codex-credits-balance": "9.99",
    });
    const u = usagePayload("plus", primary, secondary, credits, [], now) as {
      rate_limit: Record<string, unknown>;
    };
    expect(u.rate_limit).toMatchObject({
      allowed: true,
      primary_window: { used_percent: 42, limit_window_seconds: 18000, reset_at: now + 18000 },
      secondary_window: { used_percent: 12, limit_window_seconds: 604800 },
    });
    expect(usedPercent(primary)).toBeCloseTo(42);
  });
});
