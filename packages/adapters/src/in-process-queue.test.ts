import type { QueueHandler } from "@codex-pooler/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { InProcessQueue } from "./in-process-queue.ts";
import { QueueError } from "./queue.ts";

let queue: InProcessQueue | undefined;
afterEach(async () => {
  await queue?.stop();
  queue = undefined;
});

const failAll: QueueHandler = async (e) => ({
  batchItemFailures: e.Records.map((r) => ({ itemIdentifier: r.messageId })),
});

describe("InProcessQueue", () => {
  it("refuses a send that does not fit, all or nothing, with a clear error", async () => {
    queue = new InProcessQueue({ maxMessages: 3 });
    await queue.send("q", ["1", "2"]);
    const err = await queue.send("q", ["3", "4"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueError);
    expect(err).toMatchObject({ code: "queue_full" });
    expect((err as Error).message).toMatch(/"q" is full \(2 of 3 messages; 2 more refused\)/);
    expect(queue.stats("q").waiting).toBe(2);
    await queue.send("q", ["3"]);
    expect(queue.stats("q").waiting).toBe(3);
  });

  it("keeps queues apart, with per-queue settings", async () => {
    queue = new InProcessQueue({ maxMessages: 1, queues: { big: { maxMessages: 5 } } });
    await queue.send("big", ["1", "2", "3"]);
    await expect(queue.send("small", ["1", "2"])).rejects.toMatchObject({ code: "queue_full" });
  });

  it("receives a message that became visible between looking for one and going idle", async () => {
    // Every reading of this clock is 1 ms later than the last, so each
    // redelivery turns visible exactly when the consumer goes idle after an
    // empty receive — the race a CI run once hit with real time.
    let t = 0;
    queue = new InProcessQueue({
      clock: { now: () => t++ },
      visibilityTimeoutMs: 2,
      maxReceiveCount: 2,
      onError: () => {},
    });
    await queue.send("q", ["poison"]);
    queue.start("q", failAll);
    await vi.waitFor(() => expect(queue?.deadLetters("q").map((d) => d.body)).toEqual(["poison"]), {
      timeout: 2_000,
      interval: 10,
    });
  });

  it("bounds the dead-letter list, dropping (and counting) the oldest", async () => {
    queue = new InProcessQueue({
      maxReceiveCount: 1,
      visibilityTimeoutMs: 20,
      maxDeadLetters: 2,
      onError: () => {},
    });
    await queue.send("q", ["d1", "d2", "d3"]);
    queue.start("q", failAll, { batchSize: 1 });
    await vi.waitFor(() => expect(queue?.stats("q").droppedDeadLetters).toBe(1), {
      timeout: 5_000,
      interval: 10,
    });
    expect(queue.deadLetters("q").map((d) => d.body)).toEqual(["d2", "d3"]);
    expect(queue.deadLetters("q")[0]).toMatchObject({ receiveCount: 1 });
    expect(queue.stats("q")).toMatchObject({ waiting: 0, inFlight: 0, deadLetters: 2 });
  });

  it("redrives only as many dead letters as fit; the rest stay", async () => {
    queue = new InProcessQueue({
      maxReceiveCount: 1,
      visibilityTimeoutMs: 20,
      maxMessages: 2,
      onError: () => {},
    });
    await queue.send("q", ["a", "b"]);
    queue.start("q", failAll);
    await vi.waitFor(() => expect(queue?.stats("q").deadLetters).toBe(2), { timeout: 5_000, interval: 10 });
    await queue.stop();
    await queue.send("q", ["c"]);
    expect(await queue.redriveDeadLetters("q")).toEqual({ moved: 1, method: "in-process" });
    expect(queue.deadLetters("q").map((d) => d.body)).toEqual(["b"]);
    expect(queue.stats("q").waiting).toBe(2);
  });

  it("reports a throwing handler to the error hook and redelivers after the visibility timeout", async () => {
    const errors: string[] = [];
    queue = new InProcessQueue({
      visibilityTimeoutMs: 50,
      onError: (e, c) => errors.push(`${c.phase}:${(e as Error).message}`),
    });
    let calls = 0;
    const counts: string[] = [];
    queue.start("q", async (e) => {
      counts.push(...e.Records.map((r) => r.attributes.ApproximateReceiveCount));
      if (calls++ === 0) throw new Error("boom");
      return { batchItemFailures: [] };
    });
    await queue.send("q", ["m"]);
    await vi.waitFor(() => expect(counts).toEqual(["1", "2"]), { timeout: 5_000, interval: 10 });
    expect(errors).toEqual(["handler:boom"]);
  });

  it("runs `concurrency` batches at once", async () => {
    queue = new InProcessQueue();
    let active = 0;
    let peak = 0;
    queue.start(
      "q",
      async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 50));
        active--;
        return { batchItemFailures: [] };
      },
      { batchSize: 1, concurrency: 3 },
    );
    await queue.send("q", ["1", "2", "3", "4", "5", "6"]);
    await vi.waitFor(() => expect(queue?.stats("q").waiting).toBe(0), { timeout: 5_000, interval: 10 });
    await vi.waitFor(() => expect(active).toBe(0), { timeout: 5_000, interval: 10 });
    expect(peak).toBe(3);
  });
});
