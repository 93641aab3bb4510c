/**
 * GET /backend-api/codex/responses upgraded to a websocket. A client socket
 * is pinned to one upstream socket — one account — for its whole life,
 * because the upstream keeps `previous_response_id` state per socket. The
 * account is chosen like an HTTP request's (continuity, strategy, ring), and
 * a refused upstream handshake fails over before the client is upgraded.
 * Frames pass through as they are; the gateway only reads the event type to
 * account each turn and to learn quota, and respects backpressure both ways.
 */
import {
  DomainError,
  exhaustionWindows,
  extractAnchors,
  parseRateLimitEvent,
  parseUsageLimitBody,
} from "@codex-pooler/core";
import {
  connectUpstreamWebsocket,
  isClientVisibleResponseHeader,
  readUsage,
  type UpstreamSocket,
  upstreamRequestHeaders,
} from "@codex-pooler/upstream";
import type { Bulkhead } from "../admission.ts";
import { authorizePoolRequest } from "../auth/keys.ts";
import { type RequestRecord, startAttempt, startRecord } from "../records.ts";
import { hashAnchor } from "../state/affinity.ts";
import type { PoolState } from "../state/registry.ts";
import { AccountUnavailableError } from "../state/tokens.ts";
import type { HeaderList, IncomingRequest } from "../uws/http.ts";
import type { ClientSocket, UpgradeDecision, WsSession } from "../uws/websocket.ts";
import { applyFailure, learnFromHeaders } from "./attempt.ts";
import { dispatch } from "./dispatch.ts";
import { errorBody, type ResponsesDeps } from "./responses.ts";

export interface WebsocketDeps extends ResponsesDeps {
  wsBulkhead: Bulkhead;
}

const TYPE = /"type"\s*:\s*"([^"]+)"/;

/** Open sessions, so revoked keys can be cut off. */
export class OpenSockets {
  readonly #sessions = new Set<RelaySession>();
  add(s: RelaySession) {
    this.#sessions.add(s);
  }
  delete(s: RelaySession) {
    this.#sessions.delete(s);
  }
  get size() {
    return this.#sessions.size;
  }
  /** Closes (1008) every socket whose key is no longer valid. */
  async sweep(stillValid: (keyId: string, prefix: string) => Promise<boolean>): Promise<number> {
    let closed = 0;
    for (const s of [...this.#sessions]) {
      if (!(await stillValid(s.keyId, s.keyPrefix).catch(() => true))) {
        s.terminate(1008, "pool API key revoked or paused");
        closed++;
      }
    }
    return closed;
  }
  closeAll(code: number, reason: string) {
    for (const s of [...this.#sessions]) s.terminate(code, reason);
  }
}

class RelaySession implements WsSession {
  #client: ClientSocket | undefined;
  #pending: string[] = [];
  #paused = false;
  #turn: RequestRecord | undefined;
  #closed = false;

  constructor(
    private readonly deps: WebsocketDeps,
    private readonly upstream: UpstreamSocket,
    private readonly info: {
      accountId: string;
      poolId: string;
      keyId: string;
      keyPrefix: string;
      originator: string | undefined;
      release: () => void;
      sockets: OpenSockets;
    },
  ) {
    info.sockets.add(this);
    upstream.on("message", (data, isBinary) => {
      if (isBinary) return; // The protocol is text frames only.
      this.#fromUpstream(data.toString());
    });
    upstream.on("close", (code) => {
      this.#finishTurn("failed", "upstream_closed");
      // 1000 stays 1000; anything else tells the client the server gave up mid-way.
      this.#client?.close(code === 1000 ? 1000 : 1011, "upstream closed");
      this.#end();
    });
    upstream.on("error", () => {
      // "close" follows and does the cleanup.
    });
  }

  get keyId() {
    return this.info.keyId;
  }
  get keyPrefix() {
    return this.info.keyPrefix;
  }

  attach(client: ClientSocket): void {
    this.#client = client;
    for (const frame of this.#pending.splice(0)) this.#send(frame);
    // The upstream went away while the client's upgrade was completing.
    if (this.#closed) client.close(1011, "upstream closed");
  }

  onMessage(text: string, isBinary: boolean): void {
    if (isBinary) {
      this.#client?.close(1003, "binary frames are not supported");
      return;
    }
    if (TYPE.exec(text.slice(0, 200))?.[1] === "response.create") this.#startTurn(text);
    if (this.upstream.readyState === this.upstream.OPEN) this.upstream.send(text);
    else {
      // Never leave a client waiting on a frame nobody will answer.
      this.#finishTurn("failed", "upstream_closed");
      this.#client?.close(1011, "upstream closed");
    }
  }

  onDrain(): void {
    if (this.#paused) {
      this.#paused = false;
      // Not from inside uWS's drain callback: frames sent there can stay buffered unflushed.
      setImmediate(() => this.upstream.resume());
    }
  }

  onClose(_code: number): void {
    this.#finishTurn("cancelled", "client_disconnected");
    this.upstream.close();
    this.#end();
  }

  terminate(code: number, reason: string): void {
    this.#client?.close(code, reason);
    this.upstream.terminate();
    this.#finishTurn("cancelled", "key_revoked");
    this.#end();
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.info.sockets.delete(this);
    this.info.release();
  }

  #send(frame: string): void {
    if (!this.#client) {
      this.#pending.push(frame);
      return;
    }
    if (!this.#client.send(frame) && !this.#client.closed && !this.#paused) {
      // The client reads slower than the upstream writes: stop reading upstream until it drains.
      this.#paused = true;
      this.upstream.pause();
    }
  }

  #startTurn(text: string): void {
    this.#finishTurn("cancelled", "superseded");
    const now = this.deps.clock.now();
    const record = startRecord({
      id: this.deps.newId("req"),
      route: "responses_ws",
      transport: "websocket",
      originator: this.info.originator,
      startedAt: now,
    });
    record.poolId = this.info.poolId;
    record.apiKeyId = this.info.keyId;
    record.accountId = this.info.accountId;
    const model = /"model"\s*:\s*"([^"]{1,200})"/.exec(text.slice(0, 4096))?.[1];
    record.model = model ?? null;
    startAttempt(record, {
      id: this.deps.newId("att"),
      attemptNo: 1,
      accountId: this.info.accountId,
      startedAt: now,
    });
    this.#turn = record;
  }

  #finishTurn(
    status: RequestRecord["status"],
    code: string | null,
    usage?: ReturnType<typeof readUsage>,
  ): void {
    const turn = this.#turn;
    if (!turn) return;
    this.#turn = undefined;
    const now = this.deps.clock.now();
    turn.status = status;
    turn.errorCode = status === "succeeded" ? null : code;
    turn.httpStatus = status === "succeeded" ? 200 : null;
    turn.completedAt = now;
    turn.durationMs = now - turn.startedAt;
    turn.usage = usage ?? null;
    const attempt = turn.attempts[0];
    if (attempt) {
      attempt.status = status === "rejected" ? "failed" : status;
      attempt.errorCode = turn.errorCode;
      attempt.durationMs = turn.durationMs;
      attempt.usage = turn.usage;
      attempt.httpStatus = turn.httpStatus;
      attempt.ttfbMs = turn.ttfbMs;
    }
    this.deps.recorder.record(turn);
  }

  #fromUpstream(frame: string): void {
    const type = TYPE.exec(frame.slice(0, 200))?.[1];
    const turn = this.#turn;
    if (turn && turn.ttfbMs === null) turn.ttfbMs = this.deps.clock.now() - turn.startedAt;
    switch (type) {
      case "response.completed":
      case "response.done":
      case "response.incomplete": {
        const usage = readUsage(
          (safeParse(frame)?.["response"] as Record<string, unknown> | undefined)?.["usage"],
        );
        this.deps.registry.recordSuccess(this.info.accountId);
        this.#send(frame);
        this.#finishTurn("succeeded", null, usage);
        return;
      }
      case "response.failed":
      case "error": {
        const obj = safeParse(frame);
        const now = this.deps.clock.now();
        const limit = parseUsageLimitBody(obj, now);
        if (limit) this.deps.registry.observeQuota(this.info.accountId, exhaustionWindows(limit, now));
        const err = ((obj?.["response"] as Record<string, unknown> | undefined)?.["error"] ??
          obj?.["error"]) as Record<string, unknown> | undefined;
        const code =
          typeof err?.["code"] === "string"
            ? err["code"]
            : typeof err?.["type"] === "string"
              ? err["type"]
              : "response_failed";
        this.#send(frame);
        this.#finishTurn("failed", /^[A-Za-z0-9_.-]{1,80}$/.test(code) ? code : "response_failed");
        return;
      }
      case "codex.rate_limits": {
        const obs = parseRateLimitEvent(safeParse(frame), this.deps.clock.now());
        if (obs) this.deps.registry.observeQuota(this.info.accountId, obs);
        break;
      }
      default:
        break;
    }
    this.#send(frame);
  }
}

function safeParse(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function reject(err: DomainError, requestId: string): UpgradeDecision {
  const headers: Array<[string, string]> = [
    ["content-type", "application/json"],
    ["x-request-id", requestId],
  ];
  if (err.retryAfterSeconds !== undefined) headers.push(["retry-after", String(err.retryAfterSeconds)]);
  return { accept: false, status: err.status, body: JSON.stringify(errorBody(err, requestId)), headers };
}

export function createWebsocketDecider(
  deps: WebsocketDeps,
  sockets: OpenSockets,
  /** Pool-level gates checked before admission (e.g. the /v1 switch). */
  precheck?: (pool: PoolState) => void,
) {
  return async (req: IncomingRequest, signal: AbortSignal): Promise<UpgradeDecision> => {
    const requestId = deps.newId("req");
    let release: (() => void) | undefined;
    try {
      const { key, pool } = await authorizePoolRequest(
        deps.keys,
        deps.registry,
        req.headers["authorization"],
      );
      precheck?.(pool);
      release = await deps.wsBulkhead.acquire();
      const anchors = extractAnchors(req.headers, undefined).map(hashAnchor);
      let decision: UpgradeDecision | undefined;
      let lastRefusal: { status: number; body: string } | undefined;
      let refreshFor: { accountId: string; generation: number } | undefined;

      await dispatch({
        pool,
        model: undefined,
        anchors,
        seedText: req.headers["session-id"] ?? requestId,
        now: () => deps.clock.now(),
        registry: deps.registry,
        affinity: deps.affinity,
        exhausted: () => {
          decision = lastRefusal
            ? {
                accept: false,
                status: lastRefusal.status,
                body: lastRefusal.body,
                headers: [
                  ["content-type", "application/json"],
                  ["x-request-id", requestId],
                ],
              }
            : reject(new DomainError("no_eligible_account", { retryAfterSeconds: 5 }), requestId);
        },
        attempt: async (ctx) => {
          const account = deps.registry.account(ctx.accountId);
          if (!account) return { kind: "retry" };
          let token: string;
          let authorization: string;
          let generation: number;
          try {
            const t =
              refreshFor?.accountId === ctx.accountId
                ? await deps.tokens.refresh(ctx.accountId, "unauthorized_recovery", refreshFor.generation)
                : await deps.tokens.accessToken(ctx.accountId);
            token = t.token;
            authorization = t.authorization;
            generation = t.generation;
          } catch (err) {
            if (err instanceof AccountUnavailableError) return { kind: "retry" };
            throw err;
          }
          refreshFor = undefined;
          const headers = upstreamRequestHeaders(
            req.headers,
            { accessToken: token, authorization, chatgptAccountId: account.row.chatgptAccountId },
            { stream: false, websocket: true },
          );
          deps.registry.markUsed(ctx.accountId);
          const result = await connectUpstreamWebsocket({
            baseUrl: deps.upstream.baseUrl,
            path: "/codex/responses",
            headers,
            signal,
            now: () => deps.clock.now(),
          });
          if (result.kind === "unreachable") {
            if (signal.aborted) return { kind: "done" };
            deps.registry.recordFailure(ctx.accountId, "network");
            return { kind: "retry" };
          }
          learnFromHeaders(deps, ctx.accountId, result.headers);
          if (result.kind === "refused") {
            await applyFailure(deps, ctx.accountId, result.failure);
            lastRefusal = {
              status: result.status,
              body: JSON.stringify({
                error: { code: result.failure.code, message: "The upstream refused the websocket." },
              }),
            };
            if (result.failure.kind === "token_expired" && !refreshFor) {
              refreshFor = { accountId: ctx.accountId, generation };
              return { kind: "retry", sameAccount: true };
            }
            if (result.failure.retryable) return { kind: "retry" };
            decision = {
              accept: false,
              status: result.status,
              body: lastRefusal.body,
              headers: [
                ["content-type", "application/json"],
                ["x-request-id", requestId],
              ],
            };
            return { kind: "done" };
          }
          const visible: HeaderList = Object.entries(result.headers).filter(([k]) =>
            isClientVisibleResponseHeader(k),
          );
          const hold = release!;
          release = undefined;
          decision = {
            accept: true,
            headers: [...visible, ["x-request-id", requestId]],
            session: new RelaySession(deps, result.socket, {
              accountId: ctx.accountId,
              poolId: pool.row.id,
              keyId: key.keyId,
              keyPrefix: key.prefix,
              originator: req.headers["originator"],
              release: hold,
              sockets,
            }),
          };
          return { kind: "done" };
        },
      });
      return decision ?? reject(new DomainError("no_eligible_account", { retryAfterSeconds: 5 }), requestId);
    } catch (err) {
      if (err instanceof DomainError) return reject(err, requestId);
      throw err;
    } finally {
      release?.();
    }
  };
}
