/**
 * Databases for integration tests, on the real PostgreSQL at 127.0.0.1:5432.
 *
 * The integration project's global setup calls `setupDatabaseTemplate()`
 * once per run: it creates this run's own template database
 * (`cxp_test_<run>_tpl`), runs the real migrations into it, and hands its URL
 * to the test workers (`inject("databaseTemplateUrl")`). Each test file then
 * calls `createTestDatabase()`, which clones the template (CREATE DATABASE …
 * TEMPLATE …, a file copy: fast, already migrated). Every database of the run
 * shares the `cxp_test_<run>_` prefix and is dropped at teardown, so parallel
 * runs never see each other's data.
 *
 * Set CODEX_POOLER_TEST_ADMIN_URL to use another server (superuser or
 * CREATEDB role; the database in the URL is only used for admin commands).
 */
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { type DatabaseHandle, migrate, type OpenDatabaseOptions, openDatabase } from "@codex-pooler/db";
import pg from "pg";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of this run's migrated template database (set by tests/support/global-setup.ts). */
    databaseTemplateUrl: string;
  }
}

const DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres";
const START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";
/** Leftovers of crashed runs older than this are dropped by the next run's setup. */
const ORPHAN_AGE_MS = 24 * 60 * 60 * 1000;

/** URL of `database` on the test server (default: the maintenance database). */
export function adminUrl(database = "postgres"): string {
  const url = new URL(process.env.CODEX_POOLER_TEST_ADMIN_URL || DEFAULT_ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Runs `fn` with a short-lived admin connection; a clear message if the server is down. */
async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = adminUrl();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const where = new URL(url);
    throw new Error(
      `PostgreSQL is not reachable at ${where.hostname}:${where.port || 5432} for the integration tests ` +
        `(${(err as Error).message}). Start it with:\n  ${START_HINT}`,
      { cause: err },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropDatabases(client: pg.Client, names: readonly string[]): Promise<void> {
  for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
}

/** The run's databases, clones first and the template last (a template cannot go while clones are being made). */
async function databasesWithPrefix(client: pg.Client, prefix: string): Promise<string[]> {
  const like = `${prefix.replace(/[\\_%]/g, (c) => `\\${c}`)}%`;
  const { rows } = await client.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE $1",
    [like],
  );
  const isTemplate = (name: string) => Number(name.endsWith("_tpl"));
  return rows.map((r) => r.datname).sort((a, b) => isTemplate(a) - isTemplate(b));
}

/** Drops what crashed runs left behind (their template's comment holds its creation time). */
async function dropOrphans(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ datname: string; comment: string | null }>(
    `SELECT d.datname, shobj_description(d.oid, 'pg_database') AS comment
       FROM pg_database d WHERE d.datname LIKE 'cxp\\_test\\_%\\_tpl'`,
  );
  for (const row of rows) {
    const created = Date.parse(row.comment?.replace(/^codex-pooler test template created /, "") ?? "");
    if (Number.isNaN(created) || Date.now() - created < ORPHAN_AGE_MS) continue;
    const prefix = row.datname.slice(0, -"tpl".length);
    await dropDatabases(client, await databasesWithPrefix(client, prefix));
  }
}

export interface DatabaseTemplate {
  templateUrl: string;
  /** Drops every database of this run (clones included), even those tests forgot. */
  teardown(): Promise<void>;
}

/** For the global setup: creates and migrates this run's template database. */
export async function setupDatabaseTemplate(): Promise<DatabaseTemplate> {
  const run = randomBytes(4).toString("hex");
  const prefix = `cxp_test_${run}_`;
  const template = `${prefix}tpl`;
  const templateUrl = adminUrl(template);
  await withAdmin(async (client) => {
    await dropOrphans(client).catch(() => undefined);
    await client.query(`CREATE DATABASE ${ident(template)}`);
    await client.query(
      `COMMENT ON DATABASE ${ident(template)} IS 'codex-pooler test template created ${new Date().toISOString()}'`,
    );
  });
  const teardown = () =>
    withAdmin(async (client) => dropDatabases(client, await databasesWithPrefix(client, prefix)));
  try {
    const handle = await openDatabase({ url: templateUrl, dataDir: tmpdir(), poolSize: 1 });
    try {
      await migrate(handle);
    } finally {
      // CREATE DATABASE … TEMPLATE refuses while anybody is connected to the template.
      await handle.close();
    }
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }
  return { templateUrl, teardown };
}

export interface TestDatabase {
  /** postgres:// URL of the new database (no password with the default server). */
  url: string;
  /** Opened when asked with `{ open: true }`; closed by drop(). */
  handle?: DatabaseHandle;
  drop(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /** false: an empty database (no migrations applied) instead of a clone of the template. Default true. */
  migrated?: boolean;
  /** Also open a DatabaseHandle on it. Default false. */
  open?: boolean;
  poolSize?: number;
  logger?: OpenDatabaseOptions["logger"];
}

/**
 * A fresh database for one test file (or test): a clone of this run's
 * migrated template, or an empty one with `{ migrated: false }`.
 *
 * @example
 *   let test: TestDatabase;
 *   beforeAll(async () => { test = await createTestDatabase({ open: true }); });
 *   afterAll(() => test.drop());
 */
export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const { inject } = await import("vitest");
  const templateUrl = inject("databaseTemplateUrl");
  if (!templateUrl) {
    throw new Error(
      "databaseTemplateUrl was not provided: run this test in the `integration` vitest project",
    );
  }
  const template = databaseName(templateUrl);
  const name = `${template.slice(0, -"tpl".length)}${randomBytes(5).toString("hex")}`;
  await withAdmin(async (client) => {
    const from = options.migrated === false ? "" : ` TEMPLATE ${ident(template)}`;
    await client.query(`CREATE DATABASE ${ident(name)}${from}`);
  });
  const url = adminUrl(name);
  let handle: DatabaseHandle | undefined;
  if (options.open) {
    handle = await openDatabase({
      url,
      dataDir: tmpdir(),
      ...(options.poolSize !== undefined ? { poolSize: options.poolSize } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }
  let dropped: Promise<void> | undefined;
  return {
    url,
    ...(handle ? { handle } : {}),
    drop() {
      dropped ??= (async () => {
        await handle?.close();
        await withAdmin((client) => dropDatabases(client, [name]));
      })();
      return dropped;
    },
  };
}
