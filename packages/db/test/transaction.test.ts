import { DatabaseError, type Db, withTransaction } from "@codex-pooler/db";
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../tests/support/db.ts";

let test: TestDatabase;
let db: Db;

beforeAll(async () => {
  test = await createTestDatabase({ open: true });
  db = test.handle!.db;
});
afterAll(() => test.drop());
beforeEach(async () => {
  await sql`truncate pools cascade`.execute(db);
});

const poolNames = async () =>
  (await db.selectFrom("pools").select("name").orderBy("name").execute()).map((r) => r.name);

describe("withTransaction", () => {
  it("commits what fn wrote when it resolves, and returns its value", async () => {
    const value = await withTransaction(db, async (tx) => {
      await tx.insertInto("pools").values({ id: "pool_1", name: "one" }).execute();
      return 42;
    });
    expect(value).toBe(42);
    expect(await poolNames()).toEqual(["one"]);
  });

  it("rolls back when fn throws and passes the caller's own error through untouched", async () => {
    const mine = new Error("domain says no");
    const thrown = await withTransaction(db, async (tx) => {
      await tx.insertInto("pools").values({ id: "pool_1", name: "one" }).execute();
      throw mine;
    }).catch((e: unknown) => e);
    expect(thrown).toBe(mine);
    expect(await poolNames()).toEqual([]);
  });

  it("maps database errors to stable codes with the constraint", async () => {
    await db.insertInto("pools").values({ id: "pool_1", name: "Alpha" }).execute();
    const duplicate = await withTransaction(db, (tx) =>
      tx.insertInto("pools").values({ id: "pool_2", name: "alpha" }).execute(),
    ).catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(DatabaseError);
    expect(duplicate).toMatchObject({
      code: "unique_violation",
      constraint: "pools_name_key",
      sqlState: "23505",
    });

    const badRing = await withTransaction(db, (tx) =>
      tx.insertInto("pools").values({ id: "pool_3", name: "beta", ring_size: 99 }).execute(),
    ).catch((e: unknown) => e);
    expect(badRing).toMatchObject({ code: "check_violation", constraint: "pools_ring_size_check" });

    const orphanKey = await withTransaction(db, (tx) =>
      tx
        .insertInto("api_keys")
        .values({ id: "key_1", pool_id: "pool_missing", prefix: "p", digest: Buffer.alloc(32) })
        .execute(),
    ).catch((e: unknown) => e);
    expect(orphanKey).toMatchObject({ code: "foreign_key_violation", constraint: "api_keys_pool_id_fkey" });
  });

  it("retries the whole transaction on serialization failures when asked", async () => {
    let attempts = 0;
    const fail = (tx: Parameters<Parameters<typeof withTransaction>[1]>[0]) =>
      sql`do $$ begin raise exception 'conflict' using errcode = '40001'; end $$`.execute(tx);
    const result = await withTransaction(
      db,
      async (tx) => {
        attempts++;
        await tx
          .insertInto("pools")
          .values({ id: `pool_${attempts}`, name: `try${attempts}` })
          .execute();
        if (attempts < 3) await fail(tx);
        return attempts;
      },
      { retries: 2, isolationLevel: "serializable" },
    );
    expect(result).toBe(3);
    expect(await poolNames()).toEqual(["try3"]);

    attempts = 0;
    const thrown = await withTransaction(db, async (tx) => {
      attempts++;
      await fail(tx);
    }).catch((e: unknown) => e);
    expect(attempts).toBe(1);
    expect(thrown).toMatchObject({ code: "serialization_failure", retryable: true });
  });
});
