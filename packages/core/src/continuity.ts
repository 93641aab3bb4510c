/**
 * Thread continuity: which request fields tie a request to upstream state
 * that only one account holds (prompt cache, encrypted reasoning and
 * compaction blobs, websocket response chains). Anchors are listed strongest
 * first; the gateway stores only their hashes.
 */

export type AnchorKind =
  | "turn_state"
  | "previous_response"
  | "session"
  | "window"
  | "prompt_cache"
  | "history_item";

export interface Anchor {
  kind: AnchorKind;
  value: string;
}

/** Session headers in the order peers trust them; the generic ones are never forwarded upstream. */
export const SESSION_HEADERS = [
  "session-id",
  "session_id",
  "thread-id",
  "x-codex-session-id",
  "x-session-id",
  "x-session-affinity",
  "x-codex-conversation-id",
  "conversation_id",
] as const;

/** Headers that carry continuity to us but mean nothing to the upstream. */
export const GENERIC_CONTINUITY_HEADERS = new Set([
  "x-session-id",
  "x-session-affinity",
  "x-codex-session-id",
]);

const MAX_ANCHOR_LENGTH = 512;

function clean(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const t = v.trim();
  return t.length > 0 && t.length <= MAX_ANCHOR_LENGTH ? t : undefined;
}

/**
 * Example: the Codex CLI sends `session-id: <uuid>` and the same uuid as
 * `prompt_cache_key` → anchors `[session <uuid>, prompt_cache <uuid>]`.
 */
export function extractAnchors(
  headers: Readonly<Record<string, string | undefined>>,
  body: { previous_response_id?: unknown; prompt_cache_key?: unknown; input?: unknown } | undefined,
): Anchor[] {
  const anchors: Anchor[] = [];
  const turnState = clean(headers["x-codex-turn-state"]);
  if (turnState) anchors.push({ kind: "turn_state", value: turnState });
  const prev = clean(body?.previous_response_id);
  if (prev) anchors.push({ kind: "previous_response", value: prev });
  for (const name of SESSION_HEADERS) {
    const v = clean(headers[name]);
    if (v) {
      anchors.push({ kind: "session", value: v });
      break;
    }
  }
  const window = clean(headers["x-codex-window-id"]);
  if (window) anchors.push({ kind: "window", value: window });
  const cacheKey = clean(body?.prompt_cache_key);
  if (cacheKey) anchors.push({ kind: "prompt_cache", value: cacheKey });
  anchors.push(...historyAnchors(body?.input));
  return anchors;
}

/** How many of the latest account-bound history items are looked up. */
const HISTORY_ANCHORS = 3;

/**
 * Account-bound items a client replays (reasoning with encrypted content,
 * compaction) name the account that minted them by their ids: the latest
 * few become anchors, for clients that send no session id.
 */
export function historyAnchors(input: unknown): Anchor[] {
  if (!Array.isArray(input)) return [];
  const out: Anchor[] = [];
  for (let i = input.length - 1; i >= 0 && out.length < HISTORY_ANCHORS; i--) {
    const item = input[i] as Record<string, unknown> | null;
    if (!item || typeof item !== "object") continue;
    const bound =
      item["type"] === "compaction" ||
      (item["type"] === "reasoning" && typeof item["encrypted_content"] === "string");
    const id = clean(item["id"]);
    if (bound && id) out.push({ kind: "history_item", value: id });
  }
  return out;
}

/** Ids of account-bound items in a response's output, to be anchored to the account that produced them. */
export function boundOutputIds(items: readonly unknown[]): string[] {
  const ids: string[] = [];
  for (const item of items) {
    if (!item || typeof item !== "object") continue;
    const o = item as Record<string, unknown>;
    if ((o["type"] === "reasoning" || o["type"] === "compaction") && typeof o["id"] === "string")
      ids.push(o["id"]);
  }
  return ids;
}
