import { DomainError } from "@codex-pooler/core";
import { describe, expect, it } from "vitest";
import { toUpstreamResponsesBody } from "./responses-request.ts";

const M = "gpt-5.4";
const TAIL = { include: ["reasoning.encrypted_content"], stream: true, store: false };
const user = (text: string) => ({ type: "message", role: "user", content: [{ type: "input_text", text }] });
const dev = (text: string) => ({
  type: "message",
  role: "developer",
  content: [{ type: "input_text", text }],
});

function errorOf(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("expected a DomainError");
}

describe("toUpstreamResponsesBody: translations", () => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    [
      "string input → one user message",
      { model: M, input: "hi" },
      { model: M, input: [user("hi")], ...TAIL },
    ],
    [
      "EasyInputMessage with string content gets type and parts",
      { model: M, input: [{ role: "user", content: "hi" }] },
      { model: M, input: [user("hi")], ...TAIL },
    ],
    [
      "assistant string content → output_text",
      { model: M, input: [{ role: "assistant", content: "ok" }] },
      {
        model: M,
        input: [{ type: "message", role: "assistant", content: [{ type: "output_text", text: "ok" }] }],
        ...TAIL,
      },
    ],
    [
      "user parts (text, image url, image file id, file, audio) kept as sent",
      {
        model: M,
        input: [
          {
            type: "message",
            role: "user",
            content: [
              { type: "input_text", text: "look" },
              { type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "low" },
              { type: "input_image", file_id: "file_1" },
              { type: "input_file", file_id: "file_2" },
              { type: "input_audio", input_audio: { data: "UklG", format: "wav" } },
            ],
          },
        ],
      },
      {
        model: M,
        input: [
          {
            type: "message",
            role: "user",
            content: [
              { type: "input_text", text: "look" },
              { type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "low" },
              { type: "input_image", file_id: "file_1" },
              { type: "input_file", file_id: "file_2" },
              { type: "input_audio", input_audio: { data: "UklG", format: "wav" } },
            ],
          },
        ],
        ...TAIL,
      },
    ],
    [
      "instructions → leading developer message; system → developer in place",
      {
        model: M,
        instructions: "Be brief.",
        input: [
          { role: "system", content: "You are terse." },
          { role: "user", content: "hi" },
          { role: "developer", content: [{ type: "input_text", text: "Now use French." }] },
        ],
      },
      {
        model: M,
        input: [dev("Be brief."), dev("You are terse."), user("hi"), dev("Now use French.")],
        ...TAIL,
      },
    ],
    [
      "empty system messages and instructions add nothing",
      {
        model: M,
        instructions: "",
        input: [
          { role: "system", content: "" },
          { role: "user", content: "hi" },
        ],
      },
      { model: M, input: [user("hi")], ...TAIL },
    ],
    [
      "history items are forwarded unchanged",
      {
        model: M,
        input: [
          user("run it"),
          { type: "reasoning", id: "rs_1", summary: [], encrypted_content: "gAAA" },
          { type: "function_call", call_id: "call_1", name: "exec", arguments: '{"cmd":"ls"}' },
          { type: "function_call_output", call_id: "call_1", output: "a.txt" },
          { type: "custom_tool_call", call_id: "call_2", name: "apply_patch", input: "*** Begin Patch" },
          { type: "custom_tool_call_output", call_id: "call_2", output: "ok" },
          { type: "compaction", encrypted_content: "cmp" },
          { type: "compaction_trigger" },
        ],
      },
      {
        model: M,
        input: [
          user("run it"),
          { type: "reasoning", id: "rs_1", summary: [], encrypted_content: "gAAA" },
          { type: "function_call", call_id: "call_1", name: "exec", arguments: '{"cmd":"ls"}' },
          { type: "function_call_output", call_id: "call_1", output: "a.txt" },
          { type: "custom_tool_call", call_id: "call_2", name: "apply_patch", input: "*** Begin Patch" },
          { type: "custom_tool_call_output", call_id: "call_2", output: "ok" },
          { type: "compaction", encrypted_content: "cmp" },
          { type: "compaction_trigger" },
        ],
        ...TAIL,
      },
    ],
    [
      "harmless parameters are dropped",
      {
        model: M,
        input: "hi",
        temperature: 0.2,
        top_p: 0.9,
        seed: 7,
        user: "u",
        metadata: { a: "b" },
        safety_identifier: "s",
        prompt_cache_retention: "24h",
        stream_options: { include_obfuscation: false },
        truncation: "auto",
        store: false,
        background: false,
        top_logprobs: 0,
        max_output_tokens: null,
        previous_response_id: null,
      },
      { model: M, input: [user("hi")], ...TAIL },
    ],
    [
      "kept parameters (Codex body shape)",
      {
        model: M,
        input: "hi",
        stream: true,
        tools: [
          {
            type: "function",
            name: "exec",
            description: "run",
            strict: false,
            parameters: { type: "object" },
          },
          {
            type: "custom",
            name: "apply_patch",
            format: { type: "grammar", syntax: "lark", definition: "x" },
          },
          { type: "web_search" },
        ],
        tool_choice: "auto",
        parallel_tool_calls: true,
        reasoning: { effort: "high", summary: "auto" },
        text: {
          verbosity: "low",
          format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true },
        },
        include: ["reasoning.encrypted_content"],
        prompt_cache_key: "thread-1",
        service_tier: "priority",
        client_metadata: { session_id: "s1" },
      },
      {
        model: M,
        input: [user("hi")],
        tools: [
          {
            type: "function",
            name: "exec",
            description: "run",
            strict: false,
            parameters: { type: "object" },
          },
          {
            type: "custom",
            name: "apply_patch",
            format: { type: "grammar", syntax: "lark", definition: "x" },
          },
          { type: "web_search" },
        ],
        tool_choice: "auto",
        parallel_tool_calls: true,
        reasoning: { effort: "high", summary: "auto" },
        text: {
          verbosity: "low",
          format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true },
        },
        include: ["reasoning.encrypted_content"],
        prompt_cache_key: "thread-1",
        service_tier: "priority",
        client_metadata: { session_id: "s1" },
        stream: true,
        store: false,
      },
    ],
    [
      "include is deduplicated and always asks for encrypted reasoning",
      {
        model: M,
        input: "hi",
        include: ["web_search_call.action.sources", "web_search_call.action.sources"],
      },
      {
        model: M,
        input: [user("hi")],
        include: ["web_search_call.action.sources", "reasoning.encrypted_content"],
        stream: true,
        store: false,
      },
    ],
    [
      "tool_choice objects are kept",
      {
        model: M,
        input: "hi",
        tool_choice: { type: "allowed_tools", mode: "auto", tools: [{ type: "function", name: "exec" }] },
      },
      {
        model: M,
        input: [user("hi")],
        tool_choice: { type: "allowed_tools", mode: "auto", tools: [{ type: "function", name: "exec" }] },
        ...TAIL,
      },
    ],
    [
      "fast is an alias of priority; default tiers are dropped",
      { model: M, input: "hi", service_tier: "fast" },
      { model: M, input: [user("hi")], service_tier: "priority", ...TAIL },
    ],
    [
      "auto tier dropped",
      { model: M, input: "hi", service_tier: "auto" },
      { model: M, input: [user("hi")], ...TAIL },
    ],
  ];

  it.each(cases)("%s", (_name, body, upstream) => {
    const out = toUpstreamResponsesBody(body);
    expect(out.upstream).toStrictEqual(upstream);
    expect(out.model).toBe(M);
    expect(out.stream).toBe(body["stream"] === true);
  });

  it("instructions mode folds every system piece into the instructions string, in order", () => {
    const out = toUpstreamResponsesBody(
      {
        model: M,
        instructions: "Top.",
        input: [
          { role: "system", content: "Sys." },
          { role: "user", content: "hi" },
          {
            role: "developer",
            content: [
              { type: "input_text", text: "A" },
              { type: "input_text", text: "B" },
            ],
          },
        ],
      },
      { instructionsMode: "instructions" },
    );
    expect(out.upstream).toStrictEqual({
      model: M,
      instructions: "Top.\n\nSys.\n\nA\nB",
      input: [user("hi")],
      ...TAIL,
    });
  });

  it("keeps extra keys Codex puts on items", () => {
    const item = {
      type: "message",
      role: "user",
      id: "msg_1",
      internal_chat_message_metadata_passthrough: { x: 1 },
      content: [{ type: "input_text", text: "hi" }],
    };
    expect(toUpstreamResponsesBody({ model: M, input: [item] }).upstream["input"]).toStrictEqual([item]);
  });

  it("does not mutate the client's body", () => {
    const body = { model: M, instructions: "x", input: [{ role: "user", content: "hi" }] };
    const copy = structuredClone(body);
    toUpstreamResponsesBody(body);
    expect(body).toStrictEqual(copy);
  });
});

describe("toUpstreamResponsesBody: refusals and validation", () => {
  const cases: Array<[string, unknown, string, string | undefined]> = [
    ["not an object", [], "invalid_request", undefined],
    ["model missing", { input: "hi" }, "invalid_request", "model"],
    ["model empty", { model: " ", input: "hi" }, "invalid_request", "model"],
    ["input missing", { model: M }, "invalid_request", "input"],
    ["input a number", { model: M, input: 3 }, "invalid_request", "input"],
    [
      "max_output_tokens",
      { model: M, input: "hi", max_output_tokens: 100 },
      "unsupported_parameter",
      "max_output_tokens",
    ],
    ["top_logprobs", { model: M, input: "hi", top_logprobs: 2 }, "unsupported_parameter", "top_logprobs"],
    ["background", { model: M, input: "hi", background: true }, "unsupported_parameter", "background"],
    [
      "previous_response_id",
      { model: M, input: "hi", previous_response_id: "resp_1" },
      "unsupported_parameter",
      "previous_response_id",
    ],
    ["store true", { model: M, input: "hi", store: true }, "unsupported_parameter", "store"],
    [
      "conversation",
      { model: M, input: "hi", conversation: "conv_1" },
      "unsupported_parameter",
      "conversation",
    ],
    [
      "prompt template",
      { model: M, input: "hi", prompt: { id: "pmpt_1" } },
      "unsupported_parameter",
      "prompt",
    ],
    [
      "max_tool_calls",
      { model: M, input: "hi", max_tool_calls: 2 },
      "unsupported_parameter",
      "max_tool_calls",
    ],
    [
      "unknown top-level key",
      { model: M, input: "hi", modalities: ["text"] },
      "unsupported_parameter",
      "modalities",
    ],
    [
      "__proto__ key",
      JSON.parse('{"model":"m","input":"hi","__proto__":{"x":1}}'),
      "unsupported_parameter",
      "__proto__",
    ],
    ["truncation value", { model: M, input: "hi", truncation: "middle" }, "invalid_request", "truncation"],
    ["stream not boolean", { model: M, input: "hi", stream: "yes" }, "invalid_request", "stream"],
    ["item not an object", { model: M, input: ["hi"] }, "invalid_request", "input[0]"],
    [
      "item without type or role",
      { model: M, input: [{ content: "x" }] },
      "invalid_request",
      "input[0].type",
    ],
    ["bad role", { model: M, input: [{ role: "tool", content: "x" }] }, "invalid_request", "input[0].role"],
    [
      "assistant with input_text",
      { model: M, input: [{ role: "assistant", content: [{ type: "input_text", text: "x" }] }] },
      "invalid_request",
      "input[0].content[0].type",
    ],
    [
      "user part with unknown type",
      { model: M, input: [user("a"), { role: "user", content: [{ type: "text", text: "x" }] }] },
      "invalid_request",
      "input[1].content[0].type",
    ],
    [
      "image without url or file",
      { model: M, input: [{ role: "user", content: [{ type: "input_image", detail: "low" }] }] },
      "invalid_request",
      "input[0].content[0].image_url",
    ],
    [
      "image with bad detail",
      {
        model: M,
        input: [{ role: "user", content: [{ type: "input_image", image_url: "u", detail: "max" }] }],
      },
      "invalid_request",
      "input[0].content[0].detail",
    ],
    [
      "system message with an image",
      { model: M, input: [{ role: "system", content: [{ type: "input_image", image_url: "u" }] }] },
      "invalid_request",
      "input[0].content[0].type",
    ],
    [
      "text part without text",
      { model: M, input: [{ role: "user", content: [{ type: "input_text" }] }] },
      "invalid_request",
      "input[0].content[0].text",
    ],
    [
      "function_call without arguments",
      { model: M, input: [{ type: "function_call", call_id: "c", name: "f" }] },
      "invalid_request",
      "input[0].arguments",
    ],
    [
      "function_call_output output not string/array",
      { model: M, input: [{ type: "function_call_output", call_id: "c", output: 3 }] },
      "invalid_request",
      "input[0].output",
    ],
    [
      "item_reference",
      { model: M, input: [{ type: "item_reference", id: "msg_1" }] },
      "unsupported_parameter",
      "input[0].type",
    ],
    [
      "mcp_call item",
      { model: M, input: [user("a"), { type: "mcp_call", id: "x" }] },
      "unsupported_parameter",
      "input[1].type",
    ],
    [
      "mcp tool",
      { model: M, input: "hi", tools: [{ type: "mcp", server_label: "x" }] },
      "unsupported_parameter",
      "tools[0].type",
    ],
    [
      "file_search tool",
      { model: M, input: "hi", tools: [{ type: "function", name: "f" }, { type: "file_search" }] },
      "unsupported_parameter",
      "tools[1].type",
    ],
    [
      "computer_use tool",
      { model: M, input: "hi", tools: [{ type: "computer_use_preview" }] },
      "unsupported_parameter",
      "tools[0].type",
    ],
    [
      "unknown tool type",
      { model: M, input: "hi", tools: [{ type: "teleport" }] },
      "unsupported_parameter",
      "tools[0].type",
    ],
    [
      "chat-style nested function tool",
      { model: M, input: "hi", tools: [{ type: "function", function: { name: "f" } }] },
      "invalid_request",
      "tools[0].name",
    ],
    ["tools not an array", { model: M, input: "hi", tools: {} }, "invalid_request", "tools"],
    ["tool_choice string", { model: M, input: "hi", tool_choice: "any" }, "invalid_request", "tool_choice"],
    [
      "tool_choice function without name",
      { model: M, input: "hi", tool_choice: { type: "function" } },
      "invalid_request",
      "tool_choice.name",
    ],
    [
      "tool_choice mcp",
      { model: M, input: "hi", tool_choice: { type: "mcp", server_label: "x" } },
      "unsupported_parameter",
      "tool_choice.type",
    ],
    [
      "text.format type",
      { model: M, input: "hi", text: { format: { type: "yaml" } } },
      "invalid_request",
      "text.format.type",
    ],
    [
      "text.format json_schema without schema",
      { model: M, input: "hi", text: { format: { type: "json_schema", name: "x" } } },
      "invalid_request",
      "text.format.schema",
    ],
    [
      "text.verbosity",
      { model: M, input: "hi", text: { verbosity: "loud" } },
      "invalid_request",
      "text.verbosity",
    ],
    [
      "reasoning.effort type",
      { model: M, input: "hi", reasoning: { effort: 3 } },
      "invalid_request",
      "reasoning.effort",
    ],
    [
      "include logprobs",
      { model: M, input: "hi", include: ["reasoning.encrypted_content", "message.output_text.logprobs"] },
      "unsupported_parameter",
      "include[1]",
    ],
    ["include not strings", { model: M, input: "hi", include: [1] }, "invalid_request", "include[0]"],
    [
      "service tier scale",
      { model: M, input: "hi", service_tier: "scale" },
      "unsupported_parameter",
      "service_tier",
    ],
    [
      "client_metadata values",
      { model: M, input: "hi", client_metadata: { a: 1 } },
      "invalid_request",
      "client_metadata.a",
    ],
    [
      "instructions not a string",
      { model: M, input: "hi", instructions: ["x"] },
      "invalid_request",
      "instructions",
    ],
  ];

  it.each(cases)("%s", (_name, body, code, param) => {
    const err = errorOf(() => toUpstreamResponsesBody(body));
    expect(err.code).toBe(code);
    expect(err.param).toBe(param);
    expect(err.status).toBe(400);
    if (param) expect(err.message).toContain(param);
  });
});
