import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

// The `simulator` command as the project CLI runs it: one JSON line first, auth files, clean stop on SIGTERM.

// Through the project CLI, exactly as documented: `codex-pooler simulator …`.
const bin = fileURLToPath(new URL("../../../bin/codex-pooler.js", import.meta.url));

describe("simulator command", () => {
  const dir = mkdtempSync(join(tmpdir(), "sim-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints its URLs and accounts first, writes auth.json files, serves, and stops on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [bin, "simulator", "--accounts", "2", "--auth-dir", dir, "--plan", "pro"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    const firstLine = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
        const nl = stdout.indexOf("\n");
        if (nl >= 0) resolve(stdout.slice(0, nl));
      });
      child.once("exit", (code) => reject(new Error(`exited early with ${code}`)));
    });
    const info = JSON.parse(firstLine) as {
      baseUrl: string;
      controlUrl: string;
      accounts: { id: string; authFile: string }[];
    };
    expect(info.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.controlUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.accounts).toHaveLength(2);
    for (const a of info.accounts) {
      expect(a.authFile).toBe(join(dir, a.id, "auth.json"));
      expect(statSync(a.authFile).mode & 0o777).toBe(0o600);
      const auth = JSON.parse(readFileSync(a.authFile, "utf8"));
      expect(Object.keys(auth)).toEqual(["auth_mode", "OPENAI_API_KEY", "tokens", "last_refresh"]);
      expect(auth).toMatchObject({
        auth_mode: "chatgpt",
        OPENAI_API_KEY: null,
        tokens: { account_id: a.id },
      });
      const payload = JSON.parse(Buffer.from(auth.tokens.access_token.split(".")[1], "base64url").toString());
      expect(payload["https://api.openai.com/auth"]).toMatchObject({
        chatgpt_account_id: a.id,
        chatgpt_plan_type: "pro",
      });
      const usage = await fetch(`${info.baseUrl}/backend-api/wham/usage`, {
        headers: { authorization: `Bearer ${auth.tokens.access_token}`, "chatgpt-account-id": a.id },
      });
      expect(((await usage.json()) as { plan_type: string }).plan_type).toBe("pro");
    }
    const state = (await (await fetch(`${info.controlUrl}/state`)).json()) as { accounts: unknown[] };
    expect(state.accounts).toHaveLength(2);

    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("prints help and rejects bad flags", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const c = spawn(process.execPath, [bin, "simulator", ...args], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        c.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        c.stderr.on("data", (d: Buffer) => {
          err += d.toString();
        });
        c.once("exit", (code) => resolve({ code, out, err }));
      });
    const [help, bad] = await Promise.all([run(["--help"]), run(["--accounts", "two"])]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("Usage: codex-pooler simulator");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--accounts");
  });
});
