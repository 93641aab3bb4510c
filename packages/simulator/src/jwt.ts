import { createHmac, timingSafeEqual } from "node:crypto";

/** The Codex CLI's OAuth client id (spec §5.1). */
export const CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann";
export const AUTH_ISSUER = "https://auth.openai.com";
const AUTH_CLAIM = "https://api.openai.com/auth";
const PROFILE_CLAIM = "https://api.openai.com/profile";

export interface TokenSubject {
  accountId: string;
  userId: string;
  email: string;
  plan: string;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/**
 * Signs with HMAC-SHA256 under the simulator's secret. The Codex CLI never verifies the signature (spec §5.2);
 * the simulator itself only needs to recognise its own tokens.
 */
export function signJwt(payload: Record<string, unknown>, secret: string): string {
  const head = `${b64url({ alg: "HS256", typ: "JWT", kid: "codex-sim" })}.${b64url(payload)}`;
  const sig = createHmac("sha256", secret).update(head).digest("base64url");
  return `${head}.${sig}`;
}

/** Returns the payload when the token is well formed and carries the given secret's signature. */
export function verifyJwt(token: string, secret: string): Record<string, unknown> | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  const want = createHmac("sha256", secret).update(`${h}.${p}`).digest();
  const got = Buffer.from(s, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
  return decodeJwtPayload(token);
}

/** Decodes the payload without checking anything (what the CLI does). */
export function decodeJwtPayload(token: string): Record<string, unknown> | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function authClaim(s: TokenSubject): Record<string, unknown> {
  return {
    chatgpt_account_id: s.accountId,
    chatgpt_plan_type: s.plan,
    chatgpt_user_id: s.userId,
    user_id: s.userId,
  };
}

/** Access-token claims laid out as spec §5.2. `jti` keeps two tokens minted in one second distinct. */
export function accessTokenClaims(
  s: TokenSubject,
  iat: number,
  exp: number,
  jti: string,
): Record<string, unknown> {
  return {
    iss: AUTH_ISSUER,
    aud: ["https://api.openai.com/v1"],
    sub: `auth0|${s.userId}`,
    iat,
    nbf: iat,
    exp,
    jti,
    client_id: CODEX_CLIENT_ID,
    scp: ["openid", "profile", "email", "offline_access"],
    [AUTH_CLAIM]: authClaim(s),
    [PROFILE_CLAIM]: { email: s.email, email_verified: true },
  };
}

export function idTokenClaims(s: TokenSubject, iat: number, exp: number): Record<string, unknown> {
  return {
    iss: AUTH_ISSUER,
    aud: [CODEX_CLIENT_ID],
    sub: `auth0|${s.userId}`,
    email: s.email,
    email_verified: true,
    iat,
    exp,
    auth_time: iat,
    [AUTH_CLAIM]: authClaim(s),
  };
}
