import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type DatabaseHandle, openDatabase } from "@codex-pooler/db";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isServedByMe, makeTempDir, Peer } from "./support.ts";

/**
 * The embedded engine can be open in one process only; every other process
 * (a CLI command while `serve` runs) reaches it through the owner's loopback
 * server. These tests run a real second process (test/fixtures/embedded-peer.ts).
 */

const labels = async (handle: DatabaseHandle): Promise<string[]> =>
  (await sql<{ label: string }>`select label from peer_log order by label`.execute(handle.db)).rows.map(
    (r) => r.label,
  );

const createLog = (handle: DatabaseHandle) =>
  sql`create table if not exists peer_log (label text primary key)`.execute(handle.db);

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.kill()));
});

describe("a second process while this one owns the engine", () => {
  let dataDir: { path: string; remove(): Promise<void> };
  let handle: DatabaseHandle;

  beforeAll(async () => {
    dataDir = await makeTempDir("sharing");
    handle = await openDatabase({ dataDir: dataDir.path });
    await createLog(handle);
  });
  afterAll(async () => {
    await handle.close();
    await dataDir.remove();
  });

  it("publishes server.json (mode 0600) and the peer reads what we wrote", async () => {
    expect(await isServedByMe(dataDir.path)).toBe(true);
    const serverFile = join(dataDir.path, "pglite", "server.json");
    const info = JSON.parse(await readFile(serverFile, "utf8")) as {
      pid: number;
      port: number;
      password: string;
    };
    expect(info.pid).toBe(process.pid);
    expect(info.password.length).toBeGreaterThanOrEqual(32);
    expect(handle.url).not.toContain(info.password);
    expect(handle.url).toBe(`postgres://postgres@127.0.0.1:${info.port}/postgres`);
    const { statSync } = await import("node:fs");
    expect(statSync(serverFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir.path, "pglite")).mode & 0o777).toBe(0o700);

    // The port is not open to whoever can reach 127.0.0.1.
    const stranger = new pg.Client({
      host: "127.0.0.1",
      port: info.port,
      user: "postgres",
      database: "postgres",
    });
    stranger.on("error", () => undefined);
    await expect(stranger.connect()).rejects.toThrow();
    await stranger.end().catch(() => undefined);

    await sql`insert into peer_log (label) values ('parent-1')`.execute(handle.db);
    const peer = new Peer(dataDir.path);
    peers.push(peer);
    expect(await peer.request({ op: "open" }, "opened")).toMatchObject({ owner: false });
    expect((await peer.request({ op: "labels" }, "labels")).labels).toEqual(["parent-1"]);
    await peer.request({ op: "insert", label: "peer-1" }, "inserted");
    expect(await labels(handle)).toEqual(["parent-1", "peer-1"]);
  });

  it("keeps parameterised queries of both processes apart under load", async () => {
    const peer = new Peer(dataDir.path);
    peers.push(peer);
    await peer.request({ op: "open" }, "opened");
    peer.send({ op: "parallel", n: 300 });
    const mine = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        sql<{ a: number; b: string }>`select ${i}::int as a, ${`parent-${i}`}::text as b`.execute(handle.db),
      ),
    );
    expect(mine.filter((r, i) => r.rows[0]?.a !== i || r.rows[0]?.b !== `parent-${i}`)).toHaveLength(0);
    expect((await peer.next("parallel")).wrong).toBe(0);
  });

  it("runs concurrent transactions of both processes one after the other", async () => {
    const peer = new Peer(dataDir.path);
    peers.push(peer);
    await peer.request({ op: "open" }, "opened");

    // Our transaction is open; the peer's must wait for it, then see its row.
    await handle.db.transaction().execute(async (tx) => {
      await sql`insert into peer_log (label) values ('tx-parent')`.execute(tx);
      peer.send({ op: "txInsertAndList", label: "tx-peer" });
      await new Promise((r) => setTimeout(r, 700));
      expect(peer.has("listed")).toBe(false);
      // Nothing of the peer's leaked into our transaction (they share one engine session).
      const inside = await sql<{ label: string }>`select label from peer_log`.execute(tx);
      expect(inside.rows.map((r) => r.label)).not.toContain("tx-peer");
    });
    expect((await peer.next("listed")).labels).toContain("tx-parent");

    // And the other way round: the peer holds a transaction, our query waits for its commit.
    await peer.request({ op: "hold", label: "held-by-peer" }, "holding");
    let answered = false;
    const ours = labels(handle).then((l) => {
      answered = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(answered).toBe(false);
    peer.send({ op: "commit" });
    expect(await ours).toContain("held-by-peer");
    await peer.next("committed");
  });

  it("rolls back the transaction of a peer that dies holding it, and carries on", async () => {
    const peer = new Peer(dataDir.path);
    peers.push(peer);
    await peer.request({ op: "open" }, "opened");
    await peer.request({ op: "hold", label: "never-committed" }, "holding");
    await peer.kill();
    const after = await labels(handle);
    expect(after).not.toContain("never-committed");
    await sql`insert into peer_log (label) values ('after-kill')`.execute(handle.db);
    expect(await labels(handle)).toContain("after-kill");
  });
});

describe("when the owner goes away", () => {
  let dataDir: { path: string; remove(): Promise<void> };
  let handle: DatabaseHandle | undefined;

  beforeAll(async () => {
    dataDir = await makeTempDir("handover");
  });
  afterAll(async () => {
    await handle?.close();
    await dataDir.remove();
  });

  it("a client keeps working through a graceful handover and becomes the owner", async () => {
    const owner = new Peer(dataDir.path);
    peers.push(owner);
    expect(await owner.request({ op: "open" }, "opened")).toMatchObject({ owner: true });
    handle = await openDatabase({ dataDir: dataDir.path });
    expect(await isServedByMe(dataDir.path)).toBe(false);
    await createLog(handle);

    // A steady stream of single statements and transactions while the owner closes.
    let stop = false;
    let done = 0;
    const worker = async (n: number) => {
      for (let i = 0; !stop; i++) {
        if (i % 2) {
          await sql`insert into peer_log (label) values (${`w${n}-${i}`})`.execute(handle!.db);
        } else {
          await handle!.db.transaction().execute(async (tx) => {
            await sql`insert into peer_log (label) values (${`w${n}-${i}`})`.execute(tx);
            await sql`select count(*) from peer_log`.execute(tx);
          });
        }
        done++;
      }
    };
    const workers = [worker(1), worker(2), worker(3)];
    await new Promise((r) => setTimeout(r, 300));
    await owner.request({ op: "close" }, "closed");
    await owner.exited();
    const before = done;
    await new Promise((r) => setTimeout(r, 300));
    const deadline = Date.now() + 30_000;
    while (done < before + 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(workers);
    expect(done).toBeGreaterThanOrEqual(before + 20);
    expect(await isServedByMe(dataDir.path)).toBe(true);
    expect((await labels(handle)).length).toBe(done);
  });

  it("a client takes over from an owner that was killed, with the owner's committed data", async () => {
    await handle?.close();
    handle = undefined;
    const owner = new Peer(dataDir.path);
    peers.push(owner);
    expect(await owner.request({ op: "open" }, "opened")).toMatchObject({ owner: true });
    await owner.request({ op: "insert", label: "from-killed-owner" }, "inserted");
    handle = await openDatabase({ dataDir: dataDir.path });
    expect(await isServedByMe(dataDir.path)).toBe(false);
    await owner.kill();
    // Let the pool see its idle connections close (a statement sent on a
    // connection whose server just died fails: it may or may not have run).
    await new Promise((r) => setTimeout(r, 200));
    // The lock and server.json still name the dead owner: the next connection recovers.
    await expect(handle.ping(60_000)).resolves.toBeUndefined();
    expect(await labels(handle)).toContain("from-killed-owner");
    expect(await isServedByMe(dataDir.path)).toBe(true);
  });
});
