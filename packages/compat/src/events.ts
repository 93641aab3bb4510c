/**
 * Reading upstream Responses events (spec §3): field access that tolerates
 * missing or mistyped fields, terminal classification, failure codes and
 * usage in the Chat shape. Every stream translator in this package reads
 * events through these helpers, so a malformed event degrades the same way
 * everywhere (ignored, or treated as an upstream failure), never throws.
 */
import type { ErrorSpec } from "@codex-pooler/core";
import { isRecord } from "./validate.ts";

export type Terminal = "completed" | "incomplete" | "failed";

/** `response.done` is an older alias of `response.completed` seen from peers. */
export function terminalOf(type: string): Terminal | undefined {
  switch (type) {
    case "response.completed":
    case "response.done":
      return "completed";
    case "response.incomplete":
      return "incomplete";
    case "response.failed":
    case "error":
      return "failed";
    default:
      return undefined;
  }
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function int(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}

export function record(value: unknown): Record<string, unknown> | undefined {
  return isRecord(value) ? value : undefined;
}

const SAFE_CODE = /^[A-Za-z0-9_.-]{1,80}$/;
const MAX_MESSAGE = 1000;

/** An upstream code goes to clients and records only if it looks like a code. */
export function safeCode(value: unknown, fallback = "upstream_error"): string {
  return typeof value === "string" && SAFE_CODE.test(value) ? value : fallback;
}

export const DEFAULT_FAILURE_MESSAGE = "The upstream request failed.";
export const STREAM_CUT_MESSAGE = "The upstream stream ended before the response completed.";

export interface Failure {
  code: string;
  message: string;
}

function safeMessage(value: unknown): string {
  if (typeof value !== "string" || value.trim() === "") return DEFAULT_FAILURE_MESSAGE;
  return value.length > MAX_MESSAGE ? `${value.slice(0, MAX_MESSAGE)}…` : value;
}

/**
 * The code and message of a `response.failed` or top-level `error` event.
 * The upstream's message is kept (it is the upstream's message to the client,
 * the Codex route relays it verbatim); the code is kept only if code-shaped.
 */
export function failureOf(event: Record<string, unknown>): Failure {
  if (event["type"] === "response.failed") {
    const error = record(record(event["response"])?.["error"]) ?? {};
    return { code: safeCode(error["code"] ?? error["type"]), message: safeMessage(error["message"]) };
  }
  // `error` events come flat ({code, message}) or nested ({error: {type, code, message}}).
  const nested = record(event["error"]);
  if (nested && event["code"] == null && event["message"] == null) {
    return { code: safeCode(nested["code"] ?? nested["type"]), message: safeMessage(nested["message"]) };
  }
  return { code: safeCode(event["code"]), message: safeMessage(event["message"]) };
}

/** HTTP status and OpenAI error type for an upstream failure code. */
export function failureStatus(code: string): { status: number; type: ErrorSpec["type"] } {
  switch (code) {
    case "context_length_exceeded":
    case "invalid_prompt":
    case "invalid_request":
    case "invalid_request_error":
    case "invalid_encrypted_content":
    case "cyber_policy":
      return { status: 400, type: "invalid_request_error" };
    case "rate_limit_exceeded":
    case "insufficient_quota":
    case "usage_limit_reached":
    case "usage_not_included":
      return { status: 429, type: "rate_limit_error" };
    case "server_is_overloaded":
    case "slow_down":
      return { status: 503, type: "server_error" };
    case "upstream_timeout":
      return { status: 504, type: "server_error" };
    default:
      return { status: 502, type: "server_error" };
  }
}

/** Responses `usage` → Chat `usage` (missing numbers count as 0). */
export function chatUsage(raw: unknown): Record<string, unknown> {
  const u = record(raw) ?? {};
  const prompt = int(u["input_tokens"]) ?? 0;
  const completion = int(u["output_tokens"]) ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: int(u["total_tokens"]) ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: int(record(u["input_tokens_details"])?.["cached_tokens"]) ?? 0 },
    completion_tokens_details: {
      reasoning_tokens: int(record(u["output_tokens_details"])?.["reasoning_tokens"]) ?? 0,
    },
  };
}

/** `incomplete_details.reason` → Chat `finish_reason`. */
export function incompleteFinishReason(response: unknown): "length" | "content_filter" {
  const reason = record(record(response)?.["incomplete_details"])?.["reason"];
  return reason === "content_filter" ? "content_filter" : "length";
}
