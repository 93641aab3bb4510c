/**
 * One table of domain failures. Each has a stable code, the HTTP status every
 * transport maps it to, the OpenAI error `type`, and a fixed client message
 * (never built from internals). Transports read this table; nothing else
 * decides a status.
 */

export interface ErrorSpec {
  status: number;
  type:
    | "invalid_request_error"
    | "authentication_error"
    | "permission_error"
    | "rate_limit_error"
    | "server_error";
  message: string;
}

export const ERROR_CATALOG = {
  not_found: { status: 404, type: "invalid_request_error", message: "No such route." },
  method_not_allowed: {
    status: 405,
    type: "invalid_request_error",
    message: "Method not allowed on this route.",
  },
  unsupported_endpoint: {
    status: 404,
    type: "invalid_request_error",
    message: "This endpoint is not supported by Codex Pooler.",
  },
  missing_api_key: {
    status: 401,
    type: "authentication_error",
    message: "Missing bearer token: send Authorization: Bearer <pool API key>.",
  },
  invalid_api_key: {
    status: 401,
    type: "authentication_error",
    message: "Invalid, revoked or paused pool API key.",
  },
  pool_unavailable: { status: 403, type: "permission_error", message: "The pool of this key is not active." },
  v1_compatibility_disabled: {
    status: 403,
    type: "permission_error",
    message: "The /v1 surface is turned off for this pool.",
  },
  invalid_json: {
    status: 400,
    type: "invalid_request_error",
    message: "The request body is not valid JSON.",
  },
  invalid_request: { status: 400, type: "invalid_request_error", message: "The request is invalid." },
  unsupported_parameter: { status: 400, type: "invalid_request_error", message: "Unsupported parameter." },
  unsupported_content_encoding: {
    status: 415,
    type: "invalid_request_error",
    message: "Unsupported Content-Encoding (use identity, gzip, deflate or zstd).",
  },
  invalid_compressed_body: {
    status: 400,
    type: "invalid_request_error",
    message: "The compressed request body could not be decoded.",
  },
  body_too_large: { status: 413, type: "invalid_request_error", message: "The request body is too large." },
  model_not_found: {
    status: 400,
    type: "invalid_request_error",
    message: "The model is not available in this pool.",
  },
  no_eligible_account: {
    status: 503,
    type: "server_error",
    message: "No upstream account of this pool can serve the request right now.",
  },
  usage_limit_reached: {
    status: 429,
    type: "rate_limit_error",
    message: "The usage limit of every account in this pool has been reached.",
  },
  thread_account_unavailable: {
    status: 409,
    type: "invalid_request_error",
    message:
      "The account that holds this thread is unavailable and the pool does not move threads. Start a new thread.",
  },
  server_is_overloaded: {
    status: 503,
    type: "server_error",
    message: "The gateway is overloaded. Retry shortly.",
  },
  upstream_error: { status: 502, type: "server_error", message: "The upstream request failed." },
  upstream_timeout: { status: 504, type: "server_error", message: "The upstream did not answer in time." },
  internal_error: { status: 500, type: "server_error", message: "Internal error." },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface DomainErrorOptions {
  /** A field path for validation errors (e.g. `input[3].content`). */
  param?: string;
  /** Replaces the catalog message; must not contain internals or secrets. */
  message?: string;
  retryAfterSeconds?: number;
  /** Extra public fields for the body (e.g. resets_at). */
  extra?: Record<string, unknown>;
  cause?: unknown;
}

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorSpec["type"];
  readonly param: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly extra: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, options: DomainErrorOptions = {}) {
    const spec: ErrorSpec = ERROR_CATALOG[code];
    super(
      options.message ?? spec.message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "DomainError";
    this.code = code;
    this.status = spec.status;
    this.type = spec.type;
    this.param = options.param;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.extra = options.extra;
  }
}

/** OpenAI error envelope: `{"error":{"message","type","param","code"}}`. */
export function toOpenAiErrorBody(err: DomainError, requestId?: string): Record<string, unknown> {
  return {
    error: {
      message: err.message,
      type: err.type,
      param: err.param ?? null,
      code: err.code,
      ...(err.extra ?? {}),
      ...(requestId ? { request_id: requestId } : {}),
    },
  };
}
