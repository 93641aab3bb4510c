import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimAccountInfo, type Simulator, startSimulator } from "../src/index.ts";
import { type CodexRun, removeHome, runCodex } from "./support/codex.ts";
import { makePrivateCa, type TestPki } from "./support/tls.ts";

// Acceptance: the CLI logged in with ChatGPT (auth.json minted by the simulator) over HTTPS with a private CA,
// refreshing its own token against the simulator (spec §7.4).

function chatgptConfig(baseUrl: string): string {
  return `model = "gpt-5.4"
check_for_update_on_startup = false
chatgpt_base_url = "${baseUrl}/backend-api"
openai_base_url = "${baseUrl}/backend-api/codex"
`;
}

describe("Codex CLI in ChatGPT-login mode against the simulator over HTTPS", () => {
  let sim: Simulator;
  let pki: TestPki;
  const runs: CodexRun[] = [];

  beforeAll(async () => {
    pki = makePrivateCa();
    sim = await startSimulator({ accounts: 2, tls: { cert: pki.cert, key: pki.key } });
  });
  afterAll(async () => {
    for (const r of runs) removeHome(r);
    await sim.close();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  function run(accountId: string, prompt: string) {
    const env = {
      CODEX_CA_CERTIFICATE: pki.caFile,
      CODEX_REFRESH_TOKEN_URL_OVERRIDE: `${sim.baseUrl}/oauth/token`,
      CODEX_REVOKE_TOKEN_URL_OVERRIDE: `${sim.baseUrl}/oauth/revoke`,
    };
    return runCodex({
      config: chatgptConfig(sim.baseUrl),
      env,
      prompt,
      prepare: (home) => sim.writeAuthFile(accountId, join(home, "auth.json")),
    });
  }

  it("refreshes an expired token itself (on 401 and proactively) and completes turns over WSS and zstd HTTP", async () => {
    const [a, b] = sim.accounts as [SimAccountInfo, SimAccountInfo];
    // a: the simulator expires the live token; the CLI meets 401 token_expired and recovers by refreshing.
    sim.expireAccessToken(a.id);
    // b: auth.json carries an access token whose exp already passed: the CLI refreshes before calling, and
    // the websocket upgrade is refused with 426 so it falls back to HTTP POST with zstd bodies.
    sim.staleAccessToken(b.id);
    sim.injectFault({ kind: "upgrade_refused", status: 426 }, { accountId: b.id, count: 50 });
    const [ra, rb] = await Promise.all([
      run(a.id, "sim: reply PONG"),
      run(b.id, "sim: reply PONG over HTTP"),
    ]);
    runs.push(ra, rb);
    for (const r of [ra, rb])
      if (r.code !== 0) throw new Error(`codex exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    expect(ra.lastMessage.trim()).toBe("PONG");
    expect(rb.lastMessage.trim()).toBe("PONG over HTTP");

    const reasons = (id: string) =>
      sim
        .refreshEvents()
        .filter((e) => e.accountId === id)
        .map((e) => e.reason);
    expect(reasons(a.id)).toEqual(["unauthorized_recovery"]);
    expect(reasons(b.id)).toEqual(["proactive_expiry"]);
    for (const [acct, r] of [
      [a, ra],
      [b, rb],
    ] as const) {
      // The CLI persisted the rotated tokens, and the old refresh token is spent.
      const saved = JSON.parse(readFileSync(join(r.home, "auth.json"), "utf8"));
      expect(saved.tokens.refresh_token).toBe(sim.account(acct.id).refreshToken);
      expect(saved.tokens.refresh_token).not.toBe(acct.refreshToken);
    }

    const logA = sim.requests({ accountId: a.id });
    expect(logA.some((e) => e.path === "/backend-api/wham/accounts/check" && e.status === 401)).toBe(true);
    const wsTurns = logA.filter((e) => e.transport === "ws" && e.method === "WS");
    expect(wsTurns.length).toBeGreaterThanOrEqual(2);
    expect(wsTurns.every((e) => e.outcome === "completed")).toBe(true);
    expect(wsTurns[0]!.headers["chatgpt-account-id"]).toBe(a.id);

    const posts = sim.requests({ accountId: b.id, path: "/backend-api/codex/responses", transport: "http" });
    const turn = posts.find((e) => e.method === "POST");
    if (!turn) throw new Error("no HTTP turn after the refused upgrade");
    expect(turn.contentEncoding).toBe("zstd");
    expect((turn.body as { store?: unknown }).store).toBe(false);
    expect(turn.outcome).toBe("completed");
    expect(turn.headers["authorization"]).toBe(`Bearer ${sim.account(b.id).accessToken}`);
  });
});
