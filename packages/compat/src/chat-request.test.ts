import { DomainError } from "@codex-pooler/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chatToUpstreamResponsesBody } from "./chat-request.ts";

const M = "gpt-5.4";
const TAIL = { stream: true, store: false };
const hi = { role: "user", content: "hi" };
const user = (...content: unknown[]) => ({ type: "message", role: "user", content });
const text = (t: string) => ({ type: "input_text", text: t });
const dev = (t: string) => ({ type: "message", role: "developer", content: [text(t)] });
const said = (t: string) => ({
  type: "message",
  role: "assistant",
  content: [{ type: "output_text", text: t }],
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

describe("chatToUpstreamResponsesBody: messages", () => {
  const cases: Array<[string, unknown[], unknown[]]> = [
    ["user string", [hi], [user(text("hi"))]],
    [
      "system and developer → developer messages in place",
      [
        { role: "system", content: "Be brief." },
        hi,
        { role: "developer", content: [{ type: "text", text: "French." }] },
      ],
      [dev("Be brief."), user(text("hi")), dev("French.")],
    ],
    [
      "system text parts are joined with newlines",
      [
        {
          role: "system",
          content: [
            { type: "text", text: "A" },
            { type: "text", text: "B" },
          ],
        },
        hi,
      ],
      [dev("A\nB"), user(text("hi"))],
    ],
    [
      "user parts: text, image_url object and string, audio, file",
      [
        {
          role: "user",
          content: [
            { type: "text", text: "look" },
            { type: "image_url", image_url: { url: "https://x/a.png", detail: "high" } },
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
            { type: "image_url", image_url: "https://x/b.png" },
            { type: "input_audio", input_audio: { data: "UklG", format: "wav" } },
            { type: "file", file: { file_data: "data:application/pdf;base64,JVBE", filename: "a.pdf" } },
            { type: "file", file: { file_id: "file_1" } },
          ],
        },
      ],
      [
        user(
          text("look"),
          { type: "input_image", image_url: "https://x/a.png", detail: "high" },
          { type: "input_image", image_url: "data:image/png;base64,AAAA" },
          { type: "input_image", image_url: "https://x/b.png" },
          { type: "input_audio", input_audio: { data: "UklG", format: "wav" } },
          { type: "input_file", file_data: "data:application/pdf;base64,JVBE", filename: "a.pdf" },
          { type: "input_file", file_id: "file_1" },
        ),
      ],
    ],
    ["assistant text", [hi, { role: "assistant", content: "PONG" }], [user(text("hi")), said("PONG")]],
    [
      "assistant text and refusal parts",
      [
        hi,
        {
          role: "assistant",
          content: [
            { type: "text", text: "A" },
            { type: "refusal", refusal: "no" },
          ],
        },
      ],
      [
        user(text("hi")),
        {
          type: "message",
          role: "assistant",
          content: [
            { type: "output_text", text: "A" },
            { type: "refusal", refusal: "no" },
          ],
        },
      ],
    ],
    [
      "assistant with an empty content and no calls keeps the turn",
      [hi, { role: "assistant", content: null }],
      [user(text("hi")), said("")],
    ],
    [
      "assistant tool calls → function_call items; tool → function_call_output",
      [
        hi,
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "exec", arguments: '{"cmd":"ls"}' } },
            { id: "call_2", type: "function", function: { name: "read", arguments: { path: "a" } } },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "a.txt" },
        {
          role: "tool",
          tool_call_id: "call_2",
          content: [
            { type: "text", text: "A" },
            { type: "text", text: "B" },
          ],
        },
      ],
      [
        user(text("hi")),
        { type: "function_call", call_id: "call_1", name: "exec", arguments: '{"cmd":"ls"}' },
        { type: "function_call", call_id: "call_2", name: "read", arguments: '{"path":"a"}' },
        { type: "function_call_output", call_id: "call_1", output: "a.txt" },
        { type: "function_call_output", call_id: "call_2", output: "AB" },
      ],
    ],
    [
      "assistant text with tool calls keeps both, text first",
      [
        hi,
        {
          role: "assistant",
          content: "Let me look.",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "exec", arguments: "{}" } }],
        },
      ],
      [
        user(text("hi")),
        said("Let me look."),
        { type: "function_call", call_id: "call_1", name: "exec", arguments: "{}" },
      ],
    ],
    [
      "custom tool calls and their outputs",
      [
        hi,
        {
          role: "assistant",
          tool_calls: [{ id: "call_9", type: "custom", custom: { name: "apply_patch", input: "*** Begin" } }],
        },
        { role: "tool", tool_call_id: "call_9", content: "done" },
      ],
      [
        user(text("hi")),
        { type: "custom_tool_call", call_id: "call_9", name: "apply_patch", input: "*** Begin" },
        { type: "custom_tool_call_output", call_id: "call_9", output: "done" },
      ],
    ],
    ["names on messages are ignored", [{ role: "user", name: "bob", content: "hi" }], [user(text("hi"))]],
  ];

  it.each(cases)("%s", (_name, messages, input) => {
    const out = chatToUpstreamResponsesBody({ model: M, messages });
    expect(out.upstream).toStrictEqual({ model: M, input, ...TAIL });
    expect(out).toMatchObject({ stream: false, includeUsage: false, model: M });
  });

  it("instructions mode folds system text into instructions", () => {
    const out = chatToUpstreamResponsesBody(
      { model: M, messages: [{ role: "system", content: "A" }, hi, { role: "developer", content: "B" }] },
      { instructionsMode: "instructions" },
    );
    expect(out.upstream).toStrictEqual({
      model: M,
      instructions: "A\n\nB",
      input: [user(text("hi"))],
      ...TAIL,
    });
  });
});

describe("chatToUpstreamResponsesBody: parameters", () => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    [
      "function tools are flattened, non-strict unless said, schema filled in",
      {
        tools: [
          {
            type: "function",
            function: {
              name: "exec",
              description: "run",
              parameters: { type: "object", properties: { c: {} } },
            },
          },
          { type: "function", function: { name: "now", strict: true } },
        ],
      },
      {
        tools: [
          {
            type: "function",
            name: "exec",
            description: "run",
            parameters: { type: "object", properties: { c: {} } },
            strict: false,
          },
          { type: "function", name: "now", parameters: { type: "object", properties: {} }, strict: true },
        ],
      },
    ],
    [
      "custom tools are flattened",
      { tools: [{ type: "custom", custom: { name: "apply_patch", format: { type: "text" } } }] },
      { tools: [{ type: "custom", name: "apply_patch", format: { type: "text" } }] },
    ],
    ["tool_choice string", { tool_choice: "required" }, { tool_choice: "required" }],
    [
      "tool_choice function",
      { tool_choice: { type: "function", function: { name: "exec" } } },
      { tool_choice: { type: "function", name: "exec" } },
    ],
    [
      "tool_choice custom",
      { tool_choice: { type: "custom", custom: { name: "apply_patch" } } },
      { tool_choice: { type: "custom", name: "apply_patch" } },
    ],
    [
      "tool_choice allowed_tools",
      {
        tool_choice: {
          type: "allowed_tools",
          allowed_tools: { mode: "required", tools: [{ type: "function", function: { name: "exec" } }] },
        },
      },
      {
        tool_choice: { type: "allowed_tools", mode: "required", tools: [{ type: "function", name: "exec" }] },
      },
    ],
    ["parallel_tool_calls", { parallel_tool_calls: false }, { parallel_tool_calls: false }],
    ["reasoning_effort", { reasoning_effort: "low" }, { reasoning: { effort: "low" } }],
    [
      "response_format json_schema",
      {
        response_format: {
          type: "json_schema",
          json_schema: { name: "out", schema: { type: "object" }, strict: true, description: "d" },
        },
      },
      {
        text: {
          format: {
            type: "json_schema",
            name: "out",
            description: "d",
            schema: { type: "object" },
            strict: true,
          },
        },
      },
    ],
    [
      "response_format json_schema defaults (non-strict, empty schema)",
      { response_format: { type: "json_schema", json_schema: { name: "out" } } },
      { text: { format: { type: "json_schema", name: "out", schema: {}, strict: false } } },
    ],
    [
      "response_format json_object",
      { response_format: { type: "json_object" } },
      { text: { format: { type: "json_object" } } },
    ],
    ["response_format text adds nothing", { response_format: { type: "text" } }, {}],
    ["verbosity", { verbosity: "high" }, { text: { verbosity: "high" } }],
    ["prompt_cache_key", { prompt_cache_key: "k" }, { prompt_cache_key: "k" }],
    ["service_tier priority", { service_tier: "priority" }, { service_tier: "priority" }],
    [
      "dropped: sampling, limits, bookkeeping",
      {
        temperature: 1,
        top_p: 1,
        presence_penalty: 0.5,
        frequency_penalty: 0.5,
        seed: 1,
        user: "u",
        metadata: {},
        safety_identifier: "s",
        prompt_cache_retention: "24h",
        store: true,
        prediction: { type: "content", content: "x" },
        max_tokens: 100,
        max_completion_tokens: 100,
        n: 1,
        logprobs: false,
        top_logprobs: 0,
        stop: [],
        logit_bias: {},
        modalities: ["text"],
        service_tier: "default",
        audio: null,
        functions: null,
      },
      {},
    ],
  ];

  it.each(cases)("%s", (_name, extra, expected) => {
    const out = chatToUpstreamResponsesBody({ model: M, messages: [hi], ...extra });
    expect(out.upstream).toStrictEqual({ model: M, input: [user(text("hi"))], ...expected, ...TAIL });
  });

  it.each([
    [{ stream: true, stream_options: { include_usage: true } }, true, true],
    [{ stream: true, stream_options: { include_usage: false } }, true, false],
    [{ stream: true }, true, false],
    [{ stream: false, stream_options: { include_usage: true } }, false, false],
  ])("stream %j → stream %s, includeUsage %s", (extra, stream, includeUsage) => {
    const out = chatToUpstreamResponsesBody({ model: M, messages: [hi], ...extra });
    expect(out.stream).toBe(stream);
    expect(out.includeUsage).toBe(includeUsage);
    expect(out.upstream["stream"]).toBe(true);
  });
});

describe("chatToUpstreamResponsesBody: refusals and validation", () => {
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ["messages missing", { model: M }, "invalid_request", "messages"],
    ["messages empty", { model: M, messages: [] }, "invalid_request", "messages"],
    ["model missing", { messages: [hi] }, "invalid_request", "model"],
    ["n > 1", { model: M, messages: [hi], n: 2 }, "unsupported_parameter", "n"],
    ["logprobs", { model: M, messages: [hi], logprobs: true }, "unsupported_parameter", "logprobs"],
    ["top_logprobs", { model: M, messages: [hi], top_logprobs: 3 }, "unsupported_parameter", "top_logprobs"],
    ["stop", { model: M, messages: [hi], stop: ["\n"] }, "unsupported_parameter", "stop"],
    ["stop string", { model: M, messages: [hi], stop: "END" }, "unsupported_parameter", "stop"],
    [
      "logit_bias",
      { model: M, messages: [hi], logit_bias: { "50256": -100 } },
      "unsupported_parameter",
      "logit_bias",
    ],
    [
      "audio modality",
      { model: M, messages: [hi], modalities: ["text", "audio"] },
      "unsupported_parameter",
      "modalities",
    ],
    ["audio", { model: M, messages: [hi], audio: { voice: "alloy" } }, "unsupported_parameter", "audio"],
    [
      "web_search_options",
      { model: M, messages: [hi], web_search_options: {} },
      "unsupported_parameter",
      "web_search_options",
    ],
    [
      "legacy functions",
      { model: M, messages: [hi], functions: [{ name: "f" }] },
      "unsupported_parameter",
      "functions",
    ],
    [
      "legacy function_call",
      { model: M, messages: [hi], function_call: "auto" },
      "unsupported_parameter",
      "function_call",
    ],
    ["unknown key", { model: M, messages: [hi], top_k: 5 }, "unsupported_parameter", "top_k"],
    [
      "service tier",
      { model: M, messages: [hi], service_tier: "ultrafast" },
      "unsupported_parameter",
      "service_tier",
    ],
    ["message not object", { model: M, messages: [hi, "x"] }, "invalid_request", "messages[1]"],
    [
      "bad role",
      { model: M, messages: [{ role: "bot", content: "x" }] },
      "invalid_request",
      "messages[0].role",
    ],
    [
      "function role",
      { model: M, messages: [{ role: "function", name: "f", content: "x" }] },
      "unsupported_parameter",
      "messages[0].role",
    ],
    [
      "user part type",
      {
        model: M,
        messages: [hi, hi, { role: "user", content: [{ type: "text", text: "a" }, { type: "video" }] }],
      },
      "invalid_request",
      "messages[2].content[1].type",
    ],
    [
      "image_url without url",
      {
        model: M,
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { detail: "low" } }] }],
      },
      "invalid_request",
      "messages[0].content[0].image_url",
    ],
    [
      "file without data or id",
      { model: M, messages: [{ role: "user", content: [{ type: "file", file: { filename: "a" } }] }] },
      "invalid_request",
      "messages[0].content[0].file.file_data",
    ],
    [
      "user content number",
      { model: M, messages: [{ role: "user", content: 3 }] },
      "invalid_request",
      "messages[0].content",
    ],
    [
      "system image part",
      { model: M, messages: [{ role: "system", content: [{ type: "image_url", image_url: "u" }] }] },
      "invalid_request",
      "messages[0].content[0].type",
    ],
    [
      "assistant part type",
      { model: M, messages: [{ role: "assistant", content: [{ type: "image_url" }] }] },
      "invalid_request",
      "messages[0].content[0].type",
    ],
    [
      "assistant legacy function_call",
      { model: M, messages: [{ role: "assistant", function_call: { name: "f", arguments: "{}" } }] },
      "unsupported_parameter",
      "messages[0].function_call",
    ],
    [
      "tool call without id",
      {
        model: M,
        messages: [
          { role: "assistant", tool_calls: [{ type: "function", function: { name: "f", arguments: "{}" } }] },
        ],
      },
      "invalid_request",
      "messages[0].tool_calls[0].id",
    ],
    [
      "tool call arguments number",
      {
        model: M,
        messages: [
          {
            role: "assistant",
            tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: 1 } }],
          },
        ],
      },
      "invalid_request",
      "messages[0].tool_calls[0].function.arguments",
    ],
    [
      "tool call type",
      { model: M, messages: [{ role: "assistant", tool_calls: [{ id: "c", type: "web" }] }] },
      "invalid_request",
      "messages[0].tool_calls[0].type",
    ],
    [
      "tool message without tool_call_id",
      { model: M, messages: [{ role: "tool", content: "x" }] },
      "invalid_request",
      "messages[0].tool_call_id",
    ],
    [
      "tool message with an image",
      {
        model: M,
        messages: [{ role: "tool", tool_call_id: "c", content: [{ type: "image_url", image_url: "u" }] }],
      },
      "invalid_request",
      "messages[0].content[0].type",
    ],
    [
      "tool type",
      { model: M, messages: [hi], tools: [{ type: "retrieval" }] },
      "unsupported_parameter",
      "tools[0].type",
    ],
    [
      "tool without function",
      { model: M, messages: [hi], tools: [{ type: "function" }] },
      "invalid_request",
      "tools[0].function",
    ],
    [
      "tool without name",
      { model: M, messages: [hi], tools: [{ type: "function", function: {} }] },
      "invalid_request",
      "tools[0].function.name",
    ],
    ["tool_choice value", { model: M, messages: [hi], tool_choice: "any" }, "invalid_request", "tool_choice"],
    [
      "tool_choice without function name",
      { model: M, messages: [hi], tool_choice: { type: "function", function: {} } },
      "invalid_request",
      "tool_choice.function.name",
    ],
    [
      "allowed_tools entry",
      {
        model: M,
        messages: [hi],
        tool_choice: { type: "allowed_tools", allowed_tools: { mode: "auto", tools: [{ type: "x" }] } },
      },
      "invalid_request",
      "tool_choice.allowed_tools.tools[0].type",
    ],
    [
      "response_format type",
      { model: M, messages: [hi], response_format: { type: "xml" } },
      "invalid_request",
      "response_format.type",
    ],
    [
      "json_schema without name",
      { model: M, messages: [hi], response_format: { type: "json_schema", json_schema: {} } },
      "invalid_request",
      "response_format.json_schema.name",
    ],
    [
      "reasoning_effort type",
      { model: M, messages: [hi], reasoning_effort: 1 },
      "invalid_request",
      "reasoning_effort",
    ],
    ["verbosity value", { model: M, messages: [hi], verbosity: "max" }, "invalid_request", "verbosity"],
    [
      "stream_options type",
      { model: M, messages: [hi], stream: true, stream_options: { include_usage: "yes" } },
      "invalid_request",
      "stream_options.include_usage",
    ],
  ];

  it.each(cases)("%s", (_name, body, code, param) => {
    const err = errorOf(() => chatToUpstreamResponsesBody(body));
    expect(err.code).toBe(code);
    expect(err.param).toBe(param);
    expect(err.status).toBe(400);
  });
});

describe("chatToUpstreamResponsesBody: property", () => {
  const str = fc.string({ maxLength: 20 });
  const id = fc.stringMatching(/^call_[a-z0-9]{1,8}$/);
  const textParts = fc.array(fc.record({ type: fc.constant("text"), text: str }), {
    minLength: 1,
    maxLength: 3,
  });
  const userPart = fc.oneof(
    fc.record({ type: fc.constant("text"), text: str }),
    fc.record({
      type: fc.constant("image_url"),
      image_url: fc.oneof(
        fc.webUrl(),
        fc.record(
          { url: fc.webUrl(), detail: fc.constantFrom("auto", "low", "high") },
          { requiredKeys: ["url"] },
        ),
      ),
    }),
    fc.record({
      type: fc.constant("input_audio"),
      input_audio: fc.record({ data: str, format: fc.constantFrom("wav", "mp3") }),
    }),
    fc.record({
      type: fc.constant("file"),
      file: fc.record({ file_id: str, filename: str }, { requiredKeys: ["file_id"] }),
    }),
  );
  const toolCall = fc.oneof(
    fc.record({
      id,
      type: fc.constant("function"),
      function: fc.record({ name: fc.stringMatching(/^[a-z_]{1,10}$/), arguments: fc.json() }),
    }),
    fc.record({
      id,
      type: fc.constant("custom"),
      custom: fc.record({ name: fc.stringMatching(/^[a-z_]{1,10}$/), input: str }),
    }),
  );
  const message = fc.oneof(
    fc.record({ role: fc.constantFrom("system", "developer"), content: fc.oneof(str, textParts) }),
    fc.record({ role: fc.constant("user"), content: fc.oneof(str, fc.array(userPart, { maxLength: 4 })) }),
    fc.record(
      {
        role: fc.constant("assistant"),
        content: fc.oneof(fc.constant(null), str, textParts),
        tool_calls: fc.array(toolCall, { maxLength: 3 }),
        refusal: fc.option(str),
      },
      { requiredKeys: ["role"] },
    ),
    fc.record({ role: fc.constant("tool"), tool_call_id: id, content: fc.oneof(str, textParts) }),
  );
  const tool = fc.oneof(
    fc.record({
      type: fc.constant("function"),
      function: fc.record(
        {
          name: fc.stringMatching(/^[a-z_]{1,10}$/),
          description: str,
          parameters: fc.constant({ type: "object", properties: {} }),
          strict: fc.boolean(),
        },
        { requiredKeys: ["name"] },
      ),
    }),
    fc.record({
      type: fc.constant("custom"),
      custom: fc.record({ name: fc.stringMatching(/^[a-z_]{1,10}$/) }),
    }),
  );
  const body = fc.record(
    {
      model: fc.constantFrom("gpt-5.4", "gpt-5.3-codex"),
      messages: fc.array(message, { minLength: 1, maxLength: 6 }),
      stream: fc.boolean(),
      stream_options: fc.record({ include_usage: fc.boolean() }),
      tools: fc.array(tool, { maxLength: 3 }),
      tool_choice: fc.oneof(
        fc.constantFrom("none", "auto", "required"),
        fc.record({
          type: fc.constant("function"),
          function: fc.record({ name: fc.stringMatching(/^[a-z]{1,5}$/) }),
        }),
      ),
      parallel_tool_calls: fc.boolean(),
      response_format: fc.oneof(
        fc.constant({ type: "text" }),
        fc.constant({ type: "json_object" }),
        fc.record({
          type: fc.constant("json_schema"),
          json_schema: fc.record({
            name: fc.stringMatching(/^[a-z]{1,5}$/),
            schema: fc.constant({ type: "object" }),
          }),
        }),
      ),
      reasoning_effort: fc.constantFrom("minimal", "low", "medium", "high"),
      verbosity: fc.constantFrom("low", "medium", "high"),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      top_p: fc.double({ min: 0, max: 1, noNaN: true }),
      max_tokens: fc.nat(),
      max_completion_tokens: fc.nat(),
      seed: fc.integer(),
      user: str,
      metadata: fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), str),
      n: fc.constant(1),
      prompt_cache_key: str,
      store: fc.boolean(),
    },
    { requiredKeys: ["model", "messages"] },
  );

  it("any valid chat body translates, always stream:true and store:false", () => {
    fc.assert(
      fc.property(body, (b) => {
        const out = chatToUpstreamResponsesBody(b);
        expect(out.upstream["stream"]).toBe(true);
        expect(out.upstream["store"]).toBe(false);
        expect(out.stream).toBe(b.stream === true);
        expect(Array.isArray(out.upstream["input"])).toBe(true);
        for (const key of [
          "temperature",
          "top_p",
          "max_tokens",
          "max_completion_tokens",
          "seed",
          "user",
          "metadata",
          "n",
        ]) {
          expect(out.upstream).not.toHaveProperty(key);
        }
        // Round trip through JSON: what goes upstream is plain JSON.
        expect(JSON.parse(JSON.stringify(out.upstream))).toStrictEqual(out.upstream);
      }),
      { numRuns: 300 },
    );
  });
});
