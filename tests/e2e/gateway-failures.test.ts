/**
 * How the gateway behaves when the upstream or the client misbehaves:
 * exhausted pools, expired tokens under concurrency across processes,
 * streams cut before and after output, client aborts, revoked keys.
 */

import { setKeyStatus } from "@codex-pooler/control";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { codexExec, codexHome, poolProviderConfig } from "../support/codex.ts";
import { startServeProcess } from "../support/serve-process.ts";
import { openWebSocket, readSse, type Stack, startStack, userTurn } from "../support/stack.ts";

function post(stack: Stack, body: unknown, headers: Record<string, string> = {}, baseUrl = stack.baseUrl) {
  return fetch(`${baseUrl}/backend-api/codex/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

async function waitFor<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  stepMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

describe("a pool whose every account is exhausted", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ accounts: 2 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("answers 429 usage_limit_reached with Retry-After, and the Codex CLI shows the limit", async () => {
    for (const a of stack.sim.accounts) stack.sim.exhaust(a.id);
    const res = await post(stack, userTurn("sim: reply nope"));
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    const body = (await res.json()) as { error: { type: string; code: string; resets_at: number } };
    expect(body.error.type).toBe("usage_limit_reached");
    expect(body.error.resets_at).toBeGreaterThan(Date.now() / 1000);

    const home = codexHome(poolProviderConfig(stack.codexBaseUrl));
    try {
      const run = await codexExec({
        home,
        prompt: "sim: reply nope",
        env: { POOL_API_KEY: stack.key },
        timeoutMs: 30_000,
      });
      expect(run.code).toBe(1);
      expect(`${run.stdout}\n${run.stderr}`).toMatch(/usage limit/i);
    } finally {
      home.remove();
    }
  });
});

describe("token expiry under concurrency, across two gateway processes", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ accounts: 1 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("refreshes exactly once and every request succeeds", async () => {
    const [a, b] = await Promise.all([startServeProcess(stack.env), startServeProcess(stack.env)]);
    try {
      const simAccount = stack.sim.accounts[0]!.id;
      // Warm both processes so their registries hold the current token.
      for (const p of [a, b])
        expect((await post(stack, userTurn("sim: reply warm"), {}, p.baseUrl)).status).toBe(200);
      const before = stack.sim.refreshCount(simAccount);
      stack.sim.expireAccessToken(simAccount);
      const results = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const res = await post(stack, userTurn(`sim: reply r${i}`), {}, (i % 2 === 0 ? a : b).baseUrl);
          const events = await readSse(res);
          return { status: res.status, last: events.at(-1)?.["type"] };
        }),
      );
      expect(results.filter((r) => r.status === 200 && r.last === "response.completed")).toHaveLength(20);
      expect(stack.sim.refreshCount(simAccount) - before).toBe(1);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

describe("streams cut by the upstream, and clients that leave", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ accounts: 2 });
  });
  afterAll(async () => {
    await stack?.close();
  });
  afterEach(() => stack.sim.clearFaults());

  it("ends with one failure event when the upstream disconnects after output, and records the attempt as failed", async () => {
    stack.sim.injectFault({ kind: "disconnect", afterEvents: 6 }, { count: 1 });
    const res = await post(stack, userTurn("sim: tokens 200"));
    expect(res.status).toBe(200);
    const events = await readSse(res);
    const types = events.map((e) => e["type"]);
    expect(types).toContain("response.output_text.delta");
    expect(types.at(-1)).toBe("response.failed");
    expect(types.filter((t) => t === "response.created")).toHaveLength(1); // never replayed
    const failed = events.at(-1) as { response: { error: { code: string } } };
    expect(failed.response.error.code).toBe("stream_disconnected");
    const requestId = res.headers.get("x-request-id")!;
    const row = await waitFor(async () =>
      stack.host.database.db
        .selectFrom("request_attempts")
        .select(["status", "error_code"])
        .where("request_id", "=", requestId)
        .executeTakeFirst(),
    );
    expect(row).toEqual({ status: "failed", error_code: "stream_disconnected" });
  });

  it("fails over silently when the upstream disconnects before output", async () => {
    stack.sim.injectFault({ kind: "disconnect", afterEvents: 1 }, { count: 1 });
    const res = await post(stack, userTurn("sim: reply SAVED"));
    const events = await readSse(res);
    expect(events.filter((e) => e["type"] === "response.created")).toHaveLength(1);
    expect(events.at(-1)?.["type"]).toBe("response.completed");
    const text = events
      .filter((e) => e["type"] === "response.output_text.delta")
      .map((e) => e["delta"])
      .join("");
    expect(text).toBe("SAVED");
  });

  it("closes the upstream request within 100 ms of a client abort", async () => {
    stack.sim.injectFault({ kind: "slow_events", ms: 200 }, { count: 1 });
    const controller = new AbortController();
    const res2 = await fetch(`${stack.baseUrl}/backend-api/codex/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.key}`, "content-type": "application/json" },
      body: JSON.stringify(userTurn("sim: tokens 400", { prompt_cache_key: "abort-me" })),
      signal: controller.signal,
    });
    const reader = res2.body!.getReader();
    await reader.read(); // output reached the client
    const entry = () =>
      stack.sim
        .requests({ path: "/backend-api/codex/responses" })
        .find((r) => (r.body as { prompt_cache_key?: string })?.prompt_cache_key === "abort-me");
    const abortedAt = Date.now();
    controller.abort();
    await waitFor(() => (entry()?.outcome === "aborted" ? true : undefined), 2000, 2);
    expect(Date.now() - abortedAt).toBeLessThan(100);
  });
});

describe("revoked keys", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ accounts: 1 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("refuses a revoked key within 5 s and closes its open websockets", async () => {
    const ws = await openWebSocket(stack, "/backend-api/codex/responses");
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    expect((await post(stack, userTurn("sim: reply ok"))).status).toBe(200);
    const revokedAt = Date.now();
    await setKeyStatus(
      { db: stack.host.database.db, actor: { type: "cli" } },
      stack.key.slice(0, 19),
      "revoked",
    );
    await waitFor(
      async () => ((await post(stack, userTurn("x"))).status === 401 ? true : undefined),
      6000,
      100,
    );
    expect(Date.now() - revokedAt).toBeLessThan(5000);
    expect(await closed).toBe(1008);
    expect(Date.now() - revokedAt).toBeLessThan(6000);
  });
});

describe("an account whose refresh token is dead", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ accounts: 2 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("is marked reauth_required (audited) and its requests are served by another account", async () => {
    const [dead] = stack.sim.accounts;
    stack.sim.revokeRefreshToken(dead!.id);
    stack.sim.expireAccessToken(dead!.id);
    for (let i = 0; i < 4; i++) {
      const res = await post(stack, userTurn(`sim: reply still-${i}`));
      expect((await readSse(res)).at(-1)?.["type"]).toBe("response.completed");
    }
    const ourId = [...stack.accountIds.entries()].find(([, sim]) => sim === dead!.id)![0];
    const db = stack.host.database.db;
    const row = await db
      .selectFrom("upstream_accounts")
      .select(["status", "status_reason"])
      .where("id", "=", ourId)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe("reauth_required");
    const audit = await db
      .selectFrom("audit_events")
      .select(["action", "outcome"])
      .where("target_id", "=", ourId)
      .where("action", "=", "upstream_account.status_change")
      .execute();
    expect(audit).toEqual([{ action: "upstream_account.status_change", outcome: "failure" }]);
    // Later requests skip it without trying.
    const before = stack.sim.requests({ accountId: dead!.id }).length;
    await readSse(await post(stack, userTurn("sim: reply skip")));
    expect(stack.sim.requests({ accountId: dead!.id }).length).toBe(before);
  });
});
