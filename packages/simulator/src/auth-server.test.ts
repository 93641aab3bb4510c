import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AuthServer } from "./auth-server.ts";
import { type SimRequest, SimulatorCore } from "./core.ts";
import { CODEX_CLIENT_ID } from "./jwt.ts";
import { jsonBody, responsesRequest, userMessage } from "./test-support.ts";

function post(path: string, body: Record<string, unknown>, form = false): SimRequest {
  return {
    transport: "http",
    method: "POST",
    path,
    query: "",
    headers: { "content-type": form ? "application/x-www-form-urlencoded" : "application/json" },
    body: Buffer.from(
      form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body),
    ),
  };
}

describe("§8.24 onboarding flows", () => {
  it("browser PKCE: authorize redirects with a code; the code exchange verifies the verifier and issues tokens", () => {
    const core = new SimulatorCore({ accounts: 2 });
    const auth = new AuthServer(core);
    const second = [...core.accounts.values()][1]!;
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const redirect = "http://localhost:1455/auth/callback";
    const q = new URLSearchParams({
      response_type: "code",
      client_id: CODEX_CLIENT_ID,
      redirect_uri: redirect,
      scope: "openid profile email offline_access",
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: "st-1",
      login_hint: second.email,
    });
    const r = auth.authorize({
      transport: "http",
      method: "GET",
      path: "/oauth/authorize",
      query: q.toString(),
      headers: {},
      body: undefined,
    });
    expect(r.status).toBe(302);
    const location = new URL(r.headers[r.headers.indexOf("location") + 1]!);
    expect(location.searchParams.get("state")).toBe("st-1");
    const code = location.searchParams.get("code")!;
    const exchange = (v: string) =>
      auth.token(
        post(
          "/oauth/token",
          {
            grant_type: "authorization_code",
            code,
            redirect_uri: redirect,
            client_id: CODEX_CLIENT_ID,
            code_verifier: v,
          },
          true,
        ),
      );
    expect(exchange("wrong-verifier").status).toBe(400);
    // A failed attempt burns the code, as single-use codes do.
    expect(exchange(verifier).status).toBe(400);

    const r2 = auth.authorize({
      transport: "http",
      method: "GET",
      path: "/oauth/authorize",
      query: q.toString(),
      headers: {},
      body: undefined,
    });
    const code2 = new URL(r2.headers[r2.headers.indexOf("location") + 1]!).searchParams.get("code")!;
    const ok = auth.token(
      post(
        "/oauth/token",
        {
          grant_type: "authorization_code",
          code: code2,
          redirect_uri: redirect,
          client_id: CODEX_CLIENT_ID,
          code_verifier: verifier,
        },
        true,
      ),
    );
    expect(ok.status).toBe(200);
    const tokens = jsonBody(ok) as Record<string, string>;
    const use = core.handleResponsesHttp(
      responsesRequest(tokens["access_token"]!, { input: [userMessage("sim: reply hi")] }),
      undefined,
    );
    expect(use.status).toBe(200);
    if (use.type === "stream") use.finish("aborted");
    expect(core.refreshEvents.at(-1)).toMatchObject({ accountId: second.id, grant: "authorization_code" });
  });

  it("device code: pending (403) until approved, then the authorization code + PKCE pair, then tokens", () => {
    const core = new SimulatorCore({ accounts: 1, deviceCodeIntervalSeconds: 1 });
    const auth = new AuthServer(core);
    const start = jsonBody(
      auth.deviceUserCode(post("/api/accounts/deviceauth/usercode", { client_id: CODEX_CLIENT_ID })),
    );
    expect(start).toMatchObject({ interval: "1" });
    expect(String(start["user_code"])).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    const poll = () =>
      auth.deviceToken(
        post("/api/accounts/deviceauth/token", {
          device_auth_id: start["device_auth_id"],
          user_code: start["user_code"],
        }),
      );
    expect(poll().status).toBe(403);
    expect(auth.approveDevice(String(start["user_code"]))).toBe(true);
    const done = jsonBody(poll()) as Record<string, string>;
    expect(createHash("sha256").update(done["code_verifier"]!).digest("base64url")).toBe(
      done["code_challenge"],
    );
    const tokens = auth.token(
      post("/oauth/token", {
        grant_type: "authorization_code",
        code: done["authorization_code"],
        redirect_uri: "https://auth.openai.com/deviceauth/callback",
        client_id: CODEX_CLIENT_ID,
        code_verifier: done["code_verifier"],
      }),
    );
    expect(tokens.status).toBe(200);
    expect(jsonBody(tokens)).toHaveProperty("refresh_token");
    expect(poll().status).toBe(404);
  });
});
