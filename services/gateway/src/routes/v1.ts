/**
 * The read side of /v1: the pool's models in the OpenAI list shape, the
 * key's own usage and limits, and a deterministic 404 `unsupported_endpoint`
 * for every /v1 path the gateway does not implement — before any upstream
 * work, so nothing is ever proxied blindly.
 */
import { modelsList } from "@codex-pooler/compat";
import { type Clock, DomainError } from "@codex-pooler/core";
import type { GatewayRepository } from "@codex-pooler/db";
import { authorizePoolRequest, type KeyAuthenticator } from "../auth/keys.ts";
import { errorBody } from "../relay/responses.ts";
import type { Registry } from "../state/registry.ts";
import type { IncomingRequest, ResponseStream } from "../uws/http.ts";
import { poolModels, poolUsage } from "./catalog.ts";

export interface V1Deps {
  keys: KeyAuthenticator;
  registry: Registry;
  repo: GatewayRepository;
  clock: Clock;
  newId: (prefix: "req") => string;
}

async function v1Pool(deps: V1Deps, req: IncomingRequest) {
  const { key, pool } = await authorizePoolRequest(deps.keys, deps.registry, req.headers["authorization"]);
  if (!pool.row.v1Enabled) throw new DomainError("v1_compatibility_disabled");
  return { key, pool };
}

export function createV1ModelsHandler(deps: V1Deps) {
  return async (req: IncomingRequest, res: ResponseStream): Promise<void> => {
    const { pool } = await v1Pool(deps, req);
    const catalog = poolModels(deps.registry, pool.row.id).map((m) => ({
      slug: String(m["slug"]),
      ...(typeof m["context_window"] === "number" ? { context_window: m["context_window"] } : {}),
      ...(typeof m["display_name"] === "string" ? { display_name: m["display_name"] } : {}),
    }));
    res.json(200, modelsList(catalog, 0), [["x-request-id", deps.newId("req")]]);
  };
}

export function createV1UsageHandler(deps: V1Deps) {
  return async (req: IncomingRequest, res: ResponseStream): Promise<void> => {
    const { key, pool } = await v1Pool(deps, req);
    const now = deps.clock.now();
    const dayStart = new Date(now);
    dayStart.setUTCHours(0, 0, 0, 0);
    const [today, week] = await Promise.all([
      deps.repo.keyUsage(key.keyId, dayStart),
      deps.repo.keyUsage(key.keyId, new Date(now - 7 * 24 * 3600_000)),
    ]);
    res.json(
      200,
      {
        object: "usage",
        key: { id: key.keyId, prefix: key.prefix },
        usage: { today_utc: today, last_7_days: week },
        limits: { requests_per_minute: null, tokens_per_day: null, tokens_per_week: null },
        upstream: poolUsage(deps.registry, pool.row.id, now),
      },
      [["x-request-id", deps.newId("req")]],
    );
  };
}

/** Everything under /v1 that is not one of our routes. */
export function createUnsupportedV1Handler(deps: Pick<V1Deps, "newId">) {
  return (req: IncomingRequest, res: ResponseStream): void => {
    const requestId = deps.newId("req");
    const err = new DomainError("unsupported_endpoint", {
      message: `${req.method} ${req.path} is not supported by Codex Pooler (supported: POST /v1/responses, POST /v1/chat/completions, GET /v1/models, GET /v1/usage, GET /v1/responses as a websocket).`,
    });
    res.json(err.status, errorBody(err, requestId), [["x-request-id", requestId]]);
  };
}
