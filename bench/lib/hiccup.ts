/**
 * Machine noise on a core, measured the way jHiccup does it: a process that
 * spins on one core reading the clock notes every gap in which it did not
 * run. On a quiet dedicated core the gaps stay in the microseconds; on a
 * shared VM the host and the kernel take the core away for milliseconds at
 * a time, and any request in flight on that core waits as long. The bench
 * runs it on the gateway's core while the direct rounds (which do not use
 * that core) run, so the rounds through the gateway can be read against the
 * noise of the core it ran on, sampled in the same minutes.
 */
import { spawn } from "node:child_process";
import { pinnedCommand } from "./proc.ts";

export interface Hiccups {
  core: number | undefined;
  seconds: number;
  /** Gaps of at least 1, 2 and 5 ms in which the spinning process did not run. */
  over1ms: number;
  over2ms: number;
  over5ms: number;
  /** Time lost in gaps of 0.5 ms or more. */
  lostMs: number;
  maxMs: number;
}

const SPIN = `
const end = performance.now() + Number(process.argv[1]);
let last = performance.now();
const gaps = [];
for (;;) {
  const t = performance.now();
  if (t - last >= 0.5) gaps.push(t - last);
  last = t;
  if (t >= end) break;
}
const n = (ms) => gaps.filter((g) => g >= ms).length;
process.stdout.write(JSON.stringify({ over1ms: n(1), over2ms: n(2), over5ms: n(5),
  lostMs: gaps.reduce((a, b) => a + b, 0), maxMs: gaps.length ? Math.max(...gaps) : 0 }));
`;

/** Spins on `core` for `ms` and reports the gaps; resolves when it is done. */
export function probeHiccups(core: number | undefined, ms: number): Promise<Hiccups> {
  const command = [...pinnedCommand(core), process.execPath, "-e", SPIN, String(ms)];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`hiccup probe exited with ${code}`));
      const r = JSON.parse(out) as Omit<Hiccups, "core" | "seconds">;
      resolve({ core, seconds: ms / 1000, ...r });
    });
  });
}

/** Several probes as one. */
export function sumHiccups(all: Hiccups[]): Hiccups | undefined {
  if (all.length === 0) return undefined;
  const r = (v: number) => Math.round(v * 100) / 100;
  return {
    core: all[0]!.core,
    seconds: r(all.reduce((a, h) => a + h.seconds, 0)),
    over1ms: all.reduce((a, h) => a + h.over1ms, 0),
    over2ms: all.reduce((a, h) => a + h.over2ms, 0),
    over5ms: all.reduce((a, h) => a + h.over5ms, 0),
    lostMs: r(all.reduce((a, h) => a + h.lostMs, 0)),
    maxMs: r(Math.max(...all.map((h) => h.maxMs))),
  };
}
