import { type Logger, recordBatchMessageSchema } from "@codex-pooler/core";
import { describe, expect, it } from "vitest";
import { RequestRecorder, startAttempt, startRecord } from "./records.ts";

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger };

function finished(i: number) {
  const r = startRecord({
    id: `req_${String(i).padStart(26, "0")}`,
    route: "codex_responses",
    transport: "http_sse",
    originator: "codex_cli_rs",
    startedAt: 1_700_000_000_000,
  });
  r.status = "succeeded";
  r.model = i % 2 ? 'odd "quoted" \\ model' : "gpt-5";
  const a = startAttempt(r, {
    id: `att_${String(i).padStart(26, "0")}`,
    attemptNo: 1,
    accountId: "acc_00000000000000000000000001",
    startedAt: r.startedAt,
  });
  a.status = "succeeded";
  return r;
}

describe("RequestRecorder", () => {
  it("packs records into valid batch messages of at most recordsPerMessage, in order", async () => {
    const sent: string[][] = [];
    const recorder = new RequestRecorder({
      queue: "q",
      producer: { send: async (_q, bodies) => void sent.push([...bodies]) },
      logger: silentLogger,
      recordsPerMessage: 2,
      flushIntervalMs: 60_000,
    });
    const records = [0, 1, 2, 3, 4].map(finished);
    for (const r of records) recorder.record(r);
    await recorder.close();
    expect(sent).toHaveLength(1);
    const messages = sent[0]!.map((b) => recordBatchMessageSchema.parse(JSON.parse(b)));
    expect(messages.map((m) => m.records.length)).toEqual([2, 2, 1]);
    expect(messages.flatMap((m) => m.records)).toEqual(records);
    expect(recorder.sent).toBe(5);
  });

  it("keeps what could not be sent and sends it with the next flush", async () => {
    let fail = true;
    const sent: string[] = [];
    const recorder = new RequestRecorder({
      queue: "q",
      producer: {
        send: async (_q, bodies) => {
          if (fail) throw new Error("queue down");
          sent.push(...bodies);
        },
      },
      logger: silentLogger,
      flushIntervalMs: 60_000,
    });
    recorder.record(finished(1));
    await recorder.flush();
    expect(recorder.pending).toBe(1);
    fail = false;
    recorder.record(finished(2));
    await recorder.close();
    expect(recorder.pending).toBe(0);
    expect(sent.flatMap((b) => JSON.parse(b).records.map((r: { id: string }) => r.id))).toEqual([
      finished(1).id,
      finished(2).id,
    ]);
  });
});
