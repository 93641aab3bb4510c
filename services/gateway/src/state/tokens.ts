/**
 * Upstream access tokens: decrypted only in memory, refreshed ahead of
 * expiry or after a 401 `token_expired`. Refresh tokens rotate, so two
 * refreshes of one account would kill it: within a process one refresh per
 * account is in flight (callers share it), and across processes the
 * repository's row lock plus the credential generation make the second
 * process adopt the first one's tokens instead of refreshing again. New
 * tokens are committed (sealed) before anyone uses them.
 */

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

export class TokenVault {
  readonly #plain = new Map<string, AccessToken>();
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
    if (expiresAt !== undefined && expiresAt - this.clock.now() < this.refreshAheadMs) {
      return this.refresh(accountId, "proactive_expiry", row.credentialGeneration);
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
    let failure: AccountUnavailableError | undefined;
    const row = await this.repo.updateCredentialsLocked(accountId, async (current) => {
      if (current.credentialGeneration > seen) return null; // another process refreshed meanwhile: adopt its tokens
      if (
        current.status === "reauth_required" ||
        current.status === "disabled" ||
        current.status === "deleted"
      ) {
        failure = new AccountUnavailableError(accountId, current.status);
        return null;
      }
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
      try {
        const tokens = await this.refresher(refreshToken, reason);
        const claims = readClaims(tokens.accessToken);
        return {
          kind: "tokens",
          sealed: sealTokens(this.sealer, accountId, tokens.accessToken, tokens.refreshToken),
          accessTokenExpiresAt: claims.expiresAt ? new Date(claims.expiresAt) : null,
        };
      } catch (err) {
        if (err instanceof RefreshError && err.kind === "permanent") {
          failure = new AccountUnavailableError(accountId, err.code);
          this.logger.warn(
            { accountId, code: err.code },
            "refresh token rejected: account needs a new login",
          );
          return { kind: "status", status: "reauth_required", reason: err.code };
        }
        const code = err instanceof RefreshError ? err.code : "refresh_failed";
        this.logger.warn({ accountId, code }, "token refresh failed (transient)");
        failure = new AccountUnavailableError(accountId, code);
        return null;
      }
    });
    this.registry.replaceRow(row);
    if (failure) throw failure;
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
    const entry = { token, generation: row.credentialGeneration };
    this.#plain.set(row.id, entry);
    return entry;
  }
}
