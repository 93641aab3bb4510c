/**
 * The local process host: one `serve` process runs the roles it is given
 * (gateway, worker, scheduler, all), composing services/gateway and the job
 * handlers of functions/jobs the way the container and the Lambda runtime do
 * in AWS. It is the only place above services/ and functions/.
 */
import { createSqsQueue, InProcessQueue, SecretBox } from "@codex-pooler/adapters";
import type { AppConfig, Role } from "@codex-pooler/config";
import type { Logger, QueueConsumer, QueueProducer } from "@codex-pooler/core";
import { type DatabaseHandle, migrate } from "@codex-pooler/db";
import { type CodexGateway, startCodexGateway } from "@codex-pooler/gateway";
import { createIngestRequestRecordsHandler, purgeExpiredAffinities } from "@codex-pooler/jobs";
import { openDatabaseFor, rootKeysFor } from "./resources.ts";
import { CliError, dbLoggerFrom } from "./runtime.ts";

export interface HostOptions {
  config: Readonly<AppConfig>;
  role: Role;
  logger: Logger;
  /** Override the listen port (tests: 0 for a free one). */
  port?: number;
  /** Run the scheduler role when the role includes it (default true; only the first of several worker processes does). */
  scheduler?: boolean;
  /** Other worker processes listen on the same port on purpose (`serve --workers`). */
  sharedPort?: boolean;
}

export interface RunningHost {
  readonly database: DatabaseHandle;
  readonly gateway: CodexGateway | undefined;
  readonly queue: (QueueProducer & QueueConsumer) | undefined;
  describe(): string[];
  stop(): Promise<void>;
}

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const { config, role, logger } = options;
  const embedded = config.database.url === undefined;
  const inProcessQueue = config.aws.endpointUrl === undefined;
  if (role !== "all" && (embedded || inProcessQueue)) {
    throw new CliError(
      `--role ${role} needs DATABASE_URL and AWS_ENDPOINT_URL (SQS): the embedded database and the in-process queue live in one process, so run --role all instead`,
    );
  }
  const runs = (r: Role) => role === "all" || role === r;
  const database = await openDatabaseFor(config, logger);
  const stops: Array<() => Promise<void>> = [];
  try {
    // A laptop install has one process and nobody to run `migrate` first.
    if (embedded) await migrate(database, { logger: dbLoggerFrom(logger) });

    const queue = inProcessQueue
      ? new InProcessQueue({})
      : createSqsQueue({ endpointUrl: config.aws.endpointUrl, region: config.aws.region });

    let gateway: CodexGateway | undefined;
    if (runs("gateway")) {
      const keys = await rootKeysFor(config);
      const sealer = new SecretBox({ keys: [keys.upstream] });
      gateway = await startCodexGateway({
        config,
        logger: logger.child({ role: "gateway" }),
        database,
        producer: queue,
        sealer,
        ...(options.port !== undefined ? { port: options.port } : {}),
        ...(options.sharedPort ? { sharedPort: true } : {}),
      });
      const g = gateway;
      stops.push(() => g.stop(2000));
    }

    if (runs("worker")) {
      const ingest = createIngestRequestRecordsHandler({
        db: database.db,
        logger: logger.child({ role: "worker" }),
      });
      queue.start(config.aws.requestRecordsQueue, (event) => ingest(event, {} as never), {
        concurrency: config.jobs.queueLimit,
      });
      stops.push(async () => {
        // The in-process queue lives in this process's memory: handle what is left before stopping,
        // or those records would be lost with the process.
        if (queue instanceof InProcessQueue) {
          const deadline = Date.now() + 30_000;
          for (;;) {
            const s = queue.stats(config.aws.requestRecordsQueue);
            if (s.waiting + s.inFlight === 0 || Date.now() > deadline) break;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        await queue.stop();
      });
    }

    if (runs("scheduler") && options.scheduler !== false) {
      const log = logger.child({ role: "scheduler" });
      const purge = () =>
        purgeExpiredAffinities(database.db, new Date())
          .then((n) => n > 0 && log.info({ purged: n }, "expired thread affinities purged"))
          .catch((err: unknown) => log.warn({ err }, "affinity purge failed"));
      const timer = setInterval(purge, 10 * 60_000);
      timer.unref();
      void purge();
      stops.push(async () => clearInterval(timer));
    }

    return {
      database,
      gateway,
      queue,
      describe() {
        const lines = [
          `codex-pooler serving: role ${role}, ${database.engine} database, ${inProcessQueue ? "in-process queue" : "SQS queue"}`,
        ];
        if (gateway) {
          const host = config.http.host === "0.0.0.0" ? "localhost" : config.http.host;
          const base = `http://${host}:${gateway.port}`;
          lines.push(
            `  Codex backend: ${base}/backend-api/codex`,
            `  health:        ${base}/healthz`,
            `  readiness:     ${base}/readyz`,
          );
        }
        return lines;
      },
      async stop() {
        // Gateway first (stop taking requests, flush records), then the consumers, then the database.
        for (const stop of stops)
          await stop().catch((err: unknown) => logger.warn({ err }, "stop step failed"));
        await database.close();
      },
    };
  } catch (err) {
    for (const stop of stops) await stop().catch(() => {});
    await database.close().catch(() => {});
    throw err;
  }
}
