/**
 * The rest of the Codex surface: the model catalog with ETag, the usage
 * routes, direct compaction, the pool's refuse policy for pinned threads,
 * and request records travelling through real SQS (the AWS emulator).
 */
import { randomBytes } from "node:crypto";
import { provisionAws, SecretBox } from "@codex-pooler/adapters";
import { ControlError, importAccount } from "@codex-pooler/control";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AWS_TEST_REGION, awsEndpointUrl } from "../support/aws.ts";
import { readSse, type Stack, startStack, userTurn } from "../support/stack.ts";

const auth = (stack: Stack) => ({ authorization: `Bearer ${stack.key}` });

describe("catalog, usage and compaction", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ accounts: 2 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("serves the pool's model catalog with an ETag and answers 304 to it", async () => {
    for (const path of ["/backend-api/codex/models", "/backend-api/codex/v1/models"]) {
      const res = await fetch(`${stack.baseUrl}${path}?client_version=0.171.0`, { headers: auth(stack) });
      expect(res.status).toBe(200);
      const etag = res.headers.get("etag")!;
      expect(etag).toMatch(/^W\/".+"$/);
      const body = (await res.json()) as { models: Array<{ slug: string; base_instructions: unknown }> };
      expect(body.models.map((m) => m.slug)).toContain("gpt-5.4");
      expect(body.models.every((m) => typeof m.base_instructions === "string")).toBe(true);
      const again = await fetch(`${stack.baseUrl}${path}`, {
        headers: { ...auth(stack), "if-none-match": etag },
      });
      expect(again.status).toBe(304);
    }
  });

  it("answers the usage routes from the pool's quota evidence", async () => {
    const res0 = await fetch(`${stack.codexBaseUrl}/responses`, {
      method: "POST",
      headers: { ...auth(stack), "content-type": "application/json" },
      body: JSON.stringify(userTurn("sim: tokens 300")),
    });
    await readSse(res0);
    for (const path of ["/backend-api/wham/usage", "/wham/usage", "/api/codex/usage"]) {
      const res = await fetch(`${stack.baseUrl}${path}`, { headers: auth(stack) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        rate_limit: {
          allowed: boolean;
          primary_window: { used_percent: number; reset_at: number; limit_window_seconds: number };
        };
      };
      expect(body.rate_limit.allowed).toBe(true);
      expect(body.rate_limit.primary_window.limit_window_seconds).toBe(18000);
      expect(body.rate_limit.primary_window.reset_at).toBeGreaterThan(Date.now() / 1000);
    }
    const anonymous = await fetch(`${stack.baseUrl}/backend-api/wham/usage`);
    expect(anonymous.status).toBe(401);
  });

  it("relays direct compaction as JSON", async () => {
    const res = await fetch(`${stack.codexBaseUrl}/responses/compact`, {
      method: "POST",
      headers: { ...auth(stack), "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-5.4",
        input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hello" }] }],
        store: false,
        stream: true,
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { output: Array<{ type: string }> };
    expect(body.output.some((item) => item.type === "compaction")).toBe(true);
    // The peers' rule: store, stream and include are not sent to the compact endpoint.
    const seen = stack.sim.requests({ path: "/backend-api/codex/responses/compact" }).at(-1)!;
    expect(seen.body).not.toHaveProperty("store");
    expect(seen.body).not.toHaveProperty("stream");
  });
});

describe("a pool that refuses to move threads", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ accounts: 2, pool: { pinnedFailover: "refuse" } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("answers 409 thread_account_unavailable instead of moving a thread", async () => {
    const turn = (text: string) =>
      fetch(`${stack.codexBaseUrl}/responses`, {
        method: "POST",
        headers: { ...auth(stack), "content-type": "application/json", "session-id": "refuse-thread" },
        body: JSON.stringify(userTurn(text)),
      });
    const first = await turn("sim: reply one");
    expect((await readSse(first)).at(-1)?.["type"]).toBe("response.completed");
    const owner = stack.sim.requests({ path: "/backend-api/codex/responses" }).at(-1)!.accountId!;
    stack.sim.exhaust(owner);
    const second = await turn("sim: reply two");
    // The owner answers usage_limit_reached; the thread may not move.
    expect([409, 429]).toContain(second.status);
    const body = (await second.json()) as { error: { code: string } };
    expect(["thread_account_unavailable", "usage_limit_reached"]).toContain(body.error.code);
    const third = await turn("sim: reply three");
    expect(third.status).toBe(409);
    expect(((await third.json()) as { error: { code: string } }).error.code).toBe(
      "thread_account_unavailable",
    );
    // Another thread is still served by the other account.
    const other = await fetch(`${stack.codexBaseUrl}/responses`, {
      method: "POST",
      headers: { ...auth(stack), "content-type": "application/json", "session-id": "another-thread" },
      body: JSON.stringify(userTurn("sim: reply fine")),
    });
    expect((await readSse(other)).at(-1)?.["type"]).toBe("response.completed");
  });
});

describe("request records through SQS", () => {
  let stack: Stack;
  const queue = `cxp-records-${randomBytes(4).toString("hex")}`;
  beforeAll(async () => {
    await provisionAws({ endpointUrl: awsEndpointUrl(), region: AWS_TEST_REGION, queues: [queue] });
    stack = await startStack({
      accounts: 1,
      env: {
        AWS_ENDPOINT_URL: awsEndpointUrl(),
        AWS_REGION: AWS_TEST_REGION,
        CODEX_POOLER_REQUEST_RECORDS_QUEUE: queue,
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("writes one record per request and one per attempt", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${stack.codexBaseUrl}/responses`, {
        method: "POST",
        headers: { ...auth(stack), "content-type": "application/json" },
        body: JSON.stringify(userTurn(`sim: reply sqs-${i}`)),
      });
      await readSse(res);
      ids.push(res.headers.get("x-request-id")!);
    }
    await stack.host.gateway!.recorder.flush();
    const db = stack.host.database.db;
    let rows: Array<{ id: string; status: string; output_tokens: number | null }> = [];
    for (let i = 0; i < 200 && rows.length < 3; i++) {
      rows = await db
        .selectFrom("request_records")
        .select(["id", "status", "output_tokens"])
        .where("id", "in", ids)
        .execute();
      if (rows.length < 3) await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.status === "succeeded" && (r.output_tokens ?? 0) > 0)).toBe(true);
    const attempts = await db
      .selectFrom("request_attempts")
      .select(["request_id", "status"])
      .where("request_id", "in", ids)
      .execute();
    expect(attempts).toHaveLength(3);
  });
});

describe("a JSON answer on the Codex route", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ accounts: 1 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("aggregates the upstream stream into one response object when the client asks stream:false", async () => {
    const res = await fetch(`${stack.codexBaseUrl}/responses`, {
      method: "POST",
      headers: { ...auth(stack), "content-type": "application/json" },
      body: JSON.stringify(userTurn("sim: reply AS-JSON", { stream: false })),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    const body = (await res.json()) as {
      status: string;
      output: Array<{ type: string; content?: Array<{ text: string }> }>;
    };
    expect(body.status).toBe("completed");
    const message = body.output.find((o) => o.type === "message");
    expect(message?.content?.[0]?.text).toBe("AS-JSON");
    const sent = stack.sim.requests({ path: "/backend-api/codex/responses" }).at(-1)!.body as {
      stream: boolean;
    };
    expect(sent.stream).toBe(true);
  });
});

describe("re-importing an auth.json the gateway has refreshed since", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ accounts: 1 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("is refused (its refresh token is spent) unless --replace is given", async () => {
    const simId = stack.sim.accounts[0]!.id;
    const original = JSON.stringify(stack.sim.authJson(simId));
    stack.sim.expireAccessToken(simId);
    const res = await fetch(`${stack.codexBaseUrl}/responses`, {
      method: "POST",
      headers: { ...auth(stack), "content-type": "application/json" },
      body: JSON.stringify(userTurn("sim: reply after-refresh")),
    });
    expect((await readSse(res)).at(-1)?.["type"]).toBe("response.completed");
    const ctx = { db: stack.host.database.db, actor: { type: "cli" as const } };
    const sealer = new SecretBox({
      keys: [{ key: Buffer.from(stack.env["CODEX_POOLER_UPSTREAM_SECRET_KEY"]!, "base64"), version: 1 }],
    });
    const refused = await importAccount(ctx, {
      poolNameOrId: stack.poolId,
      authJsonText: original,
      sealer,
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ControlError);
    expect((refused as ControlError).code).toBe("stale_auth_json");
    const replaced = await importAccount(ctx, {
      poolNameOrId: stack.poolId,
      authJsonText: original,
      sealer,
      replace: true,
    });
    expect(replaced.created).toBe(false);
  });
});
