/**
 * Readable, sortable ids with a type prefix: `pool_01jf…`, `acct_…`, `key_…`,
 * `req_…`. 48 bits of milliseconds then 80 random bits, Crockford base32
 * (26 characters), so ids sort by creation time and never collide in practice.
 */
import type { Clock, Random } from "./ports.ts";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));
/** Scratch for the 26 character codes of one id (ids are made one at a time: no reentrancy). */
const scratch: number[] = new Array<number>(26).fill(0);

export type IdPrefix = "pool" | "acct" | "key" | "req" | "att" | "aud" | "op" | "job";

export function encodeSortable(ms: number, random: Uint8Array): string {
  let t = Math.max(0, Math.floor(ms));
  for (let i = 9; i >= 0; i--) {
    scratch[i] = CODES[t % 32]!;
    t = Math.floor(t / 32);
  }
  // 80 bits of randomness → 16 base32 characters.
  let acc = 0;
  let bits = 0;
  let produced = 10;
  for (let i = 0; i < random.length && produced < 26; i++) {
    acc = (acc << 8) | random[i]!;
    bits += 8;
    while (bits >= 5 && produced < 26) {
      bits -= 5;
      scratch[produced++] = CODES[(acc >> bits) & 31]!;
    }
    acc &= (1 << bits) - 1;
  }
  return String.fromCharCode.apply(null, produced === 26 ? scratch : scratch.slice(0, produced));
}

/** Example: `newId("req", clock, random)` → `req_01jf3k…`. */
export function newId(prefix: IdPrefix, clock: Clock, random: Random): string {
  return `${prefix}_${encodeSortable(clock.now(), random.bytes(10))}`;
}
