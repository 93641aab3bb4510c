/**
 * Thread → account continuity shared by every gateway process through
 * Postgres, with a local cache in front. Anchors are stored as SHA-256
 * hashes (never the raw session id or cache key). A thread's first turn
 * claims its anchors in the background (turns of one thread are sequential,
 * so no second process races it in practice); later turns read the cache
 * or, on another process, the table.
 */
import { hash } from "node:crypto";
import type { Anchor, Clock, Logger } from "@codex-pooler/core";
import type { AffinityAnchor, GatewayRepository } from "@codex-pooler/db";

const TTL_MS = 24 * 3600_000;
const CACHE_MS = 60_000;

export function hashAnchor(anchor: Anchor): AffinityAnchor {
  return { hash: hash("sha256", `${anchor.kind}\0${anchor.value}`, "buffer"), kind: anchor.kind };
}

interface CacheEntry {
  accountId: string;
  until: number;
}

export class AffinityStore {
  readonly #cache = new Map<string, CacheEntry>();

  constructor(
    private readonly repo: GatewayRepository,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly maxEntries = 200_000,
  ) {}

  #key(poolId: string, a: AffinityAnchor): string {
    return `${poolId}:${a.hash.toString("base64")}`;
  }

  /** The account that owns this thread, if any anchor is known. */
  async resolve(poolId: string, anchors: readonly AffinityAnchor[]): Promise<string | undefined> {
    if (anchors.length === 0) return undefined;
    const now = this.clock.now();
    for (const a of anchors) {
      const hit = this.#cache.get(this.#key(poolId, a));
      if (hit && hit.until > now) return hit.accountId;
    }
    const owner = await this.repo.findAffinity(poolId, anchors, new Date(now));
    if (owner) this.#remember(poolId, anchors, owner);
    return owner;
  }

  /** Reads the table, bypassing the cache (after the cached owner turned out unusable). */
  async resolveFresh(poolId: string, anchors: readonly AffinityAnchor[]): Promise<string | undefined> {
    if (anchors.length === 0) return undefined;
    const owner = await this.repo.findAffinity(poolId, anchors, new Date(this.clock.now()));
    if (owner) this.#remember(poolId, anchors, owner);
    return owner;
  }

  /** Records that `accountId` now serves this thread (cache at once, database in the background). */
  claim(poolId: string, anchors: readonly AffinityAnchor[], accountId: string): void {
    if (anchors.length === 0) return;
    this.#remember(poolId, anchors, accountId);
    this.repo
      .claimAffinity(poolId, anchors, accountId, new Date(this.clock.now() + TTL_MS))
      .then((owner) => {
        if (owner !== accountId) this.#remember(poolId, anchors, owner);
      })
      .catch((err: unknown) => this.logger.warn({ err }, "could not record thread affinity"));
  }

  /** Moves a thread whose account became unusable. */
  async move(poolId: string, anchors: readonly AffinityAnchor[], from: string, to: string): Promise<void> {
    this.#remember(poolId, anchors, to);
    // The request was served already: a failed write must not fail it (the cache still knows).
    await this.repo
      .moveAffinity(poolId, anchors, from, to, new Date(this.clock.now() + TTL_MS))
      .catch((err: unknown) => this.logger.warn({ err }, "could not move thread affinity"));
  }

  #remember(poolId: string, anchors: readonly AffinityAnchor[], accountId: string): void {
    const until = this.clock.now() + CACHE_MS;
    for (const a of anchors) {
      if (this.#cache.size >= this.maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
      this.#cache.set(this.#key(poolId, a), { accountId, until });
    }
  }
}
