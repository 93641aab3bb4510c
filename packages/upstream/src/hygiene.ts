/**
 * Proxy hygiene in one place: which client headers reach the upstream, which
 * upstream headers reach the client, and why.
 */
import { GENERIC_CONTINUITY_HEADERS } from "@codex-pooler/core";

/** The Codex client version the gateway speaks for when it synthesises an identity. */
export const CODEX_CLIENT_VERSION = "0.171.0";

// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "proxy-authorization",
  "proxy-authenticate",
]);

// Set by us for the upstream, or describing a body we re-encode.
const REPLACED = new Set([
  "authorization",
  "chatgpt-account-id",
  "content-length",
  "content-encoding",
  "cookie",
  "accept-encoding",
  "originator",
  "user-agent",
  "version",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-real-ip",
  "forwarded",
]);

/** Client headers that carry Codex semantics the upstream uses (continuity, turn metadata, betas). */
const FORWARDED_EXACT = new Set([
  "accept",
  "content-type",
  "session-id",
  "session_id",
  "thread-id",
  "conversation_id",
  "x-client-request-id",
  "openai-beta",
  "openai-organization",
  "openai-project",
]);

function forwardable(name: string): boolean {
  if (HOP_BY_HOP.has(name) || REPLACED.has(name) || GENERIC_CONTINUITY_HEADERS.has(name)) return false;
  if (FORWARDED_EXACT.has(name)) return true;
  // x-codex-* (turn state, window id, turn metadata, beta features) and
  // x-openai-* (subagent, routing override) are Codex protocol headers.
  return name.startsWith("x-codex-") || name.startsWith("x-openai-");
}

export interface UpstreamIdentity {
  accessToken: string;
  /**
   * The ready `Bearer …` value, when the caller keeps one per token: every
   * request of an open stream holds its header strings, and a token is ~800
   * bytes, so requests of one token should share one string.
   */
  authorization?: string;
  /** `chatgpt-account-id`; synthetic ids (`email_…`, `local_…`) are not sent. */
  chatgptAccountId: string;
}

/**
 * Builds the upstream request headers: the client's Codex headers, the
 * account's bearer and id instead of the Pool API key, and a normalised
 * Codex client identity (`originator`, `user-agent`, `version`), because the
 * upstream serves Codex clients and the pool must look like one account's
 * client, whatever tool sent the request.
 */
export function upstreamRequestHeaders(
  client: Readonly<Record<string, string>>,
  identity: UpstreamIdentity,
  options: { stream: boolean; websocket?: boolean },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(client)) if (forwardable(name)) out[name] = value;
  out["authorization"] = identity.authorization ?? `Bearer ${identity.accessToken}`;
  if (identity.chatgptAccountId && !/^(email|local)_/.test(identity.chatgptAccountId)) {
    out["chatgpt-account-id"] = identity.chatgptAccountId;
  }
  const originator = normaliseOriginator(client["originator"]);
  out["originator"] = originator;
  out["user-agent"] = `${originator}/${CODEX_CLIENT_VERSION}`;
  out["version"] = CODEX_CLIENT_VERSION;
  if (options.websocket) {
    out["openai-beta"] = "responses_websockets=2026-02-06";
    delete out["accept"];
    delete out["content-type"];
  } else {
    out["content-type"] = "application/json";
    out["accept"] = options.stream ? "text/event-stream" : "application/json";
  }
  return out;
}

/** Known Codex originators pass; anything else (SDKs, curl) speaks as the interactive CLI. */
export function normaliseOriginator(value: string | undefined): string {
  return value && /^codex_[a-z_]{1,32}$/.test(value) ? value : "codex_cli_rs";
}

/** Upstream response headers a Codex client reads; everything else stays with the gateway. */
export function isClientVisibleResponseHeader(name: string): boolean {
  return (
    name.startsWith("x-codex-") ||
    name === "x-models-etag" ||
    name === "x-reasoning-included" ||
    name === "openai-model" ||
    name === "retry-after"
  );
}
