import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import pg from "pg";
import type { DbLogger } from "../logger.ts";
import type { EmbeddedEngine } from "./engine.ts";
import { NOT_EXECUTED_DETAIL } from "./wire.ts";

/**
 * A kysely `PostgresPool` over the embedded engine's loopback server that
 * survives a change of owner. When the owning process exits, its server
 * answers every waiting statement with FATAL 57P01 + NOT_EXECUTED_DETAIL
 * (nothing of it ran) and closes; we then find (or become) the next owner
 * and send the statement again. Anything else — an error inside a
 * transaction, a crashed owner — is passed to the caller unchanged.
 */

const CONNECTION_GONE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE"]);
const MAX_RETRIES = 5;

function errorCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : undefined;
}

/** The server told us the statement never reached the engine. */
export function isNotExecuted(err: unknown): boolean {
  return (
    errorCode(err) === "57P01" &&
    typeof err === "object" &&
    err !== null &&
    "detail" in err &&
    err.detail === NOT_EXECUTED_DETAIL
  );
}

/** While connecting nothing has run yet, so any loss of the server is worth another look. */
function isServerGoneWhileConnecting(err: unknown): boolean {
  if (isNotExecuted(err)) return true;
  const code = errorCode(err);
  if (code !== undefined && CONNECTION_GONE.has(code)) return true;
  return err instanceof Error && /Connection terminated/i.test(err.message);
}

interface Inner {
  port: number;
  pool: pg.Pool;
}

export class EmbeddedPool implements PostgresPool {
  readonly #engine: EmbeddedEngine;
  readonly #size: number;
  readonly #logger: DbLogger;
  #inner: Inner | undefined;
  #ended = false;

  constructor(engine: EmbeddedEngine, options: { size: number; logger?: DbLogger }) {
    this.#engine = engine;
    this.#size = options.size;
    this.#logger = options.logger ?? {};
  }

  async connect(): Promise<PostgresPoolClient> {
    return new RetryingClient(this, await this.connectRaw());
  }

  /** A raw pg client on the current owner's server, following the owner if it changed. */
  async connectRaw(): Promise<pg.PoolClient> {
    for (let attempt = 0; ; attempt++) {
      if (this.#ended) throw new Error("embedded database pool has ended");
      const inner = await this.#current();
      try {
        return await inner.pool.connect();
      } catch (err) {
        if (attempt >= MAX_RETRIES || !isServerGoneWhileConnecting(err)) throw err;
        this.#logger.debug?.("embedded database server went away; looking for the next owner", {
          port: inner.port,
        });
        await this.#engine.endpoint(inner.port);
      }
    }
  }

  async #current(): Promise<Inner> {
    const { port, password } = await this.#engine.endpoint();
    if (this.#inner?.port === port) return this.#inner;
    const old = this.#inner;
    const pool = new pg.Pool({
      host: "127.0.0.1",
      port,
      user: "postgres",
      password,
      database: "postgres",
      max: this.#size,
    });
    guardPool(pool, this.#logger);
    this.#inner = { port, pool };
    if (old) void old.pool.end().catch(() => undefined);
    return this.#inner;
  }

  async end(): Promise<void> {
    this.#ended = true;
    const inner = this.#inner;
    this.#inner = undefined;
    await inner?.pool.end();
  }
}

class RetryingClient implements PostgresPoolClient {
  readonly #pool: EmbeddedPool;
  #client: pg.PoolClient;

  constructor(pool: EmbeddedPool, client: pg.PoolClient) {
    this.#pool = pool;
    this.#client = client;
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    sqlOrCursor: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof sqlOrCursor !== "string") {
      return this.#client.query(sqlOrCursor as unknown as pg.Submittable) as unknown as PostgresCursor<R>;
    }
    return this.#query<R>(sqlOrCursor, parameters ?? []);
  }

  async #query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.#client.query(sql, [...parameters]);
        return result as unknown as PostgresQueryResult<R>;
      } catch (err) {
        if (attempt >= MAX_RETRIES || !isNotExecuted(err)) throw err;
        this.#client.release(true);
        this.#client = await this.#pool.connectRaw();
      }
    }
  }

  release(destroy?: boolean): void {
    this.#client.release(destroy);
  }
}

/**
 * pg emits 'error' on a client whose server goes away between queries; with
 * no listener that would crash the process. The pool listens for idle
 * clients only, so every client gets a listener when it is created.
 */
export function guardPool(pool: pg.Pool, logger: DbLogger): void {
  pool.on("error", (err) => logger.debug?.("idle database connection closed", { error: err.message }));
  pool.on("connect", (client) => {
    client.on("error", (err) => logger.debug?.("database connection closed", { error: err.message }));
  });
}
