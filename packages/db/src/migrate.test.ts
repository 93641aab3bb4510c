import { describe, expect, it } from "vitest";
import { MIGRATION_LOCK_KEY, migrationChecksum } from "./migrate.ts";

describe("migrationChecksum", () => {
  it("is the sha256 of the text with CRLF normalised", () => {
    expect(migrationChecksum("select 1;\n")).toBe(migrationChecksum("select 1;\r\n"));
    expect(migrationChecksum("select 1;\n")).not.toBe(migrationChecksum("select 2;\n"));
    expect(migrationChecksum("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("uses an advisory-lock key that fits a signed bigint", () => {
    expect(MIGRATION_LOCK_KEY).toBeLessThan(2n ** 63n);
    expect(MIGRATION_LOCK_KEY).toBeGreaterThan(0n);
  });
});
