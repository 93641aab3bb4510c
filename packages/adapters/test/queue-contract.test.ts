// One contract for both queue transports: SqsQueue against this run's AWS
// emulator (through the real AWS SDK) and the in-process queue of the embedded
// default. Both must give a handler the semantics of an SQS-triggered Lambda.
import { randomUUID } from "node:crypto";
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { QueueConsumer, QueueHandler, QueueProducer, QueueRecord } from "@codex-pooler/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { awsEmulatorKind, awsTestTarget } from "../../../tests/support/aws.ts";
import { InProcessQueue } from "../src/in-process-queue.ts";
import { provisionAws } from "../src/provision.ts";
import { type DeadLetterRedrive, type RedriveResult, redriveDeadLetters } from "../src/queue.ts";
import { SqsQueue } from "../src/sqs-queue.ts";

type Transport = QueueProducer & QueueConsumer & DeadLetterRedrive;

interface Subject {
  queue: string;
  transport: Transport;
  /** How long a received message stays invisible. */
  visibilityMs: number;
  /** Bodies now in the dead-letter queue (read without removing them). */
  deadLetterBodies(): Promise<string[]>;
  /** Messages still in the source queue, visible or in flight. */
  remaining(): Promise<number>;
  redrive(method?: "auto" | "resend"): Promise<RedriveResult>;
  close(): Promise<void>;
}

interface Harness {
  name: string;
  setup(options: { maxReceiveCount: number }): Promise<Subject>;
}

const silent = () => {};

const inProcess: Harness = {
  name: "InProcessQueue",
  async setup({ maxReceiveCount }) {
    const queue = "contract";
    const visibilityMs = 400;
    const transport = new InProcessQueue({
      visibilityTimeoutMs: visibilityMs,
      maxReceiveCount,
      onError: silent,
    });
    return {
      queue,
      transport,
      visibilityMs,
      deadLetterBodies: async () => transport.deadLetters(queue).map((d) => d.body),
      remaining: async () => {
        const s = transport.stats(queue);
        return s.waiting + s.inFlight;
      },
      redrive: () => redriveDeadLetters(transport, queue),
      close: () => transport.stop(),
    };
  },
};

const sqs: Harness = {
  name: "SqsQueue",
  async setup({ maxReceiveCount }) {
    const client = new SQSClient(awsTestTarget());
    const queue = `contract-${randomUUID().slice(0, 8)}`;
    const { queueUrls, dlqUrls } = await provisionAws({
      region: awsTestTarget().region,
      queues: [queue],
      maxReceiveCount,
      visibilityTimeoutSeconds: 1,
      sqs: client,
    });
    const url = queueUrls[queue] as string;
    const dlqUrl = dlqUrls[queue] as string;
    // waitTimeSeconds 1 only keeps the tests' stop() short; stop() aborts the long poll anyway.
    const transport = new SqsQueue({ client, waitTimeSeconds: 1, onError: silent });
    const count = async (queueUrl: string) => {
      const out = await client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      return (
        Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    };
    return {
      queue,
      transport,
      visibilityMs: 1000,
      deadLetterBodies: async () => {
        // VisibilityTimeout 0: looking does not hide them from the redrive.
        const out = await client.send(
          new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
        );
        return (out.Messages ?? []).map((m) => m.Body ?? "");
      },
      remaining: () => count(url),
      redrive: (method = "auto") =>
        method === "auto"
          ? redriveDeadLetters(transport, queue)
          : new SqsQueue({ client, redriveMethod: method }).redriveDeadLetters(queue),
      close: async () => {
        await transport.stop();
        client.destroy();
      },
    };
  },
};

/** Records every delivery (body and receive count) and answers with `decide`. */
function recorder(decide: (record: QueueRecord, deliveries: Delivery[]) => "ok" | "fail" = () => "ok") {
  const deliveries: Delivery[] = [];
  const batches: QueueRecord[][] = [];
  const handler: QueueHandler = async (event) => {
    batches.push(event.Records);
    const failures: { itemIdentifier: string }[] = [];
    for (const r of event.Records) {
      deliveries.push({ body: r.body, count: Number(r.attributes.ApproximateReceiveCount) });
      if (decide(r, deliveries) === "fail") failures.push({ itemIdentifier: r.messageId });
    }
    return { batchItemFailures: failures };
  };
  const countsOf = (body: string) => deliveries.filter((d) => d.body === body).map((d) => d.count);
  return { handler, deliveries, batches, countsOf };
}

interface Delivery {
  body: string;
  count: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each([inProcess, sqs])("queue contract: $name", (harness) => {
  let subject: Subject | undefined;
  afterEach(async () => {
    await subject?.close();
    subject = undefined;
  });

  it("delivers each message once in Lambda-shaped batches and deletes what succeeded", async () => {
    subject = await harness.setup({ maxReceiveCount: 3 });
    const { queue, transport } = subject;
    const bodies = Array.from({ length: 25 }, (_, i) => JSON.stringify({ n: i }));
    const sentAt = Date.now();
    await transport.send(queue, bodies);
    const rec = recorder();
    transport.start(queue, rec.handler, { batchSize: 10 });

    await vi.waitFor(() => expect(rec.deliveries).toHaveLength(25), { timeout: 20_000, interval: 50 });
    expect(rec.deliveries.map((d) => d.body).sort()).toEqual([...bodies].sort());
    expect(Math.max(...rec.batches.map((b) => b.length))).toBeLessThanOrEqual(10);
    const first = rec.batches[0]?.[0];
    expect(first).toMatchObject({ eventSource: "aws:sqs", attributes: { ApproximateReceiveCount: "1" } });
    expect(first?.eventSourceARN).toContain(queue);
    expect(Math.abs(Number(first?.attributes.SentTimestamp) - sentAt)).toBeLessThan(60_000);

    // Deleted, so nothing comes back once the visibility timeout has passed.
    await sleep(subject.visibilityMs + 600);
    expect(rec.deliveries).toHaveLength(25);
    expect(await subject.remaining()).toBe(0);
  });

  it("splits sends at the batch byte limit", async () => {
    subject = await harness.setup({ maxReceiveCount: 3 });
    const { queue, transport } = subject;
    const big = ["a", "b", "c"].map((c) => c.repeat(100 * 1024));
    await transport.send(queue, big);
    const rec = recorder();
    transport.start(queue, rec.handler);
    await vi.waitFor(() => expect(rec.deliveries).toHaveLength(3), { timeout: 20_000, interval: 50 });
    expect(rec.deliveries.map((d) => d.body.length)).toEqual([102_400, 102_400, 102_400]);
  });

  it("redelivers only the items reported in batchItemFailures, with a higher receive count", async () => {
    subject = await harness.setup({ maxReceiveCount: 3 });
    const { queue, transport } = subject;
    await transport.send(queue, ["ok-1", "fail-once", "ok-2"]);
    const rec = recorder((r) =>
      r.body === "fail-once" && r.attributes.ApproximateReceiveCount === "1" ? "fail" : "ok",
    );
    transport.start(queue, rec.handler);

    await vi.waitFor(() => expect(rec.countsOf("fail-once")).toEqual([1, 2]), {
      timeout: 20_000,
      interval: 50,
    });
    await sleep(subject.visibilityMs + 600);
    expect(rec.countsOf("ok-1")).toEqual([1]);
    expect(rec.countsOf("ok-2")).toEqual([1]);
    expect(rec.countsOf("fail-once")).toEqual([1, 2]);
    expect(await subject.remaining()).toBe(0);
  });

  it("fails the whole batch when the handler throws", async () => {
    subject = await harness.setup({ maxReceiveCount: 3 });
    const { queue, transport } = subject;
    await transport.send(queue, ["x", "y", "z"]);
    let thrownBatch: string[] | undefined;
    const seen: Delivery[] = [];
    transport.start(queue, async (event) => {
      for (const r of event.Records)
        seen.push({ body: r.body, count: Number(r.attributes.ApproximateReceiveCount) });
      if (!thrownBatch) {
        thrownBatch = event.Records.map((r) => r.body);
        throw new Error("handler crashed");
      }
      return { batchItemFailures: [] };
    });

    await vi.waitFor(
      () => {
        expect(thrownBatch?.length).toBeGreaterThan(0);
        for (const body of thrownBatch ?? [])
          expect(seen.filter((d) => d.body === body).map((d) => d.count)).toEqual([1, 2]);
      },
      { timeout: 20_000, interval: 50 },
    );
    await vi.waitFor(async () => expect(await subject?.remaining()).toBe(0), {
      timeout: 10_000,
      interval: 200,
    });
  });

  it("fails the whole batch when a reported itemIdentifier is not in it", async () => {
    subject = await harness.setup({ maxReceiveCount: 3 });
    const { queue, transport } = subject;
    await transport.send(queue, ["p", "q"]);
    let firstBatch: string[] | undefined;
    const seen: Delivery[] = [];
    transport.start(queue, async (event) => {
      for (const r of event.Records)
        seen.push({ body: r.body, count: Number(r.attributes.ApproximateReceiveCount) });
      if (!firstBatch) {
        firstBatch = event.Records.map((r) => r.body);
        return { batchItemFailures: [{ itemIdentifier: "not-in-this-batch" }] };
      }
      return { batchItemFailures: [] };
    });
    await vi.waitFor(
      () => {
        expect(firstBatch?.length).toBeGreaterThan(0);
        for (const body of firstBatch ?? [])
          expect(seen.filter((d) => d.body === body).map((d) => d.count)).toEqual([1, 2]);
      },
      { timeout: 20_000, interval: 50 },
    );
  });

  it("dead-letters a poison message after maxReceiveCount and redrives it back", async () => {
    subject = await harness.setup({ maxReceiveCount: 2 });
    const { queue, transport } = subject;
    let acceptPoison = false;
    const rec = recorder((r) => (r.body === "poison" && !acceptPoison ? "fail" : "ok"));
    await transport.send(queue, ["poison", "fine"]);
    transport.start(queue, rec.handler);

    await vi.waitFor(async () => expect(await subject?.deadLetterBodies()).toEqual(["poison"]), {
      timeout: 30_000,
      interval: 250,
    });
    // Delivered exactly maxReceiveCount times, never a third.
    await sleep(subject.visibilityMs + 600);
    expect(rec.countsOf("poison")).toEqual([1, 2]);
    expect(rec.countsOf("fine")).toEqual([1]);

    acceptPoison = true;
    const result = await subject.redrive();
    expect(result.moved).toBe(1);
    if (harness === sqs) {
      expect(result.method).toBe(awsEmulatorKind() === "localstack" ? "message-move-task" : "resend");
    }
    await vi.waitFor(() => expect(rec.countsOf("poison")).toHaveLength(3), { timeout: 20_000, interval: 50 });
    await vi.waitFor(async () => expect(await subject?.remaining()).toBe(0), {
      timeout: 10_000,
      interval: 200,
    });
    expect(await subject.deadLetterBodies()).toEqual([]);
  });

  it("stop() lets the batch in hand finish and settle", async () => {
    subject = await harness.setup({ maxReceiveCount: 3 });
    const { queue, transport } = subject;
    await transport.send(queue, ["slow"]);
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => {
      entered = r;
    });
    let finished = false;
    transport.start(queue, async () => {
      entered();
      await sleep(500);
      finished = true;
      return { batchItemFailures: [] };
    });
    await inHandler;
    await transport.stop();
    expect(finished).toBe(true);
    // Its success was deleted before stop() resolved: a new consumer gets nothing.
    const rec = recorder();
    transport.start(queue, rec.handler);
    await sleep(subject.visibilityMs + 800);
    expect(rec.deliveries).toEqual([]);
    expect(await subject.remaining()).toBe(0);
  });
});

describe("SqsQueue against the emulator", () => {
  it("redrives by receive-and-resend where asked to (the fallback for endpoints without StartMessageMoveTask)", async () => {
    const subject = await sqs.setup({ maxReceiveCount: 1 });
    try {
      const { queue, transport } = subject;
      await transport.send(queue, ["r1", "r2", "r3"]);
      let accept = false;
      const rec = recorder(() => (accept ? "ok" : "fail"));
      transport.start(queue, rec.handler);
      await vi.waitFor(
        async () => expect((await subject.deadLetterBodies()).sort()).toEqual(["r1", "r2", "r3"]),
        {
          timeout: 30_000,
          interval: 250,
        },
      );
      accept = true;
      expect(await subject.redrive("resend")).toEqual({ moved: 3, method: "resend" });
      await vi.waitFor(
        () => expect(rec.deliveries.filter((d) => d.count === 1).length).toBeGreaterThanOrEqual(6),
        {
          timeout: 20_000,
          interval: 50,
        },
      );
      await vi.waitFor(async () => expect(await subject.remaining()).toBe(0), {
        timeout: 10_000,
        interval: 200,
      });
    } finally {
      await subject.close();
    }
  });

  it("reports a missing queue by name", async () => {
    const client = new SQSClient(awsTestTarget());
    try {
      const q = new SqsQueue({ client });
      await expect(q.send("no-such-queue-here", ["x"])).rejects.toMatchObject({
        code: "queue_not_found",
        message: expect.stringContaining("no-such-queue-here"),
      });
    } finally {
      client.destroy();
    }
  });
});
