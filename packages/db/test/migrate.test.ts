import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type DatabaseHandle,
  MigrationError,
  migrate,
  openDatabase,
  readMigrations,
  toJson,
} from "@codex-pooler/db";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../tests/support/db.ts";
import { makeTempDir, migrationsWith } from "./support.ts";

/**
 * Each engine gets a way to produce a database with nothing applied: a new
 * empty Postgres database, or (embedded, where opening costs seconds) the
 * shared engine with its public schema wiped.
 */
interface Engine {
  name: "postgres" | "embedded";
  setup(): Promise<void>;
  teardown(): Promise<void>;
  fresh(): Promise<DatabaseHandle>;
}

function postgresEngine(): Engine {
  const created: TestDatabase[] = [];
  return {
    name: "postgres",
    async setup() {},
    async teardown() {
      await Promise.all(created.map((d) => d.drop()));
    },
    async fresh() {
      const test = await createTestDatabase({ migrated: false, open: true });
      created.push(test);
      return test.handle!;
    },
  };
}

function embeddedEngine(): Engine {
  let handle: DatabaseHandle | undefined;
  let remove: (() => Promise<void>) | undefined;
  return {
    name: "embedded",
    async setup() {
      const temp = await makeTempDir("migrate");
      remove = temp.remove;
      handle = await openDatabase({ dataDir: temp.path });
    },
    async teardown() {
      await handle?.close();
      await remove?.();
    },
    async fresh() {
      await sql`drop schema public cascade; create schema public`.execute(handle!.db);
      return handle!;
    },
  };
}

const tableNames = async (handle: DatabaseHandle): Promise<string[]> =>
  (
    await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = 'public' order by table_name`.execute(
      handle.db,
    )
  ).rows.map((r) => r.table_name);

describe.each([postgresEngine(), embeddedEngine()])("migrate on $name", (engine) => {
  beforeAll(() => engine.setup());
  afterAll(() => engine.teardown());

  it("applies every migration, records it, and the schema answers queries", async () => {
    const handle = await engine.fresh();
    expect(handle.engine).toBe(engine.name);
    const files = await readMigrations();
    const result = await migrate(handle);
    expect(result).toEqual({ applied: files.map((f) => f.fileName), alreadyApplied: 0 });

    const recorded = await handle.db.selectFrom("schema_migrations").selectAll().orderBy("version").execute();
    expect(recorded.map((r) => [r.version, r.name, r.checksum])).toEqual(
      files.map((f) => [f.version, f.name, f.checksum]),
    );
    expect(recorded.every((r) => r.applied_at instanceof Date)).toBe(true);

    await handle.db.insertInto("pools").values({ id: "pool_a", name: "alpha" }).execute();
    await handle.db
      .insertInto("api_keys")
      .values({ id: "key_a", pool_id: "pool_a", prefix: "abcd", digest: Buffer.alloc(32, 7) })
      .execute();
    await handle.db
      .insertInto("audit_events")
      .values({ id: "aud_a", actor_type: "cli", action: "pool.create", details: toJson({ list: [1, 2] }) })
      .execute();
    const key = await handle.db
      .selectFrom("api_keys")
      .innerJoin("pools", "pools.id", "api_keys.pool_id")
      .select(["api_keys.digest", "api_keys.status", "pools.name", "pools.ring_size", "api_keys.created_at"])
      .executeTakeFirstOrThrow();
    expect(key).toMatchObject({ status: "active", name: "alpha", ring_size: 3 });
    expect(Buffer.from(key.digest).equals(Buffer.alloc(32, 7))).toBe(true);
    expect(key.created_at).toBeInstanceOf(Date);
    const audit = await handle.db.selectFrom("audit_events").select("details").executeTakeFirstOrThrow();
    expect(audit.details).toEqual({ list: [1, 2] });
  });

  it("is idempotent: a second run applies nothing", async () => {
    const handle = await engine.fresh();
    const first = await migrate(handle);
    const second = await migrate(handle);
    expect(second).toEqual({ applied: [], alreadyApplied: first.applied.length });
  });

  it("refuses to run when an applied migration changed, naming the file, before applying anything new", async () => {
    const handle = await engine.fresh();
    const copy = await migrationsWith({ "20990101000000_one.sql": "create table one (id int);\n" });
    try {
      await migrate(handle, { dir: copy.dir });
      await writeFile(join(copy.dir, "20990101000000_one.sql"), "create table one (id bigint);\n");
      await writeFile(join(copy.dir, "20990102000000_two.sql"), "create table two (id int);\n");
      const error = await migrate(handle, { dir: copy.dir }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as MigrationError).fileName).toBe("20990101000000_one.sql");
      expect((error as Error).message).toMatch(/20990101000000_one\.sql was changed after it was applied/);
      expect(await tableNames(handle)).not.toContain("two");
    } finally {
      await copy.remove();
    }
  });

  it("does not count a change of line endings as a change", async () => {
    const handle = await engine.fresh();
    const copy = await migrationsWith({ "20990101000000_crlf.sql": "create table crlf (id int);\n" });
    try {
      await migrate(handle, { dir: copy.dir });
      await writeFile(join(copy.dir, "20990101000000_crlf.sql"), "create table crlf (id int);\r\n");
      expect((await migrate(handle, { dir: copy.dir })).applied).toEqual([]);
    } finally {
      await copy.remove();
    }
  });

  it("rolls a failing migration back entirely and names the file, the error and the line", async () => {
    const handle = await engine.fresh();
    const broken = [
      "create table half_done (id int primary key);",
      "insert into half_done values (1);",
      "insert into no_such_table values (1);",
      "",
    ].join("\n");
    const copy = await migrationsWith({
      "20990101000000_good.sql": "create table good (id int);\n",
      "20990102000000_broken.sql": broken,
      "20990103000000_after.sql": "create table after_broken (id int);\n",
    });
    try {
      const error = await migrate(handle, { dir: copy.dir }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as MigrationError).fileName).toBe("20990102000000_broken.sql");
      expect((error as Error).message).toMatch(
        /20990102000000_broken\.sql failed: \[42P01\] relation "no_such_table"/,
      );
      expect((error as Error).message).toMatch(/\(line 3\)/);

      const tables = await tableNames(handle);
      expect(tables).toContain("good");
      expect(tables).not.toContain("half_done");
      expect(tables).not.toContain("after_broken");
      const versions = (await handle.db.selectFrom("schema_migrations").select("version").execute()).map(
        (r) => r.version,
      );
      expect(versions).toContain("20990101000000");
      expect(versions).not.toContain("20990102000000");

      // The connection and the engine are still usable, and fixing the file lets the run finish.
      await writeFile(
        join(copy.dir, "20990102000000_broken.sql"),
        "create table half_done (id int primary key);\n",
      );
      const retry = await migrate(handle, { dir: copy.dir });
      expect(retry.applied).toEqual(["20990102000000_broken.sql", "20990103000000_after.sql"]);
    } finally {
      await copy.remove();
    }
  });
});

describe("readMigrations", () => {
  it("rejects a badly named .sql file and duplicate versions", async () => {
    const bad = await migrationsWith({ "2099_oops.sql": "select 1;" });
    const dup = await migrationsWith({
      "20990101000000_a.sql": "select 1;",
      "20990101000000_b.sql": "select 1;",
    });
    try {
      await expect(readMigrations(bad.dir)).rejects.toThrow(
        /2099_oops\.sql is not named YYYYMMDDHHMMSS_name\.sql/,
      );
      await expect(readMigrations(dup.dir)).rejects.toThrow(/share version 20990101000000/);
    } finally {
      await bad.remove();
      await dup.remove();
    }
  });
});
