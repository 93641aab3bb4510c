import { createServer, type Socket } from "node:net";
import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from "@electric-sql/pglite-socket";
import type { DbLogger } from "../logger.ts";
import { ExclusiveQueryQueue } from "./exclusive-queue.ts";

/**
 * Serves one PGlite engine to any number of local connections over the
 * Postgres wire protocol on 127.0.0.1 (ephemeral port). pglite-socket's
 * handler does the framing (startup, SSL refusal, message splitting); our
 * ExclusiveQueryQueue decides whose turn it is (see why in that file).
 */
export interface WireServer {
  readonly port: number;
  readonly queue: ExclusiveQueryQueue;
  /** Number of attached client connections. */
  connectionCount(): number;
  /**
   * Stops accepting connections, lets the connection that holds the engine
   * finish (up to graceMs; after that its transaction is rolled back), tells
   * every other connection with FATAL 57P01 that nothing of theirs ran, and
   * closes them all.
   */
  stop(graceMs: number): Promise<void>;
}

export interface WireServerOptions {
  busyTimeoutMs?: number;
  /** Required from every connection (cleartext over loopback) when set. */
  password?: string;
  logger?: DbLogger;
}

type HandlerQueue = PGLiteSocketHandlerOptions["queryQueue"];

export async function startWireServer(engine: PGlite, options: WireServerOptions = {}): Promise<WireServer> {
  const logger = options.logger ?? {};
  const queue = new ExclusiveQueryQueue(engine, {
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    logger,
  });
  const connections = new Map<number, { socket: Socket; handler: PGLiteSocketHandler }>();

  const server = createServer((socket) => {
    // The handler types its queue as pglite-socket's (unexported) class; ours
    // implements the same methods the handler calls.
    const handler = new PGLiteSocketHandler({
      queryQueue: queue as unknown as HandlerQueue,
      closeOnDetach: true,
    });
    const id = handler.handlerId;
    connections.set(id, { socket, handler });
    const forget = () => connections.delete(id);
    handler.addEventListener("close", forget);
    handler.addEventListener("error", forget);
    handler.attach(socket).catch((err: unknown) => {
      logger.warn?.("embedded server could not attach a connection", { error: String(err) });
      forget();
      socket.destroy();
    });
  });
  server.on("error", (err) => logger.error?.("embedded server error", { error: String(err) }));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("embedded server has no TCP address");

  let stopping: Promise<void> | undefined;
  const stop = async (graceMs: number): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const stuck = await queue.drain(graceMs);
    if (stuck !== null) {
      logger.warn?.(
        "embedded server stopping: rolling back a transaction still open after the grace period",
        {
          graceMs,
        },
      );
      const entry = connections.get(stuck);
      await queue.forceRelease(stuck);
      const notice = queue.tellShutdown(stuck, true);
      if (notice && entry?.socket.writable) entry.socket.write(notice);
    }
    await Promise.all(
      [...connections.entries()].map(async ([id, { socket }]) => {
        const notice = queue.tellShutdown(id);
        if (notice && socket.writable) socket.write(notice);
        await endSocket(socket, 1_000);
      }),
    );
    connections.clear();
    await closed;
  };

  return {
    port: address.port,
    queue,
    connectionCount: () => connections.size,
    stop: (graceMs) => {
      stopping ??= stop(graceMs);
      return stopping;
    },
  };
}

/** Half-closes (flushing what was written), then destroys if the peer lingers. */
function endSocket(socket: Socket, timeoutMs: number): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}
