import { describe, expect, it } from "vitest";
import { ResponsesAggregator } from "./aggregate.ts";
import { chatCompletionFromResponse } from "./chat-response.ts";
import { ChatStreamTranslator } from "./chat-stream.ts";
import { ResponsesStreamNormalizer } from "./responses-stream.ts";

type Ev = Record<string, unknown>;

// ---------------------------------------------------------------- fixtures (spec §3 shapes)

const BASE = { id: "resp_1", object: "response", created_at: 1796311575, model: "gpt-5.4" };
const inProgress = { ...BASE, status: "in_progress", output: [] };
const USAGE = {
  input_tokens: 100,
  input_tokens_details: { cached_tokens: 64 },
  output_tokens: 5,
  output_tokens_details: { reasoning_tokens: 2 },
  total_tokens: 105,
};
const CHAT_USAGE = {
  prompt_tokens: 100,
  completion_tokens: 5,
  total_tokens: 105,
  prompt_tokens_details: { cached_tokens: 64 },
  completion_tokens_details: { reasoning_tokens: 2 },
};

/** Numbers events the way the upstream does, starting at an arbitrary offset. */
function numbered(events: Ev[], from = 0): Ev[] {
  return events.map((e, i) => ({ ...e, sequence_number: from + i }));
}

const preamble: Ev[] = [
  { type: "response.created", response: inProgress },
  { type: "response.in_progress", response: inProgress },
];

function msgItem(id: string, text: string, status = "completed"): Ev {
  return {
    id,
    type: "message",
    role: "assistant",
    status,
    content: [{ type: "output_text", text, annotations: [] }],
  };
}

function textEvents(index: number, id: string, deltas: string[]): Ev[] {
  const text = deltas.join("");
  const at = { item_id: id, output_index: index, content_index: 0 };
  return [
    {
      type: "response.output_item.added",
      output_index: index,
      item: { id, type: "message", role: "assistant", status: "in_progress", content: [] },
    },
    { type: "response.content_part.added", ...at, part: { type: "output_text", text: "", annotations: [] } },
    ...deltas.map((delta) => ({ type: "response.output_text.delta", ...at, delta })),
    { type: "response.output_text.done", ...at, text },
    { type: "response.content_part.done", ...at, part: { type: "output_text", text, annotations: [] } },
    { type: "response.output_item.done", output_index: index, item: msgItem(id, text) },
  ];
}

const reasoningItem = {
  id: "rs_1",
  type: "reasoning",
  summary: [{ type: "summary_text", text: "**Thinking**" }],
  encrypted_content: "gAAAA",
};
const reasoningEvents: Ev[] = [
  {
    type: "response.output_item.added",
    output_index: 0,
    item: { id: "rs_1", type: "reasoning", summary: [] },
  },
  {
    type: "response.reasoning_summary_part.added",
    item_id: "rs_1",
    output_index: 0,
    summary_index: 0,
    part: { type: "summary_text", text: "" },
  },
  {
    type: "response.reasoning_summary_text.delta",
    item_id: "rs_1",
    output_index: 0,
    summary_index: 0,
    delta: "**Thinking**",
  },
  {
    type: "response.reasoning_summary_text.done",
    item_id: "rs_1",
    output_index: 0,
    summary_index: 0,
    text: "**Thinking**",
  },
  { type: "response.output_item.done", output_index: 0, item: reasoningItem },
];

function fcItem(id: string, callId: string, name: string, args: string, status: string): Ev {
  return { id, type: "function_call", status, name, call_id: callId, arguments: args };
}

function callEvents(index: number, id: string, callId: string, name: string, deltas: string[]): Ev[] {
  const args = deltas.join("");
  return [
    {
      type: "response.output_item.added",
      output_index: index,
      item: fcItem(id, callId, name, "", "in_progress"),
    },
    ...deltas.map((delta) => ({
      type: "response.function_call_arguments.delta",
      item_id: id,
      output_index: index,
      delta,
    })),
    { type: "response.function_call_arguments.done", item_id: id, output_index: index, arguments: args },
    {
      type: "response.output_item.done",
      output_index: index,
      item: fcItem(id, callId, name, args, "completed"),
    },
  ];
}

const completed = (output: Ev[], usage: unknown = USAGE): Ev => ({
  type: "response.completed",
  response: { ...BASE, status: "completed", output, end_turn: true, usage },
});

const fc1 = fcItem("fc_1", "call_1", "exec_command", '{"cmd":"echo hi"}', "completed");
const pa = fcItem("fc_a", "call_a", "read", '{"p":"a"}', "completed");
const pb = fcItem("fc_b", "call_b", "read", '{"p":"b"}', "completed");

const SEQUENCES: Record<string, Ev[]> = {
  plainText: numbered([
    ...preamble,
    ...textEvents(0, "msg_1", ["PO", "NG"]),
    completed([msgItem("msg_1", "PONG")]),
  ]),
  reasoningThenText: numbered([
    ...preamble,
    ...reasoningEvents,
    ...textEvents(1, "msg_1", ["Hi", " there"]),
    completed([reasoningItem, msgItem("msg_1", "Hi there")]),
  ]),
  functionCall: numbered([
    ...preamble,
    ...reasoningEvents,
    ...callEvents(1, "fc_1", "call_1", "exec_command", ['{"cmd":"ec', 'ho hi"}']),
    completed([reasoningItem, fc1]),
  ]),
  parallelCalls: numbered([
    ...preamble,
    {
      type: "response.output_item.added",
      output_index: 0,
      item: fcItem("fc_a", "call_a", "read", "", "in_progress"),
    },
    { type: "response.function_call_arguments.delta", item_id: "fc_a", output_index: 0, delta: '{"p":' },
    {
      type: "response.output_item.added",
      output_index: 1,
      item: fcItem("fc_b", "call_b", "read", "", "in_progress"),
    },
    { type: "response.function_call_arguments.delta", item_id: "fc_b", output_index: 1, delta: '{"p":"b"}' },
    { type: "response.function_call_arguments.delta", item_id: "fc_a", output_index: 0, delta: '"a"}' },
    {
      type: "response.function_call_arguments.done",
      item_id: "fc_a",
      output_index: 0,
      arguments: '{"p":"a"}',
    },
    { type: "response.output_item.done", output_index: 0, item: pa },
    {
      type: "response.function_call_arguments.done",
      item_id: "fc_b",
      output_index: 1,
      arguments: '{"p":"b"}',
    },
    { type: "response.output_item.done", output_index: 1, item: pb },
    completed([pa, pb]),
  ]),
  incompleteMaxTokens: numbered([
    ...preamble,
    textEvents(0, "msg_1", ["Hel"])[0]!,
    textEvents(0, "msg_1", ["Hel"])[1]!,
    { type: "response.output_text.delta", item_id: "msg_1", output_index: 0, content_index: 0, delta: "Hel" },
    {
      type: "response.incomplete",
      response: {
        ...BASE,
        status: "incomplete",
        incomplete_details: { reason: "max_output_tokens" },
        output: [],
        usage: USAGE,
      },
    },
  ]),
  failed: numbered([
    ...preamble,
    {
      type: "response.failed",
      response: {
        ...BASE,
        status: "failed",
        error: {
          code: "context_length_exceeded",
          message: "Your input exceeds the context window of this model.",
        },
        usage: null,
      },
    },
  ]),
  errorEvent: numbered([
    ...preamble,
    ...textEvents(0, "msg_1", ["Hi"]).slice(0, 3),
    { type: "error", code: "server_error", message: "An error occurred.", param: null },
  ]),
  completedWithoutOutput: numbered([...preamble, ...textEvents(0, "msg_1", ["PO", "NG"]), completed([])]),
};

// ---------------------------------------------------------------- chat streaming

const META = { id: "chatcmpl-1", model: "gpt-5.4", created: 100 };
const HEAD = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 100, model: "gpt-5.4" };
const ch = (delta: Ev, finish_reason: string | null = null) => ({
  ...HEAD,
  choices: [{ index: 0, delta, finish_reason }],
});
const usageChunk = { ...HEAD, choices: [], usage: CHAT_USAGE };
const opening = ch({ role: "assistant", content: "" });

function runChat(events: Ev[], includeUsage = true) {
  const t = new ChatStreamTranslator({ ...META, includeUsage });
  const pushed = events.map((e) => t.push(e));
  const closing = t.finish();
  return {
    chunks: [...pushed.flat(), ...closing].map((s) => JSON.parse(s) as unknown),
    failed: t.failed,
    pushed,
  };
}

describe("ChatStreamTranslator", () => {
  const cases: Array<[string, unknown[], boolean]> = [
    ["plainText", [opening, ch({ content: "PO" }), ch({ content: "NG" }), ch({}, "stop"), usageChunk], false],
    [
      "reasoningThenText",
      [opening, ch({ content: "Hi" }), ch({ content: " there" }), ch({}, "stop"), usageChunk],
      false,
    ],
    [
      "functionCall",
      [
        opening,
        ch({
          tool_calls: [
            { index: 0, id: "call_1", type: "function", function: { name: "exec_command", arguments: "" } },
          ],
        }),
        ch({ tool_calls: [{ index: 0, function: { arguments: '{"cmd":"ec' } }] }),
        ch({ tool_calls: [{ index: 0, function: { arguments: 'ho hi"}' } }] }),
        ch({}, "tool_calls"),
        usageChunk,
      ],
      false,
    ],
    [
      "parallelCalls",
      [
        opening,
        ch({
          tool_calls: [
            { index: 0, id: "call_a", type: "function", function: { name: "read", arguments: "" } },
          ],
        }),
        ch({ tool_calls: [{ index: 0, function: { arguments: '{"p":' } }] }),
        ch({
          tool_calls: [
            { index: 1, id: "call_b", type: "function", function: { name: "read", arguments: "" } },
          ],
        }),
        ch({ tool_calls: [{ index: 1, function: { arguments: '{"p":"b"}' } }] }),
        ch({ tool_calls: [{ index: 0, function: { arguments: '"a"}' } }] }),
        ch({}, "tool_calls"),
        usageChunk,
      ],
      false,
    ],
    ["incompleteMaxTokens", [opening, ch({ content: "Hel" }), ch({}, "length"), usageChunk], false],
    [
      "failed",
      [
        {
          error: {
            message: "Your input exceeds the context window of this model.",
            type: "invalid_request_error",
            param: null,
            code: "context_length_exceeded",
          },
        },
      ],
      true,
    ],
    [
      "errorEvent",
      [
        opening,
        ch({ content: "Hi" }),
        { error: { message: "An error occurred.", type: "server_error", param: null, code: "server_error" } },
      ],
      true,
    ],
    [
      "completedWithoutOutput",
      [opening, ch({ content: "PO" }), ch({ content: "NG" }), ch({}, "stop"), usageChunk],
      false,
    ],
  ];

  it.each(cases)("%s", (name, expected, failed) => {
    const run = runChat(SEQUENCES[name]!);
    expect(run.chunks).toStrictEqual(expected);
    expect(run.failed).toBe(failed);
  });

  it("returns nothing before the first visible output (failover stays possible)", () => {
    const run = runChat(SEQUENCES["functionCall"]!);
    // preamble + the whole reasoning item: 2 + 5 events, all silent
    expect(run.pushed.slice(0, 7).every((out) => out.length === 0)).toBe(true);
    expect(run.pushed[7]!.length).toBe(2);
  });

  it("without include_usage there is no usage chunk", () => {
    const run = runChat(SEQUENCES["plainText"]!, false);
    expect(run.chunks).toStrictEqual([opening, ch({ content: "PO" }), ch({ content: "NG" }), ch({}, "stop")]);
  });

  it("content_filter incompletes finish with content_filter", () => {
    const run = runChat([
      {
        type: "response.incomplete",
        response: {
          ...BASE,
          status: "incomplete",
          incomplete_details: { reason: "content_filter" },
          usage: USAGE,
        },
      },
    ]);
    expect(run.chunks).toStrictEqual([opening, ch({}, "content_filter"), usageChunk]);
  });

  it("sends text only carried by .done events, and items only carried by the terminal event", () => {
    const run = runChat(
      [
        ...preamble,
        {
          type: "response.output_text.delta",
          item_id: "msg_1",
          output_index: 0,
          content_index: 0,
          delta: "PO",
        },
        {
          type: "response.output_text.done",
          item_id: "msg_1",
          output_index: 0,
          content_index: 0,
          text: "PONG",
        },
        { type: "response.output_item.done", output_index: 0, item: msgItem("msg_1", "PONG") },
        completed([msgItem("msg_1", "PONG"), fcItem("fc_1", "call_1", "f", "{}", "completed")]),
      ],
      false,
    );
    expect(run.chunks).toStrictEqual([
      opening,
      ch({ content: "PO" }),
      ch({ content: "NG" }),
      ch({
        tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "" } }],
      }),
      ch({ tool_calls: [{ index: 0, function: { arguments: "{}" } }] }),
      ch({}, "tool_calls"),
    ]);
  });

  it("streams custom tool calls with custom.input fragments", () => {
    const item = { id: "ct_1", type: "custom_tool_call", call_id: "call_7", name: "apply_patch", input: "" };
    const run = runChat(
      [
        { type: "response.output_item.added", output_index: 0, item },
        {
          type: "response.custom_tool_call_input.delta",
          item_id: "ct_1",
          output_index: 0,
          delta: "*** Begin",
        },
        { type: "response.output_item.done", output_index: 0, item: { ...item, input: "*** Begin Patch" } },
        completed([]),
      ],
      false,
    );
    expect(run.chunks).toStrictEqual([
      opening,
      ch({
        tool_calls: [{ index: 0, id: "call_7", type: "custom", custom: { name: "apply_patch", input: "" } }],
      }),
      ch({ tool_calls: [{ index: 0, custom: { input: "*** Begin" } }] }),
      ch({ tool_calls: [{ index: 0, custom: { input: " Patch" } }] }),
      ch({}, "tool_calls"),
    ]);
  });

  it("refusals stream as delta.refusal", () => {
    const run = runChat(
      [
        { type: "response.refusal.delta", item_id: "msg_1", output_index: 0, content_index: 0, delta: "No." },
        completed([]),
      ],
      false,
    );
    expect(run.chunks).toStrictEqual([opening, ch({ refusal: "No." }), ch({}, "stop")]);
  });

  it("a stream cut before a terminal event ends with an error payload", () => {
    const run = runChat(SEQUENCES["plainText"]!.slice(0, 6));
    expect(run.failed).toBe(true);
    expect(run.chunks.at(-1)).toStrictEqual({
      error: {
        message: "The upstream stream ended before the response completed.",
        type: "server_error",
        param: null,
        code: "upstream_error",
      },
    });
  });

  it("fail() after output gives one error payload, then nothing more", () => {
    const t = new ChatStreamTranslator({ ...META, includeUsage: false });
    for (const e of SEQUENCES["plainText"]!.slice(0, 6)) t.push(e);
    expect(
      t.fail("upstream_timeout", "The upstream did not answer in time.").map((s) => JSON.parse(s)),
    ).toStrictEqual([
      {
        error: {
          message: "The upstream did not answer in time.",
          type: "server_error",
          param: null,
          code: "upstream_timeout",
        },
      },
    ]);
    expect(t.failed).toBe(true);
    expect(t.push(SEQUENCES["plainText"]!.at(-1))).toStrictEqual([]);
    expect(t.finish()).toStrictEqual([]);
    expect(t.fail("x", "y")).toStrictEqual([]);
  });

  it("open() sends the opening chunk once; finish() is idempotent; unsafe codes are replaced", () => {
    const t = new ChatStreamTranslator({ ...META, includeUsage: false });
    expect(t.open().map((s) => JSON.parse(s))).toStrictEqual([opening]);
    expect(t.open()).toStrictEqual([]);
    t.push(completed([]));
    expect(t.finish().map((s) => JSON.parse(s))).toStrictEqual([ch({}, "stop")]);
    expect(t.finish()).toStrictEqual([]);
    expect(t.fail("x", "y")).toStrictEqual([]);
    const u = new ChatStreamTranslator({ ...META, includeUsage: false });
    expect(JSON.parse(u.fail("bad code <script>", "m")[0]!)).toMatchObject({
      error: { code: "upstream_error" },
    });
  });

  it("ignores garbage events", () => {
    const t = new ChatStreamTranslator({ ...META, includeUsage: false });
    for (const e of [null, 3, "x", [], {}, { type: 1 }, { type: "codex.rate_limits" }])
      expect(t.push(e)).toStrictEqual([]);
  });
});

// ---------------------------------------------------------------- aggregation

const responseOf = (over: Ev) => ({
  ...BASE,
  status: "completed",
  end_turn: true,
  usage: USAGE,
  ...over,
});

describe("ResponsesAggregator", () => {
  const cases: Array<[string, unknown]> = [
    [
      "plainText",
      {
        kind: "completed",
        response: responseOf({ output: [msgItem("msg_1", "PONG")], output_text: "PONG" }),
      },
    ],
    [
      "reasoningThenText",
      {
        kind: "completed",
        response: responseOf({
          output: [reasoningItem, msgItem("msg_1", "Hi there")],
          output_text: "Hi there",
        }),
      },
    ],
    [
      "functionCall",
      { kind: "completed", response: responseOf({ output: [reasoningItem, fc1], output_text: "" }) },
    ],
    ["parallelCalls", { kind: "completed", response: responseOf({ output: [pa, pb], output_text: "" }) }],
    [
      "incompleteMaxTokens",
      {
        kind: "incomplete",
        response: {
          ...BASE,
          status: "incomplete",
          incomplete_details: { reason: "max_output_tokens" },
          usage: USAGE,
          output: [
            {
              id: "msg_1",
              type: "message",
              role: "assistant",
              status: "incomplete",
              content: [{ type: "output_text", text: "Hel", annotations: [] }],
            },
          ],
          output_text: "Hel",
        },
      },
    ],
    [
      "failed",
      {
        kind: "failed",
        code: "context_length_exceeded",
        message: "Your input exceeds the context window of this model.",
        status: 400,
      },
    ],
    ["errorEvent", { kind: "failed", code: "server_error", message: "An error occurred.", status: 502 }],
    [
      "completedWithoutOutput",
      {
        kind: "completed",
        response: responseOf({ output: [msgItem("msg_1", "PONG")], output_text: "PONG" }),
      },
    ],
  ];

  it.each(cases)("%s", (name, expected) => {
    const a = new ResponsesAggregator();
    for (const e of SEQUENCES[name]!) a.push(e);
    expect(a.done()).toBe(true);
    expect(a.outcome()).toStrictEqual(expected);
  });

  it("a stream without a terminal event is a failure", () => {
    const a = new ResponsesAggregator();
    for (const e of SEQUENCES["plainText"]!.slice(0, 5)) a.push(e);
    expect(a.done()).toBe(false);
    expect(a.outcome()).toStrictEqual({
      kind: "failed",
      code: "upstream_error",
      message: "The upstream stream ended before the response completed.",
      status: 502,
    });
  });

  it("uses the terminal event's item where no .done arrived, and rebuilds from deltas as a last resort", () => {
    const a = new ResponsesAggregator();
    const events: Ev[] = [
      ...preamble,
      // index 0: only deltas (no added, no done)
      { type: "response.output_text.delta", item_id: "msg_0", output_index: 0, content_index: 0, delta: "A" },
      { type: "response.output_text.delta", item_id: "msg_0", output_index: 0, content_index: 0, delta: "B" },
      // index 1: added + argument deltas only
      {
        type: "response.output_item.added",
        output_index: 1,
        item: fcItem("fc_1", "call_1", "f", "", "in_progress"),
      },
      { type: "response.function_call_arguments.delta", item_id: "fc_1", delta: "{}" },
      // index 2: only in the terminal event
      completed([{}, {}, msgItem("msg_2", "C")].map((x, i) => (i < 2 ? undefined : x)) as Ev[]),
    ];
    for (const e of events) a.push(e);
    expect(a.outcome()).toStrictEqual({
      kind: "completed",
      response: responseOf({
        output: [
          {
            type: "message",
            role: "assistant",
            id: "msg_0",
            status: "completed",
            content: [{ type: "output_text", text: "AB", annotations: [] }],
          },
          fcItem("fc_1", "call_1", "f", "{}", "completed"),
          msgItem("msg_2", "C"),
        ],
        output_text: "ABC",
      }),
    });
  });

  it("ignores events after the terminal one, and garbage", () => {
    const a = new ResponsesAggregator();
    for (const e of [null, 1, { type: 2 }, ...SEQUENCES["plainText"]!, ...textEvents(1, "msg_x", ["late"])])
      a.push(e);
    const out = a.outcome();
    expect(out.kind === "completed" && out.response["output_text"]).toBe("PONG");
  });
});

describe("chatCompletionFromResponse", () => {
  function aggregate(name: string): Record<string, unknown> {
    const a = new ResponsesAggregator();
    for (const e of SEQUENCES[name]!) a.push(e);
    const out = a.outcome();
    if (out.kind === "failed") throw new Error("unexpected failure");
    return out.response;
  }
  const completion = (message: Ev, finish_reason: string) => ({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 100,
    model: "gpt-5.4",
    choices: [{ index: 0, message, logprobs: null, finish_reason }],
    usage: CHAT_USAGE,
  });

  it.each([
    ["plainText", completion({ role: "assistant", content: "PONG", refusal: null }, "stop")],
    ["reasoningThenText", completion({ role: "assistant", content: "Hi there", refusal: null }, "stop")],
    [
      "functionCall",
      completion(
        {
          role: "assistant",
          content: null,
          refusal: null,
          tool_calls: [
            {
              id: "call_1",
              type: "function",
              function: { name: "exec_command", arguments: '{"cmd":"echo hi"}' },
            },
          ],
        },
        "tool_calls",
      ),
    ],
    [
      "parallelCalls",
      completion(
        {
          role: "assistant",
          content: null,
          refusal: null,
          tool_calls: [
            { id: "call_a", type: "function", function: { name: "read", arguments: '{"p":"a"}' } },
            { id: "call_b", type: "function", function: { name: "read", arguments: '{"p":"b"}' } },
          ],
        },
        "tool_calls",
      ),
    ],
    ["incompleteMaxTokens", completion({ role: "assistant", content: "Hel", refusal: null }, "length")],
    ["completedWithoutOutput", completion({ role: "assistant", content: "PONG", refusal: null }, "stop")],
  ])("%s", (name, expected) => {
    expect(chatCompletionFromResponse(aggregate(name), META)).toStrictEqual(expected);
  });

  it("custom tool calls, refusals and missing usage", () => {
    const out = chatCompletionFromResponse(
      {
        status: "completed",
        output: [
          { type: "message", role: "assistant", content: [{ type: "refusal", refusal: "No." }] },
          { type: "custom_tool_call", call_id: "call_7", name: "apply_patch", input: "*** Begin" },
        ],
      },
      META,
    );
    expect(out).toStrictEqual({
      ...completion(
        {
          role: "assistant",
          content: null,
          refusal: "No.",
          tool_calls: [{ id: "call_7", type: "custom", custom: { name: "apply_patch", input: "*** Begin" } }],
        },
        "tool_calls",
      ),
      usage: {
        prompt_tokens: 0,
        completion_tokens: 0,
        total_tokens: 0,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    });
  });
});

// ---------------------------------------------------------------- /v1/responses streaming

describe("ResponsesStreamNormalizer", () => {
  it("renumbers from 0, drops non-public events, stops at the terminal event", () => {
    const n = new ResponsesStreamNormalizer();
    const upstream = [
      { type: "codex.rate_limits", rate_limits: {} },
      ...numbered(SEQUENCES["plainText"]!, 40),
      { type: "response.output_text.delta", delta: "late", sequence_number: 99 },
    ];
    const out = upstream.flatMap((e) => n.push(e));
    expect(out.map((e) => e["sequence_number"])).toStrictEqual(SEQUENCES["plainText"]!.map((_, i) => i));
    expect(out.map((e) => e["type"])).toStrictEqual(SEQUENCES["plainText"]!.map((e) => e["type"]));
    expect(out[4]).toStrictEqual({ ...SEQUENCES["plainText"]![4], sequence_number: 4 });
    expect(n.done).toBe(true);
    expect(n.fail("upstream_error", "x")).toStrictEqual([]);
  });

  it.each(["failed", "errorEvent", "incompleteMaxTokens"])(
    "passes the %s terminal through and ends",
    (name) => {
      const n = new ResponsesStreamNormalizer();
      const events = SEQUENCES[name]!;
      const out = events.flatMap((e) => n.push(e));
      expect(out.at(-1)).toStrictEqual({ ...events.at(-1), sequence_number: events.length - 1 });
      expect(n.done).toBe(true);
    },
  );

  it("fail() after output produces one well-formed terminal error event", () => {
    const n = new ResponsesStreamNormalizer();
    const out = SEQUENCES["plainText"]!.slice(0, 5).flatMap((e) => n.push(e));
    expect(out.length).toBe(5);
    expect(n.fail("upstream_timeout", "The upstream did not answer in time.")).toStrictEqual([
      {
        type: "error",
        sequence_number: 5,
        code: "upstream_timeout",
        message: "The upstream did not answer in time.",
        param: null,
        error: {
          type: "server_error",
          code: "upstream_timeout",
          message: "The upstream did not answer in time.",
          param: null,
        },
      },
    ]);
    expect(n.done).toBe(true);
    expect(n.push(SEQUENCES["plainText"]![5])).toStrictEqual([]);
    expect(n.fail("x", "y")).toStrictEqual([]);
  });
});
