/**
 * The gateway process: health and readiness today; the Codex and /v1 routes
 * attach here. Composition (config, database, adapters) happens in the
 * caller; this module only wires routes to what it is given.
 */
import { randomUUID } from "node:crypto";
import { DomainError, type Logger, toOpenAiErrorBody } from "@codex-pooler/core";
import {
  BodyTooLargeError,
  type IncomingRequest,
  type ResponseStream,
  type Route,
  type RunningHttpServer,
  startHttpServer,
} from "./uws/http.ts";
import { registerWebsocket, type WsRoute } from "./uws/websocket.ts";

export interface ReadinessProbe {
  /** Resolves when the database answered `select 1` within `timeoutMs`. */
  ping(timeoutMs: number): Promise<void>;
}

export interface GatewayOptions {
  host: string;
  port: number;
  logger: Logger;
  database: ReadinessProbe;
  /** Extra routes (the Codex and /v1 surfaces). */
  routes?: Route[];
  websockets?: WsRoute[];
  defaultBodyLimit?: number;
  /** Other processes share this port on purpose (`serve --workers`). */
  sharedPort?: boolean;
}

export interface RunningGateway {
  readonly port: number;
  /**
   * Readiness turns 503 at once while the gateway keeps serving (so a load
   * balancer stops sending traffic), then the listener closes and in-flight
   * work gets the rest of `graceMs` before every connection is closed.
   */
  drain(graceMs: number): Promise<void>;
  close(): void;
}

export function requestIdFor(_req: IncomingRequest): string {
  return `req_${randomUUID().replace(/-/g, "")}`;
}

export function sendError(res: ResponseStream, err: DomainError, requestId: string): void {
  const headers: Array<[string, string]> = [["x-request-id", requestId]];
  if (err.retryAfterSeconds !== undefined)
    headers.push(["retry-after", String(Math.max(0, Math.ceil(err.retryAfterSeconds)))]);
  res.json(err.status, toOpenAiErrorBody(err, requestId), headers);
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const log = options.logger;
  let draining = false;

  const health: Route[] = [
    {
      method: "GET",
      pattern: "/healthz",
      handler: (req, res) => res.json(200, { status: "ok" }, [["x-request-id", requestIdFor(req)]]),
    },
    {
      method: "GET",
      pattern: "/readyz",
      handler: async (req, res) => {
        const id: Array<[string, string]> = [["x-request-id", requestIdFor(req)]];
        if (draining) {
          res.json(503, { status: "unavailable", reason: "draining" }, id);
          return;
        }
        try {
          await options.database.ping(1000);
          res.json(200, { status: "ok", checks: { database: "ok" } }, id);
        } catch (err) {
          log.warn({ err }, "readiness check failed: database");
          res.json(503, { status: "unavailable", reason: "database_unreachable" }, id);
        }
      },
    },
  ];

  const server: RunningHttpServer = await startHttpServer(options.host, options.port, {
    routes: [...health, ...(options.routes ?? [])],
    configure: (app) => {
      for (const ws of options.websockets ?? []) {
        registerWebsocket(app, ws, (err) => log.error({ err }, "websocket upgrade failed"));
      }
    },
    defaultBodyLimit: options.defaultBodyLimit ?? 1024 * 1024,
    ...(options.sharedPort ? { sharedPort: true } : {}),
    fallback: (req, res) => {
      sendError(
        res,
        new DomainError("not_found", { message: `No route for ${req.method} ${req.path}.` }),
        requestIdFor(req),
      );
    },
    onError: (err, req, res) => {
      const requestId = requestIdFor(req);
      if (err instanceof DomainError) {
        sendError(res, err, requestId);
        return;
      }
      if (err instanceof BodyTooLargeError) {
        sendError(res, new DomainError("body_too_large"), requestId);
        return;
      }
      // Never send internals on a 5xx: log the cause chain, answer the code and the id.
      log.error({ err, requestId, route: req.path }, "unhandled error in route");
      if (res.headSent) res.destroy();
      else sendError(res, new DomainError("internal_error"), requestId);
    },
  });
  log.info({ port: server.port }, "gateway listening");

  return {
    port: server.port,
    async drain(graceMs) {
      draining = true;
      const notReadyMs = Math.min(graceMs / 2, 1000);
      await new Promise((r) => setTimeout(r, notReadyMs).unref());
      server.stopListening();
      await new Promise((r) => setTimeout(r, graceMs - notReadyMs).unref());
      server.close();
    },
    close() {
      draining = true;
      server.close();
    },
  };
}
