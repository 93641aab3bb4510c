import { describe, expect, it } from "vitest";
import { type AccountView, fnv1a, ineligibility, selectCandidates } from "./routing.ts";

const NOW = 1_796_300_000_000;

function account(id: string, over: Partial<AccountView> = {}): AccountView {
  return {
    id,
    status: "active",
    assigned: true,
    models: null,
    quota: [],
    circuitOpenUntil: 0,
    lastUsedAt: 0,
    ...over,
  };
}

const exhausted = (resetAt: number) => [
  { limitId: "codex", kind: "primary" as const, usedPercent: 100, windowMinutes: 300, resetAt },
];
const used = (p: number) => [
  { limitId: "codex", kind: "primary" as const, usedPercent: p, windowMinutes: 300, resetAt: NOW + 1e6 },
];

describe("ineligibility", () => {
  it.each([
    [account("a", { status: "paused" }), "not_active"],
    [account("a", { status: "reauth_required" }), "reauth_required"],
    [account("a", { assigned: false }), "not_assigned"],
    [account("a", { models: new Set(["gpt-5.3"]) }), "model_unsupported"],
    [account("a", { quota: exhausted(NOW + 10) }), "quota_exhausted"],
    [account("a", { circuitOpenUntil: NOW + 10 }), "circuit_open"],
    [account("a", { models: new Set(["gpt-5.4"]) }), undefined],
    [account("a", { quota: exhausted(NOW - 10) }), undefined],
  ])("%#", (a, expected) => {
    expect(ineligibility(a, "gpt-5.4", NOW)).toBe(expected);
  });
});

describe("selectCandidates", () => {
  const base = { model: "gpt-5.4", now: NOW, seed: 0, ringSize: 3 };

  it("quota_first puts the most headroom first", () => {
    const s = selectCandidates({
      ...base,
      strategy: "quota_first",
      accounts: [
        account("a", { quota: used(80) }),
        account("b", { quota: used(10) }),
        account("c", { quota: used(50) }),
      ],
    });
    expect(s.candidates.map((a) => a.id)).toEqual(["b", "c", "a"]);
  });

  it("least_recently_used prefers the idlest account", () => {
    const s = selectCandidates({
      ...base,
      strategy: "least_recently_used",
      accounts: [
        account("a", { lastUsedAt: 30 }),
        account("b", { lastUsedAt: 10 }),
        account("c", { lastUsedAt: 20 }),
      ],
    });
    expect(s.candidates.map((a) => a.id)).toEqual(["b", "c", "a"]);
  });

  it("deterministic_rotation rotates by the seed and is stable", () => {
    const accounts = [account("c"), account("a"), account("b")];
    const first = selectCandidates({ ...base, strategy: "deterministic_rotation", accounts, seed: 1 });
    const again = selectCandidates({ ...base, strategy: "deterministic_rotation", accounts, seed: 1 });
    expect(first.candidates.map((a) => a.id)).toEqual(["b", "c", "a"]);
    expect(again.candidates.map((a) => a.id)).toEqual(["b", "c", "a"]);
    expect(fnv1a("thread-1")).toBe(fnv1a("thread-1"));
  });

  it("bounds the ring and skips excluded accounts", () => {
    const s = selectCandidates({
      ...base,
      strategy: "least_recently_used",
      ringSize: 2,
      exclude: new Set(["a"]),
      accounts: [
        account("a"),
        account("b", { lastUsedAt: 5 }),
        account("c", { lastUsedAt: 1 }),
        account("d", { lastUsedAt: 9 }),
      ],
    });
    expect(s.candidates.map((a) => a.id)).toEqual(["c", "b"]);
  });

  it("reports the earliest reset when nobody is eligible", () => {
    const s = selectCandidates({
      ...base,
      strategy: "quota_first",
      accounts: [
        account("a", { quota: exhausted(NOW + 9000) }),
        account("b", { quota: exhausted(NOW + 4000) }),
        account("c", { status: "reauth_required" }),
      ],
    });
    expect(s.candidates).toEqual([]);
    expect(s.earliestReset).toBe(NOW + 4000);
    expect(s.rejected.map((r) => r.reason).sort()).toEqual([
      "quota_exhausted",
      "quota_exhausted",
      "reauth_required",
    ]);
  });
});
