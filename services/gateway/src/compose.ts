/**
 * Composition root of the gateway: builds the state, the relay and the
 * routes from what the host gives it (configuration, database, queue
 * producer, secret box) and starts listening.
 */
import { randomBytes } from "node:crypto";
import type { AppConfig } from "@codex-pooler/config";
import {
  type Clock,
  DomainError,
  type IdPrefix,
  type Logger,
  newId,
  type QueueProducer,
} from "@codex-pooler/core";
import { createGatewayRepository, type DatabaseHandle } from "@codex-pooler/db";
import { createUpstreamAgent, refreshTokens } from "@codex-pooler/upstream";
import { bulkheadLimitsFor, createBulkheads, openFilesLimit } from "./admission.ts";
import { type RunningGateway, startGateway } from "./app.ts";
import { KeyAuthenticator } from "./auth/keys.ts";
import { RequestRecorder } from "./records.ts";
import { createCompactHandler } from "./relay/compact.ts";
import { createResponsesHandler, type ResponsesDeps } from "./relay/responses.ts";
import { createV1Handler } from "./relay/v1.ts";
import { createWebsocketDecider, OpenSockets } from "./relay/websocket.ts";
import { createModelsHandler, createUsageHandler } from "./routes/catalog.ts";
import { createUnsupportedV1Handler, createV1ModelsHandler, createV1UsageHandler } from "./routes/v1.ts";
import { AffinityStore } from "./state/affinity.ts";
import { Registry } from "./state/registry.ts";
import { type TokenSealer, TokenVault } from "./state/tokens.ts";
import type { Route } from "./uws/http.ts";

export interface ComposeOptions {
  config: Readonly<AppConfig>;
  logger: Logger;
  database: DatabaseHandle;
  producer: QueueProducer;
  sealer: TokenSealer;
  clock?: Clock;
  /** Overrides for tests. */
  port?: number;
  host?: string;
  registryIntervalMs?: number;
  /** Other processes listen on this port on purpose (`serve --workers`): bind with SO_REUSEPORT. */
  sharedPort?: boolean;
}

export interface CodexGateway extends RunningGateway {
  readonly registry: Registry;
  readonly recorder: RequestRecorder;
  readonly sockets: OpenSockets;
  stop(graceMs?: number): Promise<void>;
}

const systemClock: Clock = { now: () => Date.now() };
/** Ids take random bytes from a pooled buffer: one syscall per 4 KiB instead of one per id. */
const random = (() => {
  let pool = randomBytes(4096);
  let offset = 0;
  return {
    bytes(n: number): Uint8Array {
      if (offset + n > pool.length) {
        pool = randomBytes(4096);
        offset = 0;
      }
      const out = pool.subarray(offset, offset + n);
      offset += n;
      return out;
    },
  };
})();

/** Request bodies: Codex replays whole histories, so allow large ones, but bound them. */
export const BODY_LIMITS = { maxCompressedBytes: 32 * 1024 * 1024, maxDecodedBytes: 64 * 1024 * 1024 };

export async function startCodexGateway(options: ComposeOptions): Promise<CodexGateway> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  const repo = createGatewayRepository(options.database.db);
  const registry = new Registry(repo, clock, logger);
  await registry.start(options.registryIntervalMs ?? 2000);
  const agent = createUpstreamAgent();
  const tokens = new TokenVault(
    repo,
    registry,
    options.sealer,
    (refreshToken, reason) =>
      refreshTokens({
        authBaseUrl: config.upstream.authBaseUrl,
        refreshToken,
        reason,
        dispatcher: agent.dispatcher,
      }),
    clock,
    logger,
  );
  const keys = new KeyAuthenticator(repo, clock);
  const affinity = new AffinityStore(repo, clock, logger);
  const recorder = new RequestRecorder({
    queue: config.aws.requestRecordsQueue,
    producer: options.producer,
    logger,
  });
  const openFiles = openFilesLimit();
  const limits = bulkheadLimitsFor(openFiles);
  // A low limit (a shell's default 1,024) makes a small gateway: say so once.
  if (limits.stream.concurrency < 1024) {
    logger.warn(
      { openFilesLimit: openFiles, streams: limits.stream.concurrency },
      "the open-files limit caps concurrent streams (two sockets each); raise nofile to allow more",
    );
  }
  const bulkheads = createBulkheads(limits);
  const ids = (prefix: IdPrefix) => newId(prefix, clock, random);

  const deps: ResponsesDeps = {
    registry,
    tokens,
    upstream: { baseUrl: config.upstream.baseUrl, agent },
    clock,
    logger,
    keys,
    affinity,
    recorder,
    bulkhead: bulkheads.stream,
    newId: ids,
    limits: { maxDecodedBytes: BODY_LIMITS.maxDecodedBytes },
    commitDeadlineMs: 3000,
  };
  const compactDeps: ResponsesDeps = { ...deps, bulkhead: bulkheads.compact };
  const catalogDeps = { keys, registry, clock, newId: ids };

  const responses = createResponsesHandler(deps);
  const v1Deps = { keys, registry, repo, clock, newId: ids };
  const v1Responses = createV1Handler(deps, "responses");
  const v1Chat = createV1Handler(deps, "chat");
  const compact = createCompactHandler(compactDeps);
  const models = createModelsHandler(catalogDeps);
  const usage = createUsageHandler(catalogDeps);
  const big = BODY_LIMITS.maxCompressedBytes;
  const routes: Route[] = [
    { method: "POST", pattern: "/backend-api/codex/responses", handler: responses, bodyLimit: big },
    { method: "POST", pattern: "/backend-api/codex/v1/responses", handler: responses, bodyLimit: big },
    { method: "POST", pattern: "/backend-api/codex/responses/compact", handler: compact, bodyLimit: big },
    { method: "POST", pattern: "/backend-api/codex/v1/responses/compact", handler: compact, bodyLimit: big },
    { method: "GET", pattern: "/backend-api/codex/models", handler: models },
    { method: "GET", pattern: "/backend-api/codex/v1/models", handler: models },
    { method: "GET", pattern: "/backend-api/wham/usage", handler: usage },
    { method: "GET", pattern: "/wham/usage", handler: usage },
    { method: "GET", pattern: "/api/codex/usage", handler: usage },
    { method: "POST", pattern: "/v1/responses", handler: v1Responses, bodyLimit: big },
    { method: "POST", pattern: "/v1/chat/completions", handler: v1Chat, bodyLimit: big },
    { method: "POST", pattern: "/backend-api/codex/v1/chat/completions", handler: v1Chat, bodyLimit: big },
    { method: "GET", pattern: "/v1/models", handler: createV1ModelsHandler(v1Deps) },
    { method: "GET", pattern: "/v1/usage", handler: createV1UsageHandler(v1Deps) },
    { method: "ANY", pattern: "/v1/*", handler: createUnsupportedV1Handler(v1Deps) },
  ];

  const sockets = new OpenSockets();
  const decide = createWebsocketDecider({ ...deps, wsBulkhead: bulkheads.websocket }, sockets);
  const decideV1 = createWebsocketDecider({ ...deps, wsBulkhead: bulkheads.websocket }, sockets, (pool) => {
    if (!pool.row.v1Enabled) throw new DomainError("v1_compatibility_disabled");
  });
  const websockets = [
    ["/backend-api/codex/responses", decide],
    ["/backend-api/codex/v1/responses", decide],
    ["/v1/responses", decideV1],
  ].map(([pattern, decide]) => ({
    pattern: pattern as string,
    decide: decide as typeof decideV1,
    maxPayloadBytes: BODY_LIMITS.maxDecodedBytes,
    idleTimeoutSeconds: 960,
  }));

  const gateway = await startGateway({
    host: options.host ?? config.http.host,
    port: options.port ?? config.http.port,
    logger,
    database: options.database,
    routes,
    websockets,
    defaultBodyLimit: 1024 * 1024,
    sharedPort: options.sharedPort === true,
  });

  // Revoked or paused keys lose their open websockets within the key cache TTL plus one sweep.
  const sweep = setInterval(() => {
    if (sockets.size > 0) void sockets.sweep((id, prefix) => keys.stillValid(id, prefix));
  }, 1000);
  sweep.unref();

  // last_used_at: one write per key per interval, never on the request path.
  const touch = setInterval(() => {
    const used = keys.drainTouched();
    if (used.length > 0) repo.touchKeys(used, new Date(clock.now())).catch(() => {});
  }, 30_000);
  touch.unref();

  return {
    port: gateway.port,
    registry,
    recorder,
    sockets,
    drain: (graceMs) => gateway.drain(graceMs),
    close: () => gateway.close(),
    async stop(graceMs = 2000) {
      clearInterval(touch);
      clearInterval(sweep);
      sockets.closeAll(1001, "gateway shutting down");
      await registry.stop();
      await gateway.drain(graceMs);
      // Closing the connections ends the streams still open a few ticks later, and each
      // records itself then: wait for that (briefly) before the recorder's last flush.
      const settled = Date.now() + 1000;
      while (Object.values(bulkheads).some((b) => b.running > 0) && Date.now() < settled)
        await new Promise((r) => setTimeout(r, 10));
      await recorder.close();
      await agent.close();
    },
  };
}
