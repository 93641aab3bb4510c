/**
 * Faults: one vocabulary shared by the control API (`injectFault`) and the prompt directive `sim: fail …`.
 */

/** `response.failed` error codes the CLI maps to distinct behaviours (spec §3.5). */
export const FAILED_CODES = [
  "context_length_exceeded",
  "rate_limit_exceeded",
  "server_is_overloaded",
  "slow_down",
  "insufficient_quota",
  "usage_not_included",
  "invalid_prompt",
  "cyber_policy",
  "server_error",
] as const;

export type Fault =
  /** Delay before the status line and headers. */
  | { kind: "slow_first_byte"; ms: number }
  /** Gap of `ms` between events; `: keepalive` comments every `keepaliveMs` while waiting. */
  | { kind: "slow_events"; ms: number; keepaliveMs?: number }
  /** Stop sending after `afterEvents` events and hold the connection (for `ms`, then drop it; default forever). */
  | { kind: "stall"; afterEvents?: number; keepaliveMs?: number; ms?: number }
  /** Close the TCP connection (no close frame on websocket) after `afterEvents` events. */
  | { kind: "disconnect"; afterEvents?: number }
  /** End the body cleanly after `afterEvents` events, without a terminal event. */
  | { kind: "eof"; afterEvents?: number }
  | { kind: "response_failed"; code: string; message?: string }
  | { kind: "response_incomplete"; reason?: string }
  /** A top-level `{"type":"error"}` event after the preamble. */
  | { kind: "error_event"; code?: string; message?: string }
  /** Plain 429 `rate_limit_exceeded`. */
  | { kind: "rate_limited"; retryAfterSeconds?: number }
  /** 429 `usage_limit_reached` now, without touching the account's counters. */
  | { kind: "usage_limit" }
  /** Status with a JSON error body, or Cloudflare-like HTML (default for 502/503/504). */
  | { kind: "http_error"; status: number; html?: boolean }
  /** 503 `server_is_overloaded` with `Retry-After`. */
  | { kind: "overloaded"; retryAfterSeconds?: number }
  /** 429 as if the account's concurrency cap were reached. */
  | { kind: "concurrency_limit" }
  | { kind: "unauthorized" }
  | { kind: "token_expired" }
  | { kind: "token_invalidated" }
  | { kind: "account_deactivated" }
  /** Websocket: close frame (default 1011) after `afterEvents` events. */
  | { kind: "ws_close"; afterEvents?: number; code?: number }
  /** Websocket: wrapped `websocket_connection_limit_reached` error, then close. */
  | { kind: "ws_connection_limit" }
  /** Websocket upgrade answered with this status instead of 101. */
  | { kind: "upgrade_refused"; status: number }
  /** `/oauth/token` answers this error code (or `server_error` → 5xx, transient). */
  | { kind: "refresh_error"; code: string; status?: number };

export type FaultKind = Fault["kind"];

/** Which requests a fault can hit. `responses` = POST /responses and websocket `response.create`. */
export type FaultRoute = "responses" | "compact" | "models" | "usage" | "token" | "upgrade";

export interface FaultMatch {
  accountId?: string;
  sessionId?: string;
  model?: string;
  route?: FaultRoute;
  transport?: "http" | "ws";
}

export interface FaultInjection {
  fault: Fault;
  /** How many matching requests it hits (default 1). */
  count?: number;
  match?: FaultMatch;
}

export interface PendingFault {
  id: number;
  fault: Fault;
  remaining: number;
  match: FaultMatch & { route: FaultRoute };
}

export function defaultRoute(fault: Fault): FaultRoute {
  switch (fault.kind) {
    case "upgrade_refused":
      return "upgrade";
    case "refresh_error":
      return "token";
    default:
      return "responses";
  }
}

export interface FaultContext {
  route: FaultRoute;
  transport: "http" | "ws";
  accountId?: string;
  sessionId?: string;
  model?: string;
}

/** FIFO of injected faults; each matching request takes (and decrements) the first that matches. */
export class FaultQueue {
  #items: PendingFault[] = [];
  #nextId = 1;

  add(injection: FaultInjection): PendingFault {
    const count = injection.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new RangeError("count must be a positive integer");
    const item: PendingFault = {
      id: this.#nextId++,
      fault: injection.fault,
      remaining: count,
      match: { ...injection.match, route: injection.match?.route ?? defaultRoute(injection.fault) },
    };
    this.#items.push(item);
    return item;
  }

  take(ctx: FaultContext): Fault | undefined {
    if (this.#items.length === 0) return undefined;
    for (let i = 0; i < this.#items.length; i++) {
      const item = this.#items[i]!;
      const m = item.match;
      if (m.route !== ctx.route) continue;
      if (m.transport !== undefined && m.transport !== ctx.transport) continue;
      if (m.accountId !== undefined && m.accountId !== ctx.accountId) continue;
      if (m.sessionId !== undefined && m.sessionId !== ctx.sessionId) continue;
      if (m.model !== undefined && m.model !== ctx.model) continue;
      item.remaining -= 1;
      if (item.remaining <= 0) this.#items.splice(i, 1);
      return item.fault;
    }
    return undefined;
  }

  list(): PendingFault[] {
    return this.#items.map((f) => ({ ...f, match: { ...f.match } }));
  }

  clear(): void {
    this.#items = [];
  }
}

const num = (v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};

/**
 * Parses the words after `sim: fail`. Accepts a fault kind with positional arguments
 * (`disconnect 3`, `slow_events 200 50`, `http_error 502`) and shorthands: a `response.failed` code
 * (`context_length_exceeded`), `max_output_tokens`/`content_filter`, `usage_limit_reached`, `429`,
 * or a 5xx status number. Returns an error string for anything else.
 */
export function parseFaultWords(words: string[]): Fault | string {
  const [head, ...rest] = words;
  if (!head) return "sim: fail needs a fault name";
  const a0 = rest[0];
  const a1 = rest[1];
  if ((FAILED_CODES as readonly string[]).includes(head)) {
    const message = rest.join(" ") || undefined;
    return message === undefined
      ? { kind: "response_failed", code: head }
      : { kind: "response_failed", code: head, message };
  }
  if (/^\d{3}$/.test(head)) {
    const status = Number(head);
    if (status === 429) return { kind: "rate_limited" };
    if (status === 401) return { kind: "unauthorized" };
    if (status >= 400)
      return a0 === "json" ? { kind: "http_error", status, html: false } : { kind: "http_error", status };
    return `sim: fail cannot use status ${head}`;
  }
  switch (head) {
    case "max_output_tokens":
    case "content_filter":
      return { kind: "response_incomplete", reason: head };
    case "usage_limit_reached":
    case "usage_limit":
      return { kind: "usage_limit" };
    case "slow_first_byte":
      return { kind: "slow_first_byte", ms: num(a0) ?? 1000 };
    case "slow_events": {
      const keepaliveMs = num(a1);
      return keepaliveMs === undefined
        ? { kind: "slow_events", ms: num(a0) ?? 500 }
        : { kind: "slow_events", ms: num(a0) ?? 500, keepaliveMs };
    }
    case "stall": {
      const f: Fault = { kind: "stall", afterEvents: num(a0) ?? 2 };
      const ms = num(a1);
      return ms === undefined ? f : { ...f, ms };
    }
    case "disconnect":
      return { kind: "disconnect", afterEvents: num(a0) ?? 3 };
    case "eof":
      return { kind: "eof", afterEvents: num(a0) ?? 3 };
    case "response_failed":
      return a0 ? { kind: "response_failed", code: a0 } : "sim: fail response_failed needs a code";
    case "response_incomplete":
      return { kind: "response_incomplete", reason: a0 ?? "max_output_tokens" };
    case "error_event":
      return a0 ? { kind: "error_event", code: a0 } : { kind: "error_event" };
    case "rate_limited": {
      const s = num(a0);
      return s === undefined ? { kind: "rate_limited" } : { kind: "rate_limited", retryAfterSeconds: s };
    }
    case "http_error": {
      const status = num(a0) ?? 500;
      return a1 === undefined
        ? { kind: "http_error", status }
        : { kind: "http_error", status, html: a1 === "html" };
    }
    case "overloaded": {
      const s = num(a0);
      return s === undefined ? { kind: "overloaded" } : { kind: "overloaded", retryAfterSeconds: s };
    }
    case "concurrency_limit":
    case "unauthorized":
    case "token_expired":
    case "token_invalidated":
    case "account_deactivated":
    case "ws_connection_limit":
      return { kind: head };
    case "ws_close": {
      const code = num(a1);
      return code === undefined
        ? { kind: "ws_close", afterEvents: num(a0) ?? 3 }
        : { kind: "ws_close", afterEvents: num(a0) ?? 3, code };
    }
    default:
      return `sim: unknown fault '${head}'`;
  }
}

const KINDS = new Set<string>([
  "slow_first_byte",
  "slow_events",
  "stall",
  "disconnect",
  "eof",
  "response_failed",
  "response_incomplete",
  "error_event",
  "rate_limited",
  "usage_limit",
  "http_error",
  "overloaded",
  "concurrency_limit",
  "unauthorized",
  "token_expired",
  "token_invalidated",
  "account_deactivated",
  "ws_close",
  "ws_connection_limit",
  "upgrade_refused",
  "refresh_error",
]);

/** Light runtime check for faults arriving as JSON on the control API. */
export function isFault(value: unknown): value is Fault {
  if (value === null || typeof value !== "object") return false;
  const kind = (value as { kind?: unknown }).kind;
  if (typeof kind !== "string" || !KINDS.has(kind)) return false;
  const v = value as Record<string, unknown>;
  if (kind === "response_failed" || kind === "refresh_error") return typeof v["code"] === "string";
  if (kind === "http_error" || kind === "upgrade_refused") return typeof v["status"] === "number";
  if (kind === "slow_first_byte" || kind === "slow_events") return typeof v["ms"] === "number";
  return true;
}
