import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import type { DbLogger } from "./logger.ts";
import type { DatabaseHandle } from "./open.ts";
import type { Db } from "./types.ts";

/**
 * Forward-only SQL migrations: `migrations/YYYYMMDDHHMMSS_name.sql`, applied
 * in file-name order, each file in its own transaction, recorded in
 * `schema_migrations` (version, name, sha256 checksum, applied_at).
 *
 * Concurrency: the whole run holds a session advisory lock on a fixed key, so
 * a second migrator waits and then finds nothing to do. Each file is also
 * re-checked inside its own transaction before it runs. That second check is
 * what protects the embedded engine, where every connection shares PGlite's
 * single session (so the session lock is re-entrant across connections) but
 * transactions run strictly one at a time.
 *
 * A file must not manage transactions itself (no BEGIN/COMMIT) and so cannot
 * use statements that refuse to run in one (CREATE INDEX CONCURRENTLY).
 */

/** The repository's migrations folder. */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../../migrations/", import.meta.url));

/** Fixed advisory-lock key of the migrator ("cxp-migr" as bytes → int64). */
export const MIGRATION_LOCK_KEY = 0x6378702d6d696772n;

const FILE_PATTERN = /^(\d{14})_([a-z0-9][a-z0-9_]*)\.sql$/;

export interface MigrationFile {
  version: string;
  name: string;
  fileName: string;
  checksum: string;
  sql: string;
}

export interface MigrateOptions {
  dir?: string;
  logger?: DbLogger;
}

export interface MigrateResult {
  /** File names applied by this run, in order. */
  applied: string[];
  /** Files that were already applied (by an earlier or a concurrent run). */
  alreadyApplied: number;
}

export class MigrationError extends Error {
  override readonly name = "MigrationError";
  constructor(
    message: string,
    readonly fileName?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** SHA-256 of the file with CRLF normalised, so a checkout's line endings don't count as a change. */
export function migrationChecksum(text: string): string {
  return createHash("sha256").update(text.replace(/\r\n/g, "\n"), "utf8").digest("hex");
}

/** Reads and validates the folder: every .sql file must be well named, versions unique. */
export async function readMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    throw new MigrationError(`cannot read the migrations folder ${dir}: ${err.code ?? err.message}`);
  });
  const files: MigrationFile[] = [];
  const seen = new Map<string, string>();
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith(".sql")) continue;
    const match = FILE_PATTERN.exec(entry.name);
    if (!match) {
      throw new MigrationError(
        `migration file ${entry.name} is not named YYYYMMDDHHMMSS_name.sql (lowercase name, digits, underscores)`,
        entry.name,
      );
    }
    const version = match[1]!;
    const other = seen.get(version);
    if (other)
      throw new MigrationError(`migrations ${other} and ${entry.name} share version ${version}`, entry.name);
    seen.set(version, entry.name);
    const text = await readFile(join(dir, entry.name), "utf8");
    files.push({
      version,
      name: match[2]!,
      fileName: entry.name,
      checksum: migrationChecksum(text),
      sql: text,
    });
  }
  return files.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
}

function isHandle(target: DatabaseHandle | Db): target is DatabaseHandle {
  return "db" in target && "engine" in target;
}

/**
 * Applies pending migrations. Safe to run concurrently from several
 * processes: all exit successfully and each file is applied exactly once.
 * Throws MigrationError naming the file when an applied file's checksum
 * changed, or when a file fails (it is rolled back entirely; the Postgres
 * error and its line are in the message).
 */
export async function migrate(
  target: DatabaseHandle | Db,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const db = isHandle(target) ? target.db : target;
  const logger = options.logger ?? {};
  const files = await readMigrations(options.dir);

  // One connection for the whole run: the advisory lock belongs to its session.
  return db.connection().execute(async (conn) => {
    const lockKey = sql.raw(MIGRATION_LOCK_KEY.toString());
    const got = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${lockKey}::bigint) as ok`.execute(
      conn,
    );
    if (!got.rows[0]?.ok) {
      logger.info?.("another migration is running; waiting for it to finish");
      await sql`select pg_advisory_lock(${lockKey}::bigint)`.execute(conn);
    }
    try {
      await sql`
        create table if not exists schema_migrations (
          version text primary key,
          name text not null,
          checksum text not null,
          applied_at timestamptz not null default now()
        )`.execute(conn);
      return await applyPending(conn, files, logger);
    } finally {
      await sql`select pg_advisory_unlock(${lockKey}::bigint)`.execute(conn).catch((err: unknown) => {
        logger.warn?.("could not release the migration lock (it goes with the connection)", {
          error: String(err),
        });
      });
    }
  });
}

interface AppliedRow {
  version: string;
  name: string;
  checksum: string;
}

async function applyPending(conn: Db, files: MigrationFile[], logger: DbLogger): Promise<MigrateResult> {
  const appliedRows = await sql<AppliedRow>`select version, name, checksum from schema_migrations`.execute(
    conn,
  );
  const applied = new Map(appliedRows.rows.map((row) => [row.version, row]));
  const known = new Set(files.map((f) => f.version));

  for (const row of applied.values()) {
    if (!known.has(row.version)) {
      logger.warn?.("the database has a migration this build does not know (a newer build applied it?)", {
        migration: `${row.version}_${row.name}.sql`,
      });
    }
  }
  for (const file of files) {
    const row = applied.get(file.version);
    if (row) assertSameChecksum(file, row);
  }

  const latestApplied = [...applied.keys()].sort().at(-1);
  const result: MigrateResult = { applied: [], alreadyApplied: 0 };
  for (const file of files) {
    if (applied.has(file.version)) {
      result.alreadyApplied++;
      continue;
    }
    if (latestApplied !== undefined && file.version < latestApplied) {
      logger.warn?.("applying a migration older than the newest applied one", { migration: file.fileName });
    }
    const ran = await applyOne(conn, file, logger);
    if (ran) result.applied.push(file.fileName);
    else result.alreadyApplied++;
  }
  return result;
}

function assertSameChecksum(file: MigrationFile, row: AppliedRow): void {
  if (row.checksum !== file.checksum) {
    throw new MigrationError(
      `migration ${file.fileName} was changed after it was applied (checksum ${file.checksum.slice(0, 12)}… ` +
        `differs from the applied ${row.checksum.slice(0, 12)}…); migrations are forward-only: ` +
        `restore the file and add a new migration instead`,
      file.fileName,
    );
  }
}

/** Applies one file in its own transaction; false when a concurrent run applied it first. */
async function applyOne(conn: Db, file: MigrationFile, logger: DbLogger): Promise<boolean> {
  const started = Date.now();
  await sql`begin`.execute(conn);
  try {
    const existing = await sql<AppliedRow>`
      select version, name, checksum from schema_migrations where version = ${file.version}`.execute(conn);
    const row = existing.rows[0];
    if (row) {
      await sql`rollback`.execute(conn);
      assertSameChecksum(file, row);
      return false;
    }
    try {
      // No parameters: pg sends it as a simple Query, so a file may hold many statements.
      await sql.raw(file.sql).execute(conn);
    } catch (err) {
      throw new MigrationError(
        `migration ${file.fileName} failed: ${describePgError(err, file.sql)}`,
        file.fileName,
        {
          cause: err,
        },
      );
    }
    await sql`
      insert into schema_migrations (version, name, checksum)
      values (${file.version}, ${file.name}, ${file.checksum})`.execute(conn);
    await sql`commit`.execute(conn);
  } catch (err) {
    await sql`rollback`.execute(conn).catch(() => undefined);
    throw err;
  }
  logger.info?.("migration applied", { migration: file.fileName, ms: Date.now() - started });
  return true;
}

/** "ERROR 42P07 relation "x" already exists (line 12)" from a pg error. */
function describePgError(err: unknown, text: string): string {
  if (typeof err !== "object" || err === null) return String(err);
  const e = err as { message?: string; code?: string; position?: string };
  const parts = [e.code ? `[${e.code}]` : "", e.message ?? String(err)];
  const position = Number(e.position);
  if (Number.isInteger(position) && position > 0) {
    const line = text.slice(0, position - 1).split("\n").length;
    parts.push(`(line ${line})`);
  }
  return parts.filter(Boolean).join(" ");
}
