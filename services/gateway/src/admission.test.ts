import { DomainError } from "@codex-pooler/core";
import { describe, expect, it } from "vitest";
import { Bulkhead } from "./admission.ts";

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
