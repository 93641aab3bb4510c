import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { EmbeddedEngine, type EmbeddedEngineOptions } from "./embedded/engine.ts";
import { EmbeddedPool, guardPool } from "./embedded/pool.ts";
import type { DbLogger } from "./logger.ts";
import type { Database } from "./schema/database.ts";
import type { Db } from "./types.ts";
import { redactDatabaseUrl } from "./url.ts";

export type DatabaseEngine = "postgres" | "embedded";

export interface OpenDatabaseOptions {
  /** postgres:// URL. Without it the embedded engine (PGlite) under `<dataDir>/pglite` is used. */
  url?: string;
  /** The instance's data folder (used by the embedded engine only). */
  dataDir: string;
  /** Connections in this process's pool. Default 10 (postgres), 4 (embedded: statements run one at a time anyway). */
  poolSize?: number;
  logger?: DbLogger;
  /** Tuning of the embedded engine (timeouts); ignored with `url`. */
  embedded?: EmbeddedEngineOptions;
}

export interface DatabaseHandle {
  readonly db: Db;
  readonly engine: DatabaseEngine;
  /**
   * The URL connections go to, without a password (safe to log). For the
   * embedded engine, the loopback address of whichever process serves it now.
   */
  readonly url: string;
  /** Resolves when `SELECT 1` answers within timeoutMs; rejects otherwise. */
  ping(timeoutMs?: number): Promise<void>;
  /** Closes the pool; the embedded engine's owner also stops serving and closes PGlite. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the database: real Postgres when `url` is given, otherwise the
 * embedded engine. Either way the result is a kysely instance over `pg`
 * (PostgresDialect): the embedded engine is reached through a loopback wire
 * server run by whichever process opened it first, so CLI commands work while
 * `serve` runs and vice versa.
 *
 * @example
 *   const handle = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, logger });
 *   await migrate(handle);
 *   …
 *   await handle.close();
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const logger = options.logger ?? {};
  return options.url !== undefined && options.url !== ""
    ? openPostgres(options.url, options.poolSize ?? 10, logger)
    : openEmbedded(options, logger);
}

function openPostgres(url: string, poolSize: number, logger: DbLogger): DatabaseHandle {
  const safeUrl = redactDatabaseUrl(url);
  if (safeUrl.startsWith("(")) throw new Error(`database url must be a postgres:// or postgresql:// URL`);
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  guardPool(pool, logger);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return makeHandle(
    db,
    "postgres",
    () => safeUrl,
    async () => {
      await db.destroy();
    },
  );
}

async function openEmbedded(options: OpenDatabaseOptions, logger: DbLogger): Promise<DatabaseHandle> {
  const engine = new EmbeddedEngine(options.dataDir, { ...options.embedded, logger });
  const pool = new EmbeddedPool(engine, { size: options.poolSize ?? 4, logger });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const handle = makeHandle(
    db,
    "embedded",
    () => `postgres://postgres@127.0.0.1:${engine.port ?? 0}/postgres`,
    async () => {
      try {
        await db.destroy();
      } finally {
        await engine.close();
      }
    },
  );
  try {
    // Find or start the server now, so a broken folder fails here, not at the first query.
    await engine.endpoint();
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

function makeHandle(
  db: Db,
  engine: DatabaseEngine,
  url: () => string,
  close: () => Promise<void>,
): DatabaseHandle {
  let closing: Promise<void> | undefined;
  return {
    db,
    engine,
    get url() {
      return url();
    },
    async ping(timeoutMs = 5_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`database did not answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        await Promise.race([sql`select 1`.execute(db), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      closing ??= close();
      return closing;
    },
  };
}
