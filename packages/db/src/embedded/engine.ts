import { randomBytes } from "node:crypto";
import { chmod, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import type { DbLogger } from "../logger.ts";
import {
  currentIdentity,
  isAlive,
  isPortAnswering,
  LOCK_FILE,
  type OwnerLock,
  readServerInfo,
  removeServerInfo,
  removeServerInfoSync,
  type ServerInfo,
  tryAcquireOwnerLock,
  writeServerInfo,
} from "./ownership.ts";
import { startWireServer, type WireServer } from "./wire-server.ts";

export interface EmbeddedEngineOptions {
  logger?: DbLogger;
  /** How long a connection may wait for the engine before its statement fails (55P03). Default 60 s. */
  busyTimeoutMs?: number;
  /** How long to wait for another process that holds the folder to start serving. Default 120 s. */
  startTimeoutMs?: number;
  /** On close, how long an open transaction of another process may take to finish. Default 10 s. */
  closeGraceMs?: number;
}

/** Where the live server is and the password it wants. */
export interface Endpoint {
  port: number;
  password: string;
}

interface Owned {
  engine: PGlite;
  server: WireServer;
  lock: OwnerLock;
  info: ServerInfo;
  exitHook: () => void;
}

/**
 * One process's view of an embedded data folder (`<dataDir>/pglite`): finds
 * the live owner's port, or becomes the owner (opens PGlite, serves it on
 * 127.0.0.1, publishes server.json). Consumers always connect through `pg`,
 * the owner included, so there is a single code path.
 */
export class EmbeddedEngine {
  readonly dir: string;
  readonly #logger: DbLogger;
  readonly #options: EmbeddedEngineOptions;
  #owned: Owned | undefined;
  #endpoint: Endpoint | undefined;
  #discovering: Promise<Endpoint> | undefined;
  #closed = false;

  constructor(dataDir: string, options: EmbeddedEngineOptions = {}) {
    this.dir = resolve(dataDir, "pglite");
    this.#logger = options.logger ?? {};
    this.#options = options;
  }

  /** True while this process holds the engine. */
  get isOwner(): boolean {
    return this.#owned !== undefined;
  }

  /** The port last found (or served); undefined before the first endpoint(). */
  get port(): number | undefined {
    return this.#endpoint?.port;
  }

  /**
   * The live server. Pass the port that just failed to look again (the
   * owner may have gone; we may take over). Concurrent callers share one
   * search.
   */
  endpoint(failedPort?: number): Promise<Endpoint> {
    if (this.#closed) return Promise.reject(new Error("embedded database handle is closed"));
    const known = this.#endpoint;
    if (known !== undefined && failedPort !== known.port) return Promise.resolve(known);
    if (this.#owned && failedPort === known?.port) {
      return Promise.reject(new Error("the embedded database served by this process stopped answering"));
    }
    this.#discovering ??= this.#discover().finally(() => {
      this.#discovering = undefined;
    });
    return this.#discovering;
  }

  async #discover(): Promise<Endpoint> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const timeoutMs = this.#options.startTimeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    let waitingLogged = false;
    for (;;) {
      if (this.#closed) throw new Error("embedded database handle is closed");
      const info = await readServerInfo(this.dir);
      if (info && isAlive(info) && (await isPortAnswering(info.port))) {
        this.#logger.debug?.("using the embedded database served by another process", {
          pid: info.pid,
          port: info.port,
        });
        this.#endpoint = { port: info.port, password: info.password };
        return this.#endpoint;
      }
      const lock = await tryAcquireOwnerLock(this.dir);
      if (lock) {
        try {
          this.#endpoint = await this.#becomeOwner(lock);
          return this.#endpoint;
        } catch (err) {
          await lock.release();
          throw err;
        }
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for the embedded database in ${this.dir}: ` +
            `another process holds ${LOCK_FILE} but does not serve it`,
        );
      }
      if (!waitingLogged) {
        waitingLogged = true;
        this.#logger.info?.("waiting for another process to start serving the embedded database", {
          dir: this.dir,
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async #becomeOwner(lock: OwnerLock): Promise<Endpoint> {
    // Whatever server.json says now is a dead owner's: we hold the lock.
    await removeServerInfo(this.dir);
    // The folder holds the database and the server's password: owner only.
    await chmod(this.dir, 0o700);
    const password = randomBytes(24).toString("base64url");
    const started = Date.now();
    const engine = await PGlite.create(join(this.dir, "pgdata"));
    let server: WireServer | undefined;
    try {
      if (this.#closed) throw new Error("embedded database handle is closed");
      server = await startWireServer(engine, {
        logger: this.#logger,
        password,
        ...(this.#options.busyTimeoutMs !== undefined ? { busyTimeoutMs: this.#options.busyTimeoutMs } : {}),
      });
      const info: ServerInfo = { ...currentIdentity(), port: server.port, password };
      await writeServerInfo(this.dir, info);
      // If the process exits without close(), leave no files naming it (the
      // next process would recover anyway; this just saves it the wait).
      const exitHook = () => {
        removeServerInfoSync(this.dir, info);
        lock.releaseSync();
      };
      process.once("exit", exitHook);
      this.#owned = { engine, server, lock, info, exitHook };
      this.#logger.info?.("embedded database opened and served on loopback", {
        dir: this.dir,
        port: server.port,
        ms: Date.now() - started,
      });
      return { port: server.port, password };
    } catch (err) {
      await server?.stop(0);
      await engine.close();
      throw err;
    }
  }

  /** Stops serving (if we own the engine) and closes it. Other processes take over on their next connection. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#discovering?.catch(() => undefined);
    const owned = this.#owned;
    this.#owned = undefined;
    if (!owned) return;
    process.off("exit", owned.exitHook);
    try {
      await owned.server.stop(this.#options.closeGraceMs ?? 10_000);
      await owned.engine.close();
    } finally {
      await removeServerInfo(this.dir, owned.info);
      await owned.lock.release();
    }
    this.#logger.info?.("embedded database closed", { dir: this.dir });
  }
}
