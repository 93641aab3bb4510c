/**
 * What the benchmark reads about processes and cores, straight from /proc
 * (Linux): process CPU time (user + system, every thread, dead ones
 * included), resident memory, and per-core busy time. Also core pinning
 * through `taskset` (util-linux), when the machine has more than one core.
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { availableParallelism } from "node:os";

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    const n = Number(r.stdout?.trim());
    ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** CPU time (user + system) a process has used so far, in microseconds; 10 ms resolution. */
export function processCpuMicros(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces: fields are counted after its closing parenthesis.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) / clockTicks()) * 1e6;
}

/**
 * CPU time of a process and its descendants, in microseconds (`serve` on one
 * core starts itself again with single-threaded GC; the parent only waits).
 */
export function processTreeCpuMicros(pid: number): number {
  return sumOverTree(pid, processCpuMicros);
}

/**
 * How often a process's threads went to sleep waiting for something
 * (voluntary context switches, from each thread's /proc status). For a
 * gateway below saturation that is about once per wake-up of its event
 * loop: each one then pays the cost of resuming on a core that went idle.
 */
export function processWakeups(pid: number): number {
  let sum = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const m = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(
        readFileSync(`/proc/${pid}/task/${task}/status`, "utf8"),
      );
      if (m) sum += Number(m[1]);
    } catch {
      // thread gone meanwhile
    }
  }
  return sum;
}

/** Wake-ups of a process and its descendants. */
export function processTreeWakeups(pid: number): number {
  return sumOverTree(pid, processWakeups);
}

/** `measure` summed over a process and its descendants (those that exit meanwhile count 0). */
function sumOverTree(pid: number, measure: (pid: number) => number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      sum += measure(p);
    } catch {
      // exited meanwhile
    }
  }
  return sum;
}

/** Resident set size of a process, in bytes. */
export function processRssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** A process and all its descendants (from each thread's `children` file under /proc/<pid>/task). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const task of tasks) {
      try {
        const children = readFileSync(`/proc/${out[i]}/task/${task}/children`, "utf8").trim();
        if (children) out.push(...children.split(" ").map(Number));
      } catch {
        // thread gone meanwhile
      }
    }
  }
  return out;
}

/**
 * Resident set size of a process and its descendants, in bytes: `serve
 * --workers` is a primary and its worker processes (and each process's
 * esbuild helper).
 */
export function processTreeRssBytes(pid: number): number {
  return sumOverTree(pid, processRssBytes);
}

export interface CoreTimes {
  busy: number;
  total: number;
}

/** Busy and total jiffies per core (cpu0, cpu1, …) from /proc/stat. */
export function coreTimes(): CoreTimes[] {
  const out: CoreTimes[] = [];
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.split(/\s+/).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[Number(m[1])] = { busy: total - idle, total };
  }
  return out;
}

/** Share of each core that was busy between two `coreTimes()` readings (0–1). */
export function coreBusy(before: CoreTimes[], after: CoreTimes[]): number[] {
  return after.map((a, i) => {
    const b = before[i];
    if (!b || a.total === b.total) return 0;
    return Math.round(((a.busy - b.busy) / (a.total - b.total)) * 1000) / 1000;
  });
}

export interface Pinning {
  enabled: boolean;
  gatewayCore: number | undefined;
  loadCore: number | undefined;
  reason: string;
}

/**
 * Core 0 for the gateway, the last core for the load generator and the
 * simulator; nothing pinned on a single core or without taskset.
 */
export function planPinning(wanted: boolean): Pinning {
  const cores = availableParallelism();
  if (!wanted) return { enabled: false, gatewayCore: undefined, loadCore: undefined, reason: "turned off" };
  if (cores < 2)
    return { enabled: false, gatewayCore: undefined, loadCore: undefined, reason: "one core only" };
  if (spawnSync("taskset", ["--version"]).status !== 0)
    return { enabled: false, gatewayCore: undefined, loadCore: undefined, reason: "taskset not found" };
  return {
    enabled: true,
    gatewayCore: 0,
    loadCore: cores - 1,
    reason: `gateway on core 0; load generator and simulator on core ${cores - 1}`,
  };
}

/** Pins every thread of a running process to one core. */
export function pinProcess(pid: number, core: number): void {
  const r = spawnSync("taskset", ["-a", "-cp", String(core), String(pid)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`taskset failed for pid ${pid}: ${r.stderr}`);
}

/** The command prefix that starts a program on one core (empty when not pinning). */
export function pinnedCommand(core: number | undefined): string[] {
  return core === undefined ? [] : ["taskset", "-c", String(core)];
}

/**
 * Whether the kernel's DAMON is running a reclaim scheme on this machine (a
 * virtual machine's host can turn it on). It samples page access bits and
 * pages memory out, which slows memory-heavy processes: figures from a machine
 * with it on are not comparable with one without.
 */
export function damonState(): string {
  try {
    const base = "/sys/kernel/mm/damon/admin/kdamonds/0";
    const state = readFileSync(`${base}/state`, "utf8").trim();
    let action = "";
    try {
      action = readFileSync(`${base}/contexts/0/schemes/0/action`, "utf8").trim();
    } catch {
      // no scheme
    }
    return action ? `${state} (${action})` : state;
  } catch {
    return "not present";
  }
}

export interface SpeedProbe {
  /** A 64-byte write to /dev/null from Node, µs per call (the kernel entry a socket read or write also pays). */
  syscallUs: number;
  /** A fixed integer loop of 10⁸ steps, ms (the CPU's own speed). */
  loopMs: number;
}

/**
 * How fast this machine is right now, measured the same way in every run.
 * Virtual machines here differ several-fold in what a system call costs (one
 * host took 1.6 µs for a write to /dev/null), and every request the gateway
 * relays pays a dozen of them: compare runs from different hosts with this
 * and with the simulator's own CPU per request, not by their absolute figures.
 * Each figure is the fastest of five tries, on the current core.
 */
export function speedProbe(): SpeedProbe {
  const fd = openSync("/dev/null", "w");
  const bytes = Buffer.alloc(64);
  let syscallUs = Number.POSITIVE_INFINITY;
  let loopMs = Number.POSITIVE_INFINITY;
  try {
    for (let t = 0; t < 5; t++) {
      const calls = 20_000;
      const a = performance.now();
      for (let i = 0; i < calls; i++) writeSync(fd, bytes);
      syscallUs = Math.min(syscallUs, ((performance.now() - a) * 1000) / calls);
      const b = performance.now();
      let x = 0;
      for (let i = 0; i < 100_000_000; i++) x = (x + i) | 0;
      if (x === 1) bytes[0] = 1; // keeps the loop from being optimised away
      loopMs = Math.min(loopMs, performance.now() - b);
    }
  } finally {
    closeSync(fd);
  }
  return { syscallUs: Math.round(syscallUs * 1000) / 1000, loopMs: Math.round(loopMs) };
}
