/**
 * `serve --workers N`: N gateway processes sharing one listen port.
 *
 * uWebSockets.js listens with SO_REUSEPORT on Linux, so each worker binds
 * the same port and the kernel spreads new connections over them. Every
 * worker is a whole `serve` process (its own event loop, core and
 * open-files limit — a relayed stream holds two descriptors); they share
 * nothing but Postgres, which is all the gateway needs to be correct across
 * instances (see DESIGN.md: horizontally scalable). Only the first worker
 * runs the scheduler. The primary loads none of the gateway: it starts the
 * first worker, then the others, prints one banner once all are listening,
 * restarts one that dies, and on SIGTERM/SIGINT stops them all (each drains
 * its streams and flushes its records) before it exits.
 */
import cluster, { type Worker } from "node:cluster";
import type { AppConfig, Role } from "@codex-pooler/config";
import type { Logger } from "@codex-pooler/core";
import { CliError, EXIT_USAGE } from "./runtime.ts";

const INDEX_VARIABLE = "CODEX_POOLER_WORKER_INDEX";
/** Longer than a worker's own drain (gateway 2 s, in-process queue up to 30 s). */
const STOP_GRACE_MS = 40_000;
const RESTART_DELAY_MS = 1_000;

type WorkerMessage = { type: "ready"; lines: string[] };

export function isServeWorker(): boolean {
  return cluster.isWorker && process.env[INDEX_VARIABLE] !== undefined;
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

/** The primary: forks the workers and supervises them until a stop signal. */
export async function runPrimary(config: Readonly<AppConfig>, role: Role, log: Logger): Promise<void> {
  checkWorkers(config, role);
  const count = config.http.workers;
  const byIndex = new Map<number, Worker>();
  let stopping = false;

  const fork = (index: number): Worker => {
    const worker = cluster.fork({ [INDEX_VARIABLE]: String(index) });
    byIndex.set(index, worker);
    return worker;
  };
  /** Forks worker `index` and resolves with its banner once it listens. */
  const start = (index: number) =>
    new Promise<string[]>((resolve, reject) => {
      const worker = fork(index);
      const onExit = (code: number | null, signal: string | null) =>
        reject(
          new CliError(
            `worker ${index + 1} of ${count} exited while starting (${signal ?? `code ${code}`}); its log is above`,
          ),
        );
      worker.once("exit", onExit);
      worker.on("message", (msg: WorkerMessage) => {
        if (msg?.type !== "ready") return;
        worker.off("exit", onExit);
        resolve(msg.lines);
      });
    });

  // The first worker starts alone, so what is made on first use (the local root-key file)
  // is made once and the others find it; they then start together.
  const started = await (async () => {
    const banner = await start(0);
    await Promise.all(Array.from({ length: count - 1 }, (_, i) => start(i + 1)));
    return banner;
  })().catch(async (err: unknown) => {
    stopping = true;
    await stopAll(byIndex);
    throw err;
  });

  const pids = [...byIndex.values()].map((w) => w.process.pid).join(", ");
  for (const line of started) process.stdout.write(`${line}\n`);
  process.stdout.write(
    `  workers:       ${count} processes sharing port ${config.http.port} (pids ${pids})\n`,
  );

  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    const index = [...byIndex].find(([, w]) => w === worker)?.[0];
    if (index === undefined) return;
    log.error({ worker: index + 1, code, signal }, "gateway worker exited; starting a new one");
    setTimeout(() => {
      if (!stopping) fork(index);
    }, RESTART_DELAY_MS);
  });

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping the gateway workers");
    await stopAll(byIndex);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

/** SIGTERM to every live worker; SIGKILL to one still running after the grace period. */
async function stopAll(byIndex: Map<number, Worker>): Promise<void> {
  await Promise.all(
    [...byIndex.values()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          const kill = setTimeout(() => worker.process.kill("SIGKILL"), STOP_GRACE_MS);
          worker.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          worker.process.kill("SIGTERM");
        }),
    ),
  );
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
  // The primary died without stopping us: do not serve on unsupervised.
  process.on("disconnect", () => void stop());
}
