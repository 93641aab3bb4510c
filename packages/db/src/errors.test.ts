import { describe, expect, it } from "vitest";
import { DatabaseError, isDatabaseError, toDatabaseError } from "./errors.ts";

// Shapes as pg produces them (pg-protocol's DatabaseError carries the ErrorResponse fields).
const pgError = (code: string, extra: Record<string, string> = {}) =>
  Object.assign(new Error(`pg says ${code}`), { severity: "ERROR", code, ...extra });

describe("toDatabaseError", () => {
  it("maps SQLSTATEs to stable codes and keeps constraint, table and column", () => {
    const err = toDatabaseError(
      pgError("23505", {
        constraint: "pools_name_key",
        table: "pools",
        detail: "Key (lower(name))=(x) exists",
      }),
    );
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err).toMatchObject({
      code: "unique_violation",
      sqlState: "23505",
      constraint: "pools_name_key",
      table: "pools",
    });
    expect(err.message).not.toContain("Key (");
    expect(toDatabaseError(pgError("23503")).code).toBe("foreign_key_violation");
    expect(toDatabaseError(pgError("23514")).code).toBe("check_violation");
    expect(toDatabaseError(pgError("40001")).retryable).toBe(true);
    expect(toDatabaseError(pgError("42P01"))).toMatchObject({ code: "unknown", sqlState: "42P01" });
  });

  it("maps lost connections, including errno codes that look like SQLSTATEs", () => {
    expect(toDatabaseError(Object.assign(new Error("write EPIPE"), { code: "EPIPE" })).code).toBe(
      "connection_lost",
    );
    expect(toDatabaseError(new Error("Connection terminated unexpectedly")).code).toBe("connection_lost");
    expect(toDatabaseError(pgError("57P01")).code).toBe("connection_lost");
  });

  it("returns a DatabaseError unchanged and wraps anything else as unknown", () => {
    const original = new DatabaseError("check_violation", "x");
    expect(toDatabaseError(original)).toBe(original);
    expect(toDatabaseError("boom")).toMatchObject({ code: "unknown", message: "boom" });
    expect(isDatabaseError(pgError("23505", { constraint: "a" }), "unique_violation", "a")).toBe(true);
    expect(isDatabaseError(pgError("23505", { constraint: "a" }), "unique_violation", "b")).toBe(false);
  });
});
