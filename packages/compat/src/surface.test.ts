import { DomainError } from "@codex-pooler/core";
import { describe, expect, it } from "vitest";
import { failureOf, failureStatus, safeCode } from "./events.ts";
import { modelsList } from "./models.ts";
import { openAiError, upstreamFailureBody } from "./openai-error.ts";
import { isSupportedV1Route, UNSUPPORTED_V1_PATHS, unsupportedEndpoint } from "./routes.ts";
import { formatPath } from "./validate.ts";

describe("modelsList", () => {
  it("lists the catalog in the OpenAI shape with context_length, once per slug", () => {
    expect(
      modelsList(
        [
          { slug: "gpt-5.4", context_window: 272000, display_name: "GPT-5.4" },
          { slug: "gpt-5.3-codex" },
          { slug: "gpt-5.4", context_window: 1 },
        ],
        1796311575,
      ),
    ).toStrictEqual({
      object: "list",
      data: [
        { id: "gpt-5.4", object: "model", created: 1796311575, owned_by: "openai", context_length: 272000 },
        { id: "gpt-5.3-codex", object: "model", created: 1796311575, owned_by: "openai" },
      ],
    });
  });

  it("an empty catalog is an empty list", () => {
    expect(modelsList([], 0)).toStrictEqual({ object: "list", data: [] });
  });
});

describe("routes", () => {
  it.each([
    ["POST", "/v1/responses", true],
    ["GET", "/v1/responses", true],
    ["post", "/v1/chat/completions", true],
    ["GET", "/v1/models", true],
    ["GET", "/v1/models/", true],
    ["GET", "/v1/usage?x=1", true],
    ["GET", "/v1/chat/completions", false],
    ["DELETE", "/v1/responses", false],
    ["POST", "/v1/models", false],
    ["POST", "/v1/responses/compact", false],
    ["GET", "/v1/responses/resp_1", false],
    ["POST", "/v1/embeddings", false],
    ["GET", "/v1/realtime", false],
    ["GET", "/v1", false],
    ["POST", "/v1/responsesx", false],
  ])("%s %s → %s", (method, path, supported) => {
    expect(isSupportedV1Route(method, path)).toBe(supported);
  });

  it("every listed unsupported path is refused for every method", () => {
    for (const path of UNSUPPORTED_V1_PATHS) {
      for (const method of ["GET", "POST", "DELETE"]) expect(isSupportedV1Route(method, path)).toBe(false);
    }
  });

  it("unsupported endpoints answer 404 unsupported_endpoint in the OpenAI shape", () => {
    const err = unsupportedEndpoint("post", "/v1/embeddings?x=1");
    expect(err.status).toBe(404);
    expect(openAiError(err)).toStrictEqual({
      error: {
        message:
          "POST /v1/embeddings is not supported by Codex Pooler (supported: POST /v1/responses, GET /v1/responses, POST /v1/chat/completions, GET /v1/models, GET /v1/usage).",
        type: "invalid_request_error",
        param: null,
        code: "unsupported_endpoint",
      },
    });
  });
});

describe("errors", () => {
  it("openAiError carries param for validation errors", () => {
    const err = new DomainError("unsupported_parameter", { param: "max_output_tokens", message: "m" });
    expect(openAiError(err)).toStrictEqual({
      error: {
        message: "m",
        type: "invalid_request_error",
        param: "max_output_tokens",
        code: "unsupported_parameter",
      },
    });
  });

  it("upstreamFailureBody picks the type from the code", () => {
    expect(upstreamFailureBody({ code: "rate_limit_exceeded", message: "slow" })).toStrictEqual({
      error: { message: "slow", type: "rate_limit_error", param: null, code: "rate_limit_exceeded" },
    });
    expect(upstreamFailureBody({ code: "a b", message: "x" })["error"]["code"]).toBe("upstream_error");
  });

  it.each([
    ["context_length_exceeded", 400],
    ["rate_limit_exceeded", 429],
    ["usage_limit_reached", 429],
    ["server_is_overloaded", 503],
    ["upstream_timeout", 504],
    ["server_error", 502],
  ])("failureStatus(%s) = %i", (code, status) => {
    expect(failureStatus(code).status).toBe(status);
  });

  it.each([
    [
      { type: "response.failed", response: { error: { code: "x", message: "y" } } },
      { code: "x", message: "y" },
    ],
    [
      { type: "response.failed", response: {} },
      { code: "upstream_error", message: "The upstream request failed." },
    ],
    [
      { type: "error", code: "c", message: "m" },
      { code: "c", message: "m" },
    ],
    [
      { type: "error", error: { type: "server_error", message: "m" } },
      { code: "server_error", message: "m" },
    ],
    [
      { type: "error", code: "<b>", message: "" },
      { code: "upstream_error", message: "The upstream request failed." },
    ],
  ])("failureOf(%j)", (event, expected) => {
    expect(failureOf(event)).toStrictEqual(expected);
  });

  it("safeCode and formatPath", () => {
    expect(safeCode("usage_limit_reached")).toBe("usage_limit_reached");
    expect(safeCode("x".repeat(81))).toBe("upstream_error");
    expect(formatPath(["messages", 2, "content", 0, "type"])).toBe("messages[2].content[0].type");
    expect(formatPath([0, "a"])).toBe("[0].a");
  });
});
