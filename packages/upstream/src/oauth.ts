/**
 * The OpenAI auth server as Codex uses it: refresh grants (refresh tokens
 * rotate, so a second use of the same one is fatal) and the claims we read
 * from the tokens (decoded with jose; signatures are the auth server's
 * business, not ours — we never trust claims for authorisation, only to
 * label the account and to schedule refreshes).
 */
import { decodeJwt } from "jose";
import type { Dispatcher } from "undici";
import { request } from "undici";
import { parseJsonSafe, safeCode } from "./failures.ts";

/** The Codex CLI's public OAuth client id. */
export const CODEX_OAUTH_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann";

export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  idToken: string | undefined;
}

export interface AccountClaims {
  chatgptAccountId: string | undefined;
  chatgptUserId: string | undefined;
  email: string | undefined;
  planType: string | undefined;
  /** Access-token expiry, epoch ms. */
  expiresAt: number | undefined;
}

const AUTH_CLAIM = "https://api.openai.com/auth";
const PROFILE_CLAIM = "https://api.openai.com/profile";

/** Reads the claims Codex reads (spec §5.2) from an id or access token; undefined fields when absent. */
export function readClaims(...tokens: Array<string | undefined>): AccountClaims {
  const out: AccountClaims = {
    chatgptAccountId: undefined,
    chatgptUserId: undefined,
    email: undefined,
    planType: undefined,
    expiresAt: undefined,
  };
  tokens.forEach((token, index) => {
    if (!token) return;
    let payload: Record<string, unknown>;
    try {
      payload = decodeJwt(token) as Record<string, unknown>;
    } catch {
      return;
    }
    const auth = (payload[AUTH_CLAIM] ?? {}) as Record<string, unknown>;
    const profile = (payload[PROFILE_CLAIM] ?? {}) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
    out.chatgptAccountId ??= str(auth["chatgpt_account_id"]);
    out.chatgptUserId ??= str(auth["chatgpt_user_id"]) ?? str(auth["user_id"]);
    out.planType ??= str(auth["chatgpt_plan_type"]);
    out.email ??= str(payload["email"]) ?? str(profile["email"]);
    // Only the first token given (the access token) decides the expiry.
    if (index === 0 && typeof payload["exp"] === "number") out.expiresAt = payload["exp"] * 1000;
  });
  return out;
}

export type RefreshFailureKind = "permanent" | "transient";

export class RefreshError extends Error {
  constructor(
    readonly kind: RefreshFailureKind,
    readonly code: string,
    readonly status: number | undefined,
  ) {
    super(`token refresh failed: ${code}`);
    this.name = "RefreshError";
  }
}

const PERMANENT_CODES = new Set([
  "refresh_token_expired",
  "refresh_token_reused",
  "refresh_token_invalidated",
  "invalid_grant",
  "invalid_refresh_token",
  "revoked",
  "token_expired",
]);

function refreshErrorCode(body: unknown): string | undefined {
  if (!body || typeof body !== "object") return undefined;
  const b = body as Record<string, unknown>;
  const err = b["error"];
  if (err && typeof err === "object") {
    const code = (err as Record<string, unknown>)["code"];
    if (typeof code === "string") return code;
  }
  if (typeof err === "string") return err;
  return typeof b["code"] === "string" ? b["code"] : undefined;
}

export interface RefreshOptions {
  authBaseUrl: string;
  refreshToken: string;
  reason: "proactive_expiry" | "unauthorized_recovery" | "scheduled" | "operator";
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * Exchanges a refresh token. Throws RefreshError: `permanent` for a spent,
 * expired or revoked refresh token (the account needs a new login), else
 * `transient` (retry later with the same token).
 */
export async function refreshTokens(options: RefreshOptions): Promise<TokenSet> {
  let status: number;
  let text: string;
  try {
    const res = await request(`${options.authBaseUrl}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", originator: "codex_cli_rs" },
      body: JSON.stringify({
        client_id: CODEX_OAUTH_CLIENT_ID,
        grant_type: "refresh_token",
        refresh_token: options.refreshToken,
        refresh_reason: options.reason,
      }),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      signal: options.signal ?? AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch {
    throw new RefreshError("transient", "auth_server_unreachable", undefined);
  }
  const body = parseJsonSafe(text);
  if (status >= 200 && status < 300 && body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    const access = b["access_token"];
    if (typeof access !== "string" || access === "")
      throw new RefreshError("transient", "malformed_token_response", status);
    return {
      accessToken: access,
      // Codex keeps the old refresh token when none comes back; so do we.
      refreshToken:
        typeof b["refresh_token"] === "string" && b["refresh_token"] !== ""
          ? b["refresh_token"]
          : options.refreshToken,
      idToken: typeof b["id_token"] === "string" ? b["id_token"] : undefined,
    };
  }
  const code = safeCode(refreshErrorCode(body), `http_${status}`);
  if (PERMANENT_CODES.has(code) || status === 401) throw new RefreshError("permanent", code, status);
  throw new RefreshError("transient", code, status);
}
