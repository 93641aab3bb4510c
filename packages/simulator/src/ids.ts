import { randomBytes } from "node:crypto";

/**
 * Cheap unique ids in the upstream's style (`resp_…`, `msg_…`, `call_…`): a random per-process stem plus a
 * counter, so minting one is a string concat, not a crypto call.
 */
export class IdFactory {
  readonly #stem = randomBytes(8).toString("hex");
  #n = 0;

  next(prefix: string): string {
    this.#n += 1;
    return `${prefix}_${this.#stem}${this.#n.toString(16).padStart(8, "0")}`;
  }
}

/** 32-bit FNV-1a, for deterministic answers and small digests. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
