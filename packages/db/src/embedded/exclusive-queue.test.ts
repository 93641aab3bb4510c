import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExclusiveQueryQueue } from "./exclusive-queue.ts";
import { queryMessage, ReadyForQueryScanner, SYNC_MESSAGE } from "./wire.ts";

/**
 * The queue against a real in-memory PGlite, fed raw frontend messages as
 * pglite-socket's handler would (no sockets here).
 */

let engine: PGlite;
beforeAll(async () => {
  engine = await PGlite.create();
  await engine.exec("create table q (id int)");
});
afterAll(() => engine.close());

function typed(type: string, body: Buffer = Buffer.alloc(0)): Uint8Array {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
const parse = (sql: string) => typed("P", Buffer.from(`\0${sql}\0\0\0`));
const bind = () => typed("B", Buffer.alloc(8)); // portal "", statement "", no formats, no params
const execute = () => typed("E", Buffer.from([0, 0, 0, 0, 0]));

/** A fake connection: collects what the engine answers it. */
function connection(queue: ExclusiveQueryQueue, id: number) {
  const scanner = new ReadyForQueryScanner();
  const chunks: Buffer[] = [];
  return {
    send: (message: Uint8Array) =>
      queue.enqueue(id, message, (data) => {
        chunks.push(Buffer.from(data));
        scanner.push(data);
      }),
    scanner,
    text: () => Buffer.concat(chunks).toString("latin1"),
  };
}

describe("ExclusiveQueryQueue", () => {
  it("keeps the turn from a connection's first message to ReadyForQuery 'I'", async () => {
    const queue = new ExclusiveQueryQueue(engine);
    const a = connection(queue, 1);
    const b = connection(queue, 2);
    const order: string[] = [];

    await a.send(parse("select 'from-a' as who"));
    expect(queue.owner).toBe(1);
    const bDone = b.send(queryMessage("select 'from-b' as who")).then(() => order.push("b"));
    await a.send(bind());
    await a.send(execute());
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual([]); // b waits while a's batch is unfinished
    await a.send(SYNC_MESSAGE).then(() => order.push("a-sync"));
    await bDone;
    expect(order).toEqual(["a-sync", "b"]);
    expect(a.text()).toContain("from-a");
    expect(a.text()).not.toContain("from-b");
    expect(b.text()).toContain("from-b");
    expect(queue.owner).toBe(null);
  });

  it("rolls back what a dropped owner left open before anybody else runs", async () => {
    const queue = new ExclusiveQueryQueue(engine);
    const a = connection(queue, 1);
    const b = connection(queue, 2);
    await a.send(queryMessage("begin; insert into q values (1)"));
    expect(a.scanner.lastStatus).toBe("T");
    const bDone = b.send(queryMessage("select count(*) as n from q"));
    queue.clearQueueForHandler(1);
    await queue.clearTransactionIfNeeded(1);
    await bDone;
    // DataRow with one column of length 1 holding "0": a's insert is gone.
    expect(b.text()).toContain("D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x010");
    expect(queue.status).toBe("I");
  });

  it("releases a connection that drops while its last statement is still running", async () => {
    const queue = new ExclusiveQueryQueue(engine);
    const a = connection(queue, 1);
    const running = a.send(queryMessage("select 1")); // dequeued and running from here on
    expect(queue.owner).toBe(1);
    queue.clearQueueForHandler(1);
    const released = queue.clearTransactionIfNeeded(1).then(() => "released");
    const timeout = new Promise((r) => setTimeout(() => r("hung"), 2_000));
    expect(await Promise.race([released, timeout])).toBe("released");
    await running;
    expect(queue.owner).toBe(null);
  });

  it("answers a connection that waited too long with 55P03 and keeps its protocol in step", async () => {
    const queue = new ExclusiveQueryQueue(engine, { busyTimeoutMs: 100 });
    const a = connection(queue, 1);
    const b = connection(queue, 2);
    await a.send(queryMessage("begin"));
    // An extended batch: error on the first message, silence until Sync, then ReadyForQuery.
    const parsed = b.send(parse("select 1"));
    await parsed;
    expect(b.text()).toContain("C55P03");
    await b.send(bind());
    const before = b.scanner.readyCount;
    await b.send(SYNC_MESSAGE);
    expect(b.scanner.readyCount).toBe(before + 1);
    expect(b.scanner.lastStatus).toBe("I");
    await a.send(queryMessage("commit"));
    await b.send(queryMessage("select 'b-works' as ok"));
    expect(b.text()).toContain("b-works");
  });
});
