import { readFileSync, unlinkSync } from "node:fs";
import { readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";

/**
 * Who owns an embedded data folder. Exactly one process may open PGlite on a
 * folder; it holds `owner.lock` (created with O_EXCL) for as long as the
 * engine is open and publishes `server.json` ({pid, start, port, password},
 * mode 0600, in a 0700 folder) once its wire server listens. Everybody else
 * reads server.json and connects; the password keeps other local users out.
 *
 * A process is identified by pid plus, on Linux, its start time from
 * /proc/<pid>/stat, so a recycled pid (common in containers, where every run
 * may get the same small pid) is not mistaken for a live owner.
 */

export interface ProcessIdentity {
  pid: number;
  /** Process start time in clock ticks since boot (Linux); absent elsewhere. */
  start?: string;
}

export interface ServerInfo extends ProcessIdentity {
  port: number;
  /** The wire server's password (PGlite itself trusts every connection). */
  password: string;
}

export const LOCK_FILE = "owner.lock";
export const SERVER_FILE = "server.json";
const BREAK_FILE = "owner.lock.break";
/** A lock file that exists but has no content yet is being written; after this long it is debris. */
const PARTIAL_LOCK_STALE_MS = 5_000;

/** Locks this process holds, so a stale file naming our own (recycled) pid is told apart from ours. */
const heldHere = new Set<string>();

export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19]; // field 22 overall: starttime
  } catch {
    return undefined;
  }
}

export function currentIdentity(): ProcessIdentity {
  const start = processStart(process.pid);
  return start === undefined ? { pid: process.pid } : { pid: process.pid, start };
}

/** Is the process that wrote `id` still running? `lockPath` decides for our own pid without a start time. */
export function isAlive(id: ProcessIdentity, lockPath?: string): boolean {
  if (id.pid === process.pid) {
    const mine = processStart(process.pid);
    if (id.start !== undefined && mine !== undefined) return id.start === mine;
    return lockPath !== undefined && heldHere.has(lockPath);
  }
  try {
    process.kill(id.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  if (id.start === undefined) return true;
  const start = processStart(id.pid);
  return start === undefined || start === id.start;
}

function parseIdentity(text: string): ProcessIdentity | undefined {
  try {
    const value = JSON.parse(text) as Partial<ServerInfo>;
    if (typeof value.pid !== "number" || !Number.isInteger(value.pid) || value.pid <= 0) return undefined;
    return typeof value.start === "string" ? { pid: value.pid, start: value.start } : { pid: value.pid };
  } catch {
    return undefined;
  }
}

type Holder =
  | { kind: "missing" }
  | { kind: "partial"; ageMs: number }
  | { kind: "process"; id: ProcessIdentity };

async function readHolder(path: string): Promise<Holder> {
  let text: string;
  let ageMs: number;
  try {
    [text, ageMs] = await Promise.all([
      readFile(path, "utf8"),
      stat(path).then((s) => Date.now() - s.mtimeMs),
    ]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" };
    throw err;
  }
  const id = parseIdentity(text);
  return id ? { kind: "process", id } : { kind: "partial", ageMs };
}

async function createExclusive(path: string, content: string): Promise<boolean> {
  try {
    await writeFile(path, content, { flag: "wx", mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}

function isStale(holder: Holder, path: string): boolean {
  if (holder.kind === "missing") return false;
  if (holder.kind === "partial") return holder.ageMs > PARTIAL_LOCK_STALE_MS;
  return !isAlive(holder.id, path);
}

const sameHolder = (a: Holder, b: Holder): boolean =>
  a.kind === "process" && b.kind === "process"
    ? a.id.pid === b.id.pid && a.id.start === b.id.start
    : a.kind === b.kind;

export interface OwnerLock {
  readonly path: string;
  release(): Promise<void>;
  /** Synchronous release for process 'exit' hooks. */
  releaseSync(): void;
}

/**
 * Tries once to become the owner of `dir`. Returns undefined when a live
 * process holds the lock. A lock left by a dead process is broken under a
 * second O_EXCL file, so two processes that both find the stale lock cannot
 * both remove it and then both create their own.
 */
export async function tryAcquireOwnerLock(dir: string): Promise<OwnerLock | undefined> {
  const path = join(dir, LOCK_FILE);
  const breakPath = join(dir, BREAK_FILE);
  const content = JSON.stringify({ ...currentIdentity(), at: new Date().toISOString() });
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await createExclusive(path, content)) {
      heldHere.add(path);
      return ownerLock(path, content);
    }
    const holder = await readHolder(path);
    if (holder.kind === "missing") continue;
    if (!isStale(holder, path)) return undefined;

    if (!(await createExclusive(breakPath, content))) {
      const breaker = await readHolder(breakPath);
      if (!isStale(breaker, breakPath)) return undefined;
      await unlinkQuietly(breakPath);
      continue;
    }
    try {
      // Re-read under the break lock: only remove the very lock we judged stale.
      const again = await readHolder(path);
      if (sameHolder(again, holder)) await unlinkQuietly(path);
    } finally {
      await unlinkQuietly(breakPath);
    }
  }
  return undefined;
}

function ownerLock(path: string, content: string): OwnerLock {
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(path);
      const now = await readFile(path, "utf8").catch(() => undefined);
      if (now === content) await unlinkQuietly(path);
    },
    releaseSync() {
      if (released) return;
      released = true;
      heldHere.delete(path);
      try {
        if (readFileSync(path, "utf8") === content) unlinkSync(path);
      } catch {
        // Already gone.
      }
    },
  };
}

export async function readServerInfo(dir: string): Promise<ServerInfo | undefined> {
  const text = await readFile(join(dir, SERVER_FILE), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const id = parseIdentity(text);
  if (!id) return undefined;
  const { port, password } = JSON.parse(text) as { port?: unknown; password?: unknown };
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  if (typeof password !== "string" || password === "") return undefined;
  return { ...id, port, password };
}

/** Publishes server.json atomically (write a private temp file, then rename). */
export async function writeServerInfo(dir: string, info: ServerInfo): Promise<void> {
  const path = join(dir, SERVER_FILE);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(info), { mode: 0o600 });
  await rename(temp, path);
}

/** Removes server.json if it still describes `info` (never another owner's). */
export async function removeServerInfo(dir: string, info?: ServerInfo): Promise<void> {
  const current = await readServerInfo(dir);
  if (!current) {
    await unlinkQuietly(join(dir, SERVER_FILE));
    return;
  }
  if (info && (current.pid !== info.pid || current.port !== info.port)) return;
  await unlinkQuietly(join(dir, SERVER_FILE));
}

export function removeServerInfoSync(dir: string, info: ServerInfo): void {
  const path = join(dir, SERVER_FILE);
  try {
    const current = JSON.parse(readFileSync(path, "utf8")) as Partial<ServerInfo>;
    if (current.pid === info.pid && current.port === info.port) unlinkSync(path);
  } catch {
    // Already gone or unreadable: nothing of ours to remove.
  }
}

/** Does something accept TCP connections on 127.0.0.1:port? (The kernel accepts even while the owner is busy.) */
export function isPortAnswering(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
