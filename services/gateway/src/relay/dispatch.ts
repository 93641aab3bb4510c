/**
 * Choosing the account for one request and trying candidates in order:
 * continuity first (the account that owns the thread), then the pool's
 * strategy, bounded by its ring size. Shared by the SSE, JSON and websocket
 * transports; the transport supplies `attempt`, which reports whether the
 * next candidate may be tried.
 */
import { type AccountView, DomainError, fnv1a, ineligibility, selectCandidates } from "@codex-pooler/core";
import type { AffinityAnchor } from "@codex-pooler/db";
import type { AffinityStore } from "../state/affinity.ts";
import type { PoolState, Registry } from "../state/registry.ts";

export interface AttemptContext {
  accountId: string;
  attemptNo: number;
  /** The thread moved here from another account: account-bound history must be stripped. */
  moved: boolean;
}

export type AttemptOutcome =
  | { kind: "done" }
  /** Nothing reached the client: another account may serve the request. */
  | { kind: "retry"; sameAccount?: boolean };

export interface DispatchInput {
  pool: PoolState;
  model: string | undefined;
  anchors: readonly AffinityAnchor[];
  seedText: string;
  now: () => number;
  registry: Registry;
  affinity: AffinityStore;
  attempt: (ctx: AttemptContext) => Promise<AttemptOutcome>;
  /** Called when the last candidate failed retryably (the transport answers with its own last error). */
  exhausted: () => void;
}

function noCandidate(views: AccountView[], earliestReset: number | undefined, now: number): DomainError {
  if (earliestReset !== undefined) {
    const seconds = Math.max(1, Math.ceil((earliestReset - now) / 1000));
    return new DomainError("usage_limit_reached", {
      retryAfterSeconds: seconds,
      extra: { resets_at: Math.ceil(earliestReset / 1000), resets_in_seconds: seconds },
    });
  }
  return new DomainError("no_eligible_account", { retryAfterSeconds: views.length > 0 ? 5 : 30 });
}

/** Runs the attempts. Throws DomainError when no account could be tried at all. */
export async function dispatch(input: DispatchInput): Promise<void> {
  const { pool, registry } = input;
  const ring = Math.max(1, pool.row.ringSize);
  const tried = new Set<string>();
  const seed = fnv1a(input.seedText);
  let owner = await input.affinity.resolve(pool.row.id, input.anchors);
  let moved = false;
  let attemptNo = 0;
  let sameAccountRetries = 0;
  let ownerRechecked = false;
  let next: string | undefined;

  // Every candidate failed. If that left the whole pool exhausted (e.g. each
  // answered usage_limit_reached), say so with the earliest reset; otherwise
  // the transport reports the last upstream failure.
  const finishExhausted = () => {
    const now = input.now();
    const views = registry.views(pool.row.id);
    const again = selectCandidates({
      accounts: views,
      model: input.model,
      now,
      strategy: pool.row.routingStrategy,
      ringSize: ring,
      seed,
    });
    if (again.candidates.length === 0 && again.earliestReset !== undefined)
      throw noCandidate(views, again.earliestReset, now);
    input.exhausted();
  };

  while (tried.size < ring) {
    const now = input.now();
    const views = registry.views(pool.row.id);
    let accountId = next;
    next = undefined;

    if (accountId === undefined && owner !== undefined && !tried.has(owner)) {
      const view = views.find((v) => v.id === owner);
      const reason = view ? ineligibility(view, input.model, now) : "not_assigned";
      if (reason === undefined) accountId = owner;
      else {
        // The thread's account cannot serve it now. Another process may already have moved it.
        if (!ownerRechecked) {
          ownerRechecked = true;
          const fresh = await input.affinity.resolveFresh(pool.row.id, input.anchors);
          if (fresh !== undefined && fresh !== owner) {
            owner = fresh;
            continue;
          }
        }
        if (pool.row.pinnedFailover === "refuse") {
          throw new DomainError("thread_account_unavailable", {
            extra: { reason },
            ...(reason === "quota_exhausted" || reason === "circuit_open" ? { retryAfterSeconds: 30 } : {}),
          });
        }
        tried.add(owner);
        moved = true;
      }
    }

    if (accountId === undefined) {
      const selection = selectCandidates({
        accounts: views,
        model: input.model,
        now,
        strategy: pool.row.routingStrategy,
        ringSize: ring,
        seed,
        exclude: tried,
      });
      const first = selection.candidates[0];
      if (!first) {
        if (attemptNo > 0) {
          finishExhausted();
          return;
        }
        throw noCandidate(views, selection.earliestReset, now);
      }
      accountId = first.id;
      if (owner !== undefined && owner !== accountId) moved = true;
    }

    tried.add(accountId);
    attemptNo++;
    const outcome = await input.attempt({ accountId, attemptNo, moved });
    if (outcome.kind === "done") {
      if (owner !== accountId) {
        if (owner !== undefined) await input.affinity.move(pool.row.id, input.anchors, owner, accountId);
        else input.affinity.claim(pool.row.id, input.anchors, accountId);
        owner = accountId;
      }
      return;
    }
    if (outcome.sameAccount && sameAccountRetries < 1) {
      // e.g. a 401 token_expired after a successful refresh: one more try on the same account.
      sameAccountRetries++;
      tried.delete(accountId);
      next = accountId;
      continue;
    }
    if (owner === accountId) {
      if (pool.row.pinnedFailover === "refuse") {
        finishExhausted();
        return;
      }
      moved = true;
    }
  }
  finishExhausted();
}
