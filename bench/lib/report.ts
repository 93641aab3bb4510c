/** The Markdown table of one run (what the README's Performance section shows). */
import type { BenchResults } from "../bench.ts";
import type { SpeedProbe } from "./proc.ts";

const n = (v: number) => v.toLocaleString("en-US");
const ms = (v: number) => `${v.toFixed(2)} ms`;
/** The gateway's sleeps per request: ≈ 1 means each request woke an idle process. */
const wakeups = (v: number | undefined) => (v === undefined ? "" : `, ${v} wake-ups/req`);
const signed = (v: number) => `${v >= 0 ? "+" : ""}${v.toFixed(2)} ms`;

export function markdownReport(r: BenchResults): string {
  const rows: string[][] = [];
  const s = r.shortMax;
  if (s) {
    rows.push([
      `short streams (${s.gateway.eventsPerStream} SSE events), closed loop, ${s.connections} connections`,
      `${n(s.direct.requestsPerSecond)} req/s, p50 ${ms(s.direct.latencyMs.p50)}, p99 ${ms(s.direct.latencyMs.p99)} (simulator CPU ${s.direct.simulatorCpuUsPerRequest} µs/req)`,
      `${n(s.gateway.requestsPerSecond)} req/s, p50 ${ms(s.gateway.latencyMs.p50)}, p99 ${ms(s.gateway.latencyMs.p99)}`,
      `gateway CPU ${s.gateway.gatewayCpuUsPerRequest} µs/req (core 0 busy ${Math.round((s.gateway.cpu.coreBusy[0] ?? 0) * 100)} %)${wakeups(s.gateway.gatewayWakeupsPerRequest)}`,
    ]);
  }
  for (const f of r.fixedRate) {
    rows.push([
      `short streams at ${n(f.rate)} req/s (${f.rounds}× alternating)`,
      `p50 ${ms(f.direct.latencyMs.p50)}, p99 ${ms(f.direct.latencyMs.p99)}`,
      `p50 ${ms(f.gateway.latencyMs.p50)}, p99 ${ms(f.gateway.latencyMs.p99)}`,
      `added p50 ${signed(f.addedLatencyMs.p50)}, p99 ${signed(f.addedLatencyMs.p99)}; gateway CPU ${f.gateway.gatewayCpuUsPerRequest} µs/req${wakeups(f.gateway.gatewayWakeupsPerRequest)}`,
    ]);
  }
  const l = r.long;
  if (l) {
    rows.push([
      `long streams (${n(l.tokens)} deltas), ${l.connections} connections`,
      `${n(l.direct.eventsPerSecond)} events/s (${n(l.direct.requestsPerSecond)} streams/s)`,
      `${n(l.gateway.eventsPerSecond)} events/s (${n(l.gateway.requestsPerSecond)} streams/s)`,
      `gateway CPU ${l.gatewayCpuUsPerEvent} µs/event`,
    ]);
  }
  const w = r.websocket;
  if (w) {
    rows.push([
      `websocket turns, ${w.gateway.sockets} sockets`,
      `${n(w.direct.turnsPerSecond)} turns/s, p50 ${ms(w.direct.latencyMs.p50)}`,
      `${n(w.gateway.turnsPerSecond)} turns/s, p50 ${ms(w.gateway.latencyMs.p50)}`,
      `gateway CPU ${w.gateway.gatewayCpuUsPerTurn} µs/turn`,
    ]);
  }
  for (const i of r.idle) {
    const g = i.gateway;
    rows.push([
      `${n(i.streams)} open idle streams`,
      `${n(i.direct.open)} open, simulator ${i.direct.rssPerOpenStreamKiB} KiB/stream`,
      `${n(g.open)} open, ${n(g.failed)} failed${
        Object.keys(g.errorKinds).length
          ? ` (${Object.entries(g.errorKinds)
              .map(([k, v]) => `${k} ${n(v)}`)
              .join(", ")})`
          : ""
      }`,
      `gateway RSS ${g.rssPerOpenStreamKiB} KiB/open stream (${g.rssBaselineMiB} → ${g.rssOpenMiB} MiB${
        (g.processes ?? 1) > 1 ? `, ${g.processes} processes` : ""
      })`,
    ]);
  }
  const table = [
    "| workload | direct to simulator | through the gateway | gateway cost |",
    "| --- | --- | --- | --- |",
    ...rows.map((cols) => `| ${cols.join(" | ")} |`),
  ];
  const noise = r.fixedRate
    .filter((f) => f.gatewayCoreNoise)
    .map((f) => {
      const h = f.gatewayCoreNoise!;
      return `during the ${n(f.rate)}/s direct rounds, core ${h.core} (the gateway's, idle then) was taken from a spinning process ${h.over2ms} times for ≥ 2 ms (${h.over5ms} for ≥ 5 ms, longest ${h.maxMs} ms) in ${h.seconds} s`;
    });
  const targets = [
    "| target | goal | measured | |",
    "| --- | --- | --- | --- |",
    ...r.targets.map((t) => `| ${t.name} | ${t.target} | ${t.value} | ${t.met ? "met" : "**not met**"} |`),
  ];
  const byRound = r.fixedRate
    .filter((f) => f.addedP99ByRoundMs.length > 1)
    .map((f) => `at ${n(f.rate)}/s ${f.addedP99ByRoundMs.map(signed).join(", ")}`);
  const byRoundLines = byRound.length ? ["", `Added p99 of each round alone: ${byRound.join("; ")}.`] : [];
  const noiseLines = noise.length ? ["", `Machine noise: ${noise.join("; ")}.`] : [];
  const speed = r.machine["speed"] as SpeedProbe | undefined;
  const speedLines = speed
    ? [
        "",
        `Machine speed: a 64-byte write to /dev/null took ${speed.syscallUs} µs from Node, a 10⁸-step integer loop ${speed.loopMs} ms (compare hosts by these and by the simulator's CPU per request).`,
      ]
    : [];
  return [...table, ...byRoundLines, ...noiseLines, ...speedLines, "", ...targets, ""].join("\n");
}
