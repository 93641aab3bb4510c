/**
 * Upstream access tokens: decrypted only in memory, refreshed ahead of
 * expiry or after a 401 `token_expired`. Refresh tokens rotate, so two
 * refreshes of one account would kill it: within a process one refresh per
 * account is in flight (callers share it), and across processes a short
 * refresh lease in the account row, taken only while the credential
 * generation is still the one that failed, makes the others wait and adopt
 * the winner's tokens instead of refreshing again. No transaction stays open
 * during the call to the auth server. New tokens are committed (sealed)
 * before anyone uses them.
 */

import { randomUUID } from "node:crypto";
import type { SealContext, Sealed } from "@codex-pooler/adapters";
import type { Clock, Logger } from "@codex-pooler/core";
import type { AccountRow, GatewayRepository, SealedTokens } from "@codex-pooler/db";
import { RefreshError, readClaims, type TokenSet } from "@codex-pooler/upstream";
import type { Registry } from "./registry.ts";

export type Refresher = (
  refreshToken: string,
  reason: "proactive_expiry" | "unauthorized_recovery",
) => Promise<TokenSet>;

export class AccountUnavailableError extends Error {
  constructor(
    readonly accountId: string,
    readonly code: string,
  ) {
    super(`account ${accountId} unavailable: ${code}`);
    this.name = "AccountUnavailableError";
  }
}

export interface AccessToken {
  token: string;
  /** `Bearer <token>`, built once: the upstream requests of this token share it. */
  authorization: string;
  generation: number;
}

/** Seals and opens secrets bound to a purpose and row (packages/adapters' SecretBox). */
export interface TokenSealer {
  seal(plaintext: string, context: SealContext): Sealed;
  open(sealed: Sealed, context: SealContext): Buffer;
}

const aad = (accountId: string, kind: "access_token" | "refresh_token"): SealContext => ({
  purpose: `upstream_account.${kind}`,
  rowId: accountId,
});

export function sealTokens(
  sealer: TokenSealer,
  accountId: string,
  access: string,
  refresh: string,
): SealedTokens {
  const a = sealer.seal(access, aad(accountId, "access_token"));
  const r = sealer.seal(refresh, aad(accountId, "refresh_token"));
  if (a.keyVersion !== r.keyVersion) throw new Error("root key changed while sealing");
  return {
    accessCiphertext: a.ciphertext,
    accessNonce: a.nonce,
    refreshCiphertext: r.ciphertext,
    refreshNonce: r.nonce,
    keyVersion: a.keyVersion,
  };
}

/** Longer than the auth call's timeout (15 s), so a live refresher never loses its lease. */
const LEASE_MS = 30_000;
/** How long a request waits for another process's refresh before trying another account. */
const REFRESH_WAIT_MS = 20_000;
const DEAD = new Set(["reauth_required", "disabled", "deleted"]);

export class TokenVault {
  readonly #plain = new Map<string, AccessToken>();
  /** Names this process as a refresh lease holder. */
  readonly #owner = `gw_${randomUUID()}`;
  readonly #inflight = new Map<string, Promise<AccessToken>>();

  constructor(
    private readonly repo: GatewayRepository,
    private readonly registry: Registry,
    private readonly sealer: TokenSealer,
    private readonly refresher: Refresher,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Refresh this long before the access token expires. */
    private readonly refreshAheadMs = 120_000,
  ) {}

  /** A usable access token, refreshing first when it is about to expire. */
  async accessToken(accountId: string): Promise<AccessToken> {
    const state = this.registry.account(accountId);
    if (!state) throw new AccountUnavailableError(accountId, "account_unknown");
    const row = state.row;
    const expiresAt = row.accessTokenExpiresAt?.getTime();
    const now = this.clock.now();
    if (expiresAt !== undefined && expiresAt - now < this.refreshAheadMs) {
      try {
        return await this.refresh(accountId, "proactive_expiry", row.credentialGeneration);
      } catch (err) {
        // Refreshing early failed (auth server down, another process still busy): the
        // current token stays usable until it really expires, unless the account is dead.
        const current = this.registry.account(accountId)?.row ?? row;
        if (err instanceof AccountUnavailableError && expiresAt > now && !DEAD.has(current.status)) {
          return this.#open(current);
        }
        throw err;
      }
    }
    return this.#open(row);
  }

  /**
   * Refreshes unless someone already did since `seenGeneration`. Throws
   * AccountUnavailableError when the refresh token is dead (the account is
   * then `reauth_required`) or the auth server is unreachable.
   */
  refresh(
    accountId: string,
    reason: "proactive_expiry" | "unauthorized_recovery",
    seenGeneration: number,
  ): Promise<AccessToken> {
    const running = this.#inflight.get(accountId);
    if (running) return running;
    const p = this.#refreshLocked(accountId, reason, seenGeneration).finally(() =>
      this.#inflight.delete(accountId),
    );
    this.#inflight.set(accountId, p);
    return p;
  }

  async #refreshLocked(
    accountId: string,
    reason: "proactive_expiry" | "unauthorized_recovery",
    seen: number,
  ): Promise<AccessToken> {
    const deadline = this.clock.now() + REFRESH_WAIT_MS;
    for (;;) {
      const lease = await this.repo.acquireRefreshLease(accountId, this.#owner, seen, LEASE_MS);
      const current = lease.row;
      this.registry.replaceRow(current);
      if (!lease.acquired) {
        // Another process refreshed meanwhile: adopt its tokens.
        if (current.credentialGeneration > seen) return this.#open(current);
        if (DEAD.has(current.status)) throw new AccountUnavailableError(accountId, current.status);
        // Another process holds the lease: wait for its outcome (or its lease to expire).
        if (this.clock.now() > deadline) throw new AccountUnavailableError(accountId, "refresh_in_progress");
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (DEAD.has(current.status)) {
        await this.repo.releaseRefreshLease(accountId, this.#owner, current.status);
        throw new AccountUnavailableError(accountId, current.status);
      }
      return this.#refreshHolding(accountId, reason, current);
    }
  }

  /** We hold the lease: call the auth server (no transaction open), then store the outcome. */
  async #refreshHolding(
    accountId: string,
    reason: "proactive_expiry" | "unauthorized_recovery",
    current: AccountRow,
  ): Promise<AccessToken> {
    const refreshToken = this.sealer
      .open(
        {
          ciphertext: current.sealed.refreshCiphertext,
          nonce: current.sealed.refreshNonce,
          keyVersion: current.sealed.keyVersion,
        },
        aad(accountId, "refresh_token"),
      )
      .toString("utf8");
    let tokens: TokenSet;
    try {
      tokens = await this.refresher(refreshToken, reason);
    } catch (err) {
      if (err instanceof RefreshError && err.kind === "permanent") {
        this.logger.warn({ accountId, code: err.code }, "refresh token rejected: account needs a new login");
        const row = await this.repo.completeRefresh(accountId, this.#owner, {
          kind: "status",
          status: "reauth_required",
          reason: err.code,
        });
        if (row) this.registry.replaceRow(row);
        throw new AccountUnavailableError(accountId, err.code);
      }
      const code = err instanceof RefreshError ? err.code : "refresh_failed";
      this.logger.warn({ accountId, code }, "token refresh failed (transient)");
      await this.repo.releaseRefreshLease(accountId, this.#owner, code).catch(() => {});
      throw new AccountUnavailableError(accountId, code);
    }
    const claims = readClaims(tokens.accessToken);
    const row = await this.repo.completeRefresh(accountId, this.#owner, {
      kind: "tokens",
      sealed: sealTokens(this.sealer, accountId, tokens.accessToken, tokens.refreshToken),
      accessTokenExpiresAt: claims.expiresAt ? new Date(claims.expiresAt) : null,
    });
    if (!row) {
      // Our lease expired before we could store the tokens (an auth server slower than the lease).
      this.logger.error({ accountId }, "refresh lease lost before the new tokens were stored");
      throw new AccountUnavailableError(accountId, "refresh_lease_lost");
    }
    this.registry.replaceRow(row);
    return this.#open(row);
  }

  #open(row: AccountRow): AccessToken {
    const cached = this.#plain.get(row.id);
    if (cached && cached.generation === row.credentialGeneration) return cached;
    const token = this.sealer
      .open(
        {
          ciphertext: row.sealed.accessCiphertext,
          nonce: row.sealed.accessNonce,
          keyVersion: row.sealed.keyVersion,
        },
        aad(row.id, "access_token"),
      )
      .toString("utf8");
    const entry = { token, authorization: `Bearer ${token}`, generation: row.credentialGeneration };
    this.#plain.set(row.id, entry);
    return entry;
  }
}
