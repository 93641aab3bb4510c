import { describe, expect, it } from "vitest";
import { ConfigError, decodeRootKey, loadConfig } from "./index.ts";

const KEY_A = Buffer.alloc(32, 1).toString("base64");
const KEY_B = Buffer.alloc(32, 2).toString("base64");

describe("loadConfig defaults", () => {
  it("runs on embedded defaults with nothing set", () => {
    const c = loadConfig({});
    expect(c.http.port).toBe(4000);
    expect(c.http.workers).toBe(1);
    expect(c.database.url).toBeUndefined();
    expect(c.role).toBe("all");
    expect(c.upstream.baseUrl).toBe("https://chatgpt.com/backend-api");
    expect(c.upstream.authBaseUrl).toBe("https://auth.openai.com");
    expect(c.rootKeys.upstream).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.http)).toBe(true);
  });

  it("PORT wins over CODEX_POOLER_HTTP_PORT; OBAN_MODE=web means gateway", () => {
    const c = loadConfig({ PORT: "8080", CODEX_POOLER_HTTP_PORT: "4001", OBAN_MODE: "web" });
    expect(c.http.port).toBe(8080);
    expect(c.role).toBe("gateway");
    expect(loadConfig({ CODEX_POOLER_HTTP_PORT: "4001" }).http.port).toBe(4001);
  });

  it("decodes root keys with their versions and strips trailing slashes from URLs", () => {
    const c = loadConfig({
      CODEX_POOLER_UPSTREAM_SECRET_KEY: KEY_A,
      CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION: "3",
      CODEX_POOLER_TOTP_ENCRYPTION_KEY: KEY_B,
      CODEX_POOLER_UPSTREAM_BASE_URL: "http://127.0.0.1:9/backend-api/",
    });
    expect(c.rootKeys.upstream?.version).toBe(3);
    expect(c.rootKeys.upstream?.key.equals(Buffer.alloc(32, 1))).toBe(true);
    expect(c.rootKeys.totp?.version).toBe(1);
    expect(c.upstream.baseUrl).toBe("http://127.0.0.1:9/backend-api");
  });

  it("reads the number of gateway worker processes", () => {
    expect(loadConfig({ CODEX_POOLER_WORKERS: "2" }).http.workers).toBe(2);
  });

  it("treats blank values as unset", () => {
    expect(loadConfig({ DATABASE_URL: "  ", PORT: "" }).http.port).toBe(4000);
  });
});

// Each bad value must stop start-up with a message naming the variable and the problem.
const BAD: Array<[Record<string, string>, string, RegExp]> = [
  [{ CODEX_POOLER_HTTP_PORT: "http" }, "CODEX_POOLER_HTTP_PORT", /whole number from 1 to 65535/],
  [{ CODEX_POOLER_HTTP_PORT: "70000" }, "CODEX_POOLER_HTTP_PORT", /whole number from 1 to 65535/],
  [{ PORT: "0" }, "PORT", /whole number from 1 to 65535/],
  [{ PORT: "80.5" }, "PORT", /whole number/],
  [{ DATABASE_URL: "mysql://x@y/z" }, "DATABASE_URL", /postgres:\/\/ or postgresql:\/\//],
  [{ DATABASE_URL: "not a url" }, "DATABASE_URL", /postgres/],
  [{ POOL_SIZE: "-1" }, "POOL_SIZE", /whole number from 1 to 200/],
  [{ SECRET_KEY_BASE: "short" }, "SECRET_KEY_BASE", /at least 64 characters/],
  [{ PHX_HOST: "https://example.com" }, "PHX_HOST", /host name without scheme/],
  [{ CODEX_POOLER_ROLE: "web-ish" }, "CODEX_POOLER_ROLE", /one of gateway, worker, scheduler, all/],
  [{ OBAN_JOBS_QUEUE_LIMIT: "many" }, "OBAN_JOBS_QUEUE_LIMIT", /whole number/],
  [{ CODEX_POOLER_WORKERS: "0" }, "CODEX_POOLER_WORKERS", /whole number from 1 to 64/],
  [{ CODEX_POOLER_WORKERS: "all" }, "CODEX_POOLER_WORKERS", /whole number from 1 to 64/],
  [
    { CODEX_POOLER_UPSTREAM_SECRET_KEY: Buffer.alloc(16).toString("base64") },
    "CODEX_POOLER_UPSTREAM_SECRET_KEY",
    /exactly 32 bytes \(it decodes to 16\)/,
  ],
  [{ CODEX_POOLER_UPSTREAM_SECRET_KEY: "not base64!!" }, "CODEX_POOLER_UPSTREAM_SECRET_KEY", /not base64/],
  [
    { CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION: "2" },
    "CODEX_POOLER_UPSTREAM_SECRET_KEY",
    /required when CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION is set/,
  ],
  [
    { CODEX_POOLER_UPSTREAM_SECRET_KEY: KEY_A, CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION: "zero" },
    "CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION",
    /whole number/,
  ],
  [{ CODEX_POOLER_TOTP_ENCRYPTION_KEY: "AAAA" }, "CODEX_POOLER_TOTP_ENCRYPTION_KEY", /exactly 32 bytes/],
  [
    { CODEX_POOLER_UPSTREAM_SECRET_KEY: KEY_A, CODEX_POOLER_TOTP_ENCRYPTION_KEY: KEY_A },
    "CODEX_POOLER_TOTP_ENCRYPTION_KEY",
    /must differ/,
  ],
  [{ AWS_ENDPOINT_URL: "localhost:4566" }, "AWS_ENDPOINT_URL", /http\(s\) URL/],
  [{ AWS_REGION: "Mars" }, "AWS_REGION", /AWS region/],
  [
    { CODEX_POOLER_REQUEST_RECORDS_QUEUE: "bad name!" },
    "CODEX_POOLER_REQUEST_RECORDS_QUEUE",
    /SQS queue name/,
  ],
  [
    { CODEX_POOLER_ROOT_KEYS_SECRET_ID: "has space" },
    "CODEX_POOLER_ROOT_KEYS_SECRET_ID",
    /secret name or ARN/,
  ],
  [{ CODEX_POOLER_UPSTREAM_BASE_URL: "ftp://x" }, "CODEX_POOLER_UPSTREAM_BASE_URL", /http\(s\) URL/],
  [
    { CODEX_POOLER_AUTH_BASE_URL: "https://u:p@auth.example" },
    "CODEX_POOLER_AUTH_BASE_URL",
    /without credentials/,
  ],
  [{ CODEX_POOLER_LOG_LEVEL: "loud" }, "CODEX_POOLER_LOG_LEVEL", /one of fatal/],
  [{ CODEX_POOLER_HOST: "localhost" }, "CODEX_POOLER_HOST", /IPv4 address/],
  [{ CODEX_POOLER_DEMO: "yes" }, "CODEX_POOLER_DEMO", /true or false/],
];

describe("loadConfig rejects bad values", () => {
  it.each(BAD)("%o → %s", (env, variable, message) => {
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
    expect(err.message).toMatch(message);
    // The message never echoes a secret value back.
    for (const value of Object.values(env)) if (value.length > 20) expect(err.message).not.toContain(value);
  });
});

describe("decodeRootKey", () => {
  it("accepts standard and URL-safe base64 of 32 bytes", () => {
    const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => 250 - i));
    expect(decodeRootKey(bytes.toString("base64")).equals(bytes)).toBe(true);
    expect(decodeRootKey(bytes.toString("base64url")).equals(bytes)).toBe(true);
  });
});
