import { randomBytes } from "node:crypto";
import type { Clock, Random } from "@codex-pooler/core";

/** Wall-clock time for production; tests pass their own `Clock`. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
});

/** Cryptographically strong randomness from the OS (node:crypto). */
export const systemRandom: Random = Object.freeze({
  bytes: (n: number): Uint8Array => randomBytes(n),
});
