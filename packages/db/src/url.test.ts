import { describe, expect, it } from "vitest";
import { redactDatabaseUrl } from "./url.ts";

describe("redactDatabaseUrl", () => {
  it("drops the password from userinfo and query, keeps the rest", () => {
    expect(redactDatabaseUrl("postgres://app:s3cret@db.internal:5433/pooler?sslmode=require")).toBe(
      "postgres://app@db.internal:5433/pooler?sslmode=require",
    );
    expect(redactDatabaseUrl("postgresql://app@h/db?password=s3cret&application_name=x")).toBe(
      "postgresql://app@h/db?application_name=x",
    );
  });

  it("never echoes what it cannot parse", () => {
    expect(redactDatabaseUrl("host=h password=s3cret")).toBe("(unparseable database url)");
    expect(redactDatabaseUrl("mysql://u:s3cret@h/db")).toBe("(not a postgres:// url)");
  });
});
