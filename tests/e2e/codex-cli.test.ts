/**
 * Acceptance with a client nobody here wrote: the real Codex CLI, configured
 * with a Pool API key as in spec §7.1, through the gateway to a pool of
 * three simulated accounts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CodexHome, codexExec, codexHome, poolProviderConfig } from "../support/codex.ts";
import { type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
const homes: CodexHome[] = [];

beforeAll(async () => {
  stack = await startStack({ accounts: 3 });
});

afterAll(async () => {
  for (const h of homes) h.remove();
  await stack?.close();
});

function home(websockets = false): CodexHome {
  const h = codexHome(poolProviderConfig(stack.codexBaseUrl, { websockets }));
  homes.push(h);
  return h;
}

const env = () => ({ POOL_API_KEY: stack.key });
const TOOLS = ["--dangerously-bypass-approvals-and-sandbox"];

function responsesSince(seq: number) {
  return stack.sim.requests({ path: "/backend-api/codex/responses" }).filter((r) => r.seq > seq);
}

function lastSeq(): number {
  return stack.sim.requests().at(-1)?.seq ?? 0;
}

describe.each([
  ["HTTP", false],
  ["websocket", true],
])("codex exec over %s", (_name, websockets) => {
  it("prints a plain answer", async () => {
    const since = lastSeq();
    const run = await codexExec({ home: home(websockets), prompt: "sim: reply PONG", env: env() });
    expect(run.code, run.stderr).toBe(0);
    expect(run.lastMessage.trim()).toBe("PONG");
    const seen = responsesSince(since);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r) => r.transport === (websockets ? "ws" : "http"))).toBe(true);
    expect(seen.every((r) => !String(r.headers["authorization"]).includes(stack.key))).toBe(true);
  });

  it("runs a shell tool call and answers with its output", async () => {
    const since = lastSeq();
    const run = await codexExec({
      home: home(websockets),
      prompt: 'sim: tool exec_command {"cmd":"echo tool-output-4711"}',
      env: env(),
      args: TOOLS,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.lastMessage).toContain("tool-output-4711");
    // The follow-up that carried the tool output went to the same account as the call.
    const accounts = new Set(responsesSince(since).map((r) => r.accountId));
    expect(accounts.size).toBe(1);
  });
});

describe("threads and quota", () => {
  it("keeps a five-turn thread on one account", async () => {
    const h = home(false);
    const since = lastSeq();
    const first = await codexExec({ home: h, prompt: "sim: reply turn-1", env: env(), persist: true });
    expect(first.code, first.stderr).toBe(0);
    for (let turn = 2; turn <= 5; turn++) {
      const next = await codexExec({
        home: h,
        prompt: `sim: reply turn-${turn}`,
        env: env(),
        resumeLast: true,
      });
      expect(next.code, next.stderr).toBe(0);
      expect(next.lastMessage.trim()).toBe(`turn-${turn}`);
    }
    const seen = responsesSince(since);
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(new Set(seen.map((r) => r.headers["session-id"])).size).toBe(1);
    expect(new Set(seen.map((r) => r.accountId)).size).toBe(1);
  });

  it("moves a thread whose account is exhausted, and the CLI still answers", async () => {
    const h = home(false);
    const since = lastSeq();
    const first = await codexExec({ home: h, prompt: "sim: reply before", env: env(), persist: true });
    expect(first.code, first.stderr).toBe(0);
    const owner = responsesSince(since).at(-1)!.accountId!;
    stack.sim.exhaust(owner);
    try {
      const mid = lastSeq();
      const next = await codexExec({
        home: h,
        prompt: "sim: reply after",
        env: env(),
        resumeLast: true,
        timeoutMs: 45_000,
      });
      expect(next.code, next.stderr).toBe(0);
      expect(next.lastMessage.trim()).toBe("after");
      const served = responsesSince(mid).filter((r) => r.status === 200);
      expect(served.length).toBeGreaterThan(0);
      expect(served.every((r) => r.accountId !== owner)).toBe(true);
    } finally {
      stack.sim.setQuota(owner, { primary: { usedPercent: 0 } });
      await stack.host.gateway!.registry.reload();
    }
  });
});
