import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadRootKeys, parseRootKeysDocument, ROOT_KEYS_FILE, RootKeysError } from "./root-keys.ts";

const none = { upstream: undefined, totp: undefined, secretId: undefined };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "root-keys-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<RootKeysError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RootKeysError);
  return err as RootKeysError;
}

describe("loadRootKeys from the environment", () => {
  it("uses the keys from the config when both are set, and touches no file", async () => {
    const upstream = { key: randomBytes(32), version: 3 };
    const totp = { key: randomBytes(32), version: 1 };
    const keys = await loadRootKeys({
      config: { rootKeys: { upstream, totp, secretId: "ignored-when-env-has-keys" } },
      dataDir: join(dir, "data"),
    });
    expect(keys).toEqual({ upstream, totp, source: "env" });
    await expect(stat(join(dir, "data"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses one key without the other, naming the missing variable", async () => {
    const err = await rejection(
      loadRootKeys({
        config: { rootKeys: { ...none, upstream: { key: randomBytes(32), version: 1 } } },
        dataDir: dir,
      }),
    );
    expect(err.code).toBe("root_keys_incomplete");
    expect(err.message).toContain("CODEX_POOLER_TOTP_ENCRYPTION_KEY is required");
  });

  it("needs a Secrets Manager client when a secret id is configured", async () => {
    const err = await rejection(
      loadRootKeys({ config: { rootKeys: { ...none, secretId: "x" } }, dataDir: dir }),
    );
    expect(err.code).toBe("root_keys_secret_unavailable");
  });
});

describe("loadRootKeys from the local key file", () => {
  it("creates <dataDir>/root-keys.json once, mode 0600, and returns the same keys afterwards", async () => {
    const dataDir = join(dir, "nested", "data");
    const first = await loadRootKeys({ config: { rootKeys: none }, dataDir });
    expect(first.source).toBe("file");
    expect(first.upstream.key).toHaveLength(32);
    expect(first.totp.key).toHaveLength(32);
    expect(first.upstream.key.equals(first.totp.key)).toBe(false);
    expect(first.upstream.version).toBe(1);
    const info = await stat(join(dataDir, ROOT_KEYS_FILE));
    expect(info.mode & 0o777).toBe(0o600);

    const second = await loadRootKeys({ config: { rootKeys: none }, dataDir });
    expect(second.upstream.key.equals(first.upstream.key)).toBe(true);
    expect(second.totp.key.equals(first.totp.key)).toBe(true);
    const doc = JSON.parse(await readFile(join(dataDir, ROOT_KEYS_FILE), "utf8"));
    expect(Object.keys(doc).sort()).toEqual([
      "totp_encryption_key",
      "totp_key_version",
      "upstream_secret_key",
      "upstream_secret_key_version",
    ]);
  });

  it("gives every concurrent first start the same keys (no overwrite, no half-written file)", async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () => loadRootKeys({ config: { rootKeys: none }, dataDir: dir })),
    );
    const [a] = results;
    for (const r of results) expect(r.upstream.key.equals(a?.upstream.key ?? Buffer.alloc(0))).toBe(true);
    expect(await readdir(dir)).toEqual([ROOT_KEYS_FILE]);
  });

  it("refuses a key file that group or others can read", async () => {
    await loadRootKeys({ config: { rootKeys: none }, dataDir: dir });
    const file = join(dir, ROOT_KEYS_FILE);
    await chmod(file, 0o640);
    const err = await rejection(loadRootKeys({ config: { rootKeys: none }, dataDir: dir }));
    expect(err.code).toBe("root_keys_file_insecure");
    expect(err.message).toContain("chmod 600");
    await chmod(file, 0o604);
    expect((await rejection(loadRootKeys({ config: { rootKeys: none }, dataDir: dir }))).code).toBe(
      "root_keys_file_insecure",
    );
  });

  it("names the file and field of a bad key, never the value", async () => {
    const file = join(dir, ROOT_KEYS_FILE);
    const short = randomBytes(16).toString("base64");
    await writeFile(
      file,
      JSON.stringify({
        upstream_secret_key: randomBytes(32).toString("base64"),
        upstream_secret_key_version: 1,
        totp_encryption_key: short,
        totp_key_version: 1,
      }),
      { mode: 0o600 },
    );
    const err = await rejection(loadRootKeys({ config: { rootKeys: none }, dataDir: dir }));
    expect(err.code).toBe("root_keys_invalid");
    expect(err.message).toContain(file);
    expect(err.message).toContain('"totp_encryption_key"');
    expect(err.message).toContain("32 bytes");
    expect(err.message).not.toContain(short);
  });
});

describe("parseRootKeysDocument", () => {
  const good = () => ({
    upstream_secret_key: randomBytes(32).toString("base64"),
    upstream_secret_key_version: 2,
    totp_encryption_key: randomBytes(32).toString("base64url"),
    totp_key_version: 1,
  });

  it("accepts standard and URL-safe base64", () => {
    const doc = good();
    const keys = parseRootKeysDocument(JSON.stringify(doc), "test");
    expect(keys.upstream.version).toBe(2);
    expect(keys.totp.key.toString("base64url")).toBe(doc.totp_encryption_key);
  });

  it.each([
    ["not JSON", "{", /is not valid JSON/],
    [
      "missing field",
      JSON.stringify({ ...good(), totp_key_version: undefined }),
      /"totp_key_version" is required/,
    ],
    [
      "bad version",
      JSON.stringify({ ...good(), upstream_secret_key_version: 0 }),
      /"upstream_secret_key_version" must be a whole number/,
    ],
    [
      "non-base64 key",
      JSON.stringify({ ...good(), upstream_secret_key: "not base64!" }),
      /"upstream_secret_key" must be base64/,
    ],
  ])("rejects %s", (_name, text, pattern) => {
    expect(() => parseRootKeysDocument(text, "where")).toThrow(pattern);
  });

  it("rejects the same key for both purposes", () => {
    const k = randomBytes(32).toString("base64");
    const text = JSON.stringify({ ...good(), upstream_secret_key: k, totp_encryption_key: k });
    expect(() => parseRootKeysDocument(text, "where")).toThrow(/must differ/);
  });
});
