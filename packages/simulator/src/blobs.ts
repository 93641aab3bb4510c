import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Opaque `encrypted_content` blobs for reasoning and compaction items. Each names the account that minted it
 * and carries an HMAC, so a blob replayed on another account (or made up) fails verification with
 * `invalid_encrypted_content`, as spec §4.6 describes. The `gAAAAAB` prefix mimics the real Fernet tokens.
 */
const PREFIX = "gAAAAAB";

export type BlobKind = "reasoning" | "compaction";

export class BlobSealer {
  readonly #secret: string;
  #n = 0;

  constructor(secret: string) {
    this.#secret = secret;
  }

  seal(kind: BlobKind, accountId: string, note = ""): string {
    this.#n += 1;
    const body = Buffer.from(JSON.stringify({ k: kind, a: accountId, n: this.#n, t: note })).toString(
      "base64url",
    );
    return `${PREFIX}${body}.${this.#mac(body)}`;
  }

  /** The note stored at seal time when the blob is genuine and belongs to `accountId`, else undefined. */
  open(kind: BlobKind, accountId: string, blob: string): { note: string } | undefined {
    if (!blob.startsWith(PREFIX)) return undefined;
    const dot = blob.lastIndexOf(".");
    if (dot < 0) return undefined;
    const body = blob.slice(PREFIX.length, dot);
    const mac = Buffer.from(blob.slice(dot + 1), "base64url");
    const want = Buffer.from(this.#mac(body), "base64url");
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return undefined;
    try {
      const v = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as {
        k?: unknown;
        a?: unknown;
        t?: unknown;
      };
      if (v.k !== kind || v.a !== accountId) return undefined;
      return { note: typeof v.t === "string" ? v.t : "" };
    } catch {
      return undefined;
    }
  }

  #mac(body: string): string {
    return createHmac("sha256", this.#secret).update(body).digest("base64url").slice(0, 22);
  }
}
