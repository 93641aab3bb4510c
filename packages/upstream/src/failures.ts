/**
 * What an upstream failure means for routing: whether another account may
 * be tried, and what it says about this account (exhausted, unauthorised,
 * deactivated, unhealthy). One table, read by every transport.
 */
import { parseUsageLimitBody, type UsageLimitError } from "@codex-pooler/core";

export type FailureKind =
  /** 429 usage_limit_reached: the account is exhausted until its reset. */
  | "usage_limit"
  /** 429 rate_limit_exceeded / concurrency: transient, try another account. */
  | "rate_limited"
  /** 401 token_expired: refresh the token and retry this account once. */
  | "token_expired"
  /** 401 invalidated / generic unauthorised: this account needs attention. */
  | "unauthorized"
  /** 401/403 account_deactivated: permanent. */
  | "deactivated"
  /** 5xx, HTML error pages, overload: the account's path is unhealthy right now. */
  | "server"
  /** Connection refused/reset, timeouts before a response. */
  | "network"
  /** 4xx caused by the request itself: return it to the client, never retry. */
  | "client";

export interface Failure {
  kind: FailureKind;
  status: number;
  /** Stable code safe to show and record (`^[A-Za-z0-9_.-]{1,80}$`), else `upstream_error`. */
  code: string;
  /** May another account be tried (only before output reached the client)? */
  retryable: boolean;
  usageLimit?: UsageLimitError;
}

const SAFE_CODE = /^[A-Za-z0-9_.-]{1,80}$/;

export function safeCode(value: unknown, fallback = "upstream_error"): string {
  return typeof value === "string" && SAFE_CODE.test(value) ? value : fallback;
}

function errorCodeOf(body: unknown): string | undefined {
  if (!body || typeof body !== "object") return undefined;
  const b = body as Record<string, unknown>;
  const err = b["error"];
  if (err && typeof err === "object") {
    const e = err as Record<string, unknown>;
    const code = e["code"] ?? e["type"];
    if (typeof code === "string") return code;
  }
  if (typeof err === "string") return err;
  if (typeof b["code"] === "string") return b["code"];
  if (typeof b["detail"] === "string" && /deactivated/i.test(b["detail"])) return "account_deactivated";
  return undefined;
}

export function parseJsonSafe(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Classifies a non-2xx upstream HTTP answer.
 * Example: `classifyHttpFailure(429, '{"error":{"type":"usage_limit_reached","resets_at":1}}', now)`
 * → `{ kind: "usage_limit", retryable: true, code: "usage_limit_reached", … }`.
 */
export function classifyHttpFailure(status: number, bodyText: string, now: number): Failure {
  const body = parseJsonSafe(bodyText);
  const code = errorCodeOf(body);
  if (status === 429) {
    const usageLimit = parseUsageLimitBody(body, now);
    if (usageLimit)
      return { kind: "usage_limit", status, code: "usage_limit_reached", retryable: true, usageLimit };
    if (code === "usage_not_included") return { kind: "usage_limit", status, code, retryable: true };
    return { kind: "rate_limited", status, code: safeCode(code, "rate_limit_exceeded"), retryable: true };
  }
  if (status === 401 || status === 403) {
    if (code === "account_deactivated" || /deactivated/i.test(bodyText.slice(0, 2000))) {
      return { kind: "deactivated", status, code: "account_deactivated", retryable: true };
    }
    if (code === "token_expired") return { kind: "token_expired", status, code, retryable: true };
    if (status === 401)
      return { kind: "unauthorized", status, code: safeCode(code, "upstream_unauthorized"), retryable: true };
    // 403 without a deactivation (e.g. a Cloudflare challenge page): the path, not the request, is at fault.
    return { kind: "server", status, code: safeCode(code, "upstream_forbidden"), retryable: true };
  }
  if (status >= 500 || status === 408) {
    return {
      kind: "server",
      status,
      code: safeCode(code, status >= 500 ? "upstream_5xx" : "upstream_timeout"),
      retryable: true,
    };
  }
  return { kind: "client", status, code: safeCode(code, "upstream_rejected"), retryable: false };
}

/** Failure codes in `response.failed` / `error` events that another account may fix. */
const RETRYABLE_STREAM_CODES = new Set([
  "server_error",
  "server_is_overloaded",
  "slow_down",
  "rate_limit_exceeded",
  "overloaded_error",
  "upstream_request_timeout",
  "stream_incomplete",
  "websocket_connection_limit_reached",
  "insufficient_quota",
  "usage_limit_reached",
]);

export function isRetryableStreamCode(code: string | undefined): boolean {
  return code !== undefined && RETRYABLE_STREAM_CODES.has(code);
}
