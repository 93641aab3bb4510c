/**
 * The gateway benchmark: one run, the same workload sent side by side
 * (a) straight to the simulator and (b) through the gateway with a Pool API
 * key over several upstream accounts. What it measures and the latest figures:
 * the "Performance" section of the README.
 */
import { readFileSync } from "node:fs";
import { cpus, freemem, loadavg, release, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { bulkheadLimitsFor, openFilesLimit } from "@codex-pooler/gateway/admission";
import { type Hiccups, probeHiccups, sumHiccups } from "./lib/hiccup.ts";
import {
  buildRequest,
  closedLoop,
  type Endpoint,
  fixedRate,
  type LoadRun,
  openIdleStreams,
} from "./lib/http-load.ts";
import {
  coreBusy,
  coreTimes,
  damonState,
  type Pinning,
  pinProcess,
  planPinning,
  processCpuMicros,
  processRssBytes,
  processTree,
  processTreeCpuMicros,
  processTreeRssBytes,
  processTreeWakeups,
  speedProbe,
} from "./lib/proc.ts";
import { type BenchStack, type RecordCount, startBenchStack } from "./lib/stack.ts";
import { type LatencySummary, round, summarize } from "./lib/stats.ts";
import { websocketTurns } from "./lib/ws-load.ts";

export interface BenchPlan {
  name: string;
  accounts: number;
  warmupMs: number;
  idleSteps: number[];
  idleHoldMs: number;
  idleTimeoutMs: number;
  /** A fresh gateway process for each idle step (clean RSS baseline); the smoke run skips the restarts. */
  freshGatewayPerIdleStep: boolean;
  shortConnections: number;
  shortMs: number;
  rates: number[];
  rateRounds: number;
  rateRoundMs: number;
  /** Unmeasured lead-in at the same rate before each measured round. */
  rateWarmupMs: number;
  longConnections: number;
  longMs: number;
  longTokens: number;
  wsConnections: number;
  wsMs: number;
  pin: boolean;
}

export const PLANS: Record<"full" | "smoke", BenchPlan> = {
  full: {
    name: "full",
    accounts: 4,
    warmupMs: 3000,
    idleSteps: [1000, 2000, 5000, 10000],
    idleHoldMs: 3000,
    idleTimeoutMs: 30_000,
    freshGatewayPerIdleStep: true,
    shortConnections: 32,
    shortMs: 10_000,
    rates: [200, 1000],
    rateRounds: 3,
    rateRoundMs: 5000,
    rateWarmupMs: 1500,
    longConnections: 8,
    longMs: 10_000,
    longTokens: 2000,
    wsConnections: 32,
    wsMs: 10_000,
    pin: true,
  },
  // The `npm test` variant: every scenario, tiny, unpinned (it shares the machine with the other tests).
  smoke: {
    name: "smoke",
    accounts: 2,
    warmupMs: 300,
    idleSteps: [50],
    idleHoldMs: 200,
    idleTimeoutMs: 10_000,
    freshGatewayPerIdleStep: false,
    shortConnections: 4,
    shortMs: 400,
    rates: [100],
    rateRounds: 1,
    rateRoundMs: 400,
    rateWarmupMs: 0,
    longConnections: 2,
    longMs: 400,
    longTokens: 200,
    wsConnections: 2,
    wsMs: 400,
    pin: false,
  },
};

export interface BenchOptions {
  plan: BenchPlan;
  /** Directory for the gateway's `--cpu-prof` output (a profiling run; figures are then not representative). */
  cpuProfileDir?: string;
  /** Warm-up and this scenario only (a profiling run, or a quick check while working on one figure). */
  only?: Scenario;
  /** Extra Node flags for the gateway process (an experiment, e.g. a GC setting; recorded in the results). */
  gatewayNodeFlags?: string[];
  log?: (line: string) => void;
}

type Side = "direct" | "gateway";

export const SCENARIOS = ["short", "rate", "long", "websocket", "idle"] as const;
export type Scenario = (typeof SCENARIOS)[number];

interface Cpu {
  gatewayUs: number;
  simulatorUs: number;
  loadGeneratorUs: number;
  wallMs: number;
  coreBusy: number[];
  /** Times the gateway's threads went to sleep waiting (voluntary context switches). */
  gatewayWakeups: number;
}

export interface HttpSide {
  requests: number;
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  requestsPerSecond: number;
  latencyMs: LatencySummary;
  ttfbMs: LatencySummary;
  /** SSE events received, all requests together. */
  events: number;
  eventsPerSecond: number;
  eventsPerStream: number;
  bytesPerStream: number;
  connectionsOpened: number;
  sendLagP99Us?: number;
  cpu: Cpu;
  /** CPU of the process that served the client (gateway or simulator) per successful request, µs. */
  serverCpuUsPerRequest: number;
  gatewayCpuUsPerRequest?: number;
  /** Times the gateway went to sleep and woke again, per request (below saturation ≈ one per request). */
  gatewayWakeupsPerRequest?: number;
  simulatorCpuUsPerRequest: number;
}

export interface WsSide {
  sockets: number;
  turns: number;
  errors: number;
  errorKinds: Record<string, number>;
  turnsPerSecond: number;
  latencyMs: LatencySummary;
  cpu: Cpu;
  gatewayCpuUsPerTurn?: number;
  simulatorCpuUsPerTurn: number;
}

export interface IdleSide {
  requested: number;
  open: number;
  failed: number;
  errorKinds: Record<string, number>;
  stillOpenAfterHold: number;
  openAllMs: number;
  /**
   * Gateway processes serving the step (`serve --workers`): as many as the
   * open-files limit needs, since a relayed stream holds two descriptors.
   */
  processes?: number;
  /**
   * RSS of the serving processes (the simulator, or the gateway's process
   * tree: primary, workers and their esbuild helpers) before the step and
   * with the streams open.
   */
  rssBaselineMiB: number;
  rssOpenMiB: number;
  /** (RSS with streams − RSS before the first step) / open streams. */
  rssPerOpenStreamKiB: number;
  simulatorRssPerOpenStreamKiB?: number;
}

export interface Target {
  name: string;
  target: string;
  value: string;
  met: boolean;
}

export interface BenchResults {
  date: string;
  plan: BenchPlan;
  command: string;
  /** Filled in by run.ts: the commit measured. */
  source?: { commit: string; uncommittedChanges: boolean };
  machine: Record<string, unknown>;
  loadGenerator: string;
  pinning: Pinning;
  gatewayNodeFlags?: string[];
  shortMax?: { connections: number; direct: HttpSide; gateway: HttpSide };
  fixedRate: Array<{
    rate: number;
    rounds: number;
    direct: HttpSide;
    gateway: HttpSide;
    addedLatencyMs: { p50: number; p90: number; p99: number; ttfbP50: number; ttfbP99: number };
    /**
     * Added p99 of each round on its own (gateway round i minus the direct
     * round just before it): how far the figure moves within one run.
     */
    addedP99ByRoundMs: number[];
    /** The gateway's core, probed while the direct rounds ran (pinned runs only). */
    gatewayCoreNoise?: Hiccups;
  }>;
  long?: {
    connections: number;
    tokens: number;
    direct: HttpSide;
    gateway: HttpSide;
    gatewayCpuUsPerEvent: number;
  };
  websocket?: { direct: WsSide; gateway: WsSide };
  idle: Array<{ streams: number; direct: IdleSide; gateway: IdleSide }>;
  records: { expected: number; beforeStop: RecordCount; afterStop: RecordCount; lost: number };
  /** Rows inserted/updated/deleted per table over the whole run (pg_stat_user_tables). */
  postgresRowWrites?: Record<string, { inserted: number; updated: number; deleted: number }>;
  gatewayExitCode: number | null;
  totalErrors: number;
  errorsByScenario: Record<string, number>;
  /** Error kinds seen during the (unreported) warm-up runs; they count in totalErrors too. */
  warmupErrors: Record<string, number>;
  targets: Target[];
  loadAverage: { start: number[]; end: number[] };
}

const LOAD_GENERATOR =
  "bench/lib/http-load.ts: our own keep-alive HTTP/1.1 client on raw sockets (reads SSE to the end, " +
  "checks response.completed, fixed-rate open loop, thousands of held streams; no dependency); " +
  "websocket turns with the `ws` client";

function userBody(text: string): string {
  return JSON.stringify({
    model: "gpt-5.4",
    stream: true,
    store: false,
    input: [{ type: "message", role: "user", content: [{ type: "input_text", text }] }],
  });
}

export async function runBench(options: BenchOptions): Promise<BenchResults> {
  const plan = options.plan;
  const log = options.log ?? (() => {});
  const pinning = planPinning(plan.pin);
  if (pinning.enabled) pinProcess(process.pid, pinning.loadCore!);
  const loadStart = loadavg().map((v) => round(v, 2));
  const stack = await startBenchStack({
    accounts: plan.accounts,
    gatewayCore: pinning.gatewayCore,
    simulatorCore: pinning.loadCore,
    ...(options.cpuProfileDir ? { cpuProfileDir: options.cpuProfileDir } : {}),
    ...(options.gatewayNodeFlags ? { nodeFlags: options.gatewayNodeFlags } : {}),
    log,
  });
  try {
    return await scenarios(stack, plan, pinning, loadStart, options, log);
  } catch (err) {
    log(`gateway output (tail):\n${stack.gatewayOutput().slice(-4000)}`);
    throw err;
  } finally {
    await stack.close();
  }
}

async function scenarios(
  stack: BenchStack,
  plan: BenchPlan,
  pinning: Pinning,
  loadStart: number[],
  options: BenchOptions,
  log: (line: string) => void,
): Promise<BenchResults> {
  /** Every request and websocket turn sent through the gateway: each must become one request record. */
  let sentThroughGateway = 0;
  let totalErrors = 0;
  /** Where errors happened: the scenario running when they were counted. */
  let phase = "warm-up";
  const errorsByScenario: Record<string, number> = {};
  const countErrors = (n: number) => {
    if (n <= 0) return;
    totalErrors += n;
    errorsByScenario[phase] = (errorsByScenario[phase] ?? 0) + n;
  };

  const simEndpoint = stack.sim.endpoint;
  const tokens = stack.sim.tokens;
  const endpointOf = (side: Side): Endpoint => (side === "direct" ? simEndpoint : stack.gateway.endpoint);
  const bearer = (side: Side, i: number) =>
    side === "direct" ? tokens[i % tokens.length]! : stack.gateway.key;
  const request = (side: Side, i: number, text: string) =>
    buildRequest({
      endpoint: endpointOf(side),
      path: "/backend-api/codex/responses",
      headers: {
        authorization: `Bearer ${bearer(side, i)}`,
        "content-type": "application/json",
        accept: "text/event-stream",
        // One Codex session per connection, as the Codex CLI sends it (the gateway keeps it on one account).
        "session-id": `bench-${side}-${i}`,
        originator: "codex-pooler-bench",
      },
      body: userBody(text),
    });
  const requests = (side: Side, n: number, text: string) =>
    Array.from({ length: n }, (_, i) => request(side, i, text));

  const cpuNow = () => ({
    gw: processTreeCpuMicros(stack.gateway.pid),
    gwWakeups: processTreeWakeups(stack.gateway.pid),
    sim: processCpuMicros(stack.sim.pid),
    self: process.cpuUsage(),
    cores: coreTimes(),
    at: performance.now(),
  });
  async function measured<T>(fn: () => Promise<T>): Promise<{ result: T; cpu: Cpu }> {
    const a = cpuNow();
    const result = await fn();
    const b = cpuNow();
    const self = process.cpuUsage(a.self);
    return {
      result,
      cpu: {
        gatewayUs: b.gw - a.gw,
        simulatorUs: b.sim - a.sim,
        loadGeneratorUs: self.user + self.system,
        wallMs: Math.round(b.at - a.at),
        coreBusy: coreBusy(a.cores, b.cores),
        gatewayWakeups: b.gwWakeups - a.gwWakeups,
      },
    };
  }

  const httpSide = (side: Side, runs: Array<{ result: LoadRun; cpu: Cpu }>): HttpSide => {
    const lat: number[] = [];
    const ttfb: number[] = [];
    let sent = 0;
    let ok = 0;
    let errors = 0;
    let events = 0;
    let bytes = 0;
    let elapsed = 0;
    let conns = 0;
    let lag = 0;
    const kinds: Record<string, number> = {};
    const cpu: Cpu = {
      gatewayUs: 0,
      simulatorUs: 0,
      loadGeneratorUs: 0,
      wallMs: 0,
      coreBusy: [],
      gatewayWakeups: 0,
    };
    const busy: number[][] = [];
    for (const { result: r, cpu: c } of runs) {
      for (const v of r.latenciesUs) lat.push(v);
      for (const v of r.ttfbUs) ttfb.push(v);
      sent += r.sent;
      ok += r.ok;
      errors += r.errors;
      events += r.events;
      bytes += r.bodyBytes;
      elapsed += r.elapsedMs;
      conns += r.connectionsOpened;
      lag = Math.max(lag, r.sendLagP99Us ?? 0);
      for (const [k, v] of Object.entries(r.errorKinds)) kinds[k] = (kinds[k] ?? 0) + v;
      cpu.gatewayUs += c.gatewayUs;
      cpu.simulatorUs += c.simulatorUs;
      cpu.loadGeneratorUs += c.loadGeneratorUs;
      cpu.wallMs += c.wallMs;
      cpu.gatewayWakeups += c.gatewayWakeups;
      busy.push(c.coreBusy);
    }
    cpu.coreBusy = (busy[0] ?? []).map((_, i) =>
      round(busy.reduce((s, b) => s + (b[i] ?? 0), 0) / busy.length, 3),
    );
    if (side === "gateway") sentThroughGateway += sent;
    countErrors(errors);
    const perOk = (us: number) => (ok > 0 ? round(us / ok, 1) : 0);
    return {
      requests: sent,
      ok,
      errors,
      errorKinds: kinds,
      requestsPerSecond: Math.round(ok / (elapsed / 1000)),
      latencyMs: summarize(lat),
      ttfbMs: summarize(ttfb),
      events,
      eventsPerSecond: Math.round(events / (elapsed / 1000)),
      eventsPerStream: ok > 0 ? round(events / sent, 1) : 0,
      bytesPerStream: ok > 0 ? Math.round(bytes / sent) : 0,
      connectionsOpened: conns,
      ...(runs.some((r) => r.result.sendLagP99Us !== undefined) ? { sendLagP99Us: lag } : {}),
      cpu: { ...cpu, gatewayUs: Math.round(cpu.gatewayUs), simulatorUs: Math.round(cpu.simulatorUs) },
      serverCpuUsPerRequest: perOk(side === "gateway" ? cpu.gatewayUs : cpu.simulatorUs),
      ...(side === "gateway"
        ? {
            gatewayCpuUsPerRequest: perOk(cpu.gatewayUs),
            gatewayWakeupsPerRequest: ok > 0 ? round(cpu.gatewayWakeups / ok, 2) : 0,
          }
        : {}),
      simulatorCpuUsPerRequest: perOk(cpu.simulatorUs),
    };
  };

  const closed = async (side: Side, connections: number, ms: number, text: string) =>
    httpSide(side, [
      await measured(() =>
        closedLoop({
          endpoint: endpointOf(side),
          requests: requests(side, connections, text),
          durationMs: ms,
        }),
      ),
    ]);

  const wsRun = async (side: Side, connections: number, ms: number): Promise<WsSide> => {
    const base = side === "direct" ? stack.sim.baseUrl : stack.gateway.baseUrl;
    const headers: Record<string, string> = {
      authorization: `Bearer ${side === "direct" ? tokens[0]! : stack.gateway.key}`,
      "openai-beta": "responses_websockets=2026-02-06",
      originator: "codex-pooler-bench",
    };
    const frame = JSON.stringify({ type: "response.create", ...JSON.parse(userBody("sim: reply PONG")) });
    // Direct: spread the sockets over the accounts, as the gateway does.
    const { result: r, cpu } = await measured(async () => {
      if (side === "gateway")
        return websocketTurns({
          url: `${base.replace("http", "ws")}/backend-api/codex/responses`,
          headers,
          frame,
          connections,
          durationMs: ms,
        });
      const per = Math.ceil(connections / tokens.length);
      const parts = await Promise.all(
        tokens.map((t, i) =>
          websocketTurns({
            url: `${base.replace("http", "ws")}/backend-api/codex/responses`,
            headers: { ...headers, authorization: `Bearer ${t}` },
            frame,
            connections: Math.max(0, Math.min(per, connections - i * per)),
            durationMs: ms,
          }),
        ),
      );
      return parts.reduce((a, b) => ({
        sockets: a.sockets + b.sockets,
        turns: a.turns + b.turns,
        sent: a.sent + b.sent,
        errors: a.errors + b.errors,
        errorKinds: { ...a.errorKinds, ...b.errorKinds },
        latenciesUs: a.latenciesUs.concat(b.latenciesUs),
        elapsedMs: Math.max(a.elapsedMs, b.elapsedMs),
      }));
    });
    if (side === "gateway") sentThroughGateway += r.sent;
    countErrors(r.errors);
    const per = (us: number) => (r.turns > 0 ? round(us / r.turns, 1) : 0);
    return {
      sockets: r.sockets,
      turns: r.turns,
      errors: r.errors,
      errorKinds: r.errorKinds,
      turnsPerSecond: Math.round(r.turns / (r.elapsedMs / 1000)),
      latencyMs: summarize(r.latenciesUs),
      cpu: { ...cpu, gatewayUs: Math.round(cpu.gatewayUs), simulatorUs: Math.round(cpu.simulatorUs) },
      ...(side === "gateway" ? { gatewayCpuUsPerTurn: per(cpu.gatewayUs) } : {}),
      simulatorCpuUsPerTurn: per(cpu.simulatorUs),
    };
  };

  const results: BenchResults = {
    date: new Date().toISOString(),
    plan,
    command: "",
    machine: await machine(stack),
    loadGenerator: LOAD_GENERATOR,
    pinning,
    ...(options.gatewayNodeFlags ? { gatewayNodeFlags: options.gatewayNodeFlags } : {}),
    fixedRate: [],
    idle: [],
    records: {
      expected: 0,
      beforeStop: { total: 0, byStatus: {} },
      afterStop: { total: 0, byStatus: {} },
      lost: 0,
    },
    gatewayExitCode: null,
    totalErrors: 0,
    errorsByScenario: {},
    warmupErrors: {},
    targets: [],
    loadAverage: { start: loadStart, end: [] },
  };

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const idleStep = async (side: Side, n: number): Promise<IdleSide> => {
    log(`idle streams: ${n} ${side}`);
    const rssOf = () =>
      side === "gateway" ? processTreeRssBytes(stack.gateway.pid) : processRssBytes(stack.sim.pid);
    const base = rssOf();
    const simBase = processRssBytes(stack.sim.pid);
    const idle = await openIdleStreams({
      endpoint: endpointOf(side),
      // Four events (the fourth is output, so the gateway commits the stream at once), then silence.
      request: (i) => request(side, i, "sim: fail stall 4"),
      count: n,
      perTick: 100,
      timeoutMs: plan.idleTimeoutMs,
    });
    if (side === "gateway") sentThroughGateway += n;
    await sleep(plan.idleHoldMs);
    const rss = rssOf();
    const simRss = processRssBytes(stack.sim.pid);
    const stillOpen = idle.stillOpen();
    await idle.close();
    const dropped = idle.open - stillOpen;
    countErrors(idle.failed + dropped);
    // Let both ends notice the closes (the gateway records each stream as cancelled).
    await sleep(Math.min(3000, 500 + n / 5));
    return {
      requested: n,
      open: idle.open,
      failed: idle.failed,
      errorKinds: dropped > 0 ? { ...idle.errorKinds, closed_while_idle: dropped } : idle.errorKinds,
      stillOpenAfterHold: stillOpen,
      openAllMs: Math.round(idle.openMs),
      ...(side === "gateway" ? { processes: stack.gateway.workers } : {}),
      rssBaselineMiB: round(base / 1048576, 1),
      rssOpenMiB: round(rss / 1048576, 1),
      rssPerOpenStreamKiB: idle.open > 0 ? round((rss - base) / idle.open / 1024, 1) : 0,
      ...(side === "gateway" && idle.open > 0
        ? { simulatorRssPerOpenStreamKiB: round((simRss - simBase) / idle.open / 1024, 1) }
        : {}),
    };
  };

  const wanted = (s: Scenario) => options.only === undefined || options.only === s;
  if (wanted("idle")) {
    // Each step on a fresh gateway process, warmed up a little, so its RSS growth is the open
    // streams' and not heap left over (or given back) from earlier work.
    // One process admits (open-files limit − reserve) / 2 streams; past that, as many processes as
    // needed share the port (10 % spare: the kernel spreads connections over them unevenly).
    const perProcess = bulkheadLimitsFor(openFilesLimit(stack.gateway.pid)).stream.concurrency;
    for (const n of plan.idleSteps) {
      phase = `${n} idle streams`;
      const processes = Math.max(1, Math.ceil((n * 1.1) / perProcess));
      if (plan.freshGatewayPerIdleStep || processes !== stack.gateway.workers)
        await stack.restartGateway(processes);
      await closed("gateway", 4, Math.min(500, plan.warmupMs), "sim: reply PONG");
      const warm = await openIdleStreams({
        endpoint: endpointOf("gateway"),
        request: (i) => request("gateway", i, "sim: fail stall 4"),
        count: Math.min(100, n),
        perTick: 100,
        timeoutMs: plan.idleTimeoutMs,
      });
      sentThroughGateway += Math.min(100, n);
      countErrors(warm.failed);
      await warm.close();
      await sleep(1000);
      const direct = await idleStep("direct", n);
      const gateway = await idleStep("gateway", n);
      results.idle.push({ streams: n, direct, gateway });
    }
    if (plan.freshGatewayPerIdleStep || stack.gateway.workers !== 1) await stack.restartGateway();
  }

  // Warm-up: JIT, connection pools, caches (key, affinity) on both paths. Counted for records and
  // errors; the figures are not reported, but any error kind is.
  phase = "warm-up";
  for (const side of ["direct", "gateway"] as const) {
    log(`warm-up ${side}`);
    const parts = [
      await closed(side, plan.shortConnections, plan.warmupMs, "sim: reply PONG"),
      await closed(side, 2, Math.min(1000, plan.warmupMs), `sim: tokens ${plan.longTokens}`),
      await wsRun(side, 2, Math.min(1000, plan.warmupMs)),
    ];
    for (const p of parts)
      for (const [k, v] of Object.entries(p.errorKinds)) results.warmupErrors[`${side} ${k}`] = v;
  }

  if (wanted("short")) {
    phase = "short streams, closed loop";
    log(`short streams, closed loop, ${plan.shortConnections} connections`);
    results.shortMax = {
      connections: plan.shortConnections,
      direct: await closed("direct", plan.shortConnections, plan.shortMs, "sim: reply PONG"),
      gateway: await closed("gateway", plan.shortConnections, plan.shortMs, "sim: reply PONG"),
    };
  }

  if (wanted("rate")) {
    for (const rate of plan.rates) {
      phase = `short streams at ${rate}/s`;
      log(`short streams at ${rate}/s, ${plan.rateRounds} rounds of direct then gateway`);
      const runs: Record<Side, Array<{ result: LoadRun; cpu: Cpu }>> = { direct: [], gateway: [] };
      const noise: Hiccups[] = [];
      for (let round_ = 0; round_ < plan.rateRounds; round_++) {
        for (const side of ["direct", "gateway"] as const) {
          // The first second after a pause costs more (caches, JIT, connection pools): not measured.
          if (plan.rateWarmupMs > 0) {
            const warm = await fixedRate({
              endpoint: endpointOf(side),
              requests: requests(side, 64, "sim: reply PONG"),
              rate,
              durationMs: plan.rateWarmupMs,
              prewarmConnections: Math.min(64, Math.max(8, Math.ceil(rate / 50))),
            });
            countErrors(warm.errors);
            if (side === "gateway") sentThroughGateway += warm.sent;
          }
          // The gateway's core is idle during a direct round: spin on it to see the machine's own noise there.
          const probe =
            side === "direct" && pinning.enabled
              ? probeHiccups(pinning.gatewayCore, plan.rateRoundMs)
              : undefined;
          runs[side].push(
            await measured(() =>
              fixedRate({
                endpoint: endpointOf(side),
                requests: requests(side, 64, "sim: reply PONG"),
                rate,
                durationMs: plan.rateRoundMs,
                prewarmConnections: Math.min(64, Math.max(8, Math.ceil(rate / 50))),
              }),
            ),
          );
          if (probe) noise.push(await probe);
        }
      }
      const direct = httpSide("direct", runs.direct);
      const gateway = httpSide("gateway", runs.gateway);
      results.fixedRate.push({
        rate,
        rounds: plan.rateRounds,
        direct,
        gateway,
        addedLatencyMs: {
          p50: round(gateway.latencyMs.p50 - direct.latencyMs.p50, 3),
          p90: round(gateway.latencyMs.p90 - direct.latencyMs.p90, 3),
          p99: round(gateway.latencyMs.p99 - direct.latencyMs.p99, 3),
          ttfbP50: round(gateway.ttfbMs.p50 - direct.ttfbMs.p50, 3),
          ttfbP99: round(gateway.ttfbMs.p99 - direct.ttfbMs.p99, 3),
        },
        addedP99ByRoundMs: runs.gateway.map((g, i) =>
          round(
            summarize(g.result.latenciesUs).p99 - summarize(runs.direct[i]?.result.latenciesUs ?? []).p99,
            3,
          ),
        ),
        ...(noise.length ? { gatewayCoreNoise: sumHiccups(noise) } : {}),
      });
    }
  }

  if (wanted("long")) {
    phase = "long streams";
    log(`long streams (${plan.longTokens} deltas), ${plan.longConnections} connections`);
    const text = `sim: tokens ${plan.longTokens}`;
    const direct = await closed("direct", plan.longConnections, plan.longMs, text);
    const gateway = await closed("gateway", plan.longConnections, plan.longMs, text);
    results.long = {
      connections: plan.longConnections,
      tokens: plan.longTokens,
      direct,
      gateway,
      gatewayCpuUsPerEvent: gateway.events > 0 ? round(gateway.cpu.gatewayUs / gateway.events, 3) : 0,
    };
  }

  if (wanted("websocket")) {
    phase = "websocket turns";
    log(`websocket turns, ${plan.wsConnections} sockets`);
    results.websocket = {
      direct: await wsRun("direct", plan.wsConnections, plan.wsMs),
      gateway: await wsRun("gateway", plan.wsConnections, plan.wsMs),
    };
  }

  // Zero lost records: every request and turn sent through the gateway is one row in request_records.
  log(`waiting for ${sentThroughGateway} request records`);
  const beforeStop = await stack.waitForRecords(sentThroughGateway, 30_000);
  results.gatewayExitCode = await stack.stopGateway();
  const afterStop = await stack.countRecords();
  results.postgresRowWrites = await stack.tableWrites();
  results.records = {
    expected: sentThroughGateway,
    beforeStop,
    afterStop,
    lost: Math.max(0, sentThroughGateway - afterStop.total),
  };
  results.totalErrors = totalErrors;
  results.errorsByScenario = errorsByScenario;
  results.loadAverage.end = loadavg().map((v) => round(v, 2));
  results.targets = evaluateTargets(results);
  return results;
}

async function machine(stack: BenchStack): Promise<Record<string, unknown>> {
  const c = cpus();
  let postgres = "unknown";
  try {
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: (await import("./lib/stack.ts")).adminUrl() });
    await client.connect();
    postgres = ((await client.query("SHOW server_version")).rows[0] as { server_version: string })
      .server_version;
    await client.end();
  } catch {
    // reported as unknown
  }
  return {
    cpu: c[0]?.model ?? "unknown",
    cores: c.length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    freeMemoryGiBAtStart: round(freemem() / 2 ** 30, 1),
    kernel: release(),
    node: process.version,
    postgres,
    database: stack.database,
    gatewayOpenFilesLimit: openFilesLimit(stack.gateway.pid) ?? "unknown",
    gatewayGc: processTree(stack.gateway.pid).some((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes("--single-threaded-gc");
      } catch {
        return false;
      }
    })
      ? "single-threaded (serve on one CPU)"
      : "V8 default (helper threads)",
    damon: damonState(),
    speed: speedProbe(),
    shared: "2-core machine shared with other engineers' work: expect noise (load average recorded)",
  };
}

function fmt(n: number, digits = 1): string {
  return round(n, digits).toString();
}

export function evaluateTargets(r: BenchResults): Target[] {
  const targets: Target[] = [];
  const at1000 = r.fixedRate.find((f) => f.rate === 1000) ?? r.fixedRate[r.fixedRate.length - 1];
  if (at1000) {
    targets.push({
      name: `added latency p50 at ${at1000.rate} short streamed requests/s`,
      target: "≤ 0.5 ms",
      value: `${fmt(at1000.addedLatencyMs.p50, 3)} ms`,
      met: at1000.addedLatencyMs.p50 <= 0.5,
    });
    targets.push({
      name: `added latency p99 at ${at1000.rate} short streamed requests/s`,
      target: "≤ 2 ms",
      value: `${fmt(at1000.addedLatencyMs.p99, 3)} ms`,
      met: at1000.addedLatencyMs.p99 <= 2,
    });
    const cpu = at1000.gateway.gatewayCpuUsPerRequest ?? 0;
    const saturated = r.shortMax?.gateway.gatewayCpuUsPerRequest;
    targets.push({
      name: `gateway CPU per short streamed request (at ${at1000.rate}/s)`,
      target: "≤ 100 µs",
      value: `${fmt(cpu)} µs${saturated !== undefined ? ` (${fmt(saturated)} µs at saturation)` : ""}`,
      met: cpu <= 100,
    });
  }
  if (r.long) {
    targets.push({
      name: "gateway CPU per relayed SSE event (long streams)",
      target: "≤ 2 µs",
      value: `${fmt(r.long.gatewayCpuUsPerEvent, 3)} µs`,
      met: r.long.gatewayCpuUsPerEvent <= 2,
    });
  }
  const biggest = r.idle[r.idle.length - 1];
  if (biggest) {
    const g = biggest.gateway;
    const ok = g.open === biggest.streams && g.failed === 0 && g.stillOpenAfterHold === g.open;
    targets.push({
      name: `${biggest.streams} concurrent open streams through the gateway`,
      target: "all open, no errors, ≤ 30 KB RSS each",
      value: `${g.open} open, ${g.failed} failed, ${fmt(g.rssPerOpenStreamKiB)} KiB each`,
      met: ok && g.rssPerOpenStreamKiB * 1024 <= 30_000,
    });
  }
  const where = Object.entries(r.errorsByScenario)
    .map(([k, v]) => `${v.toLocaleString("en-US")} in ${k}`)
    .join(", ");
  targets.push({
    name: "errors across every run",
    target: "0",
    value: r.totalErrors === 0 ? "0" : `${r.totalErrors.toLocaleString("en-US")} (${where})`,
    met: r.totalErrors === 0,
  });
  targets.push({
    name: "lost request records",
    target: "0",
    value: `${r.records.lost} (${r.records.afterStop.total} written of ${r.records.expected} sent)`,
    met: r.records.lost === 0 && r.records.afterStop.total === r.records.expected,
  });
  return targets;
}
