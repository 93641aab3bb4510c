import { timingSafeEqual } from "node:crypto";
import type { PGlite } from "@electric-sql/pglite";
import type { DbLogger } from "../logger.ts";
import {
  authenticationCleartextPassword,
  copyFailMessage,
  errorResponse,
  executeMessage,
  frontendType,
  NOT_EXECUTED_DETAIL,
  queryMessage,
  ReadyForQueryScanner,
  readyForQuery,
  SYNC_MESSAGE,
  type TxStatus,
} from "./wire.ts";

/**
 * Why this file exists instead of pglite-socket's own queue
 * ---------------------------------------------------------
 * PGlite is ONE Postgres backend (one session). pglite-socket lets several
 * TCP connections share it through a message queue, but its stock
 * multiplexer only keeps a connection's turn while `isInTransaction()` is
 * true. Outside an explicit transaction it hands the engine to whichever
 * connection queued next after EVERY message. `pg` sends any parameterised
 * query as an extended-protocol batch (Parse, Bind, Describe, Execute, Sync),
 * and those messages share the session's unnamed statement and portal: two
 * connections' batches interleave (P1 P2 B1 B2 E1 …) and one connection runs
 * the other's statement or gets its rows, or an error in one batch makes the
 * engine skip the other's messages until a Sync. That is silent data
 * corruption, so we keep our own queue with a stricter rule:
 *
 *   A connection owns the engine from its first message until the engine
 *   answers ReadyForQuery with status 'I' (idle).
 *
 * So an explicit transaction ('T', or failed 'E') and an unfinished extended
 * batch both keep the turn; other connections wait in FIFO order. When the
 * owning connection drops, we end whatever it left open — an unfinished batch
 * is aborted (never committed) and a transaction rolled back — before anybody
 * else gets the engine.
 *
 * The queue implements exactly the interface `PGLiteSocketHandler` calls:
 * `enqueue`, `clearQueueForHandler`, `clearTransactionIfNeeded` (and
 * `getQueueLength`). The handler awaits each `enqueue`, so a connection's
 * messages arrive here in order.
 *
 * Consequences of sharing one session (documented limits of embedded mode):
 * session state (`SET` without LOCAL, session advisory locks, temp tables,
 * named prepared statements, LISTEN) is shared by all connections; a
 * process that holds a transaction open on one connection while waiting for
 * a query on another connection deadlocks until `busyTimeoutMs` fails the
 * waiter with SQLSTATE 55P03; and a client still sending a large batch holds
 * the turn while its bytes arrive.
 */

type Engine = Pick<PGlite, "execProtocolRawStream" | "runExclusive">;

interface Job {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

export interface ExclusiveQueueOptions {
  /** How long a connection may wait for its turn before its statement fails with 55P03. */
  busyTimeoutMs?: number;
  /**
   * When set, a connection must answer a cleartext password request with it
   * before anything of it reaches the engine (PGlite itself trusts everyone,
   * and the loopback port is open to every local user).
   */
  password?: string;
  logger?: DbLogger;
}

const RELEASE_PORTAL = "__codex_pooler_abort_batch__";

export class ExclusiveQueryQueue {
  readonly #engine: Engine;
  readonly #busyTimeoutMs: number;
  readonly #logger: DbLogger;
  readonly #scanner = new ReadyForQueryScanner();
  #jobs: Job[] = [];
  #owner: number | null = null;
  /** The owner has sent messages whose batch has not reached ReadyForQuery yet. */
  #ownerMidBatch = false;
  #running = false;
  #draining = false;
  /** Handlers that dropped while owning the engine, with the waiters of their release. */
  readonly #dropped = new Map<number, Array<() => void>>();
  /** Handlers answered with an error by us; their messages are discarded until Sync. */
  readonly #failing = new Set<number>();
  readonly #idleWaiters: Array<() => void> = [];
  readonly #toldShutdown = new Set<number>();
  readonly #password: Buffer | undefined;
  /** Connections that sent their StartupMessage and owe us the password. */
  readonly #awaitingPassword = new Map<number, Uint8Array>();
  readonly #authenticated = new Set<number>();

  constructor(engine: Engine, options: ExclusiveQueueOptions = {}) {
    this.#engine = engine;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 60_000;
    this.#logger = options.logger ?? {};
    this.#password = options.password === undefined ? undefined : Buffer.from(options.password, "utf8");
  }

  /** The connection currently holding the engine, if any. */
  get owner(): number | null {
    return this.#owner;
  }

  /** Transaction status after the last ReadyForQuery the engine sent. */
  get status(): TxStatus {
    return this.#scanner.lastStatus;
  }

  getQueueLength(): number {
    return this.#jobs.length;
  }

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const job: Job = { handlerId, message, onData, resolve, reject, timer: undefined };
      const type = frontendType(message);
      // Terminate would end the engine's only session; the socket closing is
      // what tells us the connection is gone (see clearTransactionIfNeeded).
      if (type === "X") return resolve(0);
      if (this.#password && !this.#authenticated.has(handlerId)) {
        const startup = this.#authenticate(job, type);
        if (!startup) return resolve(0);
        job.message = startup; // authenticated: now the engine sees the connection's StartupMessage
      }
      if (this.#failing.has(handlerId) && !this.#jobs.some((j) => j.handlerId === handlerId)) {
        return resolve(this.#answerWhileFailing(job));
      }
      if (this.#draining && this.#owner !== handlerId) {
        return resolve(this.#answerShutdown(job));
      }
      if (this.#owner !== handlerId && this.#busyTimeoutMs > 0) {
        job.timer = setTimeout(() => this.#timeOut(handlerId), this.#busyTimeoutMs);
        job.timer.unref();
      }
      this.#jobs.push(job);
      void this.#pump();
    });
  }

  clearQueueForHandler(handlerId: number): void {
    this.#failing.delete(handlerId);
    this.#awaitingPassword.delete(handlerId);
    this.#authenticated.delete(handlerId);
    this.#jobs = this.#jobs.filter((job) => {
      if (job.handlerId !== handlerId) return true;
      clearTimeout(job.timer);
      job.resolve(0);
      return false;
    });
  }

  /** Called when a connection detaches: releases the engine if that connection held it. */
  clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#owner !== handlerId) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiters = this.#dropped.get(handlerId) ?? [];
      waiters.push(resolve);
      this.#dropped.set(handlerId, waiters);
      void this.#pump();
    });
  }

  /**
   * Stops giving the engine to new turns and waits (up to graceMs) for the
   * current owner to reach idle. Returns the handler still holding the engine
   * after the grace period, if any. Waiting connections are answered with the
   * retryable FATAL 57P01 (see NOT_EXECUTED_DETAIL).
   */
  async drain(graceMs: number): Promise<number | null> {
    this.#draining = true;
    const waiting = this.#jobs.filter((j) => j.handlerId !== this.#owner);
    this.#jobs = this.#jobs.filter((j) => j.handlerId === this.#owner);
    for (const job of waiting) job.resolve(this.#answerShutdown(job));
    if (this.#owner === null && !this.#running) return null;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#idleWaiters.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    return this.#owner;
  }

  /** Ends what a connection left open (used for a forced shutdown after drain). */
  async forceRelease(handlerId: number): Promise<void> {
    this.clearQueueForHandler(handlerId);
    await this.clearTransactionIfNeeded(handlerId);
  }

  async #pump(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        this.#settleDropped();
        if (this.#owner !== null && this.#dropped.has(this.#owner)) {
          await this.#release(this.#owner);
          continue;
        }
        const job = this.#next();
        if (!job) break;
        await this.#execute(job);
      }
    } finally {
      this.#running = false;
    }
    this.#settleDropped();
    if (this.#owner === null) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** A dropped connection whose last message already ended its turn needs no release. */
  #settleDropped(): void {
    for (const [handlerId, waiters] of this.#dropped) {
      if (this.#owner === handlerId) continue;
      this.#dropped.delete(handlerId);
      for (const wake of waiters) wake();
    }
  }

  #next(): Job | undefined {
    let index = 0;
    if (this.#owner !== null) {
      index = this.#jobs.findIndex((j) => j.handlerId === this.#owner);
    } else if (this.#draining || this.#jobs.length === 0) {
      return undefined;
    }
    if (index < 0) return undefined;
    const [job] = this.#jobs.splice(index, 1);
    if (job) clearTimeout(job.timer);
    return job;
  }

  async #execute(job: Job): Promise<void> {
    this.#owner = job.handlerId;
    this.#ownerMidBatch = true;
    const readyBefore = this.#scanner.readyCount;
    let bytes = 0;
    try {
      await this.#engine.runExclusive(() =>
        this.#engine.execProtocolRawStream(job.message, {
          onRawData: (data: Uint8Array) => {
            this.#scanner.push(data);
            bytes += data.length;
            job.onData(data);
          },
        }),
      );
    } catch (err) {
      // The engine itself failed (not an SQL error, which arrives as an
      // ErrorResponse). The handler closes the connection on rejection, which
      // brings us back through clearTransactionIfNeeded.
      this.#logger.error?.("embedded engine failed to process a message", { error: String(err) });
      job.reject(err);
      return;
    }
    if (this.#scanner.readyCount !== readyBefore) {
      this.#ownerMidBatch = false;
      if (this.#scanner.lastStatus === "I") this.#owner = null;
    }
    job.resolve(bytes);
  }

  /** Ends the dropped owner's unfinished batch and transaction without committing anything. */
  async #release(handlerId: number): Promise<void> {
    const run = async (message: Uint8Array) => {
      await this.#engine.runExclusive(() =>
        this.#engine.execProtocolRawStream(message, { onRawData: (data) => this.#scanner.push(data) }),
      );
    };
    try {
      if (this.#ownerMidBatch) {
        // A Sync alone would COMMIT the batch's implicit transaction. Make the
        // batch fail first (an unknown portal is a harmless error; CopyFail
        // ends a COPY FROM STDIN), so the Sync that follows rolls it back.
        await run(copyFailMessage("connection closed"));
        await run(executeMessage(RELEASE_PORTAL));
        await run(SYNC_MESSAGE);
      }
      if (this.#scanner.lastStatus !== "I") await run(queryMessage("ROLLBACK"));
      this.#logger.debug?.("embedded engine released by a closed connection", { handlerId });
    } catch (err) {
      this.#logger.error?.("could not release the embedded engine after a connection closed", {
        handlerId,
        error: String(err),
      });
    }
    this.#owner = null;
    this.#ownerMidBatch = false;
    for (const wake of this.#dropped.get(handlerId) ?? []) wake();
    this.#dropped.delete(handlerId);
  }

  /**
   * Password handshake in front of the engine. Returns the connection's
   * StartupMessage once the right password arrived; answers (and returns
   * undefined) otherwise. A wrong password or a message out of order gets
   * FATAL, after which the client closes the connection.
   */
  #authenticate(job: Job, type: string): Uint8Array | undefined {
    const fatal = (code: string, message: string) =>
      job.onData(errorResponse({ severity: "FATAL", code, message }));
    const startup = this.#awaitingPassword.get(job.handlerId);
    if (type === "startup" && !startup) {
      this.#awaitingPassword.set(job.handlerId, job.message);
      job.onData(authenticationCleartextPassword());
      return undefined;
    }
    if (type === "p" && startup) {
      this.#awaitingPassword.delete(job.handlerId);
      const given = Buffer.from(job.message.subarray(5, Math.max(5, job.message.length - 1)));
      if (
        this.#password &&
        given.length === this.#password.length &&
        timingSafeEqual(given, this.#password)
      ) {
        this.#authenticated.add(job.handlerId);
        return startup;
      }
      fatal("28P01", "password authentication failed for the embedded database");
      return undefined;
    }
    fatal("28000", "the embedded database requires a password");
    return undefined;
  }

  #dequeue(job: Job): void {
    clearTimeout(job.timer);
  }

  /** A connection waited longer than busyTimeoutMs: fail its pending statement (nothing ran). */
  #timeOut(handlerId: number): void {
    if (this.#owner === handlerId) return;
    const mine = this.#jobs.filter((j) => j.handlerId === handlerId);
    if (mine.length === 0) return;
    this.#jobs = this.#jobs.filter((j) => j.handlerId !== handlerId);
    this.#logger.warn?.("embedded engine busy: a connection waited too long for its turn", {
      handlerId,
      busyTimeoutMs: this.#busyTimeoutMs,
    });
    const error = errorResponse({
      severity: frontendType(mine[0]!.message) === "startup" ? "FATAL" : "ERROR",
      code: "55P03",
      message: `embedded database busy: another connection held it for more than ${this.#busyTimeoutMs} ms`,
      hint: "A transaction is open on another connection; on the embedded engine transactions run one at a time.",
    });
    let first = true;
    for (const job of mine) {
      this.#dequeue(job);
      if (first) {
        first = false;
        job.resolve(this.#answerFirstFailure(job, error));
      } else {
        job.resolve(this.#answerWhileFailing(job));
      }
    }
  }

  /** Answers a message that will not reach the engine with `error`, keeping the protocol in step. */
  #answerFirstFailure(job: Job, error: Uint8Array): number {
    const type = frontendType(job.message);
    if (type === "startup") {
      job.onData(error);
      return error.length;
    }
    if (type === "Q" || type === "S") {
      const reply = Buffer.concat([error, readyForQuery("I")]);
      job.onData(reply);
      return reply.length;
    }
    // Inside an extended batch: like the server after an error, ignore the
    // rest of the batch until its Sync, then report ReadyForQuery.
    this.#failing.add(job.handlerId);
    job.onData(error);
    return error.length;
  }

  #answerWhileFailing(job: Job): number {
    if (frontendType(job.message) !== "S") return 0;
    this.#failing.delete(job.handlerId);
    const reply = readyForQuery("I");
    job.onData(reply);
    return reply.length;
  }

  #answerShutdown(job: Job): number {
    this.#dequeue(job);
    if (this.#failing.has(job.handlerId)) return this.#answerWhileFailing(job);
    const notice = this.tellShutdown(job.handlerId);
    if (!notice) return 0;
    job.onData(notice);
    return notice.length;
  }

  /**
   * The FATAL 57P01 telling a connection that the engine is going away and
   * that none of its pending statements ran; undefined once already told (one
   * per connection — the server closes the socket right after).
   */
  tellShutdown(handlerId: number, rolledBack = false): Uint8Array | undefined {
    if (this.#toldShutdown.has(handlerId) || this.#owner === handlerId) return undefined;
    this.#toldShutdown.add(handlerId);
    if (rolledBack) {
      // Not retryable: the connection's transaction had started and is gone.
      return errorResponse({
        severity: "FATAL",
        code: "57P01",
        message: "the process serving the embedded database shut down; the open transaction was rolled back",
      });
    }
    return errorResponse({
      severity: "FATAL",
      code: "57P01",
      message: "the process serving the embedded database is shutting down",
      detail: NOT_EXECUTED_DETAIL,
    });
  }
}
