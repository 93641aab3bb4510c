/**
 * POST /backend-api/codex/responses — the Codex route over HTTP.
 *
 * Per request, a small state machine:
 *   before dispatch → dispatched, nothing sent to the client → output sent.
 * Failover to the next candidate happens only in the first two states. The
 * upstream's preamble events (response.created, in_progress, rate limits)
 * are held back until the first output event, so a failure before any
 * output is still invisible to the client; after that, bytes are relayed as
 * they arrive with backpressure, and an upstream failure becomes one
 * well-formed `response.failed` event — never a replay on another account.
 */
import {
  DomainError,
  extractAnchors,
  type Logger,
  parseRateLimitEvent,
  stripAccountBoundItems,
} from "@codex-pooler/core";
import {
  decodeBody,
  isClientVisibleResponseHeader,
  type RequestAbort,
  SseWatcher,
  type SseWatcher as SseWatcherType,
  type StreamSignal,
  sseFrame,
  type TokenUsage,
} from "@codex-pooler/upstream";
import type { Bulkhead } from "../admission.ts";
import type { KeyAuthenticator } from "../auth/keys.ts";
import { type AttemptRecord, type RequestRecord, type RequestRecorder, startAttempt } from "../records.ts";
import type { AffinityStore } from "../state/affinity.ts";
import { hashAnchor } from "../state/affinity.ts";
import type { Registry } from "../state/registry.ts";
import type { ResponseStream } from "../uws/http.ts";
import { type AttemptDeps, httpAttempt } from "./attempt.ts";
import { answerError, dispatchRecorded, recordedHttpHandler } from "./handler.ts";
import { relayTranslated } from "./v1.ts";

export interface ResponsesDeps extends AttemptDeps {
  keys: KeyAuthenticator;
  affinity: AffinityStore;
  registry: Registry;
  recorder: RequestRecorder;
  bulkhead: Bulkhead;
  logger: Logger;
  newId: (prefix: "req" | "att") => string;
  limits: { maxDecodedBytes: number };
  /** Commit held-back preamble events after this long even without output. */
  commitDeadlineMs: number;
}

export interface ParsedResponsesBody {
  raw: Buffer;
  json: Record<string, unknown>;
  model: string | undefined;
}

/** Decodes and parses a Responses request body; DomainError on bad input. */
export function parseResponsesBody(
  raw: Buffer,
  contentEncoding: string | undefined,
  maxDecodedBytes: number,
): ParsedResponsesBody {
  const decoded = decodeBody(raw, contentEncoding, { maxDecodedBytes });
  let json: unknown;
  try {
    json = JSON.parse(decoded.toString("utf8"));
  } catch {
    throw new DomainError("invalid_json");
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw new DomainError("invalid_request", { message: "The request body must be a JSON object." });
  }
  const obj = json as Record<string, unknown>;
  const model = obj["model"];
  if (model !== undefined && (typeof model !== "string" || model.length === 0 || model.length > 200)) {
    throw new DomainError("invalid_request", {
      param: "model",
      message: "`model` must be a non-empty string.",
    });
  }
  return { raw: decoded, json: obj, model: model as string | undefined };
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const RELEASED: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const EMPTY = Buffer.alloc(0);

const STREAM_HEADERS: Array<[string, string]> = [
  ["content-type", "text/event-stream; charset=utf-8"],
  ["cache-control", "no-cache"],
];

function failureEvent(sequence: number, code: string, message: string): string {
  return sseFrame("response.failed", {
    sequence_number: sequence,
    response: { id: null, object: "response", status: "failed", error: { code, message }, usage: null },
  });
}

export function createResponsesHandler(deps: ResponsesDeps, route = "responses") {
  return recordedHttpHandler(
    deps,
    { route, transport: "http_sse", bulkhead: deps.bulkhead },
    async (request) => {
      const { req, res, requestId, startedAt, abort, record, body } = request;
      let lastFailure: { status: number; body: string; code: string } | undefined;
      const anchors = extractAnchors(req.headers, body.json as { prompt_cache_key?: unknown }).map(
        hashAnchor,
      );
      let strippedBody: Buffer | undefined;
      // A JSON answer (`stream: false`): the upstream only streams, so the gateway asks for a
      // stream and answers with the aggregated response object.
      const wantsJson = body.json["stream"] === false;
      let upstreamJson = wantsJson ? { ...body.json, stream: true } : body.json;
      /**
       * Once output reached the client no other account will be tried: the
       * parsed request (a long conversation is megabytes of objects) is not
       * kept alive for the rest of the stream.
       */
      const releaseRequest = () => {
        upstreamJson = RELEASED;
        body.json = RELEASED;
        body.raw = EMPTY;
        strippedBody = undefined;
      };
      /** The upstream body: the client's, or without account-bound items after a move to another account. */
      const payloadFor = (moved: boolean): Buffer => {
        if (moved) {
          strippedBody ??= Buffer.from(
            JSON.stringify({ ...upstreamJson, input: stripAccountBoundItems(upstreamJson["input"]).input }),
          );
          return strippedBody;
        }
        return wantsJson ? Buffer.from(JSON.stringify(upstreamJson)) : body.raw;
      };
      if (wantsJson) record.transport = "http_json";

      await dispatchRecorded(deps, request, {
        model: body.model,
        anchors,
        exhausted: () => {
          if (lastFailure) {
            record.httpStatus = lastFailure.status;
            record.errorCode = lastFailure.code;
            res.json(
              lastFailure.status >= 500 || lastFailure.status === 401 ? 502 : lastFailure.status,
              upstreamErrorBody(lastFailure, requestId),
              [
                ["x-request-id", requestId],
                ...(lastFailure.status === 429 ? ([["retry-after", "5"]] as Array<[string, string]>) : []),
              ],
            );
          } else answerError(res, record, new DomainError("no_eligible_account", { retryAfterSeconds: 5 }));
        },
        attempt: async (ctx) => {
          if (abort.aborted) return { kind: "done" };
          const attempt = startAttempt(record, {
            id: deps.newId("att"),
            attemptNo: ctx.attemptNo,
            accountId: ctx.accountId,
            startedAt: deps.clock.now(),
          });
          const result = await httpAttempt(deps, ctx.accountId, {
            path: "/codex/responses",
            method: "POST",
            clientHeaders: req.headers,
            // No local keeps the payload: this frame stays suspended for the whole stream.
            body: payloadFor(ctx.moved),
            stream: true,
            signal: abort,
          });
          const finish = () => {
            attempt.durationMs = deps.clock.now() - attempt.startedAt;
          };
          if (result.kind === "unavailable") {
            attempt.errorCode = result.code;
            attempt.status = result.retryable ? "retryable_failed" : "cancelled";
            finish();
            lastFailure = { status: 503, body: "", code: result.code };
            return result.retryable ? { kind: "retry" } : { kind: "done" };
          }
          if (result.kind === "failed") {
            attempt.httpStatus = result.status;
            attempt.errorCode = result.failure.code;
            finish();
            lastFailure = { status: result.status, body: result.body, code: result.failure.code };
            if (result.failure.retryable) {
              attempt.status = "retryable_failed";
              return { kind: "retry" };
            }
            // The request itself was refused: the client gets the upstream's answer.
            record.httpStatus = result.status;
            record.errorCode = result.failure.code;
            record.accountId = ctx.accountId;
            res.json(result.status, upstreamClientErrorBody(result.body, result.failure.code, requestId), [
              ["x-request-id", requestId],
            ]);
            return { kind: "done" };
          }
          lastFailure = undefined;
          if (wantsJson) {
            return relayTranslated(
              deps,
              request,
              ctx.accountId,
              attempt,
              result.response.body,
              undefined,
              "responses",
              0,
              body.model ?? "",
            );
          }
          return relayStream(deps, res, result, {
            record,
            attempt,
            requestId,
            abort,
            accountId: ctx.accountId,
            startedAt,
            committed: releaseRequest,
          });
        },
      });
    },
  );
}

interface RelayContext {
  /** Called once when the response is committed to the client (no failover after this). */
  committed?: () => void;
  record: RequestRecord;
  attempt: AttemptRecord;
  requestId: string;
  abort: RequestAbort;
  accountId: string;
  startedAt: number;
}

async function relayStream(
  deps: ResponsesDeps,
  res: ResponseStream,
  result: Extract<Awaited<ReturnType<typeof httpAttempt>>, { kind: "ok" }>,
  ctx: RelayContext,
): Promise<{ kind: "done" } | { kind: "retry" }> {
  const { record, attempt } = ctx;
  const upstream = result.response;
  let committed = false;
  let outputSeen = false;
  let terminal: StreamSignal | undefined;
  let retryableBeforeOutput = false;
  let usage: TokenUsage | undefined;
  const held: Buffer[] = [];
  let firstUpstreamByteAt: number | undefined;
  /** When the terminal event arrived (the tail after it may be held until the body ends). */
  let terminalAt: number | undefined;

  const watcher: SseWatcherType = new SseWatcher((signal) => {
    switch (signal.kind) {
      case "output":
        outputSeen = true;
        break;
      case "rate_limits": {
        const obs = parseRateLimitEvent(signal.event, deps.clock.now());
        if (obs) deps.registry.observeQuota(ctx.accountId, obs);
        break;
      }
      case "completed":
      case "incomplete":
      case "failed":
        terminal = signal;
        terminalAt = deps.clock.now();
        usage = signal.usage;
        if (signal.kind === "failed" && !outputSeen && isRetryableFailure(signal.code))
          retryableBeforeOutput = true;
        break;
      default:
        break;
    }
  });

  /** Bytes not yet sent to the client: the held preamble, or the tail after the terminal event. */
  const takeHeld = (): Buffer | undefined =>
    held.length === 0 ? undefined : held.length === 1 ? held.pop() : Buffer.concat(held.splice(0));
  /** Timings, and the head for the client (it leaves with the first bytes). */
  const startClientResponse = () => {
    if (!committed) {
      committed = true;
      const now = deps.clock.now();
      record.ttfbMs = now - ctx.startedAt;
      attempt.ttfbMs = now - attempt.startedAt;
      // A held tail leaves when the body ends: that wait is the upstream's, not the gateway's.
      const sentAt = terminalAt ?? now;
      record.gatewayOverheadMs =
        result.dispatchedAt -
        ctx.startedAt +
        (firstUpstreamByteAt !== undefined ? sentAt - firstUpstreamByteAt : 0);
      const headers: Array<[string, string]> = [...STREAM_HEADERS, ["x-request-id", ctx.requestId]];
      const from = upstream.headers;
      for (const k in from) if (isClientVisibleResponseHeader(k)) headers.push([k, from[k]!]);
      // An open stream should not keep the upstream's headers alive.
      upstream.headers = NO_HEADERS;
      res.writeHead(200, headers);
      ctx.committed?.();
    }
  };
  const commit = () => {
    if (res.finished) return;
    startClientResponse();
    // Nothing held yet (the deadline passed before any upstream byte): an SSE comment gets
    // the head to the client, since uWS completes a head only with body bytes.
    res.write(takeHeld() ?? ":\n\n");
  };
  let deadline = setTimeout(commit, deps.commitDeadlineMs);
  /**
   * The terminal event arrived: the body ends right after it, so the rest is
   * sent together with the end of the response (one syscall for a short
   * answer). Should the body linger, it is flushed shortly anyway.
   */
  let tailArmed = false;
  const holdTail = () => {
    if (tailArmed) return;
    tailArmed = true;
    clearTimeout(deadline);
    deadline = setTimeout(commit, 20);
  };

  try {
    for await (const buf of upstream.body) {
      firstUpstreamByteAt ??= deps.clock.now();
      watcher.push(buf);
      if (!committed && retryableBeforeOutput) {
        // Nothing reached the client: let another account answer.
        upstream.body.destroy();
        attempt.status = "retryable_failed";
        attempt.errorCode =
          terminal?.kind === "failed" ? (terminal.code ?? "response_failed") : "response_failed";
        attempt.durationMs = deps.clock.now() - attempt.startedAt;
        deps.registry.recordFailure(ctx.accountId, "server");
        return { kind: "retry" };
      }
      if (terminal) {
        held.push(buf);
        holdTail();
        continue;
      }
      if (!committed) {
        held.push(buf);
        if (outputSeen) commit();
        continue;
      }
      if (!res.write(buf)) await res.drained();
      if (res.aborted) break;
    }
  } catch (err) {
    if (!ctx.abort.aborted)
      deps.logger.warn(
        { accountId: ctx.accountId, code: (err as { code?: string }).code },
        "upstream stream broke",
      );
  } finally {
    clearTimeout(deadline);
  }

  attempt.durationMs = deps.clock.now() - attempt.startedAt;
  attempt.httpStatus = 200;
  record.accountId = ctx.accountId;
  record.httpStatus = 200;

  if (res.aborted || ctx.abort.aborted) {
    upstream.body.destroy();
    attempt.status = "cancelled";
    record.status = "cancelled";
    record.errorCode = "client_disconnected";
    attempt.usage = usage ?? null;
    record.usage = usage ?? null;
    return { kind: "done" };
  }

  if (!terminal) {
    if (!committed) {
      // The body ended (or broke) before any output: invisible to the client, try elsewhere.
      attempt.status = "retryable_failed";
      attempt.errorCode = "stream_incomplete";
      deps.registry.recordFailure(ctx.accountId, "server");
      return { kind: "retry" };
    }
    // Output already reached the client: end with one well-formed failure event, never a replay.
    res.end(
      failureEvent(
        watcher.lastSequenceNumber + 1,
        "stream_disconnected",
        "The upstream stream ended before the response completed.",
      ),
    );
    attempt.status = "failed";
    attempt.errorCode = "stream_disconnected";
    record.status = "failed";
    record.errorCode = "stream_disconnected";
    deps.registry.recordFailure(ctx.accountId, "server");
    return { kind: "done" };
  }

  startClientResponse();
  res.end(takeHeld());
  attempt.usage = usage ?? null;
  record.usage = usage ?? null;
  const t = terminal as StreamSignal;
  if (t.kind === "completed" || t.kind === "incomplete") {
    attempt.status = "succeeded";
    record.status = "succeeded";
    deps.registry.recordSuccess(ctx.accountId);
  } else if (t.kind === "failed") {
    attempt.status = "failed";
    attempt.errorCode = t.code ?? "response_failed";
    record.status = "failed";
    record.errorCode = attempt.errorCode;
  }
  return { kind: "done" };
}

const RETRYABLE_BEFORE_OUTPUT = new Set([
  "server_error",
  "server_is_overloaded",
  "slow_down",
  "rate_limit_exceeded",
  "usage_limit_reached",
  "insufficient_quota",
  "overloaded_error",
  "upstream_request_timeout",
]);

function isRetryableFailure(code: string | undefined): boolean {
  return code !== undefined && RETRYABLE_BEFORE_OUTPUT.has(code);
}

/**
 * The Codex error envelope. A pool-wide usage limit uses the upstream's own
 * shape (`type: usage_limit_reached`, `resets_at`), which the Codex CLI turns
 * into "You've hit your usage limit … try again at <time>".
 */
export function errorBody(err: DomainError, requestId: string): Record<string, unknown> {
  return {
    error: {
      message: err.message,
      type: err.code === "usage_limit_reached" ? "usage_limit_reached" : err.type,
      param: err.param ?? null,
      code: err.code,
      ...(err.extra ?? {}),
      request_id: requestId,
    },
  };
}

/**
 * The Codex CLI reads a usage-limit 429 as `{"error":{"type":"usage_limit_reached","resets_at":…}}`;
 * other upstream failures become a fixed message with the upstream's (allow-listed) code.
 */
function upstreamErrorBody(
  failure: { status: number; body: string; code: string },
  requestId: string,
): Record<string, unknown> {
  return {
    error: {
      message: "The upstream request failed on every account tried.",
      type: failure.status === 429 ? "rate_limit_error" : "server_error",
      param: null,
      code: failure.code,
      request_id: requestId,
    },
  };
}

/** A 4xx caused by the request: the upstream's JSON is relayed (it explains the problem), else a fixed text. */
function upstreamClientErrorBody(body: string, code: string, requestId: string): unknown {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    if (parsed && typeof parsed === "object") return { ...parsed, request_id: requestId };
  } catch {
    // fall through
  }
  return {
    error: {
      message: "The upstream refused the request.",
      type: "invalid_request_error",
      param: null,
      code,
      request_id: requestId,
    },
  };
}
