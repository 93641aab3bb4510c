import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AccountSpec, QuotaPatch, SimAccount } from "./accounts.ts";
import { AuthServer } from "./auth-server.ts";
import type { ClockOptions } from "./clock.ts";
import { startControlServer } from "./control.ts";
import { type CoreOptions, type RefreshEvent, SimulatorCore } from "./core.ts";
import type { Fault, FaultMatch, PendingFault } from "./faults.ts";
import { usedPercent } from "./quota.ts";
import type { RequestFilter, RequestLogEntry, RequestLogOptions } from "./request-log.ts";
import { type ServerHandle, startServer } from "./uws-server.ts";

export interface TlsOptions {
  /** PEM text of the certificate (chain) and key; or give file paths instead. */
  cert?: string;
  key?: string;
  certFile?: string;
  keyFile?: string;
  passphrase?: string;
}

export interface SimulatorOptions {
  /** Backend + auth port; 0 (default) picks a free one. */
  port?: number;
  /** Control API port; 0 (default) picks a free one; `false` runs no control server (in-process use only). */
  controlPort?: number | false;
  host?: string;
  /** A count or one spec per account (default: 1 account). */
  accounts?: number | AccountSpec[];
  /** Writes `<authDir>/<account id>/auth.json` for every account. */
  authDir?: string;
  /** Serve HTTPS / WSS (the ChatGPT-login CLI insists on it, spec §7.4). */
  tls?: TlsOptions;
  clock?: ClockOptions;
  /** Bounded request log (default 1000 entries with bodies); `false` turns it off for benchmarks. */
  requestLog?: RequestLogOptions | false;
  accessTokenTtlSeconds?: number;
  secret?: string;
  requireAccountHeader?: boolean;
  rateLimitEventOnSse?: boolean;
  wsMaxConnectionSeconds?: number;
  deviceCodeIntervalSeconds?: number;
  autoApproveDeviceCodes?: boolean;
  maxBodyBytes?: number;
}

export interface WindowView {
  usedPercent: number;
  usedTokens: number;
  capacityTokens: number;
  windowMinutes: number;
  resetAt: number;
}

/** A snapshot of one account, with its current credentials. */
export interface SimAccountInfo {
  id: string;
  email: string;
  userId: string;
  plan: string;
  status: "active" | "deactivated";
  accessToken: string;
  accessTokenExpiresAt: number;
  idToken: string;
  refreshToken: string;
  authFile: string | undefined;
  refreshCount: number;
  activeStreams: number;
  concurrencyCap: number;
  models: string[];
  primary: WindowView | null;
  secondary: WindowView | null;
}

/** `auth.json` exactly as the Codex CLI writes it (spec §5.3). */
export interface AuthDotJson {
  auth_mode: "chatgpt";
  OPENAI_API_KEY: null;
  tokens: { id_token: string; access_token: string; refresh_token: string; account_id: string };
  last_refresh: string;
}

function windowView(w: SimAccount["primary"]): WindowView | null {
  if (!w) return null;
  return {
    usedPercent: usedPercent(w),
    usedTokens: w.used,
    capacityTokens: w.capacity,
    windowMinutes: Math.ceil(w.windowSeconds / 60),
    resetAt: w.resetAt,
  };
}

/** A running simulator: URLs, accounts, and typed control methods (the control API calls the same ones). */
export class Simulator {
  readonly core: SimulatorCore;
  readonly auth: AuthServer;
  baseUrl = "";
  controlUrl = "";
  port = 0;
  controlPort = 0;
  readonly #authDir: string | undefined;
  #server: ServerHandle | undefined;
  #control: { port: number; close(): Promise<void> } | undefined;
  #tmpTls: string | undefined;
  #closed = false;

  constructor(options: SimulatorOptions) {
    const coreOptions: CoreOptions = { ...options };
    this.core = new SimulatorCore(coreOptions);
    this.auth = new AuthServer(this.core);
    this.#authDir = options.authDir;
  }

  /** @internal used by startSimulator */
  async listen(options: SimulatorOptions): Promise<void> {
    const host = options.host ?? "127.0.0.1";
    let tls: { keyFile: string; certFile: string; passphrase?: string } | undefined;
    if (options.tls) {
      let { certFile, keyFile } = options.tls;
      if (!certFile || !keyFile) {
        if (!options.tls.cert || !options.tls.key)
          throw new Error("tls needs cert and key (PEM) or certFile and keyFile");
        // uWS only reads key material from files.
        this.#tmpTls = mkdtempSync(join(tmpdir(), "codex-sim-tls-"));
        certFile = join(this.#tmpTls, "cert.pem");
        keyFile = join(this.#tmpTls, "key.pem");
        writeFileSync(certFile, options.tls.cert, { mode: 0o600 });
        writeFileSync(keyFile, options.tls.key, { mode: 0o600 });
      }
      tls = { certFile, keyFile };
      if (options.tls.passphrase) tls.passphrase = options.tls.passphrase;
    }
    this.#server = await startServer(this.core, this.auth, {
      host,
      port: options.port ?? 0,
      maxBodyBytes: options.maxBodyBytes ?? 64 * 1024 * 1024,
      ...(tls ? { tls } : {}),
    });
    this.port = this.#server.port;
    const urlHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
    this.baseUrl = `${tls ? "https" : "http"}://${urlHost}:${this.port}`;
    this.core.origin = this.baseUrl;
    if (options.controlPort !== false) {
      this.#control = await startControlServer(this, host, options.controlPort ?? 0);
      this.controlPort = this.#control.port;
      this.controlUrl = `http://${urlHost}:${this.controlPort}`;
    }
    if (this.#authDir) for (const a of this.core.accounts.values()) this.writeAuthFile(a.id);
  }

  // ---- accounts -----------------------------------------------------------------------------------

  get accounts(): SimAccountInfo[] {
    return [...this.core.accounts.values()].map((a) => this.#info(a));
  }

  account(id: string): SimAccountInfo {
    return this.#info(this.core.getAccount(id));
  }

  #info(a: SimAccount): SimAccountInfo {
    this.core.accounts.get(a.id)?.roll(this.core.clock.now());
    return {
      id: a.id,
      email: a.email,
      userId: a.userId,
      plan: a.plan,
      status: a.status,
      accessToken: a.accessToken,
      accessTokenExpiresAt: a.accessTokenExp,
      idToken: a.idToken,
      refreshToken: a.refreshToken,
      authFile: a.authFile,
      refreshCount: a.refreshCount,
      activeStreams: a.active,
      concurrencyCap: a.concurrencyCap,
      models: [...a.models],
      primary: windowView(a.primary),
      secondary: windowView(a.secondary),
    };
  }

  addAccount(spec: AccountSpec = {}): SimAccountInfo {
    const a = this.core.addAccount(spec);
    if (this.#authDir) this.writeAuthFile(a.id);
    return this.#info(a);
  }

  /** The account's current credentials in auth.json form. */
  authJson(id: string): AuthDotJson {
    const a = this.core.getAccount(id);
    return {
      auth_mode: "chatgpt",
      OPENAI_API_KEY: null,
      tokens: {
        id_token: a.idToken,
        access_token: a.accessToken,
        refresh_token: a.refreshToken,
        account_id: a.id,
      },
      last_refresh: a.lastRefresh,
    };
  }

  /** Writes auth.json (mode 0600) to `file`, or to `<authDir>/<id>/auth.json`. Returns the path. */
  writeAuthFile(id: string, file?: string): string {
    const a = this.core.getAccount(id);
    let path = file;
    if (!path) {
      if (!this.#authDir) throw new Error("no authDir configured and no file given");
      const dir = join(this.#authDir, a.id);
      mkdirSync(dir, { recursive: true });
      path = join(dir, "auth.json");
      a.authFile = path;
    }
    writeFileSync(path, `${JSON.stringify(this.authJson(id), null, 2)}\n`, { mode: 0o600 });
    return path;
  }

  /** Replaces the account's access token with one whose `exp` already passed (for proactive-refresh tests). */
  staleAccessToken(id: string, secondsAgo = 60): string {
    const a = this.core.getAccount(id);
    const now = this.core.clock.now();
    this.core.tokens.mintAccess(a, now - a.accessTokenTtlSeconds, now - secondsAgo);
    return a.accessToken;
  }

  setQuota(id: string, patch: QuotaPatch): void {
    this.core.setQuota(id, patch);
  }

  /** Uses up a window (primary by default): the account answers 429 until the window resets. */
  exhaust(id: string, window: "primary" | "secondary" = "primary"): void {
    this.core.setQuota(id, { [window]: { usedPercent: 100 } });
  }

  expireAccessToken(id: string): void {
    this.core.expireAccessToken(id);
  }

  invalidateAccessToken(id: string): void {
    this.core.invalidateAccessToken(id);
  }

  deactivate(id: string): void {
    this.core.getAccount(id).status = "deactivated";
  }

  reactivate(id: string): void {
    this.core.getAccount(id).status = "active";
  }

  /** The live refresh token answers `refresh_token_invalidated`. */
  revokeRefreshToken(id: string): void {
    this.core.tokens.setRefreshState(this.core.getAccount(id), "revoked");
  }

  /** The live refresh token answers `refresh_token_expired`. */
  expireRefreshToken(id: string): void {
    this.core.tokens.setRefreshState(this.core.getAccount(id), "expired");
  }

  setModels(id: string, models: string[]): void {
    this.core.setModels(this.core.getAccount(id), models);
  }

  setConcurrencyCap(id: string, cap: number): void {
    this.core.getAccount(id).concurrencyCap = Math.max(0, Math.floor(cap));
  }

  /** The browser PKCE flow (`/oauth/authorize`) logs in as this account unless `sim_account` says otherwise. */
  setLoginAccount(id: string): void {
    this.core.getAccount(id);
    this.core.loginAccountId = id;
  }

  approveDeviceCode(userCode: string, accountId?: string): boolean {
    return this.auth.approveDevice(userCode, accountId);
  }

  // ---- faults, clock, log ---------------------------------------------------------------------------

  /** Queues a fault for the next `count` matching requests (default 1). */
  injectFault(fault: Fault, options: FaultMatch & { count?: number } = {}): PendingFault {
    const { count, ...match } = options;
    return this.core.faults.add(count === undefined ? { fault, match } : { fault, match, count });
  }

  pendingFaults(): PendingFault[] {
    return this.core.faults.list();
  }

  clearFaults(): void {
    this.core.faults.clear();
  }

  /** Unix seconds on the simulator clock. */
  now(): number {
    return this.core.clock.now();
  }

  advanceClock(seconds: number): void {
    this.core.clock.advance(seconds);
  }

  setClock(unixSeconds: number): void {
    this.core.clock.set(unixSeconds);
  }

  requests(filter: RequestFilter = {}): RequestLogEntry[] {
    return this.core.log.entries(filter);
  }

  clearRequests(): void {
    this.core.log.clear();
  }

  /** Successful token grants (refresh and code exchange) for one account, or all. */
  refreshCount(id?: string): number {
    if (id === undefined) return this.core.refreshEvents.length;
    return this.core.getAccount(id).refreshCount;
  }

  refreshEvents(): RefreshEvent[] {
    return [...this.core.refreshEvents];
  }

  stats(): SimulatorCore["stats"] & { cpuMicros: { user: number; system: number }; rssBytes: number } {
    const cpu = process.cpuUsage();
    return { ...this.core.stats, cpuMicros: cpu, rssBytes: process.memoryUsage().rss };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#server?.close();
    await this.#control?.close();
    if (this.#tmpTls) rmSync(this.#tmpTls, { recursive: true, force: true });
  }
}

/**
 * Starts the simulator: backend and auth paths on `baseUrl`, the control API on `controlUrl`.
 *
 * @example
 * const sim = await startSimulator({ accounts: 2, authDir: "/tmp/sim-auth" });
 * // point a gateway at `${sim.baseUrl}/backend-api` (upstream) and `sim.baseUrl` (auth)
 * sim.exhaust(sim.accounts[0]!.id);
 * await sim.close();
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new Simulator(options);
  await sim.listen(options);
  return sim;
}
