/**
 * Pool API key authentication on the hot path: parse the bearer, look the
 * public prefix up (cached for a few seconds so each request does not touch
 * Postgres), and compare SHA-256 digests in constant time. A paused or
 * revoked key is refused on every process within `ttlMs` (default 2.5 s): the
 * cache entry is re-read from the database after that, whatever happened.
 */
import { hash, timingSafeEqual } from "node:crypto";
import { bearerToken, type Clock, DomainError, parsePoolKey } from "@codex-pooler/core";
import type { GatewayRepository, KeyRow } from "@codex-pooler/db";

export interface AuthenticatedKey {
  keyId: string;
  poolId: string;
  prefix: string;
}

interface Entry {
  row: KeyRow | undefined;
  fetchedAt: number;
  pending: Promise<KeyRow | undefined> | undefined;
}

export function digestKey(raw: string): Buffer {
  // The one-shot hash() costs about half of createHash().update().digest() for a key this short.
  return hash("sha256", raw, "buffer");
}

export class KeyAuthenticator {
  readonly #cache = new Map<string, Entry>();
  readonly #touched = new Set<string>();

  constructor(
    private readonly repo: GatewayRepository,
    private readonly clock: Clock,
    private readonly ttlMs = 2500,
    private readonly maxEntries = 10_000,
  ) {}

  /** Throws DomainError `missing_api_key` / `invalid_api_key`. */
  async authenticate(authorization: string | undefined): Promise<AuthenticatedKey> {
    const token = bearerToken(authorization);
    if (!token) throw new DomainError("missing_api_key");
    const parsed = parsePoolKey(token);
    if (!parsed) throw new DomainError("invalid_api_key");
    const row = await this.#lookup(parsed.prefix);
    if (!row || !timingSafeEqual(row.digest, digestKey(parsed.raw))) throw new DomainError("invalid_api_key");
    if (row.status !== "active") throw new DomainError("invalid_api_key");
    if (row.expiresAt && row.expiresAt.getTime() <= this.clock.now())
      throw new DomainError("invalid_api_key");
    this.#touched.add(row.id);
    return { keyId: row.id, poolId: row.poolId, prefix: row.prefix };
  }

  /** Is this key still usable, by the same rule as `authenticate` (used to close open websockets)? */
  async stillValid(keyId: string, prefix: string): Promise<boolean> {
    const row = await this.#lookup(prefix);
    return (
      !!row &&
      row.id === keyId &&
      row.status === "active" &&
      !(row.expiresAt && row.expiresAt.getTime() <= this.clock.now())
    );
  }

  /** Keys used since the last call (for a debounced last_used_at write). */
  drainTouched(): string[] {
    const ids = [...this.#touched];
    this.#touched.clear();
    return ids;
  }

  async #lookup(prefix: string): Promise<KeyRow | undefined> {
    const now = this.clock.now();
    const entry = this.#cache.get(prefix);
    if (entry && now - entry.fetchedAt < this.ttlMs) return entry.row;
    if (entry?.pending) return entry.pending;
    const pending = this.repo.findKeyByPrefix(prefix);
    const fresh: Entry = entry ?? { row: undefined, fetchedAt: 0, pending: undefined };
    fresh.pending = pending;
    if (!entry) {
      if (this.#cache.size >= this.maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
      this.#cache.set(prefix, fresh);
    }
    try {
      const row = await pending;
      fresh.row = row;
      fresh.fetchedAt = this.clock.now();
      return row;
    } finally {
      fresh.pending = undefined;
    }
  }
}

/** Authenticates the bearer and returns it with its active pool; DomainError otherwise. */
export async function authorizePoolRequest<P extends { row: { status: string } }>(
  keys: KeyAuthenticator,
  registry: { pool(poolId: string): P | undefined },
  authorization: string | undefined,
): Promise<{ key: AuthenticatedKey; pool: P }> {
  const key = await keys.authenticate(authorization);
  const pool = registry.pool(key.poolId);
  if (pool?.row.status !== "active") throw new DomainError("pool_unavailable");
  return { key, pool };
}
