/**
 * What every HTTP route of the Codex surface does around its own work: a
 * request id and record, client-abort wiring, key + pool authorisation,
 * admission, body decoding and parsing, the model check, error answers with
 * stable codes (never internals on a 5xx), and the record handed to the
 * recorder at the end, whatever happened.
 */
import { DomainError } from "@codex-pooler/core";
import { RequestAbort } from "@codex-pooler/upstream";
import type { Bulkhead } from "../admission.ts";
import { type AuthenticatedKey, authorizePoolRequest } from "../auth/keys.ts";
import { type RequestRecord, startRecord } from "../records.ts";
import type { PoolState } from "../state/registry.ts";
import { type IncomingRequest, RequestAbortedError, type ResponseStream } from "../uws/http.ts";
import { type DispatchInput, dispatch } from "./dispatch.ts";
import { errorBody, type ParsedResponsesBody, parseResponsesBody, type ResponsesDeps } from "./responses.ts";

export interface RecordedContext {
  req: IncomingRequest;
  res: ResponseStream;
  requestId: string;
  startedAt: number;
  abort: RequestAbort;
  record: RequestRecord;
  key: AuthenticatedKey;
  pool: PoolState;
  body: ParsedResponsesBody;
}

/** dispatch() for a recorded HTTP request: pool, rotation seed, clock and routing state come from the context. */
export function dispatchRecorded(
  deps: ResponsesDeps,
  ctx: RecordedContext,
  input: Pick<DispatchInput, "model" | "anchors" | "attempt" | "exhausted">,
): Promise<void> {
  return dispatch({
    ...input,
    pool: ctx.pool,
    seedText: ctx.req.headers["session-id"] ?? ctx.requestId,
    now: () => deps.clock.now(),
    registry: deps.registry,
    affinity: deps.affinity,
  });
}

export function answerError(res: ResponseStream, record: RequestRecord, err: DomainError): void {
  record.status = "rejected";
  record.httpStatus = err.status;
  record.errorCode = err.code;
  const headers: Array<[string, string]> = [["x-request-id", record.id]];
  if (err.retryAfterSeconds !== undefined) headers.push(["retry-after", String(err.retryAfterSeconds)]);
  res.json(err.status, errorBody(err, record.id), headers);
}

export function recordedHttpHandler(
  deps: ResponsesDeps,
  options: {
    route: string;
    transport: RequestRecord["transport"];
    bulkhead: Bulkhead;
    /** Pool-level gates checked before admission (e.g. the /v1 switch). */
    precheck?: (pool: PoolState) => void;
  },
  run: (ctx: RecordedContext) => Promise<void>,
) {
  return async (req: IncomingRequest, res: ResponseStream): Promise<void> => {
    const startedAt = deps.clock.now();
    const requestId = deps.newId("req");
    const abort = new RequestAbort();
    res.onAbort(() => abort.abort());
    const record = startRecord({
      id: requestId,
      route: options.route,
      transport: options.transport,
      originator: req.headers["originator"],
      startedAt,
    });
    let release: (() => void) | undefined;
    try {
      const { key, pool } = await authorizePoolRequest(
        deps.keys,
        deps.registry,
        req.headers["authorization"],
      );
      record.apiKeyId = key.keyId;
      record.poolId = key.poolId;
      options.precheck?.(pool);
      release = await options.bulkhead.acquire();
      const body = parseResponsesBody(
        await res.body(),
        req.headers["content-encoding"],
        deps.limits.maxDecodedBytes,
      );
      record.model = body.model ?? null;
      if (body.model !== undefined && !deps.registry.servesModel(pool.row.id, body.model)) {
        throw new DomainError("model_not_found", {
          param: "model",
          message: `The model \`${body.model}\` is not available in this pool.`,
        });
      }
      await run({ req, res, requestId, startedAt, abort, record, key, pool, body });
    } catch (err) {
      if (err instanceof RequestAbortedError || res.aborted) {
        // The client left (mid-upload or while queued): nothing to answer, nothing to log as an error.
        record.status = "cancelled";
        record.errorCode = "client_disconnected";
      } else if (err instanceof DomainError) answerError(res, record, err);
      else {
        deps.logger.error({ err, requestId, route: options.route }, "route failed");
        if (res.headSent) res.destroy();
        else answerError(res, record, new DomainError("internal_error"));
      }
    } finally {
      release?.();
      record.completedAt = deps.clock.now();
      record.durationMs = record.completedAt - startedAt;
      if (abort.aborted && record.status !== "succeeded") record.status = "cancelled";
      deps.recorder.record(record);
    }
  };
}
