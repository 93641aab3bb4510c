/**
 * The /v1 surface with clients nobody here wrote: the official `openai`
 * SDK and the Vercel AI SDK (`ai` + `@ai-sdk/openai`, Responses and Chat
 * variants), through the gateway to the simulator.
 */
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({ accounts: 2 });
  client = new OpenAI({ apiKey: stack.key, baseURL: `${stack.baseUrl}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await stack?.close();
});

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

describe("openai SDK", () => {
  it("responses.create without streaming", async () => {
    const r = await client.responses.create({ model: "gpt-5.4", input: "sim: reply PONG" });
    expect(r.output_text).toBe("PONG");
    expect(r.status).toBe("completed");
    expect(r.usage?.output_tokens).toBeGreaterThan(0);
    const sent = stack.sim.requests({ path: "/backend-api/codex/responses" }).at(-1)!.body as Record<
      string,
      unknown
    >;
    expect(sent["stream"]).toBe(true);
    expect(sent["store"]).toBe(false);
  });

  it("responses.create streaming", async () => {
    const stream = await client.responses.create({
      model: "gpt-5.4",
      input: "sim: reply STREAMED",
      stream: true,
    });
    let text = "";
    const types: string[] = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    expect(text).toBe("STREAMED");
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
  });

  it("chat.completions.create without and with streaming", async () => {
    const c = await client.chat.completions.create({
      model: "gpt-5.4",
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "sim: reply PONG" },
      ],
    });
    expect(c.choices[0]?.message.content).toBe("PONG");
    expect(c.choices[0]?.finish_reason).toBe("stop");
    expect(c.usage?.completion_tokens).toBeGreaterThan(0);

    const stream = await client.chat.completions.create({
      model: "gpt-5.4",
      messages: [{ role: "user", content: "sim: reply CHUNKS" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta.content) text += choice.delta.content;
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("CHUNKS");
    expect(finish).toBe("stop");
    expect(usage?.total_tokens).toBeGreaterThan(0);
  });

  it("completes a function-tool round trip over chat completions", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: "user", content: 'sim: tool get_weather {"city":"Paris"}' },
    ];
    const first = await client.chat.completions.create({ model: "gpt-5.4", messages, tools: [weatherTool] });
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    const call = choice.message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Paris" });
    messages.push(choice.message, { role: "tool", tool_call_id: call.id, content: "sunny, 21 °C" });
    const second = await client.chat.completions.create({ model: "gpt-5.4", messages, tools: [weatherTool] });
    expect(second.choices[0]?.finish_reason).toBe("stop");
    expect(second.choices[0]?.message.content).toContain("sunny, 21 °C");
  });

  it("streams tool calls with finish_reason tool_calls", async () => {
    const stream = await client.chat.completions.create({
      model: "gpt-5.4",
      messages: [{ role: "user", content: 'sim: tool get_weather {"city":"Oslo"}' }],
      tools: [weatherTool],
      stream: true,
    });
    let args = "";
    let name = "";
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      const tc = choice?.delta.tool_calls?.[0];
      if (tc?.function?.name) name = tc.function.name;
      if (tc?.function?.arguments) args += tc.function.arguments;
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    expect(name).toBe("get_weather");
    expect(JSON.parse(args)).toEqual({ city: "Oslo" });
    expect(finish).toBe("tool_calls");
  });

  it("lists the pool's models", async () => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toContain("gpt-5.4");
  });

  it("surfaces errors as the SDK's typed errors", async () => {
    const bad = new OpenAI({
      apiKey: `sk-cxp-000000000000-${"a".repeat(43)}`,
      baseURL: `${stack.baseUrl}/v1`,
      maxRetries: 0,
    });
    await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const unknown = await client.responses
      .create({ model: "no-such-model", input: "x" })
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.BadRequestError);
    expect((unknown as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("model_not_found");
    const embeddings = await client.embeddings
      .create({ model: "text-embedding-3-small", input: "x" })
      .catch((e: unknown) => e);
    expect(embeddings).toBeInstanceOf(OpenAI.NotFoundError);
    expect((embeddings as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("unsupported_endpoint");
    const refused = await client.responses
      .create({ model: "gpt-5.4", input: "x", previous_response_id: "resp_1" })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("previous_response_id");
  });
});

describe("Vercel AI SDK", () => {
  const provider = () => createOpenAI({ apiKey: stack.key, baseURL: `${stack.baseUrl}/v1` });

  it.each([
    ["responses", (p: ReturnType<typeof provider>) => p.responses("gpt-5.4")],
    ["chat", (p: ReturnType<typeof provider>) => p.chat("gpt-5.4")],
  ])("generateText and streamText (%s)", async (_variant, model) => {
    const p = provider();
    const g = await generateText({ model: model(p), prompt: "sim: reply GENERATED", maxRetries: 0 });
    expect(g.text).toBe("GENERATED");
    const s = streamText({ model: model(p), prompt: "sim: reply STREAMED", maxRetries: 0 });
    let text = "";
    for await (const part of s.textStream) text += part;
    expect(text).toBe("STREAMED");
  });

  it.each([
    ["responses", (p: ReturnType<typeof provider>) => p.responses("gpt-5.4")],
    ["chat", (p: ReturnType<typeof provider>) => p.chat("gpt-5.4")],
  ])("runs a tool-calling loop (%s)", async (_variant, model) => {
    const calls: string[] = [];
    const result = await generateText({
      model: model(provider()),
      prompt: 'sim: tool get_weather {"city":"Lisbon"}',
      maxRetries: 0,
      tools: {
        get_weather: tool({
          description: "Weather for a city",
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => {
            calls.push(city);
            return `warm in ${city}`;
          },
        }),
      },
      stopWhen: stepCountIs(4),
      // The pool keeps no response state (upstream store:false), so the Responses
      // provider must send whole items instead of item references.
      providerOptions: { openai: { store: false } },
    });
    expect(calls).toEqual(["Lisbon"]);
    expect(result.text).toContain("warm in Lisbon");
  });
});
