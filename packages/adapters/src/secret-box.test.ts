import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Sealed, SecretBox, SecretBoxError } from "./secret-box.ts";

const k1 = { key: randomBytes(32), version: 1 };
const k2 = { key: randomBytes(32), version: 2 };
const ctx = { purpose: "upstream_account.refresh_token", rowId: "acct_1" };

function expectCode(fn: () => unknown, code: SecretBoxError["code"]) {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SecretBoxError);
  expect((caught as SecretBoxError).code).toBe(code);
}

function flip(buf: Buffer, index: number): Buffer {
  const copy = Buffer.from(buf);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

describe("SecretBox", () => {
  it("round-trips with a 12-byte random nonce, the key version, and the GCM tag appended", () => {
    const box = new SecretBox({ keys: [k1] });
    const a = box.seal("rt_secret-value", ctx);
    const b = box.seal("rt_secret-value", ctx);
    expect(a.nonce).toHaveLength(12);
    expect(a.keyVersion).toBe(1);
    expect(a.ciphertext).toHaveLength(Buffer.byteLength("rt_secret-value") + 16);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.ciphertext.includes(Buffer.from("secret"))).toBe(false);
    expect(box.open(a, ctx).toString()).toBe("rt_secret-value");
  });

  it("round-trips binary and empty plaintexts", () => {
    const box = new SecretBox({ keys: [k1] });
    const bin = randomBytes(1000);
    expect(box.open(box.seal(bin, ctx), ctx).equals(bin)).toBe(true);
    expect(box.open(box.seal("", ctx), ctx)).toHaveLength(0);
  });

  it("detects tampering with the ciphertext, the tag or the nonce", () => {
    const box = new SecretBox({ keys: [k1] });
    const s = box.seal("access-token", ctx);
    expectCode(() => box.open({ ...s, ciphertext: flip(s.ciphertext, 0) }, ctx), "decryption_failed");
    expectCode(
      () => box.open({ ...s, ciphertext: flip(s.ciphertext, s.ciphertext.length - 1) }, ctx),
      "decryption_failed",
    );
    expectCode(() => box.open({ ...s, nonce: flip(s.nonce, 5) }, ctx), "decryption_failed");
    expectCode(
      () => box.open({ ...s, ciphertext: s.ciphertext.subarray(0, s.ciphertext.length - 1) }, ctx),
      "decryption_failed",
    );
  });

  it("binds the row id and the purpose (AAD)", () => {
    const box = new SecretBox({ keys: [k1] });
    const s = box.seal("access-token", ctx);
    expectCode(() => box.open(s, { ...ctx, rowId: "acct_2" }), "decryption_failed");
    expectCode(() => box.open(s, { ...ctx, purpose: "operator.totp_secret" }), "decryption_failed");
  });

  it("binds the key version: relabelling a ciphertext with another loaded version fails", () => {
    const box = new SecretBox({ keys: [k1, k2], current: 1 });
    const s = box.seal("x", ctx);
    expectCode(() => box.open({ ...s, keyVersion: 2 }, ctx), "decryption_failed");
  });

  it("refuses an unknown key version with a typed error", () => {
    const old = new SecretBox({ keys: [k1] });
    const s = old.seal("x", ctx);
    const other = new SecretBox({ keys: [k2] });
    expectCode(() => other.open(s, ctx), "unknown_key_version");
  });

  it("seals with the newest version and still opens older ones; reseal moves a value forward", () => {
    const before = new SecretBox({ keys: [k1] });
    const s1 = before.seal("token", ctx);
    const after = new SecretBox({ keys: [k1, k2] });
    expect(after.currentVersion).toBe(2);
    expect(after.open(s1, ctx).toString()).toBe("token");
    const s2 = after.reseal(s1, ctx);
    expect(s2.keyVersion).toBe(2);
    expect(after.open(s2, ctx).toString()).toBe("token");
    expectCode(() => before.open(s2, ctx), "unknown_key_version");
  });

  it("uses a different data key per purpose and per key version (same nonce, different ciphertexts)", () => {
    const fixed = { bytes: (n: number) => new Uint8Array(n) };
    const box = new SecretBox({ keys: [k1, k2], current: 1, random: fixed });
    const box2 = new SecretBox({ keys: [k1, k2], current: 2, random: fixed });
    const a: Sealed = box.seal("same", { purpose: "p1", rowId: "r" });
    const b: Sealed = box.seal("same", { purpose: "p2", rowId: "r" });
    const c: Sealed = box2.seal("same", { purpose: "p1", rowId: "r" });
    // The first 4 bytes are the keystream XOR the plaintext: equal only under the same key.
    expect(a.ciphertext.subarray(0, 4).equals(b.ciphertext.subarray(0, 4))).toBe(false);
    expect(a.ciphertext.subarray(0, 4).equals(c.ciphertext.subarray(0, 4))).toBe(false);
  });

  it("rejects bad keys and messages name no key material", () => {
    expect(() => new SecretBox({ keys: [] })).toThrow(/at least one key/);
    expect(() => new SecretBox({ keys: [{ key: randomBytes(16), version: 1 }] })).toThrow(/32 bytes/);
    expect(() => new SecretBox({ keys: [k1, { ...k2, version: 1 }] })).toThrow(/twice/);
    expect(() => new SecretBox({ keys: [k1], current: 3 })).toThrow(/current version 3/);
    const box = new SecretBox({ keys: [k1] });
    const s = box.seal("hunter2", ctx);
    let text = "";
    try {
      box.open(s, { ...ctx, rowId: "acct_other" });
    } catch (err) {
      text = String((err as Error).message);
    }
    expect(text).toContain("did not authenticate");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain(k1.key.toString("base64"));
    expect(text).not.toContain(k1.key.toString("hex"));
  });
});
