import { readFileSync } from "node:fs";
import { deflateSync, gzipSync } from "node:zlib";
import { DomainError } from "@codex-pooler/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeBody } from "./decode.ts";
import { classifyHttpFailure, safeCode } from "./failures.ts";
import { normaliseOriginator, upstreamRequestHeaders } from "./hygiene.ts";
import { readClaims } from "./oauth.ts";
import { SseWatcher, type StreamSignal, sseFrame } from "./sse.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../../tests/fixtures/zstd/${name}`, import.meta.url));

describe("decodeBody", () => {
  const limits = { maxDecodedBytes: 1024 * 1024 };

  it("decodes zstd, gzip and deflate", () => {
    const json = fixture("request.json");
    expect(decodeBody(fixture("request.json.zst"), "zstd", limits).equals(json)).toBe(true);
    expect(decodeBody(gzipSync(json), "gzip", limits).equals(json)).toBe(true);
    expect(decodeBody(deflateSync(json), "deflate", limits).equals(json)).toBe(true);
    expect(decodeBody(json, undefined, limits)).toBe(json);
  });

  it("refuses a zstd bomb and a gzip bomb with body_too_large", () => {
    const bomb = () => decodeBody(fixture("bomb-256mib-zeros.zst"), "zstd", limits);
    expect(bomb).toThrowError(DomainError);
    try {
      bomb();
    } catch (err) {
      expect((err as DomainError).code).toBe("body_too_large");
      expect((err as DomainError).status).toBe(413);
    }
    const gz = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    expect(() => decodeBody(gz, "gzip", limits)).toThrow(/too large/);
  });

  it("answers garbage with invalid_compressed_body and unknown encodings with 415", () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as DomainError).code;
      }
      return "none";
    };
    expect(codeOf(() => decodeBody(Buffer.from("not zstd"), "zstd", limits))).toBe("invalid_compressed_body");
    expect(codeOf(() => decodeBody(Buffer.from("not gzip"), "gzip", limits))).toBe("invalid_compressed_body");
    expect(codeOf(() => decodeBody(gzipSync(Buffer.from("x")).subarray(0, 8), "gzip", limits))).toBe(
      "invalid_compressed_body",
    );
    expect(codeOf(() => decodeBody(Buffer.from("x"), "br", limits))).toBe("unsupported_content_encoding");
  });
});

describe("classifyHttpFailure", () => {
  const now = 1_796_300_000_000;
  it.each([
    [
      429,
      '{"error":{"type":"usage_limit_reached","resets_at":1796320000}}',
      "usage_limit",
      "usage_limit_reached",
      true,
    ],
    [
      429,
      '{"error":{"type":"rate_limit_exceeded","code":"rate_limit_exceeded"}}',
      "rate_limited",
      "rate_limit_exceeded",
      true,
    ],
    [401, '{"error":{"code":"token_expired","message":"expired"}}', "token_expired", "token_expired", true],
    [401, '{"detail":"Unauthorized"}', "unauthorized", "upstream_unauthorized", true],
    [403, '{"error":{"code":"account_deactivated"}}', "deactivated", "account_deactivated", true],
    [403, "<html>challenge</html>", "server", "upstream_forbidden", true],
    [502, "<html>Bad gateway</html>", "server", "upstream_5xx", true],
    [503, '{"error":{"code":"server_is_overloaded"}}', "server", "server_is_overloaded", true],
    [400, '{"detail":"Unsupported parameter: temperature"}', "client", "upstream_rejected", false],
    [400, '{"error":{"code":"invalid_encrypted_content"}}', "client", "invalid_encrypted_content", false],
  ])("%i %s", (status, body, kind, code, retryable) => {
    const f = classifyHttpFailure(status, body, now);
    expect([f.kind, f.code, f.retryable]).toEqual([kind, code, retryable]);
  });

  it("keeps only safe codes", () => {
    expect(safeCode("ok_code.v2")).toBe("ok_code.v2");
    expect(safeCode("<script>")).toBe("upstream_error");
    expect(safeCode("x".repeat(81))).toBe("upstream_error");
  });
});

describe("upstreamRequestHeaders", () => {
  it("swaps the pool key for the account token and keeps only Codex headers", () => {
    const out = upstreamRequestHeaders(
      {
        authorization: "Bearer sk-cxp-000000000000-" + "a".repeat(43),
        "session-id": "t1",
        "x-codex-turn-state": "ts",
        "x-session-affinity": "generic",
        cookie: "a=b",
        connection: "keep-alive",
        "content-encoding": "zstd",
        "x-forwarded-for": "10.0.0.1",
        originator: "codex_exec",
        "x-openai-subagent": "review",
        "x-random": "dropped",
      },
      { accessToken: "at-1", chatgptAccountId: "acct-1" },
      { stream: true },
    );
    expect(out).toEqual({
      authorization: "Bearer at-1",
      "chatgpt-account-id": "acct-1",
      "session-id": "t1",
      "x-codex-turn-state": "ts",
      "x-openai-subagent": "review",
      originator: "codex_exec",
      "user-agent": "codex_exec/0.171.0",
      version: "0.171.0",
      "content-type": "application/json",
      accept: "text/event-stream",
    });
  });

  it("uses the caller's ready bearer value, so requests of one token share one string", () => {
    // Deliberately not `Bearer at-1`: the answer shows which of the two was used.
    const authorization = "Bearer prebuilt";
    const out = upstreamRequestHeaders(
      {},
      { accessToken: "at-1", authorization, chatgptAccountId: "acct-1" },
      { stream: true },
    );
    expect(out["authorization"]).toBe(authorization);
  });

  it("omits synthetic account ids and normalises unknown originators", () => {
    const out = upstreamRequestHeaders(
      {},
      { accessToken: "t", chatgptAccountId: "email_abc" },
      { stream: false, websocket: true },
    );
    expect(out["chatgpt-account-id"]).toBeUndefined();
    expect(out["openai-beta"]).toBe("responses_websockets=2026-02-06");
    expect(normaliseOriginator("openai-node")).toBe("codex_cli_rs");
  });
});

describe("readClaims", () => {
  const jwt = (payload: object) => `e30.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.sig`;
  it("reads the Codex claim layout", () => {
    const access = jwt({
      exp: 1_800_000_000,
      "https://api.openai.com/auth": {
        chatgpt_account_id: "acct-1",
        chatgpt_plan_type: "pro",
        user_id: "u-1",
      },
      "https://api.openai.com/profile": { email: "a@example.com" },
    });
    expect(readClaims(access, "garbage")).toEqual({
      chatgptAccountId: "acct-1",
      chatgptUserId: "u-1",
      email: "a@example.com",
      planType: "pro",
      expiresAt: 1_800_000_000_000,
    });
  });
});

describe("SseWatcher", () => {
  const stream = [
    sseFrame("response.created", { sequence_number: 0, response: { id: "resp_1" } }),
    ": keepalive\n\n",
    sseFrame("codex.rate_limits", { sequence_number: 1, rate_limits: { primary: { used_percent: 5 } } }),
    sseFrame("response.output_text.delta", { sequence_number: 2, delta: "PO" }),
    `data: ${JSON.stringify({ type: "response.output_text.delta", sequence_number: 3, delta: "NG" })}\r\n\r\n`,
    sseFrame("response.completed", {
      sequence_number: 4,
      response: {
        id: "resp_1",
        usage: {
          input_tokens: 10,
          input_tokens_details: { cached_tokens: 4 },
          output_tokens: 3,
          output_tokens_details: { reasoning_tokens: 1 },
          total_tokens: 13,
        },
      },
    }),
  ].join("");

  const expected: StreamSignal[] = [
    { kind: "preamble", type: "response.created" },
    {
      kind: "rate_limits",
      event: { type: "codex.rate_limits", sequence_number: 1, rate_limits: { primary: { used_percent: 5 } } },
    },
    { kind: "output", type: "response.output_text.delta" },
    { kind: "output", type: "response.output_text.delta" },
    {
      kind: "completed",
      responseId: "resp_1",
      usage: { inputTokens: 10, cachedInputTokens: 4, outputTokens: 3, reasoningTokens: 1, totalTokens: 13 },
    },
  ];

  it("yields the same signals however the bytes are split", () => {
    const bytes = Buffer.from(stream);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        (cuts) => {
          const seen: StreamSignal[] = [];
          const w = new SseWatcher((s) => seen.push(s));
          let last = 0;
          for (const cut of [...cuts].sort((a, b) => a - b)) {
            w.push(bytes.subarray(last, cut));
            last = cut;
          }
          w.push(bytes.subarray(last));
          expect(seen).toEqual(expected);
          expect(w.lastSequenceNumber).toBe(4);
        },
      ),
    );
  });

  it("reports failures with their code", () => {
    const seen: StreamSignal[] = [];
    const w = new SseWatcher((s) => seen.push(s));
    w.push(
      Buffer.from(sseFrame("response.failed", { response: { error: { code: "server_is_overloaded" } } })),
    );
    w.push(Buffer.from(sseFrame("error", { code: "context_length_exceeded", message: "x" })));
    w.push(
      Buffer.from(
        sseFrame("response.incomplete", {
          response: { incomplete_details: { reason: "max_output_tokens" } },
        }),
      ),
    );
    expect(seen).toEqual([
      { kind: "failed", type: "response.failed", code: "server_is_overloaded", usage: undefined },
      { kind: "failed", type: "error", code: "context_length_exceeded", usage: undefined },
      { kind: "incomplete", reason: "max_output_tokens", usage: undefined },
    ]);
  });
});
