/**
 * Readable, sortable ids with a type prefix: `pool_01jf…`, `acct_…`, `key_…`,
 * `req_…`. 48 bits of milliseconds then 80 random bits, Crockford base32
 * (26 characters), so ids sort by creation time and never collide in practice.
 */
import type { Clock, Random } from "./ports.ts";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

export type IdPrefix = "pool" | "acct" | "key" | "req" | "att" | "aud" | "op" | "job";

export function encodeSortable(ms: number, random: Uint8Array): string {
  let out = "";
  let t = Math.max(0, Math.floor(ms));
  const time: string[] = [];
  for (let i = 0; i < 10; i++) {
    time.push(ALPHABET[t % 32]!);
    t = Math.floor(t / 32);
  }
  out = time.reverse().join("");
  // 80 bits of randomness → 16 base32 characters.
  let acc = 0;
  let bits = 0;
  let produced = 0;
  for (let i = 0; i < random.length && produced < 16; i++) {
    acc = (acc << 8) | random[i]!;
    bits += 8;
    while (bits >= 5 && produced < 16) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
      produced++;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** Example: `newId("req", clock, random)` → `req_01jf3k…`. */
export function newId(prefix: IdPrefix, clock: Clock, random: Random): string {
  return `${prefix}_${encodeSortable(clock.now(), random.bytes(10))}`;
}
