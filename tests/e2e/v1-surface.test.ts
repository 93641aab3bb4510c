/**
 * The /v1 surface's edges: the translation as the upstream really receives
 * it (each chat shape → the exact body the simulator logged), deterministic
 * 404s for everything we do not implement, the pool switch, the key's own
 * usage, and the narrow Responses websocket.
 */
import { chatToUpstreamResponsesBody } from "@codex-pooler/compat";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWebSocket, type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ accounts: 1 });
});
afterAll(async () => {
  await stack?.close();
});

const headers = () => ({ authorization: `Bearer ${stack.key}`, "content-type": "application/json" });

describe("chat → Responses as the upstream receives it", () => {
  const tools = [
    {
      type: "function",
      function: { name: "f", description: "d", parameters: { type: "object", properties: {} } },
    },
  ];
  it.each([
    [
      "system + user text",
      {
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "sim: reply A" },
        ],
      },
    ],
    [
      "user parts with an image",
      {
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "sim: reply B" },
              { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
            ],
          },
        ],
      },
    ],
    [
      "assistant tool call and tool result",
      {
        tools,
        tool_choice: { type: "function", function: { name: "f" } },
        messages: [
          { role: "user", content: "sim: reply C" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }],
          },
          { role: "tool", tool_call_id: "call_1", content: "done" },
        ],
      },
    ],
    [
      "response_format, reasoning_effort and dropped sampling parameters",
      {
        messages: [{ role: "user", content: "sim: reply D" }],
        response_format: {
          type: "json_schema",
          json_schema: { name: "s", schema: { type: "object", properties: {} } },
        },
        reasoning_effort: "low",
        temperature: 0.2,
        max_tokens: 50,
      },
    ],
  ])("%s", async (_name, partial) => {
    const body = { model: "gpt-5.4", ...partial };
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    await res.json();
    const logged = stack.sim.requests({ path: "/backend-api/codex/responses" }).at(-1)!.body;
    expect(logged).toEqual(chatToUpstreamResponsesBody(body).upstream);
  });
});

describe("what /v1 does not do", () => {
  it.each([
    ["POST", "/v1/embeddings"],
    ["GET", "/v1/realtime"],
    ["POST", "/v1/batches"],
    ["GET", "/v1/files/file_1/content"],
    ["POST", "/v1/moderations"],
    ["POST", "/v1/fine_tuning/jobs"],
    ["GET", "/v1/responses/resp_1"],
    ["POST", "/v1/responses/compact"],
  ])("%s %s → 404 unsupported_endpoint before any upstream work", async (method, path) => {
    const before = stack.sim.requests().length;
    const res = await fetch(`${stack.baseUrl}${path}`, {
      method,
      headers: headers(),
      ...(method === "POST" ? { body: "{}" } : {}),
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as {
      error: { code: string; type: string; message: string; param: unknown };
    };
    expect(body.error.code).toBe("unsupported_endpoint");
    expect(body.error.type).toBe("invalid_request_error");
    expect(stack.sim.requests().length).toBe(before);
  });
});

describe("the key's usage, the websocket, and the pool switch", () => {
  it("reports the key's own usage and the pool's limits", async () => {
    const res = await fetch(`${stack.baseUrl}/v1/usage`, { headers: headers() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      key: { prefix: string };
      usage: { last_7_days: { requests: number } };
      upstream: unknown;
    };
    expect(stack.key.startsWith(body.key.prefix)).toBe(true);
    expect(body.usage.last_7_days.requests).toBeGreaterThanOrEqual(0);
    expect(body.upstream).toHaveProperty("rate_limit");
  });

  it("serves Responses over GET /v1/responses as a websocket", async () => {
    const ws = await openWebSocket(stack, "/v1/responses");
    const events: Array<{ type: string; delta?: string }> = [];
    const done = new Promise<void>((resolve) =>
      ws.on("message", (data) => {
        const e = JSON.parse(String(data)) as { type: string; delta?: string };
        events.push(e);
        if (e.type === "response.completed") resolve();
      }),
    );
    ws.send(
      JSON.stringify({
        type: "response.create",
        model: "gpt-5.4",
        stream: true,
        store: false,
        input: [
          { type: "message", role: "user", content: [{ type: "input_text", text: "sim: reply OVER-WS" }] },
        ],
      }),
    );
    await done;
    ws.close();
    expect(
      events
        .filter((e) => e.type === "response.output_text.delta")
        .map((e) => e.delta)
        .join(""),
    ).toBe("OVER-WS");
  });

  it("answers 403 v1_compatibility_disabled when the pool turns /v1 off", async () => {
    await stack.host.database.db
      .updateTable("pools")
      .set({ v1_enabled: false })
      .where("id", "=", stack.poolId)
      .execute();
    await stack.host.gateway!.registry.reload();
    try {
      for (const [method, path] of [
        ["POST", "/v1/chat/completions"],
        ["POST", "/v1/responses"],
        ["GET", "/v1/models"],
      ] as const) {
        const res = await fetch(`${stack.baseUrl}${path}`, {
          method,
          headers: headers(),
          ...(method === "POST"
            ? { body: JSON.stringify({ model: "gpt-5.4", messages: [], input: "x" }) }
            : {}),
        });
        expect(res.status).toBe(403);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
          "v1_compatibility_disabled",
        );
      }
      // The Codex route of the same pool is unaffected.
      const codex = await fetch(`${stack.codexBaseUrl}/models`, { headers: headers() });
      expect(codex.status).toBe(200);
    } finally {
      await stack.host.database.db
        .updateTable("pools")
        .set({ v1_enabled: true })
        .where("id", "=", stack.poolId)
        .execute();
      await stack.host.gateway!.registry.reload();
    }
  });
});

describe("an exhausted pool seen from the OpenAI SDK", () => {
  let exhausted: Stack;
  beforeAll(async () => {
    exhausted = await startStack({ accounts: 1 });
  });
  afterAll(async () => {
    await exhausted?.close();
  });

  it("answers 429 with Retry-After, which the SDK raises as RateLimitError", async () => {
    for (const a of exhausted.sim.accounts) exhausted.sim.exhaust(a.id);
    const res = await fetch(`${exhausted.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${exhausted.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-5.4", messages: [{ role: "user", content: "sim: reply x" }] }),
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const { default: OpenAI } = await import("openai");
    const client = new OpenAI({ apiKey: exhausted.key, baseURL: `${exhausted.baseUrl}/v1`, maxRetries: 0 });
    const err = await client.chat.completions
      .create({ model: "gpt-5.4", messages: [{ role: "user", content: "sim: reply x" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
  });
});

describe("/v1 after an access token expired early", () => {
  it("refreshes the token and answers", async () => {
    stack.sim.expireAccessToken(stack.sim.accounts[0]!.id);
    const before = stack.sim.refreshCount(stack.sim.accounts[0]!.id);
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({
        model: "gpt-5.4",
        messages: [{ role: "user", content: "sim: reply REFRESHED" }],
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0]?.message.content).toBe("REFRESHED");
    expect(stack.sim.refreshCount(stack.sim.accounts[0]!.id)).toBe(before + 1);
  });
});
