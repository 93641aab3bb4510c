/**
 * Watching a Responses SSE stream while its bytes are relayed untouched.
 * eventsource-parser does the framing (partial frames, comments, CRLF); we
 * only JSON-parse the few event types that carry what the gateway needs
 * (usage, failures, rate limits), so deltas cost a string slice, not a parse.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";

export interface TokenUsage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  totalTokens: number;
}

export type StreamSignal =
  | { kind: "preamble"; type: string }
  | { kind: "output"; type: string }
  | { kind: "rate_limits"; event: unknown }
  | { kind: "completed"; responseId: string | undefined; usage: TokenUsage | undefined }
  | { kind: "failed"; type: string; code: string | undefined; usage: TokenUsage | undefined }
  | { kind: "incomplete"; reason: string | undefined; usage: TokenUsage | undefined };

/** Events that may arrive before any output; holding them back keeps failover possible. */
const PREAMBLE = new Set([
  "response.created",
  "response.in_progress",
  "response.queued",
  "response.metadata",
]);

const PARSED = new Set([
  "response.completed",
  "response.done",
  "response.failed",
  "response.incomplete",
  "error",
  "codex.rate_limits",
]);

const SEQ = /"sequence_number"\s*:\s*(\d+)/;

function int(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? Math.max(0, Math.trunc(v)) : 0;
}

/** Reads Responses `usage` (`input_tokens`, `input_tokens_details.cached_tokens`, …). */
export function readUsage(raw: unknown): TokenUsage | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const u = raw as Record<string, unknown>;
  if (typeof u["input_tokens"] !== "number" && typeof u["output_tokens"] !== "number") return undefined;
  const inDetails = (u["input_tokens_details"] ?? {}) as Record<string, unknown>;
  const outDetails = (u["output_tokens_details"] ?? {}) as Record<string, unknown>;
  const input = int(u["input_tokens"]);
  const output = int(u["output_tokens"]);
  return {
    inputTokens: input,
    cachedInputTokens: int(inDetails["cached_tokens"]),
    outputTokens: output,
    reasoningTokens: int(outDetails["reasoning_tokens"]),
    totalTokens: typeof u["total_tokens"] === "number" ? int(u["total_tokens"]) : input + output,
  };
}

/** Classifies one parsed Responses event object. */
export function signalOf(type: string, data: string): StreamSignal {
  if (!PARSED.has(type)) return PREAMBLE.has(type) ? { kind: "preamble", type } : { kind: "output", type };
  let obj: Record<string, unknown> = {};
  try {
    obj = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return { kind: "output", type };
  }
  const response = (obj["response"] ?? {}) as Record<string, unknown>;
  switch (type) {
    case "codex.rate_limits":
      return { kind: "rate_limits", event: obj };
    case "response.completed":
    case "response.done":
      return {
        kind: "completed",
        responseId: typeof response["id"] === "string" ? response["id"] : undefined,
        usage: readUsage(response["usage"]),
      };
    case "response.incomplete": {
      const details = (response["incomplete_details"] ?? {}) as Record<string, unknown>;
      return {
        kind: "incomplete",
        reason: typeof details["reason"] === "string" ? details["reason"] : undefined,
        usage: readUsage(response["usage"]),
      };
    }
    default: {
      // response.failed carries response.error; a top-level error event carries code directly.
      const err = (response["error"] ?? obj["error"] ?? obj) as Record<string, unknown>;
      const code =
        typeof err["code"] === "string"
          ? err["code"]
          : typeof err["type"] === "string"
            ? err["type"]
            : undefined;
      return { kind: "failed", type, code, usage: readUsage(response["usage"]) };
    }
  }
}

/**
 * Feed it the stream's bytes in order; it calls `onSignal` once per event.
 * Data-only events (no `event:` line) are typed from their JSON `type`.
 */
export class SseWatcher {
  readonly #decoder = new TextDecoder();
  readonly #parser;
  lastSequenceNumber = -1;

  constructor(onSignal: (signal: StreamSignal) => void) {
    this.#parser = createParser({
      onEvent: (message: EventSourceMessage) => {
        let type = message.event;
        if (!type) {
          const m = /"type"\s*:\s*"([^"]+)"/.exec(message.data);
          if (!m) return;
          type = m[1]!;
        }
        // Usually near the start, sometimes last: look at both ends, never scan a 1 MB delta.
        const seq = SEQ.exec(message.data.slice(0, 160)) ?? SEQ.exec(message.data.slice(-64));
        if (seq) this.lastSequenceNumber = Number(seq[1]);
        onSignal(signalOf(type, message.data));
      },
    });
  }

  push(chunk: Uint8Array): void {
    this.#parser.feed(this.#decoder.decode(chunk, { stream: true }));
  }
}

/** One SSE frame in the Responses framing (`event:` + one-line `data:`). */
export function sseFrame(type: string, payload: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
}
