import type { QueueRecord } from "@codex-pooler/core";
import { describe, expect, it } from "vitest";
import { failedRecords } from "./queue.ts";

const rec = (id: string): QueueRecord => ({
  messageId: id,
  receiptHandle: `rh-${id}`,
  body: "{}",
  attributes: { ApproximateReceiveCount: "1", SentTimestamp: "0" },
  eventSource: "aws:sqs",
  eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:q",
});
const batch = [rec("a"), rec("b"), rec("c")];

describe("failedRecords (Lambda ReportBatchItemFailures rules)", () => {
  it("treats no result and an empty list as full success", () => {
    expect(failedRecords(batch, undefined)).toEqual(new Set());
    expect(failedRecords(batch, null)).toEqual(new Set());
    expect(failedRecords(batch, { batchItemFailures: [] })).toEqual(new Set());
  });

  it("returns the reported ids", () => {
    expect(
      failedRecords(batch, { batchItemFailures: [{ itemIdentifier: "b" }, { itemIdentifier: "c" }] }),
    ).toEqual(new Set(["b", "c"]));
  });

  it("fails the whole batch on an id not in the batch, an empty id, or a malformed list", () => {
    expect(failedRecords(batch, { batchItemFailures: [{ itemIdentifier: "zzz" }] })).toBe("all");
    expect(failedRecords(batch, { batchItemFailures: [{ itemIdentifier: "" }] })).toBe("all");
    expect(failedRecords(batch, { batchItemFailures: "b" } as never)).toBe("all");
    expect(failedRecords(batch, { batchItemFailures: [null] } as never)).toBe("all");
  });
});
