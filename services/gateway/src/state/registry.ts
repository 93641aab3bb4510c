/**
 * The gateway's in-memory view of pools and accounts: reloaded from Postgres
 * every few seconds (so operator changes and other processes' evidence
 * arrive), and updated at once by this process's own evidence (quota
 * headers, 429s, auth failures), which is also persisted. Routing reads only
 * memory: no database round trip on the hot path.
 */
import {
  type AccountStatus,
  type AccountView,
  type Clock,
  type Logger,
  mergeWindows,
  type QuotaObservation,
  type QuotaWindow,
} from "@codex-pooler/core";
import type { AccountRow, GatewayRepository, PoolSettingsRow } from "@codex-pooler/db";

interface WindowEntry {
  window: QuotaWindow;
  observedAt: number;
}

export interface AccountState {
  row: AccountRow;
  windows: Map<string, WindowEntry>;
  /** The windows as routing reads them; rebuilt only after a window changed. */
  quota: readonly QuotaWindow[] | undefined;
  models: Map<string, Record<string, unknown>>;
  /** The model slugs of `models` (null: no catalog reported), built once per reload for routing. */
  modelSlugs: ReadonlySet<string> | null;
  planType: string | null;
  circuitFailures: number;
  circuitOpenUntil: number;
  lastUsedAt: number;
}

export interface PoolState {
  row: PoolSettingsRow;
  /** Accounts with an active assignment to this pool. */
  accountIds: string[];
}

export interface CircuitPolicy {
  failureThreshold: number;
  openMs: number;
  /** A 429 rate limit (not exhaustion) parks the account briefly even on the first one. */
  rateLimitedMs: number;
}

export const DEFAULT_CIRCUIT: CircuitPolicy = { failureThreshold: 3, openMs: 30_000, rateLimitedMs: 10_000 };

const windowKey = (w: QuotaWindow) => `${w.limitId}/${w.kind}`;

/** Readings that would write the same rows (percent to 0.1, reset to the second). */
function quotaFingerprint(o: QuotaObservation): string {
  return o.windows
    .map(
      (w) =>
        `${windowKey(w)}:${w.usedPercent.toFixed(1)}:${w.resetAt === null ? "-" : Math.round(w.resetAt / 1000)}:${w.windowMinutes ?? "-"}`,
    )
    .sort()
    .join("|")
    .concat(`|${o.planType ?? ""}`);
}

/**
 * Records a window reading. Every answer carries the headers, mostly with
 * the same figures: an unchanged window only gets its new time, so routing
 * keeps its list of windows.
 */
function setWindow(a: AccountState, w: QuotaWindow, observedAt: number): void {
  const key = windowKey(w);
  const entry = a.windows.get(key);
  if (
    entry &&
    entry.window.usedPercent === w.usedPercent &&
    entry.window.resetAt === w.resetAt &&
    entry.window.windowMinutes === w.windowMinutes
  ) {
    entry.observedAt = observedAt;
    return;
  }
  a.windows.set(key, { window: w, observedAt });
  a.quota = undefined;
}

/** The account's windows as routing and the usage routes read them, built once per change. */
function windowsOf(a: AccountState): readonly QuotaWindow[] {
  a.quota ??= [...a.windows.values()].map((e) => e.window);
  return a.quota;
}

export class Registry {
  #pools = new Map<string, PoolState>();
  #accounts = new Map<string, AccountState>();
  #timer: NodeJS.Timeout | undefined;
  #loaded = false;
  #reloading = false;
  readonly #pendingQuota = new Map<string, QuotaObservation>();
  /** What was last written per account, so an unchanged reading is not written again. */
  readonly #persistedQuota = new Map<string, string>();
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly repo: GatewayRepository,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly circuit: CircuitPolicy = DEFAULT_CIRCUIT,
    private readonly quotaFlushMs = 1000,
  ) {}

  get loaded(): boolean {
    return this.#loaded;
  }

  /** Loads once, then every `intervalMs`. */
  async start(intervalMs = 2000): Promise<void> {
    await this.reload();
    this.#timer = setInterval(() => {
      // One reload at a time: with a slow database, an older snapshot must not overwrite a newer one.
      if (this.#reloading) return;
      this.#reloading = true;
      this.reload()
        .catch((err: unknown) => this.logger.warn({ err }, "registry reload failed; keeping the last view"))
        .finally(() => {
          this.#reloading = false;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flushQuota();
  }

  async reload(): Promise<void> {
    const snap = await this.repo.loadSnapshot();
    const pools = new Map<string, PoolState>();
    for (const row of snap.pools) pools.set(row.id, { row, accountIds: [] });
    for (const a of snap.assignments)
      if (a.status === "active") pools.get(a.poolId)?.accountIds.push(a.accountId);

    const accounts = new Map<string, AccountState>();
    for (const row of snap.accounts) {
      const prev = this.#accounts.get(row.id);
      accounts.set(row.id, {
        row,
        windows: new Map(prev?.windows ?? []),
        quota: undefined,
        models: new Map(),
        modelSlugs: null,
        planType: row.planType,
        circuitFailures: prev?.circuitFailures ?? 0,
        circuitOpenUntil: prev?.circuitOpenUntil ?? 0,
        lastUsedAt: prev?.lastUsedAt ?? 0,
      });
    }
    for (const q of snap.quota) {
      const state = accounts.get(q.accountId);
      if (!state) continue;
      const key = windowKey(q.window);
      const mine = state.windows.get(key);
      // Newer evidence wins, whichever process saw it.
      if (!mine || mine.observedAt < q.observedAt) setWindow(state, q.window, q.observedAt);
    }
    for (const m of snap.models) accounts.get(m.accountId)?.models.set(m.slug, m.info);
    for (const a of accounts.values()) if (a.models.size > 0) a.modelSlugs = new Set(a.models.keys());
    this.#pools = pools;
    this.#accounts = accounts;
    this.#loaded = true;
  }

  pool(poolId: string): PoolState | undefined {
    return this.#pools.get(poolId);
  }

  account(accountId: string): AccountState | undefined {
    return this.#accounts.get(accountId);
  }

  /** Routing views of the pool's accounts. */
  views(poolId: string): AccountView[] {
    const pool = this.#pools.get(poolId);
    if (!pool) return [];
    const out: AccountView[] = [];
    for (const id of pool.accountIds) {
      const a = this.#accounts.get(id);
      if (!a) continue;
      out.push({
        id,
        status: a.row.status,
        assigned: true,
        models: a.modelSlugs,
        quota: windowsOf(a),
        circuitOpenUntil: a.circuitOpenUntil,
        lastUsedAt: a.lastUsedAt,
      });
    }
    return out;
  }

  /** The pool's model catalog: every model some assigned, active account reported (first report wins). */
  catalog(poolId: string): Map<string, Record<string, unknown>> {
    const out = new Map<string, Record<string, unknown>>();
    const pool = this.#pools.get(poolId);
    if (!pool) return out;
    for (const id of [...pool.accountIds].sort()) {
      const a = this.#accounts.get(id);
      if (a?.row.status !== "active") continue;
      for (const [slug, info] of a.models) if (!out.has(slug)) out.set(slug, info);
    }
    return out;
  }

  /**
   * Whether the pool may serve `model`: some assigned, active account lists
   * it, or none has reported a catalog yet. The same answer as
   * `catalog(poolId)` would give, without building it on every request.
   */
  servesModel(poolId: string, model: string): boolean {
    const pool = this.#pools.get(poolId);
    if (!pool) return true;
    let anyCatalog = false;
    for (const id of pool.accountIds) {
      const a = this.#accounts.get(id);
      if (a?.row.status !== "active" || a.models.size === 0) continue;
      if (a.models.has(model)) return true;
      anyCatalog = true;
    }
    return !anyCatalog;
  }

  quotaWindows(accountId: string): readonly QuotaWindow[] {
    const a = this.#accounts.get(accountId);
    return a ? windowsOf(a) : [];
  }

  markUsed(accountId: string): void {
    const a = this.#accounts.get(accountId);
    if (a) a.lastUsedAt = this.clock.now();
  }

  /**
   * Applies quota evidence now (routing sees it on the next request) and
   * persists it in the background: every answer carries the headers, so
   * writes are coalesced per account (at most one per flush interval) and
   * skipped when nothing changed since the last write. Exhaustion is written
   * on the next flush too, well within the registry reload of other
   * processes.
   */
  observeQuota(accountId: string, observation: QuotaObservation): void {
    const a = this.#accounts.get(accountId);
    if (!a) return;
    for (const w of observation.windows) setWindow(a, w, observation.observedAt);
    if (observation.planType) a.planType = observation.planType;
    const pending = this.#pendingQuota.get(accountId);
    this.#pendingQuota.set(
      accountId,
      pending
        ? {
            ...observation,
            windows: mergeWindows(pending.windows, observation.windows),
            planType: observation.planType ?? pending.planType,
          }
        : observation,
    );
    this.#flushTimer ??= setTimeout(() => void this.flushQuota(), this.quotaFlushMs);
  }

  /** Writes coalesced quota evidence (also called on shutdown). */
  async flushQuota(): Promise<void> {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = [...this.#pendingQuota.entries()];
    this.#pendingQuota.clear();
    await Promise.all(
      batch.map(async ([accountId, observation]) => {
        const fingerprint = quotaFingerprint(observation);
        if (this.#persistedQuota.get(accountId) === fingerprint) return;
        try {
          await this.repo.saveQuota(accountId, observation);
          this.#persistedQuota.set(accountId, fingerprint);
        } catch (err) {
          this.logger.warn({ err, accountId }, "could not persist quota evidence");
        }
      }),
    );
  }

  /** Account-level state change (reauth needed, deactivated): in memory now, persisted, audited by the repository. */
  async setStatus(accountId: string, status: AccountStatus, reason: string): Promise<void> {
    const a = this.#accounts.get(accountId);
    if (a) a.row = { ...a.row, status };
    await this.repo.setAccountStatus(accountId, status, reason);
  }

  replaceRow(row: AccountRow): void {
    const a = this.#accounts.get(row.id);
    if (a) a.row = row;
  }

  recordSuccess(accountId: string): void {
    const a = this.#accounts.get(accountId);
    if (!a) return;
    a.circuitFailures = 0;
    a.circuitOpenUntil = 0;
  }

  recordFailure(accountId: string, kind: "server" | "network" | "rate_limited" | "unauthorized"): void {
    const a = this.#accounts.get(accountId);
    if (!a) return;
    const now = this.clock.now();
    a.circuitFailures++;
    if (kind === "rate_limited")
      a.circuitOpenUntil = Math.max(a.circuitOpenUntil, now + this.circuit.rateLimitedMs);
    if (a.circuitFailures >= this.circuit.failureThreshold) a.circuitOpenUntil = now + this.circuit.openMs;
  }
}
