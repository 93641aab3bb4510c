import { describe, expect, it } from "vitest";
import { systemRandom } from "./clock.ts";

describe("systemRandom", () => {
  it("hands out small draws from its pool as independent copies, across refills", () => {
    const seen = new Set<string>();
    const draws: Uint8Array[] = [];
    // 1,000 draws of 10 bytes cross the 4 KiB pool's refill twice.
    for (let i = 0; i < 1000; i++) {
      const b = systemRandom.bytes(10);
      expect(b).toHaveLength(10);
      draws.push(b);
      seen.add(Buffer.from(b).toString("hex"));
    }
    expect(seen.size).toBe(1000);
    const first = Buffer.from(draws[0]!).toString("hex");
    draws[1]!.fill(0);
    systemRandom.bytes(10);
    expect(Buffer.from(draws[0]!).toString("hex")).toBe(first);
    // Roughly uniform bytes: every value shows up in 10,000 of them.
    const counts = new Array<number>(256).fill(0);
    for (const d of draws) for (const x of d) counts[x]!++;
    expect(Math.min(...counts)).toBeGreaterThan(0);
  });

  it("draws key-sized requests fresh, with the length asked for", () => {
    const a = systemRandom.bytes(32);
    const b = systemRandom.bytes(32);
    expect(a).toHaveLength(32);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(systemRandom.bytes(0)).toHaveLength(0);
  });
});
