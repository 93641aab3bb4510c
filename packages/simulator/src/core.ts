import { createHash, randomBytes } from "node:crypto";
import { type AccountSpec, type QuotaPatch, SimAccount, TokenStore } from "./accounts.ts";
import {
  bigText,
  callTokens,
  defaultAnswer,
  FAILED_MESSAGES,
  followUpText,
  longText,
  textTokens,
} from "./answers.ts";
import { BlobSealer } from "./blobs.ts";
import { decodeBody, UnsupportedEncodingError } from "./body.ts";
import { type ClockOptions, SimClock } from "./clock.ts";
import { analyzeInput, type InputAnalysis } from "./conversation.ts";
import { type Directives, parseDirectives } from "./directives.ts";
import * as err from "./errors.ts";
import {
  type Answer,
  buildResponse,
  type CallPart,
  type SimEvent,
  type Terminal,
  textPart,
  type Usage,
  usageJson,
} from "./events.ts";
import { type Fault, type FaultContext, FaultQueue } from "./faults.ts";
import { fnv1a, IdFactory } from "./ids.ts";
import { rateLimitHeaders, rateLimitsEvent, usagePayload } from "./quota.ts";
import { RequestLog, type RequestLogEntry, type RequestLogOptions } from "./request-log.ts";

/** Parameters the real backend refuses with 400 `Unsupported parameter: <name>` (spec §1.1). */
export const UNSUPPORTED_PARAMETERS = [
  "temperature",
  "top_p",
  "max_output_tokens",
  "presence_penalty",
  "frequency_penalty",
  "seed",
  "metadata",
  "top_logprobs",
  "truncation",
  "stream_options",
  "user",
  "safety_identifier",
  "prompt_cache_retention",
];

export interface CoreOptions {
  accounts?: number | AccountSpec[];
  clock?: ClockOptions;
  requestLog?: RequestLogOptions | false;
  /** Access-token lifetime when an account spec gives none (default 864000 s, the real expires_in). */
  accessTokenTtlSeconds?: number;
  /** HMAC secret for tokens, blobs and turn state (random by default). */
  secret?: string;
  /** Require the `chatgpt-account-id` header on backend calls (the real upstream needs it). Default false. */
  requireAccountHeader?: boolean;
  /** Emit a `codex.rate_limits` event before `response.created` on SSE too (websocket always gets it). */
  rateLimitEventOnSse?: boolean;
  /** Websocket connections older than this (simulator clock) get `websocket_connection_limit_reached`. */
  wsMaxConnectionSeconds?: number;
  /** `interval` returned by the device-code endpoint (seconds, default 5). */
  deviceCodeIntervalSeconds?: number;
  /** Approve device codes on first poll without a control call. */
  autoApproveDeviceCodes?: boolean;
  /** Body size limit in bytes (default 64 MiB). */
  maxBodyBytes?: number;
}

export interface SimRequest {
  transport: "http" | "ws";
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

/** A finished answer: status, flat header list and body. */
export interface JsonOutcome {
  type: "json";
  status: number;
  headers: string[];
  body: string;
  delayMs: number;
  /** Fault hint for websocket: close the socket after sending the error. */
  closeAfter?: boolean;
}

export type Termination =
  | { kind: "complete" }
  | { kind: "disconnect" | "eof" | "ws_close"; afterEvents: number; code?: number }
  | { kind: "stall"; afterEvents: number; ms?: number; keepaliveMs?: number };

export interface StreamOutcome {
  type: "stream";
  status: 200;
  headers: string[];
  events: SimEvent[];
  /** A `codex.rate_limits` frame to send first (websocket, or SSE when enabled). */
  preamble: string | undefined;
  firstByteDelayMs: number;
  eventDelayMs: number;
  keepaliveMs: number;
  termination: Termination;
  responseId: string;
  /** The transport calls this exactly once, with how the stream ended. */
  finish: (outcome: StreamEnd) => void;
}

export type StreamEnd =
  | "completed"
  | "failed"
  | "incomplete"
  | "error"
  | "disconnect"
  | "eof"
  | "stall"
  | "aborted"
  | "ws_close";

export type Outcome = JsonOutcome | StreamOutcome;

/** What a websocket remembers of each response it served, for `previous_response_id` chaining. */
interface WsResponseRecord {
  lastUserText: string | undefined;
  callNames: Map<string, string>;
  contextTokens: number;
}

export interface WsSession {
  id: string;
  account: SimAccount;
  headers: Record<string, string>;
  sessionId: string;
  openedAt: number;
  responses: Map<string, WsResponseRecord>;
  turnState: string;
}

export interface RefreshEvent {
  at: number;
  accountId: string;
  reason: string | undefined;
  grant: string;
}

interface Authenticated {
  account: SimAccount;
}

const JSON_HEADERS = ["content-type", "application/json"];
const MAX_WS_RECORDS = 64;

function jsonOutcome(status: number, body: string, headers: string[] = [], delayMs = 0): JsonOutcome {
  return { type: "json", status, headers: [...JSON_HEADERS, ...headers], body, delayMs };
}

/**
 * All simulator behaviour, independent of sockets: each handler takes a request and returns an Outcome that
 * a transport (uWS HTTP, uWS websocket, or a unit test) carries out.
 */
export class SimulatorCore {
  readonly clock: SimClock;
  readonly ids = new IdFactory();
  readonly tokens: TokenStore;
  readonly accounts = new Map<string, SimAccount>();
  readonly faults = new FaultQueue();
  readonly log: RequestLog;
  readonly blobs: BlobSealer;
  readonly options: CoreOptions;
  readonly refreshEvents: RefreshEvent[] = [];
  readonly secret: string;
  /** Public origin of the backend (for `/wham/accounts/check`); set by the server once it listens. */
  origin = "http://127.0.0.1";
  loginAccountId: string | undefined;
  readonly stats = { requests: 0, streams: 0, activeStreams: 0, wsConnections: 0, activeWs: 0 };
  readonly #directiveHits = new Map<string, number>();
  readonly #ttl: number;
  #turnN = 0;

  constructor(options: CoreOptions = {}) {
    this.options = options;
    this.secret = options.secret ?? randomBytes(24).toString("base64url");
    this.clock = new SimClock(options.clock);
    this.tokens = new TokenStore(this.secret);
    this.blobs = new BlobSealer(this.secret);
    this.log = new RequestLog(options.requestLog === false ? { limit: 0 } : options.requestLog);
    this.#ttl = options.accessTokenTtlSeconds ?? 864_000;
    const specs =
      typeof options.accounts === "number"
        ? Array.from({ length: options.accounts }, () => ({}))
        : (options.accounts ?? [{}]);
    for (const spec of specs) this.addAccount(spec);
  }

  addAccount(spec: AccountSpec = {}): SimAccount {
    const now = this.clock.now();
    const account = new SimAccount(spec, this.accounts.size, now, this.#ttl);
    if (this.accounts.has(account.id)) throw new Error(`account ${account.id} already exists`);
    this.accounts.set(account.id, account);
    this.tokens.mintAccess(account, now);
    this.tokens.mintRefresh(account);
    account.lastRefresh = new Date(this.clock.nowMs()).toISOString();
    this.setModels(account, account.models);
    this.loginAccountId ??= account.id;
    return account;
  }

  getAccount(id: string): SimAccount {
    const a = this.accounts.get(id);
    if (!a) throw new UnknownAccountError(id);
    return a;
  }

  setModels(account: SimAccount, models: string[]): void {
    account.models = [...models];
    account.modelsBody = JSON.stringify({ models: account.models.map((slug, i) => modelInfo(slug, i)) });
    account.modelsEtag = `W/"${createHash("sha256").update(account.modelsBody).digest("hex").slice(0, 16)}"`;
  }

  setQuota(accountId: string, patch: QuotaPatch): void {
    this.getAccount(accountId).applyQuota(patch, this.clock.now());
  }

  /** The current access token answers `token_expired` from now on. */
  expireAccessToken(accountId: string): void {
    const a = this.getAccount(accountId);
    const rec = this.tokens.access.get(a.accessToken);
    if (rec) rec.expired = true;
  }

  invalidateAccessToken(accountId: string): void {
    const a = this.getAccount(accountId);
    const rec = this.tokens.access.get(a.accessToken);
    if (rec) rec.invalidated = true;
  }

  // ---- bookkeeping shared by transports -------------------------------------------------------------

  logRequest(req: SimRequest, decoded: unknown, bodyBytes: number): RequestLogEntry | undefined {
    this.stats.requests += 1;
    if (!this.log.enabled) return undefined;
    const entry: Omit<RequestLogEntry, "seq"> = {
      at: this.clock.nowMs(),
      transport: req.transport,
      method: req.method,
      path: req.path,
      query: req.query,
      headers: req.headers,
      bodyBytes,
    };
    if (this.log.keepBodies && decoded !== undefined) entry.body = decoded;
    const enc = req.headers["content-encoding"];
    if (enc) entry.contentEncoding = enc;
    return this.log.append(entry);
  }

  // ---- authentication -------------------------------------------------------------------------------

  /** Resolves the bearer to an account, or the 401/403 the real backend would answer. */
  authenticate(headers: Record<string, string>, entry?: RequestLogEntry): Authenticated | JsonOutcome {
    const auth = headers["authorization"];
    if (!auth || auth.length < 8 || auth.slice(0, 7).toLowerCase() !== "bearer ") {
      return jsonOutcome(401, err.UNAUTHORIZED);
    }
    const rec = this.tokens.access.get(auth.slice(7).trim());
    if (!rec) return jsonOutcome(401, err.UNAUTHORIZED);
    // Logged even when refused, so tests can see which account's token was turned away.
    if (entry) entry.accountId = rec.account.id;
    if (rec.invalidated) return jsonOutcome(401, err.TOKEN_INVALIDATED);
    if (rec.expired || rec.exp <= this.clock.now()) return jsonOutcome(401, err.TOKEN_EXPIRED);
    const account = rec.account;
    if (account.status === "deactivated") return jsonOutcome(403, err.ACCOUNT_DEACTIVATED);
    const claimed = headers["chatgpt-account-id"];
    if (claimed !== undefined && claimed !== account.id) {
      return jsonOutcome(
        403,
        err.accountMismatch("chatgpt-account-id does not match the access token's account."),
      );
    }
    if (claimed === undefined && this.options.requireAccountHeader) {
      return jsonOutcome(403, err.accountMismatch("Missing chatgpt-account-id header."));
    }
    return { account };
  }

  rateHeaders(account: SimAccount): string[] {
    return rateLimitHeaders(
      account.plan,
      account.primary,
      account.secondary,
      account.credits,
      this.clock.now(),
    );
  }

  // ---- turn state ----------------------------------------------------------------------------------

  // Turn states are minted on most requests, so they use a keyed FNV digest instead of crypto: they only
  // have to tell "issued for this account and session" apart from anything else, not resist forgery.
  mintTurnState(accountId: string, sessionId: string): string {
    this.#turnN += 1;
    const n = this.#turnN.toString(36);
    return `ts1.${n}.${this.#turnMac(accountId, sessionId, n)}`;
  }

  verifyTurnState(token: string, accountId: string, sessionId: string): boolean {
    const parts = token.split(".");
    return (
      parts.length === 3 && parts[0] === "ts1" && parts[2] === this.#turnMac(accountId, sessionId, parts[1]!)
    );
  }

  #turnMac(accountId: string, sessionId: string, n: string): string {
    const text = `${this.secret}\0${accountId}\0${sessionId}\0${n}`;
    return fnv1a(text).toString(36) + fnv1a(`${text}\0`).toString(36);
  }

  // ---- /backend-api/codex/responses (HTTP) --------------------------------------------------------

  /** Decodes and parses a JSON body; on failure returns the 400 the backend would send. */
  parseJsonBody(req: SimRequest): { value: unknown; bytes: number } | JsonOutcome {
    const raw = req.body ?? Buffer.alloc(0);
    let decoded: Buffer;
    try {
      decoded = decodeBody(raw, req.headers["content-encoding"]);
    } catch (e) {
      if (e instanceof UnsupportedEncodingError) return jsonOutcome(415, err.detail(e.message));
      return jsonOutcome(400, err.detail("Could not decode the request body with its Content-Encoding."));
    }
    try {
      return { value: JSON.parse(decoded.toString("utf8")), bytes: decoded.length };
    } catch {
      return jsonOutcome(400, err.detail("We could not parse the JSON body of your request."));
    }
  }

  handleResponsesHttp(req: SimRequest, entry: RequestLogEntry | undefined): Outcome {
    const auth = this.authenticate(req.headers, entry);
    if ("type" in auth) {
      // Refused requests are logged with their body too: tests assert what a gateway sent.
      if (entry && this.log.keepBodies) {
        const parsed = this.parseJsonBody(req);
        if (!("type" in parsed)) entry.body = parsed.value;
      }
      return auth;
    }
    const account = auth.account;
    if (entry) entry.accountId = account.id;
    const parsed = this.parseJsonBody(req);
    if ("type" in parsed) return parsed;
    if (entry && this.log.keepBodies) entry.body = parsed.value;
    const body = parsed.value;
    const invalid = validateBody(body, "http");
    if (invalid) return jsonOutcome(400, invalid);
    const b = body as Record<string, unknown>;
    const model = b["model"] as string;
    if (!account.models.includes(model)) return jsonOutcome(400, unsupportedModel(model));
    const prev = b["previous_response_id"];
    if (typeof prev === "string" && prev.length > 0) {
      // Over HTTP with store:false nothing is kept server-side, so a chained id never resolves.
      return jsonOutcome(400, JSON.stringify({ error: err.previousResponseNotFound(prev) }));
    }
    const sessionId =
      req.headers["session-id"] ?? req.headers["session_id"] ?? stringOr(b["prompt_cache_key"], "");
    const echoed = req.headers["x-codex-turn-state"];
    if (echoed !== undefined && !this.verifyTurnState(echoed, account.id, sessionId)) {
      return jsonOutcome(400, err.invalidTurnState(), this.rateHeaders(account));
    }
    const turnState = echoed ?? this.mintTurnState(account.id, sessionId);
    const analysis = analyzeInput(b["input"]);
    const bad = this.verifyBlobs(account, analysis);
    if (bad) return bad;
    const promptKey = stringOr(b["prompt_cache_key"], sessionId);
    const inputTokens = Math.max(1, Math.ceil(parsed.bytes / 4));
    const cached = this.#cachedTokens(account, promptKey, inputTokens);
    return this.planTurn({
      account,
      body: b,
      model,
      analysis,
      lastUserText: analysis.lastUserText,
      callNames: analysis.callNames,
      sessionId,
      transport: "http",
      inputTokens,
      cachedTokens: cached,
      previousResponseId: undefined,
      extraHeaders: ["x-codex-turn-state", turnState],
      onPlanned: entry ? (id) => (entry.responseId = id) : undefined,
    });
  }

  #cachedTokens(account: SimAccount, key: string, inputTokens: number): number {
    if (key === "") return 0;
    const prev = account.promptCache.get(key);
    if (account.promptCache.size >= 4096) account.promptCache.clear();
    account.promptCache.set(key, inputTokens);
    if (prev === undefined) return 0;
    return Math.floor(Math.min(prev, inputTokens) / 128) * 128;
  }

  verifyBlobs(account: SimAccount, analysis: InputAnalysis): JsonOutcome | undefined {
    for (const blob of analysis.blobs) {
      if (!this.blobs.open(blob.kind, account.id, blob.content)) {
        return jsonOutcome(
          400,
          err.invalidEncryptedContent(blob.content, blob.id, blob.kind),
          this.rateHeaders(account),
        );
      }
    }
    return undefined;
  }

  // ---- websocket --------------------------------------------------------------------------------

  /** Checks a websocket upgrade; returns the session to attach, or the refusal. */
  openWebsocket(req: SimRequest, entry?: RequestLogEntry): WsSession | JsonOutcome {
    const auth = this.authenticate(req.headers, entry);
    if ("type" in auth) return auth;
    const beta = req.headers["openai-beta"] ?? "";
    if (!beta.includes("responses_websockets")) {
      return jsonOutcome(
        400,
        err.detail(
          "Websocket upgrades of /responses need the header OpenAI-Beta: responses_websockets=2026-02-06.",
        ),
      );
    }
    const fault = this.faults.take({ route: "upgrade", transport: "ws", accountId: auth.account.id });
    if (fault) {
      const status = fault.kind === "upgrade_refused" ? fault.status : 426;
      const body =
        status === 401
          ? err.UNAUTHORIZED
          : status === 429
            ? err.rateLimitExceeded("Too many websocket connections. Please try again in 1s.")
            : err.detail("Upgrade Required");
      return jsonOutcome(status, body, status === 429 ? this.rateHeaders(auth.account) : []);
    }
    const sessionId = req.headers["session-id"] ?? req.headers["session_id"] ?? "";
    const echoed = req.headers["x-codex-turn-state"];
    if (echoed !== undefined && !this.verifyTurnState(echoed, auth.account.id, sessionId)) {
      return jsonOutcome(400, err.invalidTurnState());
    }
    this.stats.wsConnections += 1;
    return {
      id: this.ids.next("ws"),
      account: auth.account,
      headers: req.headers,
      sessionId,
      openedAt: this.clock.now(),
      responses: new Map(),
      turnState: echoed ?? this.mintTurnState(auth.account.id, sessionId),
    };
  }

  /** Upgrade response headers the CLI reads (spec §1.2). */
  websocketHeaders(s: WsSession): string[] {
    return [
      "x-codex-turn-state",
      s.turnState,
      "x-models-etag",
      s.account.modelsEtag,
      "openai-model",
      s.account.models[0] ?? "gpt-5.4",
    ];
  }

  /** Handles one client frame; errors come back as JsonOutcome for the transport to wrap. */
  handleWsFrame(s: WsSession, frame: Buffer, entry: RequestLogEntry | undefined): Outcome {
    if (entry) entry.accountId = s.account.id;
    let body: unknown;
    try {
      body = JSON.parse(frame.toString("utf8"));
    } catch {
      return jsonOutcome(400, err.detail("We could not parse the JSON body of your request."));
    }
    if (entry && this.log.keepBodies) entry.body = body;
    const b = body as Record<string, unknown>;
    if (body === null || typeof body !== "object" || b["type"] !== "response.create") {
      return jsonOutcome(400, err.detail("Expected a JSON object with type 'response.create'."));
    }
    const maxAge = this.options.wsMaxConnectionSeconds ?? 3600;
    if (this.clock.now() - s.openedAt >= maxAge) return wsConnectionLimit();
    // The socket's credentials may have been expired or revoked since the upgrade.
    const recheck = this.authenticate(s.headers);
    if ("type" in recheck) return recheck;
    const account = s.account;
    const invalid = validateBody(body, "ws");
    if (invalid) return jsonOutcome(400, invalid);
    const model = b["model"] as string;
    if (!account.models.includes(model)) return jsonOutcome(400, unsupportedModel(model));
    const analysis = analyzeInput(b["input"]);
    const prevId = b["previous_response_id"];
    let prev: WsResponseRecord | undefined;
    if (typeof prevId === "string" && prevId.length > 0) {
      prev = s.responses.get(prevId);
      if (!prev) return jsonOutcome(400, JSON.stringify({ error: err.previousResponseNotFound(prevId) }));
    }
    const bad = this.verifyBlobs(account, analysis);
    if (bad) return bad;
    const newTokens = Math.max(1, Math.ceil(frame.length / 4));
    const inputTokens = (prev?.contextTokens ?? 0) + newTokens;
    const callNames =
      analysis.lastUserText === undefined && prev ? new Map(prev.callNames) : new Map<string, string>();
    for (const [k, v] of analysis.callNames) callNames.set(k, v);
    const lastUserText = analysis.lastUserText ?? prev?.lastUserText;
    const sessionId = s.sessionId || stringOr(b["prompt_cache_key"], "");
    return this.planTurn({
      account,
      body: b,
      model,
      analysis,
      lastUserText,
      callNames,
      sessionId,
      transport: "ws",
      inputTokens,
      cachedTokens: prev ? Math.floor(prev.contextTokens / 128) * 128 : 0,
      previousResponseId: typeof prevId === "string" && prevId.length > 0 ? prevId : undefined,
      extraHeaders: [],
      onPlanned: (id, usage, calls) => {
        if (entry) entry.responseId = id;
        const names = new Map(callNames);
        for (const c of calls) names.set(c.callId, c.name);
        // A prewarm reports zero usage, yet what it carried is context for the next request.
        s.responses.set(id, { lastUserText, callNames: names, contextTokens: inputTokens + usage.output });
        if (s.responses.size > MAX_WS_RECORDS) {
          const oldest = s.responses.keys().next().value;
          if (oldest !== undefined) s.responses.delete(oldest);
        }
      },
    });
  }

  // ---- planning a turn ---------------------------------------------------------------------------

  planTurn(t: TurnInput): Outcome {
    const { account, model } = t;
    const now = this.clock.now();
    account.roll(now);
    const directives = t.lastUserText === undefined ? undefined : parseDirectives(t.lastUserText);
    const ctx: FaultContext = {
      route: "responses",
      transport: t.transport,
      accountId: account.id,
      sessionId: t.sessionId,
      model,
    };
    let fault: Fault | undefined = this.faults.take(ctx);
    if (!fault && directives?.fail && this.#directiveFires(t.sessionId, directives.fail)) {
      fault = directives.fail.fault;
    }
    let firstByteDelayMs = directives?.delayFirstMs ?? 0;
    if (fault?.kind === "slow_first_byte") firstByteDelayMs = fault.ms;
    const early = this.#earlyFault(fault, account, t.transport, firstByteDelayMs);
    if (early) return early;
    const until = account.exhaustedUntil();
    if (until !== undefined) {
      return jsonOutcome(
        429,
        err.usageLimitReached(account.plan, until, now),
        this.rateHeaders(account),
        firstByteDelayMs,
      );
    }
    if (account.concurrencyCap > 0 && account.active >= account.concurrencyCap) {
      return jsonOutcome(429, concurrencyBody(), this.rateHeaders(account), firstByteDelayMs);
    }

    const responseId = this.ids.next("resp");
    const { answer, longCount, calls } = this.#answer(t, directives);
    const usage = this.#usage(t, answer, longCount, directives);
    const terminal = terminalFor(fault);
    const built = buildResponse({
      id: responseId,
      createdAt: now,
      model,
      previousResponseId: t.previousResponseId,
      answer,
      usage,
      terminal,
    });
    t.onPlanned?.(responseId, usage, calls);
    const headers = [
      "content-type",
      "text/event-stream; charset=utf-8",
      "cache-control",
      "no-cache",
      "x-request-id",
      responseId.replace("resp_", "req_"),
      "openai-model",
      model,
      "x-models-etag",
      account.modelsEtag,
      ...t.extraHeaders,
      ...this.rateHeaders(account),
    ];
    const preamble =
      t.transport === "ws" || this.options.rateLimitEventOnSse
        ? rateLimitsEvent(account.plan, account.primary, account.secondary, account.credits)
        : undefined;
    account.active += 1;
    this.stats.streams += 1;
    this.stats.activeStreams += 1;
    let done = false;
    const consumed = Math.max(0, usage.input - usage.cached) + usage.output;
    return {
      type: "stream",
      status: 200,
      headers,
      events: built.events,
      preamble,
      firstByteDelayMs,
      eventDelayMs: fault?.kind === "slow_events" ? fault.ms : (directives?.delayEventsMs ?? 0),
      keepaliveMs:
        fault?.kind === "slow_events" || fault?.kind === "stall"
          ? (fault.keepaliveMs ?? 0)
          : (directives?.keepaliveMs ?? 0),
      termination: terminationFor(fault),
      responseId,
      finish: (end) => {
        if (done) return;
        done = true;
        account.active -= 1;
        this.stats.activeStreams -= 1;
        if (end === "completed" || end === "incomplete") {
          account.roll(this.clock.now());
          account.consume(consumed);
        }
      },
    };
  }

  /** `times=N` counts per session, not per account, so a gateway's failover to another account succeeds. */
  #directiveFires(sessionId: string, fail: NonNullable<Directives["fail"]>): boolean {
    if (fail.times === undefined) return true;
    const key = `${sessionId}\0${fail.line}`;
    const n = (this.#directiveHits.get(key) ?? 0) + 1;
    if (this.#directiveHits.size > 10_000) this.#directiveHits.clear();
    this.#directiveHits.set(key, n);
    return n <= fail.times;
  }

  /** Faults that replace the stream with an error answer. */
  #earlyFault(fault: Fault | undefined, account: SimAccount, transport: "http" | "ws", delayMs: number) {
    if (!fault) return undefined;
    const rl = this.rateHeaders(account);
    switch (fault.kind) {
      case "rate_limited": {
        const s = fault.retryAfterSeconds ?? 1;
        return jsonOutcome(
          429,
          err.rateLimitExceeded(`Rate limit reached. Please try again in ${s}s.`),
          ["retry-after", String(Math.ceil(s)), ...rl],
          delayMs,
        );
      }
      case "usage_limit": {
        const resetAt = account.primary?.resetAt ?? account.secondary?.resetAt ?? this.clock.now() + 3600;
        const full = rl.map((v, i) => (i > 0 && rl[i - 1] === "x-codex-primary-used-percent" ? "100" : v));
        return jsonOutcome(
          429,
          err.usageLimitReached(account.plan, resetAt, this.clock.now()),
          full,
          delayMs,
        );
      }
      case "http_error": {
        const html = fault.html ?? (fault.status >= 502 && fault.status <= 504);
        if (html) {
          return {
            type: "json" as const,
            status: fault.status,
            headers: ["content-type", "text/html"],
            body: err.htmlErrorPage(fault.status),
            delayMs,
          };
        }
        return jsonOutcome(fault.status, err.SERVER_ERROR, [], delayMs);
      }
      case "overloaded":
        return jsonOutcome(
          503,
          err.OVERLOADED,
          ["retry-after", String(fault.retryAfterSeconds ?? 2)],
          delayMs,
        );
      case "concurrency_limit":
        return jsonOutcome(429, concurrencyBody(), rl, delayMs);
      case "unauthorized":
        return jsonOutcome(401, err.UNAUTHORIZED, [], delayMs);
      case "token_expired":
        return jsonOutcome(401, err.TOKEN_EXPIRED, [], delayMs);
      case "token_invalidated":
        return jsonOutcome(401, err.TOKEN_INVALIDATED, [], delayMs);
      case "account_deactivated":
        return jsonOutcome(403, err.ACCOUNT_DEACTIVATED, [], delayMs);
      case "ws_connection_limit":
        return transport === "ws" ? wsConnectionLimit() : undefined;
      default:
        return undefined;
    }
  }

  #answer(
    t: TurnInput,
    d: Directives | undefined,
  ): { answer: Answer; longCount?: number; calls: CallPart[] } {
    const b = t.body;
    if (b["generate"] === false) return { answer: { kind: "empty" }, calls: [] };
    if (t.analysis.compactionTrigger) {
      return {
        answer: {
          kind: "compaction",
          id: this.ids.next("cmp"),
          blob: this.blobs.seal("compaction", t.account.id),
        },
        calls: [],
      };
    }
    const include = b["include"];
    const wantsReasoning =
      d?.reasoning !== undefined ||
      (!d?.noReasoning && Array.isArray(include) && include.includes("reasoning.encrypted_content"));
    const reasoning = wantsReasoning
      ? { id: this.ids.next("rs"), summary: d?.reasoning, blob: this.blobs.seal("reasoning", t.account.id) }
      : undefined;
    const msgId = this.ids.next("msg");
    if (d && d.errors.length > 0)
      return { answer: { kind: "output", text: textPart(msgId, d.errors.join("\n")), calls: [] }, calls: [] };
    const outputs = t.analysis.toolOutputs;
    if (outputs.length > 0) {
      const text = followUpText(
        d,
        outputs.map((o) => ({ output: o.output, callName: t.callNames.get(o.callId) ?? "" })),
      );
      return { answer: { kind: "output", reasoning, text: textPart(msgId, text), calls: [] }, calls: [] };
    }
    if (d && d.tools.length > 0) {
      const calls: CallPart[] = d.tools.map((tool) => ({
        type: tool.type,
        id: this.ids.next(tool.type === "function" ? "fc" : "ctc"),
        callId: this.ids.next("call"),
        name: tool.name,
        payload: tool.payload,
      }));
      return { answer: { kind: "output", reasoning, calls }, calls };
    }
    if (d?.tokens !== undefined) {
      const seed = fnv1a(t.lastUserText ?? "");
      return {
        answer: { kind: "output", reasoning, text: longText(msgId, d.tokens, seed), calls: [] },
        longCount: d.tokens,
        calls: [],
      };
    }
    if (d?.bigEventBytes !== undefined) {
      return {
        answer: { kind: "output", reasoning, text: bigText(msgId, d.bigEventBytes), calls: [] },
        calls: [],
      };
    }
    const text = d?.echoSession ? t.sessionId : (d?.reply ?? defaultAnswer(t.lastUserText));
    return { answer: { kind: "output", reasoning, text: textPart(msgId, text), calls: [] }, calls: [] };
  }

  #usage(t: TurnInput, a: Answer, longCount: number | undefined, d: Directives | undefined): Usage {
    if (a.kind === "empty") return { input: 0, cached: 0, output: 0, reasoning: 0 };
    let output = 0;
    let reasoning = 0;
    if (a.kind === "compaction") output = 64;
    else {
      if (a.reasoning) reasoning = 16 + Math.ceil((a.reasoning.summary?.length ?? 0) / 4);
      if (a.text) output += textTokens(a.text, longCount);
      for (const c of a.calls) output += callTokens(c);
      output += reasoning;
    }
    const u: Usage = {
      input: t.inputTokens,
      cached: Math.min(t.cachedTokens, t.inputTokens),
      output,
      reasoning,
    };
    const o = d?.usage;
    if (o) {
      if (o.input !== undefined) u.input = o.input;
      if (o.cached !== undefined) u.cached = o.cached;
      if (o.reasoning !== undefined) u.reasoning = o.reasoning;
      if (o.output !== undefined) u.output = o.output;
    }
    return u;
  }

  // ---- JSON endpoints --------------------------------------------------------------------------

  handleCompact(req: SimRequest, entry: RequestLogEntry | undefined): Outcome {
    const auth = this.authenticate(req.headers, entry);
    if ("type" in auth) return auth;
    const account = auth.account;
    if (entry) entry.accountId = account.id;
    const parsed = this.parseJsonBody(req);
    if ("type" in parsed) return parsed;
    if (entry && this.log.keepBodies) entry.body = parsed.value;
    const b = parsed.value as Record<string, unknown>;
    if (parsed.value === null || typeof parsed.value !== "object" || typeof b["model"] !== "string") {
      return jsonOutcome(400, err.detail("Model is required."));
    }
    if (!account.models.includes(b["model"])) return jsonOutcome(400, unsupportedModel(b["model"]));
    const analysis = analyzeInput(b["input"]);
    const bad = this.verifyBlobs(account, analysis);
    if (bad) return bad;
    const fault = this.faults.take({
      route: "compact",
      transport: "http",
      accountId: account.id,
      model: b["model"],
    });
    const early = this.#earlyFault(fault, account, "http", fault?.kind === "slow_first_byte" ? fault.ms : 0);
    if (early) return early;
    account.roll(this.clock.now());
    const until = account.exhaustedUntil();
    if (until !== undefined) {
      return jsonOutcome(
        429,
        err.usageLimitReached(account.plan, until, this.clock.now()),
        this.rateHeaders(account),
      );
    }
    const input = Math.max(1, Math.ceil(parsed.bytes / 4));
    const usage: Usage = { input, cached: 0, output: 64, reasoning: 0 };
    account.consume(input + 64);
    const id = this.ids.next("resp");
    const body = `{"id":"${id}","object":"response.compaction","created_at":${this.clock.now()},"output":[{"id":"${this.ids.next("cmp")}","type":"compaction","encrypted_content":"${this.blobs.seal("compaction", account.id)}"}],"usage":${usageJson(usage)}}`;
    if (entry) entry.responseId = id;
    return jsonOutcome(200, body, [
      "x-request-id",
      id.replace("resp_", "req_"),
      ...this.rateHeaders(account),
    ]);
  }

  handleModels(req: SimRequest, entry?: RequestLogEntry): Outcome {
    const auth = this.authenticate(req.headers, entry);
    if ("type" in auth) return auth;
    const a = auth.account;
    const fault = this.faults.take({ route: "models", transport: "http", accountId: a.id });
    const early = this.#earlyFault(fault, a, "http", 0);
    if (early) return early;
    if (req.headers["if-none-match"] === a.modelsEtag) {
      return { type: "json", status: 304, headers: ["etag", a.modelsEtag], body: "", delayMs: 0 };
    }
    return jsonOutcome(200, a.modelsBody, ["etag", a.modelsEtag, "x-models-etag", a.modelsEtag]);
  }

  handleUsage(req: SimRequest, entry?: RequestLogEntry): Outcome {
    const auth = this.authenticate(req.headers, entry);
    if ("type" in auth) return auth;
    const a = auth.account;
    const fault = this.faults.take({ route: "usage", transport: "http", accountId: a.id });
    const early = this.#earlyFault(fault, a, "http", 0);
    if (early) return early;
    const now = this.clock.now();
    a.roll(now);
    return jsonOutcome(
      200,
      JSON.stringify(usagePayload(a.plan, a.primary, a.secondary, a.credits, a.additional, now)),
    );
  }

  handleAccountsCheck(req: SimRequest, entry?: RequestLogEntry): Outcome {
    const auth = this.authenticate(req.headers, entry);
    if ("type" in auth) return auth;
    const a = auth.account;
    return jsonOutcome(
      200,
      JSON.stringify({
        accounts: [
          {
            id: a.id,
            plan_type: a.plan,
            structure: "personal",
            workspace_backend_origin: this.origin,
            account_routing_override: "NO_CONSTRAINT",
          },
        ],
        account_ordering: [a.id],
        default_account_id: a.id,
      }),
    );
  }
}

export interface TurnInput {
  account: SimAccount;
  body: Record<string, unknown>;
  model: string;
  analysis: InputAnalysis;
  lastUserText: string | undefined;
  callNames: Map<string, string>;
  sessionId: string;
  transport: "http" | "ws";
  inputTokens: number;
  cachedTokens: number;
  previousResponseId: string | undefined;
  extraHeaders: string[];
  onPlanned: ((responseId: string, usage: Usage, calls: CallPart[]) => void) | undefined;
}

export class UnknownAccountError extends Error {
  constructor(readonly accountId: string) {
    super(`unknown account ${accountId}`);
  }
}

function stringOr(v: unknown, fallback: string): string {
  return typeof v === "string" ? v : fallback;
}

/** Spec §1.1 request rules; returns the 400 body or undefined. Websocket frames may omit `stream`. */
export function validateBody(body: unknown, transport: "http" | "ws"): string | undefined {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return err.detail("Request body must be a JSON object.");
  }
  const b = body as Record<string, unknown>;
  if (b["stream"] !== true && !(transport === "ws" && b["stream"] === undefined)) {
    return err.detail("Stream must be set to true");
  }
  if (b["store"] !== false) return err.detail("Store must be set to false");
  for (const p of UNSUPPORTED_PARAMETERS) {
    if (b[p] !== undefined) return err.detail(`Unsupported parameter: ${p}`);
  }
  if (typeof b["model"] !== "string" || b["model"] === "") return err.detail("Model is required.");
  return undefined;
}

export function unsupportedModel(model: string): string {
  return err.detail(`The '${model}' model is not supported when using Codex with a ChatGPT account.`);
}

function concurrencyBody(): string {
  return err.rateLimitExceeded("Too many concurrent requests for this account. Please try again in 1s.");
}

function wsConnectionLimit(): JsonOutcome {
  return {
    ...jsonOutcome(
      400,
      JSON.stringify({
        error: {
          type: "invalid_request_error",
          code: "websocket_connection_limit_reached",
          message:
            "Responses websocket connection limit reached (60 minutes). Create a new websocket connection to continue.",
        },
      }),
    ),
    closeAfter: true,
  };
}

function terminalFor(fault: Fault | undefined): Terminal {
  switch (fault?.kind) {
    case "response_failed":
      return {
        kind: "failed",
        code: fault.code,
        message: fault.message ?? FAILED_MESSAGES[fault.code] ?? FAILED_MESSAGES["server_error"]!,
      };
    case "response_incomplete":
      return { kind: "incomplete", reason: fault.reason ?? "max_output_tokens" };
    case "error_event":
      return {
        kind: "error",
        code: fault.code ?? "server_error",
        message: fault.message ?? "An error occurred while processing your request.",
      };
    default:
      return { kind: "completed" };
  }
}

function terminationFor(fault: Fault | undefined): Termination {
  switch (fault?.kind) {
    case "disconnect":
    case "eof":
      return { kind: fault.kind, afterEvents: fault.afterEvents ?? 3 };
    case "ws_close":
      return { kind: "ws_close", afterEvents: fault.afterEvents ?? 3, code: fault.code ?? 1011 };
    case "stall": {
      const t: Termination = { kind: "stall", afterEvents: fault.afterEvents ?? 2 };
      if (fault.ms !== undefined) t.ms = fault.ms;
      if (fault.keepaliveMs !== undefined) t.keepaliveMs = fault.keepaliveMs;
      return t;
    }
    default:
      return { kind: "complete" };
  }
}

/** Minimal ModelInfo that 0.171 accepts (spec §1.4). */
export function modelInfo(slug: string, priority: number): Record<string, unknown> {
  return {
    slug,
    display_name: slug,
    description: `Simulated ${slug}`,
    default_reasoning_level: "medium",
    supported_reasoning_levels: [
      { effort: "low", description: "low" },
      { effort: "medium", description: "medium" },
      { effort: "high", description: "high" },
    ],
    shell_type: "shell_command",
    visibility: "list",
    supported_in_api: true,
    priority: priority + 1,
    upgrade: null,
    base_instructions: "You are a helpful coding agent.",
    supports_reasoning_summaries: true,
    support_verbosity: false,
    default_verbosity: null,
    apply_patch_tool_type: null,
    truncation_policy: { mode: "bytes", limit: 10000 },
    supports_parallel_tool_calls: true,
    context_window: 272000,
    experimental_supported_tools: [],
  };
}
