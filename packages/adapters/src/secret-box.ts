import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import type { Random } from "@codex-pooler/core";
import { systemRandom } from "./clock.ts";

/** One version of a root key (32 bytes). */
export interface VersionedKey {
  key: Buffer;
  version: number;
}

/**
 * What a sealed value is bound to. A ciphertext opens only with the same
 * purpose and row id it was sealed for, so a value copied to another row or
 * column (or a TOTP secret swapped for an upstream token) fails to open.
 */
export interface SealContext {
  /** What the value is, e.g. "upstream_account.refresh_token", "operator.totp_secret". */
  purpose: string;
  /** The owning row's id, e.g. "acct_…". */
  rowId: string;
}

export interface Sealed {
  /** AES-256-GCM ciphertext with the 16-byte tag appended. */
  ciphertext: Buffer;
  /** 12 random bytes. */
  nonce: Buffer;
  keyVersion: number;
}

export type SecretBoxErrorCode = "unknown_key_version" | "decryption_failed" | "malformed_ciphertext";

/** Opening failed; `code` tells why. The message never contains key material or plaintext. */
export class SecretBoxError extends Error {
  constructor(
    readonly code: SecretBoxErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "SecretBoxError";
  }
}

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = "codex-pooler/secret-box/v1";

/**
 * AES-256-GCM with versioned root keys. Each (key version, purpose) gets its
 * own data key derived with HKDF-SHA256, so root keys themselves never key a
 * cipher and the purposes are separated twice (derivation and AAD). The AAD
 * binds format, purpose, row id and key version.
 *
 * Example:
 *   const box = new SecretBox({ keys: [rootKeys.upstream] });
 *   const s = box.seal(token, { purpose: "upstream_account.access_token", rowId: "acct_1" });
 *   box.open(s, { purpose: "upstream_account.access_token", rowId: "acct_1" }); // → Buffer
 */
export class SecretBox {
  readonly currentVersion: number;
  readonly #keys = new Map<number, Buffer>();
  readonly #dataKeys = new Map<string, Buffer>();
  readonly #random: Random;

  /**
   * @param options.keys every key version that may still be needed to open; the
   *   highest version (or `current`) seals.
   */
  constructor(options: { keys: readonly VersionedKey[]; current?: number; random?: Random }) {
    if (options.keys.length === 0) throw new Error("SecretBox needs at least one key");
    for (const { key, version } of options.keys) {
      if (!Number.isInteger(version) || version < 1)
        throw new Error(`key version must be a positive integer`);
      if (key.length !== 32) throw new Error(`root key version ${version} must be 32 bytes`);
      if (this.#keys.has(version)) throw new Error(`key version ${version} given twice`);
      this.#keys.set(version, Buffer.from(key));
    }
    this.currentVersion = options.current ?? Math.max(...this.#keys.keys());
    if (!this.#keys.has(this.currentVersion))
      throw new Error(`no key for current version ${this.currentVersion}`);
    this.#random = options.random ?? systemRandom;
  }

  /** Encrypts with the current key version and a fresh random nonce. */
  seal(plaintext: Uint8Array | string, context: SealContext): Sealed {
    const keyVersion = this.currentVersion;
    const nonce = Buffer.from(this.#random.bytes(NONCE_BYTES));
    if (nonce.length !== NONCE_BYTES) throw new Error("random source returned the wrong number of bytes");
    const cipher = createCipheriv("aes-256-gcm", this.#dataKey(keyVersion, context.purpose), nonce, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(aad(context, keyVersion));
    const data = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
    return { ciphertext, nonce, keyVersion };
  }

  /** Decrypts and authenticates; throws `SecretBoxError` on any mismatch. */
  open(sealed: Sealed, context: SealContext): Buffer {
    const { ciphertext, nonce, keyVersion } = sealed;
    if (!this.#keys.has(keyVersion)) {
      throw new SecretBoxError(
        "unknown_key_version",
        `no root key with version ${keyVersion} is loaded (loaded: ${[...this.#keys.keys()].join(", ")})`,
      );
    }
    if (nonce.length !== NONCE_BYTES || ciphertext.length < TAG_BYTES) {
      throw new SecretBoxError("malformed_ciphertext", "sealed value has a bad nonce or is too short");
    }
    const decipher = createDecipheriv("aes-256-gcm", this.#dataKey(keyVersion, context.purpose), nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad(context, keyVersion));
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new SecretBoxError(
        "decryption_failed",
        `sealed ${context.purpose} for ${context.rowId} did not authenticate (tampered, or sealed for another row, purpose or key)`,
      );
    }
  }

  /** Opens a value sealed under an older key version and seals it under the current one. */
  reseal(sealed: Sealed, context: SealContext): Sealed {
    if (sealed.keyVersion === this.currentVersion) return sealed;
    return this.seal(this.open(sealed, context), context);
  }

  #dataKey(version: number, purpose: string): Buffer {
    const id = `${version}\u0000${purpose}`;
    let key = this.#dataKeys.get(id);
    if (!key) {
      const root = this.#keys.get(version);
      if (!root)
        throw new SecretBoxError("unknown_key_version", `no root key with version ${version} is loaded`);
      key = Buffer.from(hkdfSync("sha256", root, Buffer.from(FORMAT), Buffer.from(`purpose:${purpose}`), 32));
      this.#dataKeys.set(id, key);
    }
    return key;
  }
}

/** Unambiguous encoding (a JSON array), so no two contexts share an AAD. */
function aad(context: SealContext, keyVersion: number): Buffer {
  return Buffer.from(JSON.stringify([FORMAT, context.purpose, context.rowId, keyVersion]), "utf8");
}
