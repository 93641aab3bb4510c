import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildResponse, type ResponseSpec, sseFrame, textPart } from "./events.ts";
import { parseSse } from "./test-support.ts";

const base: Omit<ResponseSpec, "answer" | "terminal"> = {
  id: "resp_1",
  createdAt: 1796311575,
  model: "gpt-5.4",
  previousResponseId: undefined,
  usage: { input: 1200, cached: 1024, output: 40, reasoning: 16 },
};

function encode(spec: ResponseSpec): string {
  return buildResponse(spec).events.map(sseFrame).join("");
}

describe("SSE encoding (checked with eventsource-parser)", () => {
  it("frames a text answer in the order of spec §3.2 with sequence numbers", () => {
    const { events } = parseSse(
      encode({
        ...base,
        answer: { kind: "output", text: textPart("msg_1", "PONG!"), calls: [] },
        terminal: { kind: "completed" },
      }),
    );
    expect(events.map((e) => e.event)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    events.forEach((e, i) => {
      expect(e.data["type"]).toBe(e.event);
      expect(e.data["sequence_number"]).toBe(i);
    });
    const deltas = events.filter((e) => e.event === "response.output_text.delta").map((e) => e.data["delta"]);
    expect(deltas.join("")).toBe("PONG!");
    const completed = events.at(-1)!.data["response"] as Record<string, unknown>;
    expect(completed).toMatchObject({
      id: "resp_1",
      status: "completed",
      model: "gpt-5.4",
      usage: {
        input_tokens: 1200,
        input_tokens_details: { cached_tokens: 1024 },
        output_tokens: 40,
        output_tokens_details: { reasoning_tokens: 16 },
        total_tokens: 1240,
      },
    });
    expect(completed["output"]).toEqual([
      {
        id: "msg_1",
        type: "message",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: "PONG!", annotations: [], logprobs: [] }],
      },
    ]);
  });

  it("frames reasoning, a function call and a custom tool call (spec §3.3)", () => {
    const { events } = parseSse(
      encode({
        ...base,
        answer: {
          kind: "output",
          reasoning: { id: "rs_1", summary: "**Thinking**", blob: "gAAAAABblob" },
          calls: [
            {
              type: "function",
              id: "fc_1",
              callId: "call_1",
              name: "exec_command",
              payload: '{"cmd":"echo hi"}',
            },
            {
              type: "custom",
              id: "ctc_1",
              callId: "call_2",
              name: "apply_patch",
              payload: "*** Begin Patch\n",
            },
          ],
        },
        terminal: { kind: "completed" },
      }),
    );
    const types = events.map((e) => e.event);
    expect(types.slice(2, 8)).toEqual([
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
    ]);
    const done = events.filter((e) => e.event === "response.output_item.done").map((e) => e.data["item"]);
    expect(done).toEqual([
      {
        id: "rs_1",
        type: "reasoning",
        summary: [{ type: "summary_text", text: "**Thinking**" }],
        encrypted_content: "gAAAAABblob",
      },
      {
        id: "fc_1",
        type: "function_call",
        status: "completed",
        arguments: '{"cmd":"echo hi"}',
        call_id: "call_1",
        name: "exec_command",
      },
      {
        id: "ctc_1",
        type: "custom_tool_call",
        status: "completed",
        call_id: "call_2",
        input: "*** Begin Patch\n",
        name: "apply_patch",
      },
    ]);
    const args = events
      .filter((e) => e.event === "response.function_call_arguments.delta")
      .map((e) => e.data["delta"]);
    expect(args.join("")).toBe('{"cmd":"echo hi"}');
    const input = events.filter((e) => e.event === "response.custom_tool_call_input.delta");
    expect(input.map((e) => e.data["delta"]).join("")).toBe("*** Begin Patch\n");
    expect(input[0]!.data).toMatchObject({ item_id: "ctc_1", call_id: "call_2" });
    expect(events.at(-1)!.data["response"]).toMatchObject({ output: done });
  });

  it("ends failed, incomplete and errored responses with their terminal event (spec §3.5)", () => {
    const answer = { kind: "output" as const, text: textPart("m", "x"), calls: [] };
    const failed = parseSse(
      encode({
        ...base,
        answer,
        terminal: { kind: "failed", code: "context_length_exceeded", message: "too long" },
      }),
    );
    expect(failed.events.at(-1)!.data).toMatchObject({
      type: "response.failed",
      response: {
        status: "failed",
        error: { code: "context_length_exceeded", message: "too long" },
        usage: null,
      },
    });
    const incomplete = parseSse(
      encode({ ...base, answer, terminal: { kind: "incomplete", reason: "max_output_tokens" } }),
    );
    expect(incomplete.events.at(-1)!.data).toMatchObject({
      type: "response.incomplete",
      response: { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } },
    });
    const error = parseSse(
      encode({ ...base, answer, terminal: { kind: "error", code: "server_error", message: "boom" } }),
    );
    expect(error.events.at(-1)!.data).toEqual({
      type: "error",
      sequence_number: 2,
      code: "server_error",
      message: "boom",
      param: null,
    });
  });

  it("round-trips any text through deltas, done events and the completed output", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 200 }),
        fc.string({ maxLength: 20 }),
        (text, model) => {
          const spec: ResponseSpec = {
            ...base,
            model,
            answer: { kind: "output", text: textPart("msg_x", text), calls: [] },
            terminal: { kind: "completed" },
          };
          const { events } = parseSse(encode(spec));
          const deltas = events
            .filter((e) => e.event === "response.output_text.delta")
            .map((e) => e.data["delta"]);
          expect(deltas.join("")).toBe(text);
          expect(events.find((e) => e.event === "response.output_text.done")!.data["text"]).toBe(text);
          expect((events.at(-1)!.data["response"] as { model: string }).model).toBe(model);
        },
      ),
      { numRuns: 200 },
    );
  });
});
