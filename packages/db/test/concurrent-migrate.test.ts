import { openDatabase, readMigrations } from "@codex-pooler/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../tests/support/db.ts";
import { makeTempDir, migrationsWith, runTs } from "./support.ts";

/**
 * Two real processes migrate the same database at the same time. A slow
 * migration (pg_sleep) keeps the first one busy long enough for the second to
 * arrive while it works. Both must exit 0 and every file must be applied
 * exactly once between them.
 */

const ENTRY = "packages/db/test/fixtures/migrate-entry.ts";

interface ChildResult {
  pid: number;
  startedAt: number;
  endedAt: number;
  applied: string[];
  alreadyApplied: number;
}

let migrations: { dir: string; remove(): Promise<void> };

beforeAll(async () => {
  migrations = await migrationsWith({
    "20990101000000_slow.sql": "select pg_sleep(1.5);\ncreate table slow_done (id int);\n",
    "20990102000000_after_slow.sql": "create table after_slow (id int);\n",
  });
});
afterAll(() => migrations.remove());

async function migrateTwiceConcurrently(target: { url?: string; dataDir: string }): Promise<ChildResult[]> {
  const args = JSON.stringify({ ...target, dir: migrations.dir });
  const runs = await Promise.all([runTs(ENTRY, [args]), runTs(ENTRY, [args])]);
  for (const run of runs) {
    expect(run.stderr, run.stderr).not.toMatch(/Error/);
    expect(run.code).toBe(0);
  }
  const results = runs.map((run) => JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "") as ChildResult);
  // The runs really overlapped (otherwise this would test nothing).
  expect(Math.max(...results.map((r) => r.startedAt))).toBeLessThan(
    Math.min(...results.map((r) => r.endedAt)),
  );
  return results;
}

async function expectEachAppliedOnce(
  results: ChildResult[],
  versions: () => Promise<string[]>,
): Promise<void> {
  const files = (await readMigrations(migrations.dir)).map((f) => f.fileName);
  const appliedByAnyone = results.flatMap((r) => r.applied);
  expect([...appliedByAnyone].sort()).toEqual(files);
  for (const r of results) expect(r.applied.length + r.alreadyApplied).toBe(files.length);
  expect(await versions()).toEqual(files.map((f) => f.slice(0, 14)));
}

describe("two concurrent migrate processes", () => {
  let test: TestDatabase;
  afterAll(() => test?.drop());

  it("on postgres: both succeed and every file is applied exactly once", async () => {
    test = await createTestDatabase({ migrated: false });
    const results = await migrateTwiceConcurrently({ url: test.url, dataDir: "/nonexistent" });
    const handle = await openDatabase({ url: test.url, dataDir: "/nonexistent" });
    try {
      await expectEachAppliedOnce(results, async () =>
        (await handle.db.selectFrom("schema_migrations").select("version").orderBy("version").execute()).map(
          (r) => r.version,
        ),
      );
    } finally {
      await handle.close();
    }
  });

  it("on the embedded engine in a fresh data folder: both succeed and every file is applied exactly once", async () => {
    const dataDir = await makeTempDir("concurrent");
    try {
      const results = await migrateTwiceConcurrently({ dataDir: dataDir.path });
      const handle = await openDatabase({ dataDir: dataDir.path });
      try {
        await expectEachAppliedOnce(results, async () =>
          (
            await handle.db.selectFrom("schema_migrations").select("version").orderBy("version").execute()
          ).map((r) => r.version),
        );
      } finally {
        await handle.close();
      }
    } finally {
      await dataDir.remove();
    }
  });
});
