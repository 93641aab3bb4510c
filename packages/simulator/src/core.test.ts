import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { AuthServer } from "./auth-server.ts";
import { type SimRequest, SimulatorCore, UNSUPPORTED_PARAMETERS } from "./core.ts";
import { decodeJwtPayload } from "./jwt.ts";
import {
  asStream,
  complete,
  getRequest,
  header,
  jsonBody,
  type ParsedEvent,
  parseSse,
  responsesRequest,
  sseBody,
  userMessage,
} from "./test-support.ts";
import { wrapError } from "./uws-server.ts";

const T0 = 1_800_000_000;

function setup(accounts = 2) {
  const core = new SimulatorCore({ accounts, clock: { start: T0, frozen: true }, secret: "test-secret" });
  const [a, b] = [...core.accounts.values()];
  return { core, a: a!, b: b! };
}

function ask(
  core: SimulatorCore,
  token: string,
  text: string,
  extra: Record<string, unknown> = {},
  headers = {},
) {
  return core.handleResponsesHttp(
    responsesRequest(token, { input: [userMessage(text)], ...extra }, headers),
    undefined,
  );
}

const outputItems = (events: ParsedEvent[]) =>
  events
    .filter((e) => e.event === "response.output_item.done")
    .map((e) => e.data["item"] as Record<string, unknown>);
const completedResponse = (events: ParsedEvent[]) =>
  events.at(-1)!.data["response"] as Record<string, unknown>;

describe("§8.1 normal text stream", () => {
  it("answers `sim: reply` exactly, with request id, model, turn state and rate-limit headers", () => {
    const { core, a } = setup();
    const o = ask(core, a.accessToken, "hello\nsim: reply PONG");
    expect(o.status).toBe(200);
    expect(header(o, "content-type")).toContain("text/event-stream");
    expect(header(o, "openai-model")).toBe("gpt-5.4");
    expect(header(o, "x-request-id")).toMatch(/^req_/);
    expect(header(o, "x-codex-turn-state")).toMatch(/^ts1\./);
    expect(header(o, "x-codex-primary-used-percent")).toBe("0");
    expect(header(o, "x-models-etag")).toBe(a.modelsEtag);
    const events = complete(o);
    expect(events[0]!.event).toBe("response.created");
    expect(outputItems(events)).toHaveLength(1);
    expect(events.find((e) => e.event === "response.output_text.done")!.data["text"]).toBe("PONG");
  });

  it("answers deterministically without a directive", () => {
    const { core, a } = setup();
    const text = (o: ReturnType<typeof ask>) =>
      complete(o).find((e) => e.event === "response.output_text.done")!.data["text"];
    const first = text(ask(core, a.accessToken, "What is 2+2?"));
    expect(first).toBe(text(ask(core, a.accessToken, "What is 2+2?")));
    expect(first).toContain("What is 2+2?");
    expect(first).not.toBe(text(ask(core, a.accessToken, "Something else")));
  });
});

describe("§8.2 reasoning, function call, follow-up and account-bound blobs", () => {
  const prompt = 'sim: tool exec_command {"cmd":"echo hi"}';
  const include = { include: ["reasoning.encrypted_content"] };

  it("asks for the call, then answers with the tool output; a blob from another account is refused", () => {
    const { core, a, b } = setup();
    const first = complete(ask(core, a.accessToken, prompt, include));
    const items = outputItems(first);
    expect(items.map((i) => i["type"])).toEqual(["reasoning", "function_call"]);
    const [reasoning, call] = items as [Record<string, unknown>, Record<string, unknown>];
    expect(call).toMatchObject({ name: "exec_command", arguments: '{"cmd":"echo hi"}', status: "completed" });
    expect(String(reasoning["encrypted_content"])).toMatch(/^gAAAAAB/);
    expect(completedResponse(first)["usage"]).toMatchObject({
      output_tokens_details: { reasoning_tokens: 16 },
    });

    const history = [
      userMessage(prompt),
      reasoning,
      call,
      {
        type: "function_call_output",
        call_id: call["call_id"],
        output: "Process exited with code 0\nOutput:\nhi-from-tool\n",
      },
    ];
    const follow = complete(
      core.handleResponsesHttp(responsesRequest(a.accessToken, { input: history, ...include }), undefined),
    );
    const answer = follow.find((e) => e.event === "response.output_text.done")!.data["text"];
    expect(answer).toContain("hi-from-tool");
    expect(answer).toContain("exec_command");

    const replayed = core.handleResponsesHttp(
      responsesRequest(b.accessToken, { input: history, ...include }),
      undefined,
    );
    expect(replayed.status).toBe(400);
    expect(jsonBody(replayed)).toMatchObject({
      error: { code: "invalid_encrypted_content", type: "invalid_request_error" },
    });
    const forged = { ...reasoning, encrypted_content: "gAAAAABforged.blob" };
    const bad = core.handleResponsesHttp(
      responsesRequest(a.accessToken, { input: [userMessage("x"), forged] }),
      undefined,
    );
    expect(jsonBody(bad)).toMatchObject({ error: { code: "invalid_encrypted_content" } });
  });
});

describe("§8.3 custom tool call", () => {
  it("streams custom_tool_call input deltas and answers its output", () => {
    const { core, a } = setup();
    const events = complete(ask(core, a.accessToken, "sim: custom-tool apply_patch *** Begin Patch"));
    expect(events.some((e) => e.event === "response.custom_tool_call_input.delta")).toBe(true);
    const call = outputItems(events)[0]!;
    expect(call).toMatchObject({ type: "custom_tool_call", name: "apply_patch", input: "*** Begin Patch" });
    const history = [
      userMessage("sim: custom-tool apply_patch *** Begin Patch"),
      call,
      { type: "custom_tool_call_output", call_id: call["call_id"], output: "Done!" },
    ];
    const follow = complete(
      core.handleResponsesHttp(responsesRequest(a.accessToken, { input: history }), undefined),
    );
    expect(follow.find((e) => e.event === "response.output_text.done")!.data["text"]).toContain("Done!");
  });
});

describe("§8.4–8.6 pacing and cut streams (planned; carried out by the transport)", () => {
  it("plans slow first byte, slow events with keepalive, stall, disconnect and clean EOF", () => {
    const { core, a } = setup();
    expect(asStream(ask(core, a.accessToken, "sim: delay-first 300")).firstByteDelayMs).toBe(300);
    const slow = asStream(ask(core, a.accessToken, "sim: delay-events 40 10"));
    expect([slow.eventDelayMs, slow.keepaliveMs]).toEqual([40, 10]);
    core.faults.add({ fault: { kind: "stall", afterEvents: 2, keepaliveMs: 50 } });
    expect(asStream(ask(core, a.accessToken, "x")).termination).toEqual({
      kind: "stall",
      afterEvents: 2,
      keepaliveMs: 50,
    });
    expect(asStream(ask(core, a.accessToken, "sim: fail disconnect 4")).termination).toEqual({
      kind: "disconnect",
      afterEvents: 4,
    });
    expect(asStream(ask(core, a.accessToken, "sim: fail eof")).termination).toEqual({
      kind: "eof",
      afterEvents: 3,
    });
  });

  it("does not bill a stream that did not complete", () => {
    const { core, a } = setup();
    const o = asStream(ask(core, a.accessToken, "sim: fail disconnect 3"));
    expect(a.active).toBe(1);
    o.finish("disconnect");
    expect(a.active).toBe(0);
    expect(a.primary!.used).toBe(0);
  });
});

describe("§8.7 response.failed variants, incomplete and error events", () => {
  it.each([
    "context_length_exceeded",
    "rate_limit_exceeded",
    "server_is_overloaded",
    "insufficient_quota",
    "usage_not_included",
    "invalid_prompt",
    "cyber_policy",
  ])("ends with response.failed %s", (code) => {
    const { core, a } = setup();
    const events = complete(ask(core, a.accessToken, `sim: fail ${code}`));
    expect(events.at(-1)!.data).toMatchObject({ type: "response.failed", response: { error: { code } } });
    if (code === "rate_limit_exceeded") {
      expect(JSON.stringify(events.at(-1)!.data)).toContain("try again in 2.5s");
    }
  });

  it("ends with response.incomplete or a top-level error event", () => {
    const { core, a } = setup();
    expect(complete(ask(core, a.accessToken, "sim: fail max_output_tokens")).at(-1)!.data).toMatchObject({
      type: "response.incomplete",
      response: { incomplete_details: { reason: "max_output_tokens" } },
    });
    core.faults.add({ fault: { kind: "error_event", code: "server_error" } });
    expect(complete(ask(core, a.accessToken, "x")).at(-1)!.data).toMatchObject({
      type: "error",
      code: "server_error",
    });
  });
});

describe("§8.8 / §8.10 quota: creep, exhaustion until reset, rollover, /wham/usage agrees", () => {
  it("raises used_percent with usage, answers 429 usage_limit_reached until the clock passes resets_at", () => {
    const core = new SimulatorCore({
      accounts: [{ primary: { capacityTokens: 2000 } }],
      clock: { start: T0, frozen: true },
    });
    const a = [...core.accounts.values()][0]!;
    complete(ask(core, a.accessToken, "sim: usage input=500 output=100"));
    const second = ask(core, a.accessToken, "x");
    expect(header(second, "x-codex-primary-used-percent")).toBe("30");
    complete(second);
    complete(ask(core, a.accessToken, "sim: usage input=1500 output=100"));

    const refused = ask(core, a.accessToken, "x");
    expect(refused.status).toBe(429);
    const body = jsonBody(refused)["error"] as Record<string, unknown>;
    expect(body).toMatchObject({
      type: "usage_limit_reached",
      plan_type: "plus",
      resets_at: T0 + 18000,
      resets_in_seconds: 18000,
    });
    expect(header(refused, "x-codex-primary-used-percent")).toBe("100");
    expect(header(refused, "x-codex-active-limit")).toBe("codex");

    const usage = jsonBody(core.handleUsage(getRequest("/backend-api/wham/usage", a.accessToken)));
    expect(usage).toMatchObject({
      plan_type: "plus",
      rate_limit: {
        allowed: false,
        limit_reached: true,
        primary_window: { used_percent: 100, reset_at: T0 + 18000 },
      },
    });

    core.clock.advance(17_999);
    expect(ask(core, a.accessToken, "x").status).toBe(429);
    core.clock.advance(1);
    const back = ask(core, a.accessToken, "x");
    expect(back.status).toBe(200);
    expect(header(back, "x-codex-primary-used-percent")).toBe("0");
    expect(header(back, "x-codex-primary-reset-at")).toBe(String(T0 + 36000));
  });

  it("answers a usage-limit 429 as a fault without touching the counters", () => {
    const { core, a } = setup();
    core.faults.add({ fault: { kind: "usage_limit" } });
    const o = ask(core, a.accessToken, "x");
    expect(o.status).toBe(429);
    expect(header(o, "x-codex-primary-used-percent")).toBe("100");
    expect(ask(core, a.accessToken, "x").status).toBe(200);
  });
});

describe("§8.9 plain 429 and per-account concurrency cap", () => {
  it("answers rate_limit_exceeded with Retry-After", () => {
    const { core, a } = setup();
    core.faults.add({ fault: { kind: "rate_limited", retryAfterSeconds: 3 } });
    const o = ask(core, a.accessToken, "x");
    expect(o.status).toBe(429);
    expect(header(o, "retry-after")).toBe("3");
    expect(jsonBody(o)).toMatchObject({ error: { code: "rate_limit_exceeded" } });
  });

  it("refuses responses beyond the cap until one finishes, per account", () => {
    const core = new SimulatorCore({ accounts: [{ concurrencyCap: 2 }, {}], clock: { start: T0 } });
    const [a, b] = [...core.accounts.values()] as [
      NonNullable<ReturnType<typeof core.accounts.get>>,
      NonNullable<ReturnType<typeof core.accounts.get>>,
    ];
    const s1 = asStream(ask(core, a.accessToken, "x"));
    asStream(ask(core, a.accessToken, "x"));
    const third = ask(core, a.accessToken, "x");
    expect(third.status).toBe(429);
    expect(jsonBody(third)).toMatchObject({ error: { code: "rate_limit_exceeded" } });
    expect(ask(core, b.accessToken, "x").status).toBe(200);
    s1.finish("aborted");
    expect(ask(core, a.accessToken, "x").status).toBe(200);
  });
});

describe("§8.11–8.13 tokens: expiry, refresh rotation, reuse, invalidation, deactivation", () => {
  const refresh = (auth: AuthServer, token: string, form = false): ReturnType<AuthServer["token"]> => {
    const params = {
      client_id: "app_EMoamEEZ73f0CkXaXp7hrann",
      grant_type: "refresh_token",
      refresh_token: token,
    };
    const req: SimRequest = {
      transport: "http",
      method: "POST",
      path: "/oauth/token",
      query: "",
      headers: { "content-type": form ? "application/x-www-form-urlencoded" : "application/json" },
      body: Buffer.from(
        form
          ? new URLSearchParams(params).toString()
          : JSON.stringify({ ...params, refresh_reason: "unauthorized_recovery" }),
      ),
    };
    return auth.token(req);
  };

  it("expires access tokens by the simulator clock; refresh mints a new pair and the old refresh token is spent", () => {
    const { core, a } = setup();
    const auth = new AuthServer(core);
    const oldAccess = a.accessToken;
    const oldRefresh = a.refreshToken;
    expect(decodeJwtPayload(oldAccess)).toMatchObject({
      exp: T0 + 864000,
      "https://api.openai.com/auth": { chatgpt_account_id: a.id, chatgpt_plan_type: "plus" },
    });
    core.clock.advance(864_000);
    const expired = ask(core, oldAccess, "x");
    expect(expired.status).toBe(401);
    expect(jsonBody(expired)).toMatchObject({ error: { code: "token_expired" } });
    expect(jsonBody(core.handleUsage(getRequest("/backend-api/wham/usage", oldAccess)))).toMatchObject({
      error: { code: "token_expired" },
    });

    const r = refresh(auth, oldRefresh);
    expect(r.status).toBe(200);
    const tokens = jsonBody(r) as Record<string, string>;
    expect(tokens["refresh_token"]).not.toBe(oldRefresh);
    expect(tokens["access_token"]).not.toBe(oldAccess);
    expect(decodeJwtPayload(tokens["id_token"]!)).toMatchObject({ email: a.email });
    expect(ask(core, tokens["access_token"]!, "x").status).toBe(200);
    expect(core.refreshEvents.at(-1)).toMatchObject({ accountId: a.id, reason: "unauthorized_recovery" });

    // Reuse of the spent token: refresh_token_reused, and the login chain is dead.
    const reused = refresh(auth, oldRefresh);
    expect(reused.status).toBe(401);
    expect(jsonBody(reused)).toMatchObject({ error: { code: "refresh_token_reused" } });
    expect(jsonBody(refresh(auth, tokens["refresh_token"]!))).toMatchObject({
      error: { code: "refresh_token_invalidated" },
    });
  });

  it("accepts form-encoded grants and reports expired, invalidated, unknown and transient failures", () => {
    const { core, a, b } = setup();
    const auth = new AuthServer(core);
    expect(refresh(auth, a.refreshToken, true).status).toBe(200);
    core.tokens.setRefreshState(a, "expired");
    expect(jsonBody(refresh(auth, a.refreshToken))).toMatchObject({
      error: { code: "refresh_token_expired" },
    });
    core.tokens.setRefreshState(b, "revoked");
    expect(jsonBody(refresh(auth, b.refreshToken))).toMatchObject({
      error: { code: "refresh_token_invalidated" },
    });
    expect(jsonBody(refresh(auth, "rt_unknown"))).toMatchObject({ error: "invalid_grant" });
    core.faults.add({ fault: { kind: "refresh_error", code: "server_error" } });
    expect(refresh(auth, "anything").status).toBe(500);
  });

  it("answers token_invalidated, account_deactivated, account mismatch and generic 401", () => {
    const { core, a, b } = setup();
    expect(jsonBody(ask(core, "garbage", "x"))).toEqual({ detail: "Unauthorized" });
    expect(core.handleResponsesHttp({ ...responsesRequest("", {}), headers: {} }, undefined).status).toBe(
      401,
    );
    expect(ask(core, a.accessToken, "x", {}, { "chatgpt-account-id": b.id }).status).toBe(403);
    core.invalidateAccessToken(a.id);
    expect(jsonBody(ask(core, a.accessToken, "x"))).toMatchObject({ error: { code: "token_invalidated" } });
    b.status = "deactivated";
    const d = ask(core, b.accessToken, "x");
    expect(d.status).toBe(403);
    expect(jsonBody(d)).toMatchObject({ error: { code: "account_deactivated" } });
  });
});

describe("§8.14 5xx", () => {
  it("fails once with 500 then succeeds; 502/503 come as HTML; overloaded carries Retry-After", () => {
    const { core, a } = setup();
    expect(ask(core, a.accessToken, "sim: fail 500 times=1", {}, { "session-id": "s1" }).status).toBe(500);
    expect(ask(core, a.accessToken, "sim: fail 500 times=1", {}, { "session-id": "s1" }).status).toBe(200);
    core.faults.add({ fault: { kind: "http_error", status: 502 } });
    const html = ask(core, a.accessToken, "x");
    expect([html.status, header(html, "content-type")]).toEqual([502, "text/html"]);
    expect(html.type === "json" && html.body).toContain("<html>");
    core.faults.add({ fault: { kind: "overloaded", retryAfterSeconds: 7 } });
    const busy = ask(core, a.accessToken, "x");
    expect([busy.status, header(busy, "retry-after")]).toEqual([503, "7"]);
    expect(jsonBody(busy)).toMatchObject({ error: { code: "server_is_overloaded" } });
  });
});

describe("§8.15 validation", () => {
  it("rejects stream/store, unsupported parameters, unknown models and malformed JSON", () => {
    const { core, a } = setup();
    const send = (body: Record<string, unknown>) =>
      core.handleResponsesHttp(responsesRequest(a.accessToken, { input: [], ...body }), undefined);
    expect(jsonBody(send({ stream: false }))).toEqual({ detail: "Stream must be set to true" });
    expect(jsonBody(send({ store: true }))).toEqual({ detail: "Store must be set to false" });
    expect(jsonBody(send({ store: undefined }))).toEqual({ detail: "Store must be set to false" });
    for (const p of UNSUPPORTED_PARAMETERS) {
      expect(jsonBody(send({ [p]: 1 }))).toEqual({ detail: `Unsupported parameter: ${p}` });
    }
    const unknown = send({ model: "gpt-0" });
    expect(unknown.status).toBe(400);
    expect(String(jsonBody(unknown)["detail"])).toContain("gpt-0");
    const bad = core.handleResponsesHttp(
      { ...responsesRequest(a.accessToken, {}), body: Buffer.from("{nope") },
      undefined,
    );
    expect(bad.status).toBe(400);
    // `instructions` is not required (spec §1.1), unknown keys are ignored.
    expect(send({ internal_chat_message_metadata_passthrough: {} }).status).toBe(200);
  });
});

describe("§8.16 compressed request bodies", () => {
  // zstd frame of {"model":"gpt-5.4","stream":true,"store":false,"input":[…"sim: reply zstd-ok"…]}, made with zstd(1).
  const ZSTD =
    "KLUv/QRYjQMAEsgYGoC5OehwvCWRpeWws5i3qEnIyz8GREwGirQHzdEcjQ/LQFYTxYLYs8CkqNHnRXwJ6qtWwee8NqOPVvr85Kg+GX22rJkBehtTiu+KjgH9XKu+t1x0Os9VnwMAgbEsMRodWclMAwAqwl9d8blDmQHtpNTN";

  it("decodes zstd and gzip bodies", () => {
    const { core, a } = setup();
    const base = responsesRequest(a.accessToken, {});
    const z = core.handleResponsesHttp(
      {
        ...base,
        headers: { ...base.headers, "content-encoding": "zstd" },
        body: Buffer.from(ZSTD, "base64"),
      },
      undefined,
    );
    expect(complete(z).find((e) => e.event === "response.output_text.done")!.data["text"]).toBe("zstd-ok");
    const g = responsesRequest(a.accessToken, { input: [userMessage("sim: reply gzip-ok")] });
    const gz = core.handleResponsesHttp(
      { ...g, headers: { ...g.headers, "content-encoding": "gzip" }, body: gzipSync(g.body!) },
      undefined,
    );
    expect(complete(gz).find((e) => e.event === "response.output_text.done")!.data["text"]).toBe("gzip-ok");
    const broken = core.handleResponsesHttp(
      { ...g, headers: { ...g.headers, "content-encoding": "zstd" } },
      undefined,
    );
    expect(broken.status).toBe(400);
  });
});

describe("§8.17 websocket semantics", () => {
  function open(core: SimulatorCore, token: string) {
    const s = core.openWebsocket({
      transport: "ws",
      method: "GET",
      path: "/backend-api/codex/responses",
      query: "",
      headers: {
        authorization: `Bearer ${token}`,
        "openai-beta": "responses_websockets=2026-02-06",
        "session-id": "sess-ws",
      },
      body: undefined,
    });
    if ("type" in s) throw new Error(`upgrade refused: ${s.body}`);
    return s;
  }
  const frame = (body: Record<string, unknown>) =>
    Buffer.from(
      JSON.stringify({ type: "response.create", model: "gpt-5.4", store: false, stream: true, ...body }),
    );

  it("prewarms, chains by previous_response_id on the socket, and answers the tool follow-up", () => {
    const { core, a } = setup();
    const s = open(core, a.accessToken);
    const developer = {
      type: "message",
      role: "developer",
      content: [{ type: "input_text", text: "base ".repeat(400) }],
    };
    const pre = asStream(core.handleWsFrame(s, frame({ generate: false, input: [developer] }), undefined));
    expect(JSON.parse(pre.preamble!)).toMatchObject({
      type: "codex.rate_limits",
      rate_limits: { primary: { window_minutes: 300 } },
    });
    const preEvents = complete(pre);
    expect(preEvents.map((e) => e.event)).toEqual([
      "codex.rate_limits",
      "response.created",
      "response.in_progress",
      "response.completed",
    ]);
    expect(completedResponse(preEvents)).toMatchObject({
      output: [],
      usage: { input_tokens: 0, output_tokens: 0 },
    });

    const turn = complete(
      core.handleWsFrame(
        s,
        frame({
          previous_response_id: pre.responseId,
          input: [userMessage('sim: tool exec_command {"cmd":"ls"}')],
        }),
        undefined,
      ),
    );
    const call = outputItems(turn).find((i) => i["type"] === "function_call")!;
    const turnId = completedResponse(turn)["id"] as string;
    const follow = complete(
      core.handleWsFrame(
        s,
        frame({
          previous_response_id: turnId,
          input: [{ type: "function_call_output", call_id: call["call_id"], output: "file-a\nfile-b" }],
        }),
        undefined,
      ),
    );
    expect(follow.find((e) => e.event === "response.output_text.done")!.data["text"]).toContain(
      "file-a\nfile-b",
    );
    expect(completedResponse(follow)["previous_response_id"]).toBe(turnId);
    // Incremental input is billed on top of the chained context, which counts as cached.
    expect(
      (completedResponse(follow)["usage"] as { input_tokens_details: { cached_tokens: number } })
        .input_tokens_details.cached_tokens,
    ).toBeGreaterThan(0);

    // Another socket does not know these responses.
    const other = open(core, a.accessToken);
    const missing = core.handleWsFrame(other, frame({ previous_response_id: turnId, input: [] }), undefined);
    expect(missing.type).toBe("json");
    if (missing.type === "json") {
      expect(JSON.parse(wrapError(missing))).toMatchObject({
        type: "error",
        status: 400,
        error: { code: "previous_response_not_found", param: "previous_response_id" },
      });
    }
  });

  it("wraps 429 usage_limit_reached with its headers, refuses upgrades, and enforces the connection age limit", () => {
    const { core, a, b } = setup();
    const s = open(core, a.accessToken);
    core.setQuota(a.id, { primary: { usedPercent: 100 } });
    const limited = core.handleWsFrame(s, frame({ input: [userMessage("x")] }), undefined);
    if (limited.type !== "json") throw new Error("expected an error");
    const wrapped = JSON.parse(wrapError(limited));
    expect(wrapped).toMatchObject({
      type: "error",
      status: 429,
      error: { type: "usage_limit_reached", plan_type: "plus" },
    });
    expect(wrapped.headers["x-codex-primary-used-percent"]).toBe("100");

    const upgrade = (headers: Record<string, string>) =>
      core.openWebsocket({
        transport: "ws",
        method: "GET",
        path: "/backend-api/codex/responses",
        query: "",
        headers,
        body: undefined,
      });
    const noBeta = upgrade({ authorization: `Bearer ${b.accessToken}` });
    expect("type" in noBeta && noBeta.status).toBe(400);
    expect(
      "type" in upgrade({ authorization: "Bearer nope", "openai-beta": "responses_websockets=2026-02-06" }),
    ).toBe(true);
    core.faults.add({ fault: { kind: "upgrade_refused", status: 426 } });
    const refused = upgrade({
      authorization: `Bearer ${b.accessToken}`,
      "openai-beta": "responses_websockets=2026-02-06",
    });
    expect("type" in refused && refused.status).toBe(426);

    const old = open(core, b.accessToken);
    core.clock.advance(3600);
    const aged = core.handleWsFrame(old, frame({ input: [] }), undefined);
    expect(aged.type === "json" && aged.closeAfter).toBe(true);
    expect(aged.type === "json" && JSON.parse(wrapError(aged)).error.code).toBe(
      "websocket_connection_limit_reached",
    );
  });
});

describe("§8.18 turn state", () => {
  it("issues x-codex-turn-state and refuses one from another account or session", () => {
    const { core, a, b } = setup();
    const first = ask(core, a.accessToken, "x", {}, { "session-id": "s1" });
    const ts = header(first, "x-codex-turn-state")!;
    const again = ask(core, a.accessToken, "x", {}, { "session-id": "s1", "x-codex-turn-state": ts });
    expect(header(again, "x-codex-turn-state")).toBe(ts);
    expect(ask(core, b.accessToken, "x", {}, { "session-id": "s1", "x-codex-turn-state": ts }).status).toBe(
      400,
    );
    const otherSession = ask(core, a.accessToken, "x", {}, { "session-id": "s2", "x-codex-turn-state": ts });
    expect(jsonBody(otherSession)).toMatchObject({ error: { code: "invalid_turn_state" } });
  });
});

describe("§8.19 compaction", () => {
  it("answers compaction_trigger with exactly one compaction item, accepted later only on its account", () => {
    const { core, a, b } = setup();
    const events = complete(
      core.handleResponsesHttp(
        responsesRequest(a.accessToken, {
          input: [userMessage("long talk"), { type: "compaction_trigger" }],
        }),
        undefined,
      ),
    );
    const items = outputItems(events);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type: "compaction" });
    const next = [userMessage("hi"), items[0]!, userMessage("sim: reply after")];
    expect(core.handleResponsesHttp(responsesRequest(a.accessToken, { input: next }), undefined).status).toBe(
      200,
    );
    const elsewhere = core.handleResponsesHttp(responsesRequest(b.accessToken, { input: next }), undefined);
    expect(String((jsonBody(elsewhere)["error"] as { message: string }).message)).toContain(
      String(items[0]!["id"]),
    );
  });

  it("serves /responses/compact as JSON", () => {
    const { core, a } = setup();
    const o = core.handleCompact(
      {
        ...responsesRequest(a.accessToken, { input: [userMessage("x")] }),
        path: "/backend-api/codex/responses/compact",
      },
      undefined,
    );
    expect(o.status).toBe(200);
    expect(jsonBody(o)).toMatchObject({ object: "response.compaction", output: [{ type: "compaction" }] });
  });
});

describe("§8.20 large payloads", () => {
  it("takes multi-MB bodies, emits a >1 MB event and thousands of deltas", () => {
    const { core, a } = setup();
    const big = "y".repeat(3 * 1024 * 1024);
    const history = [
      userMessage("sim: reply ok"),
      { type: "function_call_output", call_id: "c", output: big },
    ];
    const o = asStream(
      core.handleResponsesHttp(responsesRequest(a.accessToken, { input: history }), undefined),
    );
    const completedUsage = completedResponse(complete(o))["usage"] as { input_tokens: number };
    expect(completedUsage.input_tokens).toBeGreaterThan(700_000);

    const huge = asStream(ask(core, a.accessToken, "sim: big-event 1200000"));
    const delta = huge.events.find((e) => e.type === "response.output_text.delta")!;
    expect(delta.data.length).toBeGreaterThan(1_200_000);
    const many = asStream(ask(core, a.accessToken, "sim: tokens 2000"));
    const { events } = parseSse(sseBody(many));
    expect(events.filter((e) => e.event === "response.output_text.delta")).toHaveLength(2000);
    expect(completedResponse(events)["usage"]).toMatchObject({ output_tokens: 2000 });
  });

  it("echoes the session id, to check that concurrent streams do not cross", () => {
    const { core, a } = setup();
    const text = complete(
      ask(core, a.accessToken, "sim: echo-session", {}, { "session-id": "sess-42" }),
    ).find((e) => e.event === "response.output_text.done")!.data["text"];
    expect(text).toBe("sess-42");
  });
});

describe("§8.21–8.23 models, usage, accounts/check", () => {
  it("serves /models with an ETag (304 when unchanged) and per-account catalogs", () => {
    const core = new SimulatorCore({ accounts: [{}, { models: ["gpt-5.4-mini"] }], clock: { start: T0 } });
    const [a, b] = [...core.accounts.values()] as [
      NonNullable<ReturnType<typeof core.accounts.get>>,
      NonNullable<ReturnType<typeof core.accounts.get>>,
    ];
    const m = core.handleModels(getRequest("/backend-api/codex/models", a.accessToken));
    const etag = header(m, "etag")!;
    expect(
      (jsonBody(m)["models"] as { slug: string; base_instructions: unknown }[]).map((x) => x.slug),
    ).toContain("gpt-5.4");
    expect(
      core.handleModels(getRequest("/backend-api/codex/models", a.accessToken, { "if-none-match": etag }))
        .status,
    ).toBe(304);
    expect(
      header(core.handleModels(getRequest("/backend-api/codex/models", b.accessToken)), "etag"),
    ).not.toBe(etag);
    expect(ask(core, b.accessToken, "x").status).toBe(400);
    expect(ask(core, b.accessToken, "x", { model: "gpt-5.4-mini" }).status).toBe(200);
  });

  it("reports usage with credits and additional limits, and accounts/check with the https origin", () => {
    const core = new SimulatorCore({
      accounts: [
        {
          plan: "pro",
          credits: { hasCredits: true, balance: "9.99" },
          additionalLimits: [{ limitName: "codex_other", primary: { usedPercent: 70 } }],
        },
      ],
      clock: { start: T0 },
    });
    core.origin = "https://127.0.0.1:4443";
    const a = [...core.accounts.values()][0]!;
    expect(jsonBody(core.handleUsage(getRequest("/backend-api/wham/usage", a.accessToken)))).toMatchObject({
      plan_type: "pro",
      credits: { has_credits: true, balance: "9.99" },
      additional_rate_limits: [
        { limit_name: "codex_other", rate_limit: { primary_window: { used_percent: 70 } } },
      ],
    });
    expect(
      jsonBody(core.handleAccountsCheck(getRequest("/backend-api/wham/accounts/check", a.accessToken))),
    ).toEqual({
      accounts: [
        {
          id: a.id,
          plan_type: "pro",
          structure: "personal",
          workspace_backend_origin: "https://127.0.0.1:4443",
          account_routing_override: "NO_CONSTRAINT",
        },
      ],
      account_ordering: [a.id],
      default_account_id: a.id,
    });
  });
});
