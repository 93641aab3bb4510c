import { createHash, randomBytes } from "node:crypto";
import type { SimAccount } from "./accounts.ts";
import { parseFormOrJson } from "./body.ts";
import type { JsonOutcome, SimRequest, SimulatorCore } from "./core.ts";
import * as err from "./errors.ts";
import { CODEX_CLIENT_ID } from "./jwt.ts";

/**
 * The auth.openai.com side (spec §5): refresh grant with rotation, authorization-code grant fed by the
 * browser PKCE flow or the device-code flow, and revoke.
 */

interface AuthCode {
  account: SimAccount;
  redirectUri: string | undefined;
  challenge: string;
  expiresAt: number;
}

interface DeviceCode {
  deviceAuthId: string;
  userCode: string;
  expiresAt: number;
  approvedFor: SimAccount | undefined;
  /** PKCE pair the server generates for the device flow and hands to the client on success. */
  verifier: string;
  challenge: string;
  code: string | undefined;
}

const json = (status: number, body: unknown, headers: string[] = []): JsonOutcome => ({
  type: "json",
  status,
  headers: ["content-type", "application/json", ...headers],
  body: typeof body === "string" ? body : JSON.stringify(body),
  delayMs: 0,
});

const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

export class AuthServer {
  readonly #core: SimulatorCore;
  readonly #codes = new Map<string, AuthCode>();
  readonly #devices = new Map<string, DeviceCode>();

  constructor(core: SimulatorCore) {
    this.#core = core;
  }

  /** POST /oauth/token — JSON or form-encoded (spec §5.1). */
  token(req: SimRequest): JsonOutcome {
    const core = this.#core;
    const params = parseFormOrJson(req.body ?? Buffer.alloc(0), req.headers["content-type"]);
    if (!params)
      return json(400, { error: "invalid_request", error_description: "Body must be JSON or a form." });
    const fault = core.faults.take({ route: "token", transport: "http" });
    if (fault?.kind === "refresh_error") {
      const status = fault.status ?? (fault.code === "server_error" ? 500 : 401);
      const msg = err.REFRESH_MESSAGES[fault.code] ?? "The refresh token could not be used.";
      return fault.code === "invalid_grant"
        ? json(status === 401 ? 400 : status, { error: "invalid_grant", error_description: msg })
        : json(status, err.refreshError(fault.code, msg));
    }
    if (fault?.kind === "http_error") {
      return fault.html === false || fault.status < 502
        ? json(fault.status, err.SERVER_ERROR)
        : {
            type: "json",
            status: fault.status,
            headers: ["content-type", "text/html"],
            body: err.htmlErrorPage(fault.status),
            delayMs: 0,
          };
    }
    if (params["client_id"] !== CODEX_CLIENT_ID) {
      return json(401, { error: "invalid_client", error_description: "Unknown client_id." });
    }
    const grant = params["grant_type"];
    if (grant === "refresh_token") return this.#refresh(params);
    if (grant === "authorization_code") return this.#exchange(params);
    return json(400, {
      error: "unsupported_grant_type",
      error_description: `Unsupported grant_type ${String(grant)}.`,
    });
  }

  #refresh(params: Record<string, unknown>): JsonOutcome {
    const core = this.#core;
    const token = params["refresh_token"];
    const rec = typeof token === "string" ? core.tokens.refresh.get(token) : undefined;
    if (!rec) return json(400, { error: "invalid_grant", error_description: "Invalid refresh token." });
    const fail = (code: string) => json(401, err.refreshError(code, err.REFRESH_MESSAGES[code] ?? code));
    switch (rec.state) {
      case "spent":
        // Reuse is treated as theft: the whole login chain dies (a double refresh kills the account).
        core.tokens.revokeFamily(rec.family);
        return fail("refresh_token_reused");
      case "revoked":
        return fail("refresh_token_invalidated");
      case "expired":
        return fail("refresh_token_expired");
    }
    if (rec.account.status === "deactivated") return fail("account_deactivated");
    rec.state = "spent";
    const reason = typeof params["refresh_reason"] === "string" ? params["refresh_reason"] : undefined;
    return this.#issue(rec.account, "refresh_token", reason, rec.family);
  }

  #exchange(params: Record<string, unknown>): JsonOutcome {
    const code = params["code"];
    const entry = typeof code === "string" ? this.#codes.get(code) : undefined;
    if (!entry || entry.expiresAt < this.#core.clock.now()) {
      return json(400, {
        error: "invalid_grant",
        error_description: "Invalid or expired authorization code.",
      });
    }
    this.#codes.delete(code as string);
    const verifier = params["code_verifier"];
    if (typeof verifier !== "string" || s256(verifier) !== entry.challenge) {
      return json(400, { error: "invalid_grant", error_description: "PKCE verification failed." });
    }
    const redirect = params["redirect_uri"];
    if (entry.redirectUri !== undefined && redirect !== entry.redirectUri) {
      return json(400, { error: "invalid_grant", error_description: "redirect_uri does not match." });
    }
    if (
      entry.redirectUri === undefined &&
      !(typeof redirect === "string" && redirect.endsWith("/deviceauth/callback"))
    ) {
      return json(400, { error: "invalid_grant", error_description: "redirect_uri does not match." });
    }
    return this.#issue(entry.account, "authorization_code", undefined, undefined);
  }

  #issue(
    account: SimAccount,
    grant: string,
    reason: string | undefined,
    family: number | undefined,
  ): JsonOutcome {
    const core = this.#core;
    const now = core.clock.now();
    core.tokens.mintAccess(account, now);
    const refresh = core.tokens.mintRefresh(account, family);
    account.refreshCount += 1;
    account.lastRefresh = new Date(core.clock.nowMs()).toISOString();
    core.refreshEvents.push({ at: core.clock.nowMs(), accountId: account.id, reason, grant });
    if (core.refreshEvents.length > 10_000) core.refreshEvents.shift();
    return json(200, {
      id_token: account.idToken,
      access_token: account.accessToken,
      refresh_token: refresh,
      expires_in: Math.max(0, account.accessTokenExp - now),
      token_type: "Bearer",
      scope: "openid profile email offline_access",
    });
  }

  /** GET /oauth/authorize — consent is automatic: redirects back with a code for the login account. */
  authorize(req: SimRequest): JsonOutcome {
    const q = new URLSearchParams(req.query);
    const redirectUri = q.get("redirect_uri");
    const challenge = q.get("code_challenge");
    if (
      q.get("response_type") !== "code" ||
      q.get("client_id") !== CODEX_CLIENT_ID ||
      !redirectUri ||
      !challenge
    ) {
      return json(400, {
        error: "invalid_request",
        error_description: "response_type=code, client_id, redirect_uri and code_challenge are required.",
      });
    }
    if ((q.get("code_challenge_method") ?? "S256") !== "S256") {
      return json(400, { error: "invalid_request", error_description: "Only S256 is supported." });
    }
    const account = this.#pickAccount(q.get("sim_account") ?? undefined, q.get("login_hint") ?? undefined);
    if (!account)
      return json(400, { error: "access_denied", error_description: "No such simulated account." });
    const code = `ac_${randomBytes(18).toString("base64url")}`;
    this.#codes.set(code, { account, redirectUri, challenge, expiresAt: this.#core.clock.now() + 600 });
    const target = new URL(redirectUri);
    target.searchParams.set("code", code);
    const state = q.get("state");
    if (state !== null) target.searchParams.set("state", state);
    return { type: "json", status: 302, headers: ["location", target.toString()], body: "", delayMs: 0 };
  }

  #pickAccount(id: string | undefined, hint: string | undefined): SimAccount | undefined {
    const core = this.#core;
    if (id) return core.accounts.get(id);
    if (hint) for (const a of core.accounts.values()) if (a.email === hint) return a;
    return core.loginAccountId ? core.accounts.get(core.loginAccountId) : undefined;
  }

  /** POST /oauth/revoke */
  revoke(req: SimRequest): JsonOutcome {
    const params = parseFormOrJson(req.body ?? Buffer.alloc(0), req.headers["content-type"]) ?? {};
    const token = params["token"];
    const rec = typeof token === "string" ? this.#core.tokens.refresh.get(token) : undefined;
    if (rec) rec.state = "revoked";
    return json(200, {});
  }

  /** POST /api/accounts/deviceauth/usercode */
  deviceUserCode(req: SimRequest): JsonOutcome {
    const params = parseFormOrJson(req.body ?? Buffer.alloc(0), "application/json");
    if (params?.["client_id"] !== CODEX_CLIENT_ID) return json(400, { error: "invalid_client" });
    const letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    const bytes = randomBytes(8);
    let userCode = "";
    for (let i = 0; i < 8; i++) userCode += letters[bytes[i]! % letters.length] + (i === 3 ? "-" : "");
    const verifier = randomBytes(32).toString("base64url");
    const d: DeviceCode = {
      deviceAuthId: `deviceauth_${randomBytes(12).toString("hex")}`,
      userCode,
      expiresAt: this.#core.clock.now() + 900,
      approvedFor: undefined,
      verifier,
      challenge: s256(verifier),
      code: undefined,
    };
    this.#devices.set(d.deviceAuthId, d);
    return json(200, {
      device_auth_id: d.deviceAuthId,
      user_code: userCode,
      interval: String(this.#core.options.deviceCodeIntervalSeconds ?? 5),
    });
  }

  /** POST /api/accounts/deviceauth/token — 403 while pending, then the code + PKCE pair. */
  deviceToken(req: SimRequest): JsonOutcome {
    const params = parseFormOrJson(req.body ?? Buffer.alloc(0), "application/json") ?? {};
    const d =
      typeof params["device_auth_id"] === "string" ? this.#devices.get(params["device_auth_id"]) : undefined;
    if (!d || d.userCode !== params["user_code"])
      return json(404, { error: { code: "device_auth_not_found" } });
    if (d.expiresAt < this.#core.clock.now()) {
      this.#devices.delete(d.deviceAuthId);
      return json(403, { error: { code: "expired_token", message: "The device code has expired." } });
    }
    if (!d.approvedFor && this.#core.options.autoApproveDeviceCodes)
      d.approvedFor = this.#pickAccount(undefined, undefined);
    if (!d.approvedFor) {
      return json(403, {
        error: { code: "deviceauth_authorization_pending", message: "Authorization pending." },
      });
    }
    const code = `ac_${randomBytes(18).toString("base64url")}`;
    this.#codes.set(code, {
      account: d.approvedFor,
      redirectUri: undefined,
      challenge: d.challenge,
      expiresAt: this.#core.clock.now() + 600,
    });
    this.#devices.delete(d.deviceAuthId);
    return json(200, { authorization_code: code, code_challenge: d.challenge, code_verifier: d.verifier });
  }

  /** Marks a pending user code approved, as a user would in the browser. */
  approveDevice(userCode: string, accountId?: string): boolean {
    const account = this.#pickAccount(accountId, undefined);
    if (!account) return false;
    for (const d of this.#devices.values()) {
      if (d.userCode === userCode.toUpperCase()) {
        d.approvedFor = account;
        return true;
      }
    }
    return false;
  }

  /** GET /codex/device — a tiny page with the approval form; POST approves. */
  devicePage(req: SimRequest): JsonOutcome {
    if (req.method === "POST") {
      const p = parseFormOrJson(req.body ?? Buffer.alloc(0), req.headers["content-type"]) ?? {};
      const ok =
        typeof p["user_code"] === "string" &&
        this.approveDevice(p["user_code"], typeof p["account"] === "string" ? p["account"] : undefined);
      return {
        type: "json",
        status: ok ? 200 : 404,
        headers: ["content-type", "text/html; charset=utf-8"],
        body: ok ? "<p>Device approved. You can close this page.</p>" : "<p>Unknown code.</p>",
        delayMs: 0,
      };
    }
    const options = [...this.#core.accounts.values()].map(
      (a) => `<option value="${a.id}">${a.id} (${a.email})</option>`,
    );
    return {
      type: "json",
      status: 200,
      headers: ["content-type", "text/html; charset=utf-8"],
      body: `<!doctype html><title>Codex simulator device login</title><form method="post"><label>Code <input name="user_code"></label><select name="account">${options.join("")}</select><button>Approve</button></form>`,
      delayMs: 0,
    };
  }
}
