import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RequestAbort } from "./abort.ts";
import { createUpstreamAgent, sendUpstream } from "./client.ts";

// A local HTTP server stands in for the upstream: these check the client's own contract.
let server: Server;
let baseUrl: string;
const agent = createUpstreamAgent();

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === "/base/broken") {
      res.writeHead(200, { "content-type": "text/event-stream", "x-codex-a": "1" });
      res.write("event: one\ndata: {}\n\n");
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    if (req.url === "/base/hang") return; // no answer at all: the client aborts
    if (req.url === "/base/slow") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("event: one\ndata: {}\n\n");
      return; // never ends: the client aborts
    }
    res.writeHead(200, { "x-codex-a": ["1", "2"], "content-type": "application/json" });
    res.end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/base`;
});
afterAll(async () => {
  await agent.close();
  await new Promise((r) => server.close(r));
});

describe("sendUpstream", () => {
  it("returns status, flattened lower-case headers and the whole body", async () => {
    const res = await sendUpstream({ baseUrl, path: "/ok", method: "GET", headers: {}, agent });
    expect(res.status).toBe(200);
    expect(res.headers["x-codex-a"]).toBe("1, 2");
    expect(JSON.parse(await res.body.text())).toEqual({ ok: true });
  });

  it("still yields the chunks that arrived before the connection broke, then the error", async () => {
    const res = await sendUpstream({
      baseUrl,
      path: "/broken",
      method: "GET",
      headers: {},
      agent,
    });
    // Read late: the chunk and the break have both arrived by now.
    await new Promise((r) => setTimeout(r, 100));
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of res.body) got.push(chunk.toString());
      })(),
    ).rejects.toThrow();
    expect(got.join("")).toBe("event: one\ndata: {}\n\n");
  });

  // The gateway passes its own RequestAbort; other callers an AbortSignal. Both must behave alike.
  const kinds = [
    {
      kind: "AbortController",
      make: () => {
        const c = new AbortController();
        return { signal: c.signal, abort: () => c.abort() };
      },
    },
    {
      kind: "RequestAbort",
      make: () => {
        const a = new RequestAbort();
        return { signal: a, abort: () => a.abort() };
      },
    },
  ];

  it.each(kinds)(
    "$kind: rejects before the answer and ends the body after it when aborted",
    async ({ make }) => {
      const early = make();
      early.abort();
      await expect(
        sendUpstream({
          baseUrl,
          path: "/ok",
          method: "GET",
          headers: {},
          agent,
          signal: early.signal,
        }),
      ).rejects.toThrow(/abort/i);

      // Aborted while waiting for the head: the promise rejects and the exchange ends.
      const waiting = make();
      const pending = sendUpstream({
        baseUrl,
        path: "/hang",
        method: "GET",
        headers: {},
        agent,
        signal: waiting.signal,
      });
      setTimeout(() => waiting.abort(), 20);
      await expect(pending).rejects.toThrow(/abort/i);

      const late = make();
      const res = await sendUpstream({
        baseUrl,
        path: "/slow",
        method: "GET",
        headers: {},
        agent,
        signal: late.signal,
      });
      const reading = (async () => {
        for await (const _ of res.body) late.abort();
      })();
      await expect(reading).rejects.toThrow(/destroyed|abort/i);
    },
  );
});
