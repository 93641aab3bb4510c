import { describe, expect, it } from "vitest";
import {
  exhaustionWindows,
  mergeWindows,
  parseQuotaHeaders,
  parseRateLimitEvent,
  parseUsageLimitBody,
  parseUsagePayload,
  quotaState,
} from "./quota.ts";

const NOW = 1_796_300_000_000;

function headers(h: Record<string, string>) {
  return parseQuotaHeaders((n) => h[n], Object.keys(h), NOW);
}

describe("parseQuotaHeaders", () => {
  it("reads both windows of the codex family", () => {
    const obs = headers({
      "x-codex-primary-used-percent": "42.5",
      "x-codex-primary-window-minutes": "300",
      "x-codex-primary-reset-at": "1796320000",
      "x-codex-secondary-used-percent": "12",
      "x-codex-secondary-window-minutes": "10080",
      "x-codex-secondary-reset-after-seconds": "3600",
      "x-codex-plan-type": "plus",
    });
    expect(obs?.planType).toBe("plus");
    expect(obs?.windows).toEqual([
      {
        limitId: "codex",
        kind: "primary",
        usedPercent: 42.5,
        windowMinutes: 300,
        resetAt: 1_796_320_000_000,
      },
      {
        limitId: "codex",
        kind: "secondary",
        usedPercent: 12,
        windowMinutes: 10080,
        resetAt: NOW + 3_600_000,
      },
    ]);
  });

  it("skips an all-zero window and unparsable values, and names extra families", () => {
    const obs = headers({
      "x-codex-primary-used-percent": "0",
      "x-codex-primary-window-minutes": "0",
      "x-codex-secondary-used-percent": "abc",
      "x-codex-bengalfox-primary-used-percent": "70",
      "x-codex-bengalfox-primary-window-minutes": "300",
      "x-codex-bengalfox-limit-name": "gpt-5.2-codex-sonic",
    });
    expect(obs?.windows).toEqual([
      { limitId: "gpt_5.2_codex_sonic", kind: "primary", usedPercent: 70, windowMinutes: 300, resetAt: null },
    ]);
  });

  it("returns undefined without rate-limit headers", () => {
    expect(headers({ "content-type": "text/event-stream" })).toBeUndefined();
  });
});

describe("events, usage payloads and 429 bodies", () => {
  it("parses codex.rate_limits", () => {
    const obs = parseRateLimitEvent(
      {
        type: "codex.rate_limits",
        plan_type: "pro",
        rate_limits: {
          primary: { used_percent: 100, window_minutes: 300, reset_at: 1796320000 },
          secondary: { used_percent: 12.0, window_minutes: 10080, reset_at: 1796900000 },
        },
      },
      NOW,
    );
    expect(obs?.windows.map((w) => [w.kind, w.usedPercent])).toEqual([
      ["primary", 100],
      ["secondary", 12],
    ]);
    expect(obs?.planType).toBe("pro");
  });

  it("parses the usage endpoint shape with seconds-based windows", () => {
    const obs = parseUsagePayload(
      {
        plan_type: "plus",
        rate_limit: {
          primary_window: {
            used_percent: 45,
            limit_window_seconds: 18000,
            reset_after_seconds: 3600,
            reset_at: 1796320000,
          },
          secondary_window: null,
        },
        additional_rate_limits: [
          {
            limit_name: "codex_other",
            rate_limit: { primary_window: { used_percent: 70, limit_window_seconds: 18000 } },
          },
        ],
      },
      NOW,
    );
    expect(obs?.windows).toEqual([
      { limitId: "codex", kind: "primary", usedPercent: 45, windowMinutes: 300, resetAt: 1_796_320_000_000 },
      { limitId: "codex_other", kind: "primary", usedPercent: 70, windowMinutes: 300, resetAt: null },
    ]);
  });

  it("recognises usage_limit_reached and ignores plain throttling", () => {
    const limit = parseUsageLimitBody(
      {
        error: {
          type: "usage_limit_reached",
          plan_type: "plus",
          resets_at: 1796320000,
          resets_in_seconds: 3600,
        },
      },
      NOW,
    );
    expect(limit).toEqual({ resetAt: 1_796_320_000_000, planType: "plus" });
    expect(
      parseUsageLimitBody({ error: { type: "rate_limit_exceeded", code: "rate_limit_exceeded" } }, NOW),
    ).toBeUndefined();
    expect(parseUsageLimitBody("nope", NOW)).toBeUndefined();
    const fallback = exhaustionWindows({ resetAt: null, planType: undefined }, NOW);
    expect(fallback.windows[0]?.resetAt).toBe(NOW + 300_000);
  });
});

describe("quotaState", () => {
  const w = (usedPercent: number, resetAt: number | null, kind: "primary" | "secondary" = "primary") => ({
    limitId: "codex",
    kind,
    usedPercent,
    windowMinutes: 300,
    resetAt,
  });

  it("is usable with no evidence and reports headroom from the tightest window", () => {
    expect(quotaState([], NOW)).toEqual({ usable: true, exhaustedUntil: undefined, headroom: 1 });
    expect(quotaState([w(40, NOW + 1000), w(90, NOW + 5000, "secondary")], NOW).headroom).toBeCloseTo(0.1);
  });

  it("is exhausted until the latest binding reset, and usable again after it", () => {
    const windows = [w(100, NOW + 60_000), w(100, NOW + 600_000, "secondary")];
    expect(quotaState(windows, NOW)).toEqual({ usable: false, exhaustedUntil: NOW + 600_000, headroom: 0 });
    expect(quotaState(windows, NOW + 600_001).usable).toBe(true);
  });

  it("ignores other limit families for account-wide routing", () => {
    expect(quotaState([{ ...w(100, NOW + 1000), limitId: "codex_other" }], NOW).usable).toBe(true);
  });

  it("merges newer evidence over older for the same window", () => {
    const merged = mergeWindows([w(10, null), w(5, null, "secondary")], [w(60, NOW)]);
    expect(merged.map((x) => [x.kind, x.usedPercent])).toEqual([
      ["primary", 60],
      ["secondary", 5],
    ]);
  });
});
