/**
 * The upstream's error bodies, in one place. Shapes follow spec §4 (wording marked there as uncertain is kept
 * close to what peers quote); every function returns the serialised body.
 */

export const detail = (message: string): string => JSON.stringify({ detail: message });

export const UNAUTHORIZED = detail("Unauthorized");
export const NOT_FOUND = detail("Not Found");

function openaiError(
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
  status?: number,
): string {
  const body: Record<string, unknown> = { error: { message, type, param, code } };
  if (status !== undefined) body["status"] = status;
  return JSON.stringify(body);
}

export const TOKEN_EXPIRED = openaiError(
  "Provided authentication token is expired. Please try signing in again.",
  "invalid_request_error",
  "token_expired",
  null,
  401,
);

export const TOKEN_INVALIDATED = openaiError(
  "Your authentication token has been invalidated. Please try signing in again.",
  "invalid_request_error",
  "token_invalidated",
  null,
  401,
);

export const ACCOUNT_DEACTIVATED = openaiError(
  "Your OpenAI account has been deactivated, please check your email for more information.",
  "invalid_request_error",
  "account_deactivated",
  null,
  403,
);

export const accountMismatch = (why: string): string =>
  openaiError(why, "invalid_request_error", "account_mismatch", null, 403);

export function usageLimitReached(plan: string, resetsAt: number, now: number): string {
  return JSON.stringify({
    error: {
      type: "usage_limit_reached",
      message: "The usage limit has been reached",
      plan_type: plan,
      resets_at: resetsAt,
      resets_in_seconds: Math.max(0, resetsAt - now),
      eligible_promo: null,
    },
  });
}

export function rateLimitExceeded(message: string): string {
  return JSON.stringify({
    error: { type: "rate_limit_exceeded", code: "rate_limit_exceeded", message, param: null },
  });
}

export function invalidEncryptedContent(blob: string, itemId: string | undefined, kind: string): string {
  const shown = blob.length > 24 ? `${blob.slice(0, 12)}…${blob.slice(-8)}` : blob;
  const message =
    kind === "compaction"
      ? `The encrypted content for item ${itemId ?? "(no id)"} could not be verified. Reason: Encrypted content could not be decrypted or parsed.`
      : `The encrypted content ${shown} could not be verified.`;
  return openaiError(message, "invalid_request_error", "invalid_encrypted_content");
}

export function previousResponseNotFound(id: string): Record<string, unknown> {
  return {
    type: "invalid_request_error",
    code: "previous_response_not_found",
    message: `Previous response with id '${id}' not found.`,
    param: "previous_response_id",
  };
}

export const invalidTurnState = (): string =>
  openaiError(
    "The x-codex-turn-state header does not belong to this account and session.",
    "invalid_request_error",
    "invalid_turn_state",
    "x-codex-turn-state",
  );

export const SERVER_ERROR = openaiError(
  "An error occurred while processing your request. Please try again.",
  "server_error",
  "server_error",
);

export const OVERLOADED = openaiError(
  "Our servers are currently overloaded. Please try again later.",
  "server_error",
  "server_is_overloaded",
);

/** Cloudflare-like HTML error page (non-JSON), for 502/503/504 faults. */
export function htmlErrorPage(status: number): string {
  const title = `${status} ${STATUS_TEXT[status] ?? "Error"}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n`;
}

export const STATUS_TEXT: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  410: "Gone",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  426: "Upgrade Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? "Unknown"}`;
}

/** Refresh-endpoint error body (spec §5.1); the CLI reads `error.code`. */
export function refreshError(code: string, message: string): string {
  return openaiError(message, "invalid_request_error", code);
}

export const REFRESH_MESSAGES: Record<string, string> = {
  refresh_token_reused:
    "Your refresh token has already been used to generate a new access token. Please try signing in again.",
  refresh_token_expired: "Your refresh token has expired. Please try signing in again.",
  refresh_token_invalidated: "Your refresh token has been invalidated. Please try signing in again.",
  account_deactivated: "Your OpenAI account has been deactivated.",
};
