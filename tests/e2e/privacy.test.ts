/**
 * Privacy by construction: after real traffic (the Codex CLI over HTTP and
 * websocket, a tool call, failures, a token refresh), no table row and no
 * log line holds the prompt text, the Pool API key or an upstream token.
 */
import { sql } from "kysely";
import { afterAll, beforeAll, expect, it } from "vitest";
import { codexExec, codexHome, poolProviderConfig } from "../support/codex.ts";
import { readSse, type Stack, startStack, userTurn } from "../support/stack.ts";

let stack: Stack;
const CANARY = `privacy-canary-${Math.random().toString(36).slice(2, 10)}`;

beforeAll(async () => {
  stack = await startStack({ accounts: 2 });
});
afterAll(async () => {
  await stack?.close();
});

it("stores and logs metadata only", async () => {
  const tokens = new Set<string>();
  const collect = () => {
    for (const a of stack.sim.accounts) {
      tokens.add(a.accessToken);
      tokens.add(a.refreshToken);
    }
  };
  collect();
  for (const websockets of [false, true]) {
    const home = codexHome(poolProviderConfig(stack.codexBaseUrl, { websockets }));
    try {
      const run = await codexExec({ home, prompt: `sim: reply ${CANARY}`, env: { POOL_API_KEY: stack.key } });
      expect(run.lastMessage.trim()).toBe(CANARY);
      const tool = await codexExec({
        home,
        prompt: `sim: tool exec_command {"cmd":"echo ${CANARY}-tool"}`,
        env: { POOL_API_KEY: stack.key },
        args: ["--dangerously-bypass-approvals-and-sandbox"],
      });
      expect(tool.lastMessage).toContain(`${CANARY}-tool`);
    } finally {
      home.remove();
    }
  }
  // A refresh (new tokens to look for) and a failure path.
  stack.sim.expireAccessToken(stack.sim.accounts[0]!.id);
  stack.sim.expireAccessToken(stack.sim.accounts[1]!.id);
  const res = await fetch(`${stack.codexBaseUrl}/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.key}`, "content-type": "application/json" },
    body: JSON.stringify(userTurn(`sim: reply ${CANARY}-after-refresh`)),
  });
  expect((await readSse(res)).at(-1)?.["type"]).toBe("response.completed");
  const bad = await fetch(`${stack.codexBaseUrl}/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.key}x`, "content-type": "application/json" },
    body: JSON.stringify(userTurn(CANARY)),
  });
  expect(bad.status).toBe(401);
  collect();

  // Records reach the database through the queue and the worker.
  await stack.host.gateway!.recorder.flush();
  const db = stack.host.database.db;
  for (let i = 0; i < 100; i++) {
    const n = await db
      .selectFrom("request_records")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirst();
    if (Number(n?.n) >= 5) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const records = await db.selectFrom("request_records").selectAll().execute();
  expect(records.length).toBeGreaterThanOrEqual(5);
  expect(records.some((r) => r.transport === "websocket" && r.status === "succeeded")).toBe(true);
  expect(
    records.some((r) => r.status === "succeeded" && (r.input_tokens ?? 0) > 0 && (r.output_tokens ?? 0) > 0),
  ).toBe(true);

  const tables = await sql<{
    tablename: string;
  }>`select tablename from pg_tables where schemaname = 'public'`.execute(db);
  let dump = "";
  for (const { tablename } of tables.rows) {
    const rows = await sql<{
      j: string;
    }>`select row_to_json(t)::text as j from ${sql.table(tablename)} t`.execute(db);
    dump += rows.rows.map((r) => r.j).join("\n");
  }
  const logs = stack.logs();
  expect(logs.length).toBeGreaterThan(0);
  const secrets = [CANARY, stack.key, stack.key.slice(20), ...tokens].filter((s) => s.length >= 8);
  for (const secret of secrets) {
    expect(dump.includes(secret), "a table row holds a secret or prompt").toBe(false);
    expect(logs.includes(secret), "a log line holds a secret or prompt").toBe(false);
  }
});
