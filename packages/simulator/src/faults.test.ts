import { describe, expect, it } from "vitest";
import { FaultQueue, isFault } from "./faults.ts";

describe("fault queue", () => {
  it("hits the next N matching requests, in order, then stops", () => {
    const q = new FaultQueue();
    q.add({ fault: { kind: "http_error", status: 500 }, count: 2, match: { accountId: "a" } });
    q.add({ fault: { kind: "rate_limited" } });
    const ctx = { route: "responses" as const, transport: "http" as const };
    expect(q.take({ ...ctx, accountId: "b" })).toEqual({ kind: "rate_limited" });
    expect(q.take({ ...ctx, accountId: "b" })).toBeUndefined();
    expect(q.take({ ...ctx, accountId: "a" })?.kind).toBe("http_error");
    expect(q.take({ ...ctx, accountId: "a" })?.kind).toBe("http_error");
    expect(q.take({ ...ctx, accountId: "a" })).toBeUndefined();
  });

  it("routes upgrade and token faults to their own endpoints by default", () => {
    const q = new FaultQueue();
    q.add({ fault: { kind: "upgrade_refused", status: 426 } });
    q.add({ fault: { kind: "refresh_error", code: "refresh_token_expired" } });
    expect(q.take({ route: "responses", transport: "ws" })).toBeUndefined();
    expect(q.take({ route: "token", transport: "http" })?.kind).toBe("refresh_error");
    expect(q.take({ route: "upgrade", transport: "ws" })?.kind).toBe("upgrade_refused");
  });

  it("validates faults coming from JSON", () => {
    expect(isFault({ kind: "disconnect", afterEvents: 2 })).toBe(true);
    expect(isFault({ kind: "response_failed" })).toBe(false);
    expect(isFault({ kind: "nope" })).toBe(false);
    expect(() => new FaultQueue().add({ fault: { kind: "eof" }, count: 0 })).toThrow(RangeError);
  });
});
