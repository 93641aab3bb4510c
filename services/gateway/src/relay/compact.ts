/**
 * POST /backend-api/codex/responses/compact — direct compaction (JSON in,
 * JSON out). Same key, admission, continuity and account selection as the
 * streaming route; the upstream's JSON answer is relayed whole. The peers
 * strip `store`, `stream` and `include` before calling it; so do we.
 */
import { DomainError, extractAnchors, stripAccountBoundItems } from "@codex-pooler/core";
import { startAttempt } from "../records.ts";
import { hashAnchor } from "../state/affinity.ts";
import { httpAttempt } from "./attempt.ts";
import { dispatchRecorded, recordedHttpHandler } from "./handler.ts";
import { errorBody, type ResponsesDeps } from "./responses.ts";

export function createCompactHandler(deps: ResponsesDeps, route = "responses_compact") {
  return recordedHttpHandler(
    deps,
    { route, transport: "http_json", bulkhead: deps.bulkhead },
    async (ctx) => {
      const { req, res, requestId, startedAt, abort, record, body } = ctx;
      let last: { status: number; body: string; code: string } | undefined;
      const { store: _s, stream: _t, include: _i, ...rest } = body.json;
      const anchors = extractAnchors(req.headers, body.json as { prompt_cache_key?: unknown }).map(
        hashAnchor,
      );
      await dispatchRecorded(deps, ctx, {
        model: body.model,
        anchors,
        exhausted: () => {
          record.httpStatus = 502;
          record.errorCode = last?.code ?? "upstream_error";
          res.json(502, errorBody(new DomainError("upstream_error"), requestId), [
            ["x-request-id", requestId],
          ]);
        },
        attempt: async (ctx) => {
          const payload = ctx.moved ? { ...rest, input: stripAccountBoundItems(rest["input"]).input } : rest;
          const attempt = startAttempt(record, {
            id: deps.newId("att"),
            attemptNo: ctx.attemptNo,
            accountId: ctx.accountId,
            startedAt: deps.clock.now(),
          });
          const result = await httpAttempt(deps, ctx.accountId, {
            path: "/codex/responses/compact",
            method: "POST",
            clientHeaders: req.headers,
            body: JSON.stringify(payload),
            stream: false,
            signal: abort,
          });
          attempt.durationMs = deps.clock.now() - attempt.startedAt;
          if (result.kind === "unavailable") {
            attempt.status = result.retryable ? "retryable_failed" : "cancelled";
            attempt.errorCode = result.code;
            last = { status: 503, body: "", code: result.code };
            return result.retryable ? { kind: "retry" } : { kind: "done" };
          }
          if (result.kind === "failed") {
            attempt.httpStatus = result.status;
            attempt.errorCode = result.failure.code;
            last = { status: result.status, body: result.body, code: result.failure.code };
            if (result.failure.retryable) {
              attempt.status = "retryable_failed";
              return { kind: "retry" };
            }
            record.httpStatus = result.status;
            record.errorCode = result.failure.code;
            res.json(
              result.status,
              safeJson(result.body) ?? errorBody(new DomainError("upstream_error"), requestId),
              [["x-request-id", requestId]],
            );
            return { kind: "done" };
          }
          const text = await result.response.body.text();
          attempt.httpStatus = result.response.status;
          attempt.status = "succeeded";
          attempt.ttfbMs = result.headersAt - attempt.startedAt;
          record.accountId = ctx.accountId;
          record.status = "succeeded";
          record.httpStatus = result.response.status;
          record.ttfbMs = deps.clock.now() - startedAt;
          record.gatewayOverheadMs = result.dispatchedAt - startedAt;
          deps.registry.recordSuccess(ctx.accountId);
          res.writeHead(result.response.status, [
            ["content-type", "application/json"],
            ["x-request-id", requestId],
          ]);
          res.end(text);
          return { kind: "done" };
        },
      });
    },
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
