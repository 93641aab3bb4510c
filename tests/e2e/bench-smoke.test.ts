/**
 * `npm run bench` kept working: every benchmark scenario, tiny and unpinned,
 * against a real simulator process, a fresh Postgres database and a real
 * `codex-pooler serve --role all` process — direct and through the gateway.
 * Figures are not checked (the machine is shared with the other tests);
 * correctness is: no errors, and one request record per request and turn.
 */
import { describe, expect, it } from "vitest";
import { PLANS, runBench } from "../../bench/bench.ts";
import { markdownReport } from "../../bench/lib/report.ts";

describe("bench smoke", () => {
  it("runs every scenario side by side with no error and no lost request record", async () => {
    const results = await runBench({ plan: PLANS.smoke });

    expect(results.warmupErrors).toEqual({});
    expect(results.totalErrors).toBe(0);
    for (const side of ["direct", "gateway"] as const) {
      expect(results.shortMax?.[side].ok).toBeGreaterThan(0);
      expect(results.long?.[side].ok).toBeGreaterThan(0);
      expect(results.websocket?.[side].turns).toBeGreaterThan(0);
      for (const f of results.fixedRate) expect(f[side].ok).toBe(f[side].requests);
      for (const i of results.idle) expect(i[side].open).toBe(i.streams);
    }
    // Each long stream carried every delta plus its framing events.
    expect(results.long?.gateway.eventsPerStream).toBeGreaterThanOrEqual(PLANS.smoke.longTokens);
    expect(results.long?.gateway.eventsPerStream).toBe(results.long?.direct.eventsPerStream);
    expect(results.shortMax?.gateway.gatewayCpuUsPerRequest).toBeGreaterThan(0);
    // Below saturation the gateway sleeps between requests: its wake-ups are counted.
    for (const f of results.fixedRate) {
      expect(f.gateway.gatewayWakeupsPerRequest).toBeGreaterThan(0);
      expect(f.addedP99ByRoundMs).toHaveLength(f.rounds);
    }

    expect(results.gatewayExitCode).toBe(0);
    expect(results.records.lost).toBe(0);
    expect(results.records.afterStop.total).toBe(results.records.expected);
    expect(results.postgresRowWrites?.["request_records"]).toBeDefined();

    const speed = results.machine["speed"] as { syscallUs: number; loopMs: number };
    expect(speed.syscallUs).toBeGreaterThan(0);
    expect(speed.loopMs).toBeGreaterThan(0);

    const table = markdownReport(results);
    expect(table).toContain("through the gateway");
    expect(table).toContain(`write to /dev/null took ${speed.syscallUs} µs`);
    expect(table).toContain("wake-ups/req");
    expect(table).toContain("lost request records");
  });
});
