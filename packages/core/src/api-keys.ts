/**
 * Pool API key format: `sk-cxp-<12 hex public id>-<43 char base64url secret>`.
 * The public part (`sk-cxp-<12 hex>`) is the stored, visible prefix used for
 * lookup; the whole key is digested (SHA-256, by an adapter) and compared in
 * constant time. The raw key is shown once and never stored.
 */
import type { Random } from "./ports.ts";

const KEY_PATTERN = /^(sk-cxp-[0-9a-f]{12})-([A-Za-z0-9_-]{43})$/;

export interface ParsedPoolKey {
  prefix: string;
  raw: string;
}

export function parsePoolKey(raw: string): ParsedPoolKey | undefined {
  const m = KEY_PATTERN.exec(raw);
  return m ? { prefix: m[1]!, raw } : undefined;
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Example: `generatePoolKey(random)` → `{ prefix: "sk-cxp-3f9a…", raw: "sk-cxp-3f9a…-Q2x…" }`. */
export function generatePoolKey(random: Random): ParsedPoolKey {
  const prefix = `sk-cxp-${hex(random.bytes(6))}`;
  const secret = base64url(random.bytes(32)).slice(0, 43);
  return { prefix, raw: `${prefix}-${secret}` };
}

/** Reads `Authorization: Bearer <token>`; undefined when absent or malformed. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return m?.[1];
}
