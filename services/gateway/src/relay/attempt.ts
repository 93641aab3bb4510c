/**
 * One upstream attempt over HTTP: token, request, status handling, and the
 * evidence every answer carries (quota headers, 429 bodies, auth failures).
 * It stops at the response body: the transport decides how to relay it.
 */
import {
  type Clock,
  DomainError,
  exhaustionWindows,
  type Logger,
  parseQuotaHeaders,
} from "@codex-pooler/core";
import {
  type AbortLike,
  classifyHttpFailure,
  type Failure,
  readCapped,
  sendUpstream,
  type UpstreamAgent,
  type UpstreamResponse,
  upstreamRequestHeaders,
} from "@codex-pooler/upstream";
import type { Registry } from "../state/registry.ts";
import { AccountUnavailableError, type TokenVault } from "../state/tokens.ts";

export interface UpstreamTarget {
  baseUrl: string;
  agent: UpstreamAgent;
}

export interface AttemptDeps {
  registry: Registry;
  tokens: TokenVault;
  upstream: UpstreamTarget;
  clock: Clock;
  logger: Logger;
}

export type HttpAttemptResult =
  | { kind: "ok"; response: UpstreamResponse; dispatchedAt: number; headersAt: number }
  /**
   * An HTTP failure answer, already read and classified; `body` is safe to relay for client errors.
   * `tokenGeneration` is the credential generation of the token that was refused (for a fenced refresh).
   */
  | {
      kind: "failed";
      failure: Failure;
      status: number;
      body: string;
      headers: Record<string, string>;
      tokenGeneration: number;
    }
  /** Token unavailable, or the connection failed before any answer. */
  | { kind: "unavailable"; code: string; retryable: boolean };

/** Records what an upstream answer tells about the account. */
export function learnFromHeaders(
  deps: AttemptDeps,
  accountId: string,
  headers: Record<string, string>,
): void {
  const now = deps.clock.now();
  const obs = parseQuotaHeaders((n) => headers[n], Object.keys(headers), now);
  if (obs) deps.registry.observeQuota(accountId, obs);
}

export async function applyFailure(deps: AttemptDeps, accountId: string, failure: Failure): Promise<void> {
  const now = deps.clock.now();
  switch (failure.kind) {
    case "usage_limit":
      deps.registry.observeQuota(
        accountId,
        exhaustionWindows(failure.usageLimit ?? { resetAt: null, planType: undefined }, now),
      );
      break;
    case "deactivated":
      await deps.registry
        .setStatus(accountId, "disabled", "account_deactivated")
        .catch((err: unknown) => deps.logger.warn({ err, accountId }, "could not persist account status"));
      break;
    case "server":
    case "network":
    case "rate_limited":
    case "unauthorized":
      deps.registry.recordFailure(accountId, failure.kind);
      break;
    default:
      break;
  }
}

/**
 * One attempt on one account. A 401 `token_expired` (the token died before
 * its stated expiry) is answered by refreshing the token — once, across every
 * process — and sending again, within the same attempt.
 */
export async function httpAttempt(
  deps: AttemptDeps,
  accountId: string,
  request: Parameters<typeof httpAttemptOnce>[2],
): Promise<HttpAttemptResult> {
  const first = await httpAttemptOnce(deps, accountId, request);
  if (
    first.kind === "failed" &&
    first.failure.kind === "token_expired" &&
    request.forceRefreshFrom === undefined
  ) {
    return httpAttemptOnce(deps, accountId, { ...request, forceRefreshFrom: first.tokenGeneration });
  }
  return first;
}

async function httpAttemptOnce(
  deps: AttemptDeps,
  accountId: string,
  request: {
    path: string;
    method: "GET" | "POST";
    clientHeaders: Readonly<Record<string, string>>;
    body?: Buffer | string;
    stream: boolean;
    signal: AbortLike;
    /** After a 401 token_expired on this account: refresh before sending. */
    forceRefreshFrom?: number;
  },
): Promise<HttpAttemptResult> {
  const account = deps.registry.account(accountId);
  if (!account) return { kind: "unavailable", code: "account_unknown", retryable: true };
  let token: string;
  let authorization: string;
  let tokenGeneration: number;
  try {
    const t =
      request.forceRefreshFrom !== undefined
        ? await deps.tokens.refresh(accountId, "unauthorized_recovery", request.forceRefreshFrom)
        : await deps.tokens.accessToken(accountId);
    token = t.token;
    authorization = t.authorization;
    tokenGeneration = t.generation;
  } catch (err) {
    if (err instanceof AccountUnavailableError)
      return { kind: "unavailable", code: err.code, retryable: true };
    throw err;
  }
  const headers = upstreamRequestHeaders(
    request.clientHeaders,
    { accessToken: token, authorization, chatgptAccountId: account.row.chatgptAccountId },
    { stream: request.stream },
  );
  const dispatchedAt = deps.clock.now();
  deps.registry.markUsed(accountId);
  let response: UpstreamResponse;
  try {
    response = await sendUpstream({
      baseUrl: deps.upstream.baseUrl,
      path: request.path,
      method: request.method,
      headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      signal: request.signal,
      agent: deps.upstream.agent,
    });
  } catch (err) {
    if (request.signal.aborted) return { kind: "unavailable", code: "client_aborted", retryable: false };
    // A client header that cannot be forwarded (an ASCII control character): the request's fault, not the account's.
    if ((err as { code?: string }).code === "UPSTREAM_INVALID_REQUEST")
      throw new DomainError("invalid_request", {
        message: "A request header holds a character that cannot be forwarded.",
      });
    deps.registry.recordFailure(accountId, "network");
    deps.logger.warn({ accountId, code: (err as { code?: string }).code }, "upstream connection failed");
    return { kind: "unavailable", code: "upstream_unreachable", retryable: true };
  }
  const headersAt = deps.clock.now();
  learnFromHeaders(deps, accountId, response.headers);
  if (response.status >= 200 && response.status < 300)
    return { kind: "ok", response, dispatchedAt, headersAt };
  const body = await readCapped(response.body);
  const failure = classifyHttpFailure(response.status, body, deps.clock.now());
  await applyFailure(deps, accountId, failure);
  return {
    kind: "failed",
    failure,
    status: response.status,
    body,
    headers: response.headers,
    tokenGeneration,
  };
}
