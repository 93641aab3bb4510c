import { DomainError } from "@codex-pooler/core";
import { describe, expect, it } from "vitest";
import {
  Bulkhead,
  bulkheadLimitsFor,
  DEFAULT_BULKHEADS,
  openFilesLimit,
  RESERVED_OPEN_FILES,
} from "./admission.ts";

describe("Bulkhead", () => {
  it("runs up to its concurrency, queues the next ones in order, and refuses beyond the queue", async () => {
    const b = new Bulkhead("stream", { concurrency: 2, queue: 1, queueTimeoutMs: 1000 });
    const r1 = await b.acquire();
    const r2 = await b.acquire();
    expect(b.running).toBe(2);
    const waiting = b.acquire();
    expect(b.queued).toBe(1);
    const refused = await b.acquire().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DomainError);
    expect((refused as DomainError).code).toBe("server_is_overloaded");
    expect((refused as DomainError).status).toBe(503);
    expect((refused as DomainError).retryAfterSeconds).toBeGreaterThan(0);
    r1();
    r1(); // a second release of the same slot is ignored
    const r3 = await waiting;
    expect(b.running).toBe(2);
    r2();
    r3();
    expect(b.running).toBe(0);
  });

  it("gives up on a queued request after the queue timeout", async () => {
    const b = new Bulkhead("compact", { concurrency: 1, queue: 4, queueTimeoutMs: 20 });
    const held = await b.acquire();
    const late = await b.acquire().catch((e: unknown) => e);
    expect((late as DomainError).code).toBe("server_is_overloaded");
    expect(b.queued).toBe(0);
    held();
    expect(b.running).toBe(0);
  });
});

describe("bulkheadLimitsFor", () => {
  it("keeps streams and websockets within the open-files limit, two sockets each", () => {
    const limits = bulkheadLimitsFor(20_000);
    expect(limits.stream.concurrency).toBe((20_000 - RESERVED_OPEN_FILES) / 2);
    expect(limits.websocket.concurrency).toBe(DEFAULT_BULKHEADS.websocket.concurrency);
    expect(limits.compact).toEqual(DEFAULT_BULKHEADS.compact);
    expect(bulkheadLimitsFor(1024).websocket.concurrency).toBe((1024 - RESERVED_OPEN_FILES) / 2);
    expect(bulkheadLimitsFor(100).stream.concurrency).toBe(16);
    expect(bulkheadLimitsFor(1_048_576)).toEqual(DEFAULT_BULKHEADS);
    expect(bulkheadLimitsFor(undefined)).toBe(DEFAULT_BULKHEADS);
  });

  it("reads this process's limit", () => {
    const limit = openFilesLimit();
    if (process.platform === "linux") expect(limit).toBeGreaterThan(0);
    else expect(limit).toBeUndefined();
  });
});
