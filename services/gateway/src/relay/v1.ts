/**
 * The narrow OpenAI-compatible surface: POST /v1/responses and
 * POST /v1/chat/completions become Codex backend Responses work (always
 * `stream: true, store: false` upstream) through the same key, admission,
 * routing, accounting and privacy path as the Codex route; the upstream
 * stream is translated back (packages/compat), never blindly proxied.
 *
 * Events are held back until the first output event (or, without
 * streaming, until the end), so an upstream failure before output fails
 * over invisibly; a failure before output that another account cannot fix
 * becomes an HTTP error the SDKs map to their typed errors; a failure after
 * output ends the stream with one well-formed error.
 */
import {
  ChatStreamTranslator,
  chatCompletionFromResponse,
  chatToUpstreamResponsesBody,
  failureOf as compatFailureOf,
  failureStatus,
  ResponsesAggregator,
  ResponsesStreamNormalizer,
  toUpstreamResponsesBody,
} from "@codex-pooler/compat";
import {
  boundOutputIds,
  DomainError,
  extractAnchors,
  parseRateLimitEvent,
  stripAccountBoundItems,
} from "@codex-pooler/core";
import {
  isRetryableStreamCode,
  type ResponsesEvent,
  readUsage,
  SseEventReader,
} from "@codex-pooler/upstream";
import { type AttemptRecord, startAttempt } from "../records.ts";
import { hashAnchor } from "../state/affinity.ts";
import type { ResponseStream } from "../uws/http.ts";
import { httpAttempt } from "./attempt.ts";
import { answerError, dispatchRecorded, type RecordedContext, recordedHttpHandler } from "./handler.ts";
import type { ResponsesDeps } from "./responses.ts";

type Mode = "responses" | "chat";

const PREAMBLE = new Set([
  "response.created",
  "response.in_progress",
  "response.queued",
  "response.metadata",
]);
const TERMINAL = new Set([
  "response.completed",
  "response.done",
  "response.incomplete",
  "response.failed",
  "error",
]);

/** Upstream failure messages are not relayed (they can echo request content): a fixed text and the safe code. */
function failureOf(event: ResponsesEvent): { code: string; message: string } {
  return { code: compatFailureOf(event).code, message: "The upstream request failed." };
}

function errorJson(code: string, message: string) {
  const { status, type } = failureStatus(code);
  return { status, body: { error: { message, type, param: null, code } } };
}

interface Sink {
  head: Array<[string, string]>;
  push(event: ResponsesEvent): string;
  finish(): string;
  fail(code: string, message: string): string;
}

function streamSink(
  mode: Mode,
  ctx: RecordedContext,
  model: string,
  includeUsage: boolean,
  created: number,
): Sink {
  const head: Array<[string, string]> = [
    ["content-type", "text/event-stream; charset=utf-8"],
    ["cache-control", "no-cache"],
    ["x-request-id", ctx.requestId],
  ];
  if (mode === "chat") {
    const t = new ChatStreamTranslator({ id: `chatcmpl-${ctx.requestId}`, model, created, includeUsage });
    const lines = (payloads: string[]) => payloads.map((p) => `data: ${p}\n\n`).join("");
    return {
      head,
      push: (e) => lines(t.push(e)),
      finish: () => `${lines(t.finish())}data: [DONE]\n\n`,
      fail: (code, message) => lines(t.fail(code, message)),
    };
  }
  const n = new ResponsesStreamNormalizer();
  const frames = (events: Array<Record<string, unknown>>) =>
    events.map((e) => `event: ${String(e["type"])}\ndata: ${JSON.stringify(e)}\n\n`).join("");
  return {
    head,
    push: (e) => frames(n.push(e)),
    finish: () => "",
    fail: (code, message) => frames(n.fail(code, message)),
  };
}

export function createV1Handler(deps: ResponsesDeps, mode: Mode) {
  return recordedHttpHandler(
    deps,
    {
      route: mode === "chat" ? "v1_chat_completions" : "v1_responses",
      transport: "http_sse",
      bulkhead: deps.bulkhead,
      precheck: (pool) => {
        if (!pool.row.v1Enabled) throw new DomainError("v1_compatibility_disabled");
      },
    },
    async (ctx) => {
      const translated =
        mode === "chat" ? chatToUpstreamResponsesBody(ctx.body.json) : toUpstreamResponsesBody(ctx.body.json);
      const includeUsage = "includeUsage" in translated ? Boolean(translated.includeUsage) : false;
      ctx.record.transport = translated.stream ? "http_sse" : "http_json";
      const upstream = translated.upstream;
      const payload = Buffer.from(JSON.stringify(upstream));
      let moved: Buffer | undefined;
      const anchors = extractAnchors(ctx.req.headers, upstream as { prompt_cache_key?: unknown }).map(
        hashAnchor,
      );
      let last: { status: number; code: string } | undefined;
      const created = Math.floor(deps.clock.now() / 1000);

      await dispatchRecorded(deps, ctx, {
        model: translated.model,
        anchors,
        exhausted: () => {
          const status = last && last.status === 429 ? 429 : 502;
          answerError(
            ctx.res,
            ctx.record,
            new DomainError(status === 429 ? "usage_limit_reached" : "upstream_error", {
              ...(status === 429 ? { retryAfterSeconds: 5 } : {}),
              ...(last ? { message: `The upstream request failed (${last.code}).` } : {}),
            }),
          );
        },
        attempt: async (a) => {
          const attempt = startAttempt(ctx.record, {
            id: deps.newId("att"),
            attemptNo: a.attemptNo,
            accountId: a.accountId,
            startedAt: deps.clock.now(),
          });
          let body: Buffer = payload;
          if (a.moved) {
            moved ??= Buffer.from(
              JSON.stringify({ ...upstream, input: stripAccountBoundItems(upstream["input"]).input }),
            );
            body = moved;
          }
          const result = await httpAttempt(deps, a.accountId, {
            path: "/codex/responses",
            method: "POST",
            clientHeaders: ctx.req.headers,
            body,
            stream: true,
            signal: ctx.abort,
          });
          attempt.durationMs = deps.clock.now() - attempt.startedAt;
          if (result.kind === "unavailable") {
            attempt.status = result.retryable ? "retryable_failed" : "cancelled";
            attempt.errorCode = result.code;
            last = { status: 503, code: result.code };
            return result.retryable ? { kind: "retry" } : { kind: "done" };
          }
          if (result.kind === "failed") {
            attempt.httpStatus = result.status;
            attempt.errorCode = result.failure.code;
            last = { status: result.status, code: result.failure.code };
            if (result.failure.retryable) {
              attempt.status = "retryable_failed";
              return { kind: "retry" };
            }
            throw new DomainError("invalid_request", {
              message: `The upstream refused the request (${result.failure.code}).`,
            });
          }
          const sink = translated.stream
            ? streamSink(mode, ctx, translated.model, includeUsage, created)
            : undefined;
          return relayTranslated(
            deps,
            ctx,
            a.accountId,
            attempt,
            result.response.body,
            sink,
            mode,
            created,
            translated.model,
          );
        },
      });
    },
  );
}

export async function relayTranslated(
  deps: ResponsesDeps,
  ctx: RecordedContext,
  accountId: string,
  attempt: AttemptRecord,
  body: AsyncIterable<unknown> & { destroy(): void },
  sink: Sink | undefined,
  mode: Mode,
  created: number,
  model: string,
): Promise<{ kind: "done" } | { kind: "retry" }> {
  const res: ResponseStream = ctx.res;
  const aggregator = sink ? undefined : new ResponsesAggregator();
  const held: ResponsesEvent[] = [];
  let committed = false;
  let outputSeen = false;
  let terminal: ResponsesEvent | undefined;
  let retry = false;
  /** The client is slower than the upstream: stop reading until it drains. */
  let needDrain = false;

  const commit = () => {
    if (committed || !sink) return;
    committed = true;
    ctx.record.ttfbMs = deps.clock.now() - ctx.startedAt;
    attempt.ttfbMs = deps.clock.now() - attempt.startedAt;
    res.writeHead(200, sink.head);
    for (const e of held.splice(0)) {
      const out = sink.push(e);
      if (out) res.write(out);
    }
  };

  const boundItems: unknown[] = [];
  const reader = new SseEventReader((event) => {
    if (event.type === "response.output_item.done") boundItems.push(event["item"]);
    if (event.type === "codex.rate_limits") {
      const obs = parseRateLimitEvent(event, deps.clock.now());
      if (obs) deps.registry.observeQuota(accountId, obs);
      return;
    }
    if (TERMINAL.has(event.type)) terminal = event;
    else if (!PREAMBLE.has(event.type)) outputSeen = true;
    if (!outputSeen && (event.type === "response.failed" || event.type === "error")) {
      if (isRetryableStreamCode(failureOf(event).code)) retry = true;
    }
    aggregator?.push(event);
    if (!sink) return;
    if (committed) {
      if (event.type === "response.failed" || event.type === "error") return; // handled at the end
      const out = sink.push(event);
      if (out && !res.write(out)) needDrain = true;
    } else held.push(event);
  });

  try {
    for await (const chunk of body) {
      // Everything one upstream chunk turns into leaves in one write.
      res.corked(() => {
        reader.push(chunk as Buffer);
        if (sink && !committed && outputSeen && !retry) commit();
      });
      if (retry) {
        body.destroy();
        attempt.status = "retryable_failed";
        attempt.errorCode = terminal ? failureOf(terminal).code : "response_failed";
        deps.registry.recordFailure(accountId, "server");
        return { kind: "retry" };
      }
      if (needDrain) {
        needDrain = false;
        await res.drained();
      }
      if (committed && res.aborted) break;
    }
  } catch (err) {
    if (!ctx.abort.aborted)
      deps.logger.warn({ accountId, code: (err as { code?: string }).code }, "upstream stream broke");
  }

  attempt.durationMs = deps.clock.now() - attempt.startedAt;
  attempt.httpStatus = 200;
  ctx.record.accountId = accountId;
  if (ctx.abort.aborted || res.aborted) {
    body.destroy();
    attempt.status = "cancelled";
    ctx.record.status = "cancelled";
    ctx.record.errorCode = "client_disconnected";
    return { kind: "done" };
  }

  const usage = terminal
    ? readUsage(((terminal["response"] ?? {}) as Record<string, unknown>)["usage"])
    : undefined;
  attempt.usage = usage ?? null;
  ctx.record.usage = usage ?? null;

  if (!terminal && !committed) {
    attempt.status = "retryable_failed";
    attempt.errorCode = "stream_incomplete";
    deps.registry.recordFailure(accountId, "server");
    return { kind: "retry" };
  }

  const failed = terminal && (terminal.type === "response.failed" || terminal.type === "error");
  if (!committed && failed) {
    // Nothing reached the client and no other account can fix it: a plain HTTP error.
    const f = failureOf(terminal!);
    const answer = errorJson(f.code, f.message);
    attempt.status = "failed";
    attempt.errorCode = f.code;
    ctx.record.status = "failed";
    ctx.record.httpStatus = answer.status;
    ctx.record.errorCode = f.code;
    res.json(answer.status, answer.body, [["x-request-id", ctx.requestId]]);
    return { kind: "done" };
  }

  if (sink) {
    const f =
      !terminal || failed
        ? terminal
          ? failureOf(terminal)
          : {
              code: "stream_disconnected",
              message: "The upstream stream ended before the response completed.",
            }
        : undefined;
    // The rest of the stream and its end in one write.
    res.corked(() => {
      commit();
      res.end(f ? sink.fail(f.code, f.message) : sink.finish());
    });
    if (f) {
      attempt.status = "failed";
      attempt.errorCode = f.code;
      ctx.record.status = "failed";
      ctx.record.errorCode = f.code;
      ctx.record.httpStatus = 200;
      return { kind: "done" };
    }
  } else {
    const outcome = aggregator!.outcome();
    if (outcome.kind === "failed") {
      attempt.status = "failed";
      attempt.errorCode = outcome.code;
      ctx.record.status = "failed";
      ctx.record.errorCode = outcome.code;
      const answer = errorJson(outcome.code, "The upstream request failed.");
      ctx.record.httpStatus = answer.status;
      res.json(answer.status, answer.body, [["x-request-id", ctx.requestId]]);
      return { kind: "done" };
    }
    const json =
      mode === "chat"
        ? chatCompletionFromResponse(outcome.response, { id: `chatcmpl-${ctx.requestId}`, model, created })
        : outcome.response;
    ctx.record.ttfbMs = deps.clock.now() - ctx.startedAt;
    res.json(200, json, [["x-request-id", ctx.requestId]]);
  }
  attempt.status = "succeeded";
  ctx.record.status = "succeeded";
  ctx.record.httpStatus = 200;
  deps.registry.recordSuccess(accountId);
  // Reasoning and compaction items only this account can read: their ids lead follow-ups back here.
  const ids = boundOutputIds(boundItems);
  if (ids.length > 0) {
    deps.affinity.claim(
      ctx.pool.row.id,
      ids.map((value) => hashAnchor({ kind: "history_item", value })),
      accountId,
    );
  }
  return { kind: "done" };
}
