import { request } from "node:http";
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type Simulator, startSimulator } from "../src/index.ts";

// Transport-level behaviour over real sockets: pacing, cut streams, big streams, websocket faults.

interface SseResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  events: Record<string, unknown>[];
  comments: string[];
  /** How the body ended: "end" (clean EOF), "error" (connection cut), "aborted" (we gave up). */
  ending: "end" | "error" | "aborted";
  firstByteMs: number;
  gapsMs: number[];
}

function post(
  sim: Simulator,
  token: string,
  prompt: string,
  opts: { session?: string; abortAfterMs?: number; extraInput?: unknown[] } = {},
): Promise<SseResult> {
  const body = JSON.stringify({
    model: "gpt-5.4",
    stream: true,
    store: false,
    // Extra items go first: history before the prompt, so the prompt stays the latest user message.
    input: [
      ...(opts.extraInput ?? []),
      { type: "message", role: "user", content: [{ type: "input_text", text: prompt }] },
    ],
  });
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      `${sim.baseUrl}/backend-api/codex/responses`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "session-id": opts.session ?? "s",
        },
      },
      (res) => {
        const result: SseResult = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          events: [],
          comments: [],
          ending: "end",
          firstByteMs: performance.now() - started,
          gapsMs: [],
        };
        let last = performance.now();
        const parser = createParser({
          onEvent: (e) => {
            const now = performance.now();
            result.gapsMs.push(now - last);
            last = now;
            result.events.push(JSON.parse(e.data) as Record<string, unknown>);
          },
          onComment: (c) => result.comments.push(c),
        });
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => parser.feed(chunk));
        res.on("end", () => resolve(result));
        res.on("error", () => {
          if (result.ending !== "aborted") result.ending = "error";
          resolve(result);
        });
        res.on("aborted", () => {
          if (result.ending !== "aborted") result.ending = "error";
        });
        if (opts.abortAfterMs !== undefined) {
          setTimeout(() => {
            result.ending = "aborted";
            req.destroy();
            resolve(result);
          }, opts.abortAfterMs);
        }
      },
    );
    req.on("error", (e) => (opts.abortAfterMs !== undefined ? undefined : reject(e)));
    req.end(body);
  });
}

const waitFor = async (check: () => boolean, ms = 2000) => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("simulator transport", () => {
  let sim: Simulator;
  let token: string;
  let accountId: string;

  beforeAll(async () => {
    sim = await startSimulator({ accounts: 4 });
    token = sim.accounts[0]!.accessToken;
    accountId = sim.accounts[0]!.id;
  });
  afterAll(async () => {
    await sim.close();
  });

  it("§8.4 delays the first byte, spaces events with keepalive comments, and stalls", async () => {
    const [slowFirst, slowEvents] = await Promise.all([
      post(sim, token, "sim: delay-first 300\nsim: reply x"),
      post(sim, token, "sim: delay-events 60 20\nsim: reply abcdefgh"),
    ]);
    expect(slowFirst.firstByteMs).toBeGreaterThanOrEqual(290);
    expect(slowFirst.events.at(-1)!["type"]).toBe("response.completed");
    expect(slowEvents.events.at(-1)!["type"]).toBe("response.completed");
    expect(slowEvents.comments.filter((c) => c.trim() === "keepalive").length).toBeGreaterThanOrEqual(5);
    expect(Math.min(...slowEvents.gapsMs.slice(1))).toBeGreaterThanOrEqual(45);

    sim.injectFault({ kind: "stall", afterEvents: 2 }, { accountId });
    const stalled = await post(sim, token, "x", { abortAfterMs: 400 });
    expect(stalled.events.map((e) => e["type"])).toEqual(["response.created", "response.in_progress"]);
    expect(stalled.ending).toBe("aborted");
    await waitFor(() => sim.account(accountId).activeStreams === 0);
    expect(sim.requests({ accountId }).at(-1)!.outcome).toBe("stall");
  });

  it("§8.5–8.6 cuts the connection mid-stream, or ends cleanly without response.completed", async () => {
    const [cut, eof] = await Promise.all([
      post(sim, token, "sim: fail disconnect 3\nsim: reply hello world"),
      post(sim, token, "sim: fail eof 4\nsim: reply hello world"),
    ]);
    expect(cut.events).toHaveLength(3);
    expect(cut.ending).toBe("error");
    expect(eof.events).toHaveLength(4);
    expect(eof.ending).toBe("end");
    expect(eof.events.some((e) => e["type"] === "response.completed")).toBe(false);
    const outcomes = sim
      .requests({ accountId })
      .slice(-2)
      .map((e) => e.outcome);
    expect(outcomes.sort()).toEqual(["disconnect", "eof"]);
  });

  it("§8.20 streams 2,000 deltas, a >1 MB event, and 120 concurrent streams without cross-talk", async () => {
    const toolOutput = {
      type: "function_call_output",
      call_id: "call_big",
      output: "z".repeat(6 * 1024 * 1024),
    };
    const [many, big, bigBody] = await Promise.all([
      post(sim, token, "sim: tokens 2000"),
      post(sim, token, "sim: big-event 1100000"),
      post(sim, token, "sim: reply got it", { extraInput: [toolOutput] }),
    ]);
    expect(bigBody.status).toBe(200);
    expect(bigBody.events.at(-1)!["type"]).toBe("response.completed");
    expect(sim.requests({ accountId }).some((e) => e.bodyBytes > 6 * 1024 * 1024)).toBe(true);
    expect(many.events.filter((e) => e["type"] === "response.output_text.delta")).toHaveLength(2000);
    expect(many.events.map((e) => e["sequence_number"])).toEqual(many.events.map((_, i) => i));
    const bigDelta = big.events.find((e) => e["type"] === "response.output_text.delta")!;
    expect(String(bigDelta["delta"]).length).toBe(1_100_000);

    const accounts = sim.accounts;
    const runs = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        post(sim, accounts[i % accounts.length]!.accessToken, "sim: echo-session", {
          session: `session-${i}`,
        }),
      ),
    );
    runs.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.events.find((e) => e["type"] === "response.output_text.done")!["text"]).toBe(`session-${i}`);
    });
  });

  it("§8.17 websocket: turn, rate-limits frame, close mid-response, refused upgrades, binary frames", async () => {
    const url = `${sim.baseUrl.replace("http", "ws")}/backend-api/codex/responses`;
    const headers = { authorization: `Bearer ${token}`, "openai-beta": "responses_websockets=2026-02-06" };
    const ws = new WebSocket(url, { headers, perMessageDeflate: true });
    let upgradeHeaders: Record<string, unknown> = {};
    ws.once("upgrade", (res) => {
      upgradeHeaders = res.headers;
    });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    expect(String(upgradeHeaders["x-codex-turn-state"])).toMatch(/^ts1\./);
    expect(ws.extensions).toContain("permessage-deflate");
    const frames: Record<string, unknown>[] = [];
    ws.on("message", (m) => frames.push(JSON.parse(String(m)) as Record<string, unknown>));
    const create = (text: string) =>
      ws.send(
        JSON.stringify({
          type: "response.create",
          model: "gpt-5.4",
          store: false,
          stream: true,
          input: [{ type: "message", role: "user", content: [{ type: "input_text", text }] }],
        }),
      );
    create("sim: reply over ws");
    await waitFor(() => frames.some((f) => f["type"] === "response.completed"));
    expect(frames[0]!["type"]).toBe("codex.rate_limits");
    const pong = new Promise((r) => ws.once("pong", r));
    ws.ping();
    await pong;

    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await waitFor(() => frames.some((f) => f["type"] === "error"));
    expect(frames.at(-1)).toMatchObject({ type: "error", status: 400 });

    const before = frames.length;
    create("sim: fail ws_close 3");
    const closed = await new Promise<number>((r) => ws.once("close", (code) => r(code)));
    expect(closed).toBe(1011);
    // The rate-limits frame, then three events, then the close frame: no terminal event.
    expect(frames.slice(before).map((f) => f["type"])).toEqual([
      "codex.rate_limits",
      "response.created",
      "response.in_progress",
      "response.output_item.added",
    ]);

    // A cut without a close frame: the client sees the frames sent so far, then an abnormal closure.
    const cutSocket = new WebSocket(url, { headers });
    const cutFrames: string[] = [];
    cutSocket.on("message", (m) => cutFrames.push(JSON.parse(String(m)).type));
    await new Promise((r) => cutSocket.once("open", r));
    cutSocket.send(
      JSON.stringify({
        type: "response.create",
        model: "gpt-5.4",
        store: false,
        input: [
          {
            type: "message",
            role: "user",
            content: [{ type: "input_text", text: "sim: fail disconnect 3" }],
          },
        ],
      }),
    );
    expect(await new Promise<number>((r) => cutSocket.once("close", (code) => r(code)))).toBe(1006);
    expect(cutFrames).toEqual([
      "codex.rate_limits",
      "response.created",
      "response.in_progress",
      "response.output_item.added",
    ]);

    for (const status of [426, 401, 429]) {
      sim.injectFault({ kind: "upgrade_refused", status }, { accountId });
      const refused = new WebSocket(url, { headers });
      // terminate() below reports "closed before the connection was established": expected here.
      refused.on("error", () => {});
      const got = await new Promise<number>((resolve) => {
        refused.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        refused.once("open", () => resolve(101));
      });
      refused.terminate();
      expect(got).toBe(status);
    }
  });

  it("serves the control API on its own port", async () => {
    // biome-ignore lint/suspicious/noExplicitAny: JSON from the control API, checked by the assertions
    const control = (path: string, init?: RequestInit): Promise<any> =>
      fetch(`${sim.controlUrl}${path}`, init).then((r) => r.json());
    const acct = sim.accounts[1]!;
    const since = sim.requests().at(-1)?.seq ?? 0;
    await control("/faults", {
      method: "POST",
      body: JSON.stringify({
        fault: { kind: "http_error", status: 503 },
        count: 1,
        match: { accountId: acct.id },
      }),
    });
    expect(await control("/faults")).toHaveLength(1);
    const first = await post(sim, acct.accessToken, "x");
    expect([first.status, String(first.headers["content-type"])]).toEqual([503, "text/html"]);
    const q = await control(`/accounts/${acct.id}/quota`, {
      method: "POST",
      body: JSON.stringify({ primary: { usedPercent: 100 } }),
    });
    expect(q.primary.usedPercent).toBe(100);
    expect((await post(sim, acct.accessToken, "x")).status).toBe(429);
    const reset = q.primary.resetAt as number;
    await control("/clock/set", { method: "POST", body: JSON.stringify({ now: reset }) });
    expect((await post(sim, acct.accessToken, "x")).status).toBe(200);
    const log = await control(
      `/requests?accountId=${acct.id}&path=/backend-api/codex/responses&since=${since}`,
    );
    expect(log.map((e: { status: number }) => e.status)).toEqual([503, 429, 200]);
    expect(log[0].body.model).toBe("gpt-5.4");
    expect(await fetch(`${sim.controlUrl}/accounts/nope`).then((r) => r.status)).toBe(404);
    // The control routes do not exist on the backend origin.
    expect(await fetch(`${sim.baseUrl}/faults`).then((r) => r.status)).toBe(404);
  });
});
