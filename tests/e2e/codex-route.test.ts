/**
 * The Codex route through the real gateway to the simulator, with plain
 * HTTP clients: streaming, failover before output, failure events after
 * output, client aborts, and bad input.
 */

import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWebSocket, readSse, type Stack, startStack, userTurn } from "../support/stack.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ accounts: 3 });
});

afterAll(async () => {
  await stack?.close();
});

function post(body: unknown, headers: Record<string, string> = {}, path = "/responses") {
  return fetch(`${stack.codexBaseUrl}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${stack.key}`,
      "content-type": "application/json",
      accept: "text/event-stream",
      ...headers,
    },
    body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
}

function outputText(events: Array<Record<string, unknown>>): string {
  return events
    .filter((e) => e["type"] === "response.output_text.delta")
    .map((e) => e["delta"])
    .join("");
}

describe("streaming through the pool", () => {
  it("relays a plain answer with the Codex event order and headers", async () => {
    const res = await post(userTurn("sim: reply PONG"), { "session-id": "thread-plain" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    expect(res.headers.get("x-codex-primary-used-percent")).not.toBeNull();
    const events = await readSse(res);
    expect(events[0]?.["type"]).toBe("response.created");
    expect(events.at(-1)?.["type"]).toBe("response.completed");
    expect(outputText(events)).toBe("PONG");
    // The upstream saw the account's token, never the pool key.
    const seen = stack.sim.requests({ path: "/backend-api/codex/responses" }).at(-1)!;
    expect(seen.headers["authorization"]).not.toContain(stack.key);
    expect(seen.headers["chatgpt-account-id"]).toBeTruthy();
    expect(seen.headers["session-id"]).toBe("thread-plain");
  });

  it("decodes zstd and gzip request bodies", async () => {
    const zst = readFileSync(new URL("../fixtures/zstd/request.json.zst", import.meta.url));
    const r1 = await post(zst, { "content-encoding": "zstd" });
    expect(outputText(await readSse(r1))).toBe("PONG");
    const r2 = await post(gzipSync(Buffer.from(JSON.stringify(userTurn("sim: reply GZ")))), {
      "content-encoding": "gzip",
    });
    expect(outputText(await readSse(r2))).toBe("GZ");
  });

  it("keeps a thread on one account across turns", async () => {
    const accounts = new Set<string>();
    for (let turn = 0; turn < 5; turn++) {
      const res = await post(userTurn(`sim: reply turn ${turn}`), { "session-id": "thread-sticky" });
      expect(outputText(await readSse(res))).toBe(`turn ${turn}`);
      const seen = stack.sim.requests({ path: "/backend-api/codex/responses" }).at(-1)!;
      accounts.add(String(seen.headers["chatgpt-account-id"]));
    }
    expect(accounts.size).toBe(1);
  });

  it("fails over silently when an account errors before any output", async () => {
    stack.sim.injectFault({ kind: "http_error", status: 500 }, { count: 1 });
    const res = await post(userTurn("sim: reply AFTER-500"));
    expect(res.status).toBe(200);
    expect(outputText(await readSse(res))).toBe("AFTER-500");
  });
});

describe("bad input", () => {
  it.each([
    ["no key", {}, undefined, 401, "missing_api_key"],
    [
      "unknown key",
      { authorization: `Bearer sk-cxp-000000000000-${"a".repeat(43)}` },
      undefined,
      401,
      "invalid_api_key",
    ],
    ["malformed JSON", {}, "{nope", 400, "invalid_json"],
    [
      "model not in the pool",
      {},
      JSON.stringify(userTurn("x", { model: "no-such-model" })),
      400,
      "model_not_found",
    ],
  ])("%s", async (_name, headers, body, status, code) => {
    const h: Record<string, string> = { ...(headers as Record<string, string>) };
    const res = await fetch(`${stack.codexBaseUrl}/responses`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...("authorization" in h ? {} : _name === "no key" ? {} : { authorization: `Bearer ${stack.key}` }),
        ...h,
      },
      body: body ?? JSON.stringify(userTurn("x")),
    });
    expect(res.status).toBe(status);
    const json = (await res.json()) as { error: { code: string } };
    expect(json.error.code).toBe(code);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("answers 413 to an oversized body and to a zstd bomb", async () => {
    const bomb = readFileSync(new URL("../fixtures/zstd/bomb-256mib-zeros.zst", import.meta.url));
    const res = await post(bomb, { "content-encoding": "zstd" });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("body_too_large");
    const big = await post(Buffer.alloc(40 * 1024 * 1024, 0x20));
    expect(big.status).toBe(413);
  });

  it("answers a JSON 404 for unknown backend paths", async () => {
    const res = await fetch(`${stack.baseUrl}/backend-api/ps/plugins/installed`, {
      headers: { authorization: `Bearer ${stack.key}` },
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });
});

describe("websocket backpressure", () => {
  it("pauses the upstream while a client stops reading, and delivers every frame in order once it reads again", async () => {
    const ws = await openWebSocket(stack, "/backend-api/codex/responses");
    let closeCode: number | undefined;
    ws.on("close", (code) => {
      closeCode = code;
    });
    const sequence: number[] = [];
    let deltas = 0;
    const done = new Promise<void>((resolve, reject) => {
      ws.on("message", (data) => {
        const e = JSON.parse(String(data)) as { type: string; sequence_number: number };
        if (typeof e.sequence_number === "number") sequence.push(e.sequence_number);
        if (e.type === "response.output_text.delta") deltas++;
        if (e.type === "response.completed") resolve();
        if (e.type === "response.failed" || e.type === "error") reject(new Error(String(data)));
      });
      ws.on("close", (code) => reject(new Error(`closed ${code}`)));
    });
    // 150,000 deltas are ≈ 30 MB of frames, far more than the 4 MB uWS may buffer for a client plus the kernel socket buffers:
    // without backpressure reaching the upstream, frames would be dropped and the socket closed 1011.
    ws.send(JSON.stringify({ type: "response.create", ...userTurn("sim: tokens 150000") }));
    const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    await new Promise((r) => setTimeout(r, 1500));
    socket.resume();
    await done;
    expect(deltas).toBe(150000);
    expect(sequence).toEqual(sequence.map((_, i) => i));
    expect(closeCode).toBeUndefined();
    ws.close();
  }, 60_000);
});
