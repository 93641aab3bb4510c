/**
 * `serve --workers N`: N gateway processes sharing one listen port.
 *
 * uWebSockets.js listens with SO_REUSEPORT on Linux, so each worker binds
 * the same port and the kernel spreads new connections over them. Every
 * worker is a whole `serve` process (its own event loop, core and
 * open-files limit — a relayed stream holds two descriptors); they share
 * nothing but Postgres, which is all the gateway needs to be correct across
 * instances (see DESIGN.md: horizontally scalable). Only the first worker
 * runs the scheduler.
 *
 * The primary loads none of the gateway. It refuses a port another process
 * already listens on, starts the first worker, then the others, prints one
 * banner once all are listening, restarts one that dies (with a growing
 * delay while they keep dying), and on SIGTERM/SIGINT stops them all (each
 * drains its streams and flushes its records) before it exits; a second
 * signal stops them at once. Workers are plain child processes (not
 * node:cluster, whose workers exit without draining when the primary
 * dies): a worker whose primary is gone drains and exits by itself.
 */
import { type ChildProcess, fork } from "node:child_process";
import { createServer } from "node:net";
import type { AppConfig, Role } from "@codex-pooler/config";
import type { Logger } from "@codex-pooler/core";
import { CliError, EXIT_FAILURE, EXIT_USAGE } from "./runtime.ts";

const INDEX_VARIABLE = "CODEX_POOLER_WORKER_INDEX";
/** Longer than a worker's own drain (gateway 2 s, in-process queue up to 30 s). */
const STOP_GRACE_MS = 40_000;
/** Restart delays double while workers keep dying, from 1 s up to 60 s. */
const RESTART_DELAY_MS = { first: 1_000, max: 60_000 };
/** A worker that stayed up this long resets the restart delay. */
const HEALTHY_AFTER_MS = 60_000;

type WorkerMessage = { type: "ready"; lines: string[] };

export function isServeWorker(): boolean {
  return process.send !== undefined && process.env[INDEX_VARIABLE] !== undefined;
}

/** Refuses what several processes cannot share. */
export function checkWorkers(config: Readonly<AppConfig>, role: Role): void {
  if (config.database.url === undefined) {
    throw new CliError(
      "--workers needs DATABASE_URL: the embedded database lives inside one process",
      EXIT_USAGE,
    );
  }
  if (role !== "all" && role !== "gateway") {
    throw new CliError("--workers runs gateway processes: use it with --role gateway or all", EXIT_USAGE);
  }
}

/**
 * The workers bind with SO_REUSEPORT, so a second `serve --workers` on the
 * same port would silently share it (and the traffic). An exclusive bind
 * first fails while anything listens there.
 */
function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

interface Slot {
  index: number;
  child: ChildProcess | undefined;
  startedAt: number;
  /** Consecutive early deaths, for the restart delay. */
  failures: number;
}

/** The primary: starts the workers and supervises them until a stop signal. */
export async function runPrimary(config: Readonly<AppConfig>, role: Role, log: Logger): Promise<void> {
  checkWorkers(config, role);
  const { host, port, workers: count } = config.http;
  if (!(await portIsFree(host, port))) {
    throw new CliError(`port ${port} is in use: another process listens on ${host}:${port}`, EXIT_USAGE);
  }

  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({
    index,
    child: undefined,
    startedAt: 0,
    failures: 0,
  }));
  let phase: "starting" | "running" | "stopping" = "starting";
  let failStart: ((err: Error) => void) | undefined;
  let forcedKill = false;

  const stop = async (signal: string) => {
    if (phase === "stopping") {
      // A second signal: no more waiting.
      forcedKill = true;
      for (const s of slots) s.child?.kill("SIGKILL");
      return;
    }
    phase = "stopping";
    log.info({ signal }, "stopping the gateway workers");
    forcedKill = (await stopAll(slots)) || forcedKill;
    process.exit(forcedKill ? EXIT_FAILURE : 0);
  };
  // From the first fork on: a signal while starting stops what has started.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  const spawn = (slot: Slot): ChildProcess => {
    const child = fork(process.argv[1]!, process.argv.slice(2), {
      env: { ...process.env, [INDEX_VARIABLE]: String(slot.index) },
    });
    slot.child = child;
    slot.startedAt = Date.now();
    child.once("exit", (code, signal) => {
      slot.child = undefined;
      if (phase === "stopping") return;
      if (phase === "starting") {
        failStart?.(
          new CliError(
            `worker ${slot.index + 1} of ${count} exited while starting (${signal ?? `code ${code}`}); its log is above`,
          ),
        );
        return;
      }
      slot.failures = Date.now() - slot.startedAt >= HEALTHY_AFTER_MS ? 1 : slot.failures + 1;
      const delay = Math.min(RESTART_DELAY_MS.max, RESTART_DELAY_MS.first * 2 ** (slot.failures - 1));
      log.error(
        { worker: slot.index + 1, code, signal, restartInMs: delay },
        "gateway worker exited; starting a new one",
      );
      setTimeout(() => {
        if (phase !== "running") return;
        const next = spawn(slot);
        next.on("message", (msg: WorkerMessage) => {
          if (msg?.type === "ready")
            log.info({ worker: slot.index + 1, pid: next.pid }, "gateway worker replaced");
        });
      }, delay);
    });
    return child;
  };

  /** Starts the worker of `slot` and resolves with its banner once it listens. */
  const start = (slot: Slot) =>
    new Promise<string[]>((resolve) => {
      spawn(slot).on("message", (msg: WorkerMessage) => {
        if (msg?.type === "ready") resolve(msg.lines);
      });
    });

  let banner: string[];
  try {
    banner = await new Promise<string[]>((resolve, reject) => {
      failStart = reject;
      // The first worker starts alone, so what is made on first use (the local root-key
      // file) is made once and the others find it; they then start together.
      (async () => {
        const lines = await start(slots[0]!);
        await Promise.all(slots.slice(1).map(start));
        resolve(lines);
      })();
    });
  } catch (err) {
    phase = "stopping";
    await stopAll(slots);
    throw err;
  }
  // A stop signal may have arrived while the last worker was starting.
  if (phase !== "starting") return;
  phase = "running";
  failStart = undefined;

  const pids = slots.map((s) => s.child?.pid).join(", ");
  for (const line of banner) process.stdout.write(`${line}\n`);
  process.stdout.write(`  workers:       ${count} processes sharing port ${port} (pids ${pids})\n`);
}

/**
 * SIGTERM to every live worker; SIGKILL to one still running after the grace
 * period. True when one had to be killed (its open work is lost).
 */
async function stopAll(slots: Slot[]): Promise<boolean> {
  let killed = false;
  await Promise.all(
    slots.map(
      (slot) =>
        new Promise<void>((resolve) => {
          const child = slot.child;
          if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => {
            killed = true;
            child.kill("SIGKILL");
          }, STOP_GRACE_MS);
          child.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill("SIGTERM");
        }),
    ),
  );
  return killed;
}

/** One worker: a whole `serve` process on the shared port; tells the primary when it listens. */
export async function runWorker(config: Readonly<AppConfig>, role: Role, log: Logger): Promise<void> {
  const index = Number(process.env[INDEX_VARIABLE]);
  const { startHost } = await import("./host.ts");
  const host = await startHost({
    config,
    role,
    logger: log.child({ worker: index + 1 }),
    scheduler: index === 0,
    sharedPort: true,
  });
  process.send?.({ type: "ready", lines: host.describe() } satisfies WorkerMessage);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await host.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  // Ctrl-C reaches the whole process group: the primary stops the workers with SIGTERM.
  process.on("SIGINT", () => {});
  // The primary died without stopping us: drain and exit rather than serve on unsupervised.
  process.on("disconnect", () => {
    log.warn({ worker: index + 1 }, "the supervising process is gone; draining and exiting");
    void stop();
  });
}
