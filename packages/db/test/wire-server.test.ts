import { connect, type Socket } from "node:net";
import { isNotExecuted } from "@codex-pooler/db/embedded/pool";
import { startWireServer, type WireServer } from "@codex-pooler/db/embedded/wire-server";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

/**
 * The loopback server in front of one in-memory PGlite, driven by real `pg`
 * clients and, where the point is what a client leaves half-done, by a raw
 * socket speaking the wire protocol.
 */

let engine: PGlite;
let server: WireServer;
const clients: pg.Client[] = [];

async function client(port = server.port): Promise<pg.Client> {
  const c = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
  c.on("error", () => undefined);
  await c.connect();
  clients.push(c);
  return c;
}

beforeAll(async () => {
  engine = await PGlite.create();
  server = await startWireServer(engine);
  const c = await client();
  await c.query("create table items (id int primary key, note text)");
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
  const c = await client();
  await c.query("delete from items");
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
  await server.stop(1_000);
  await engine.close();
});

// --- a minimal raw frontend --------------------------------------------------

function typed(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
const cstr = (s: string) => Buffer.from(`${s}\0`);
const int16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

async function rawSession(): Promise<{
  socket: Socket;
  received: () => Buffer;
  waitFor: (type: string) => Promise<void>;
}> {
  const socket = connect({ host: "127.0.0.1", port: server.port });
  let data = Buffer.alloc(0);
  socket.on("data", (d) => {
    data = Buffer.concat([data, d]);
  });
  socket.on("error", () => undefined);
  await new Promise((r) => socket.once("connect", r));
  const waitFor = async (type: string) => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      // Walk whole messages looking for `type`.
      for (let i = 0; i + 5 <= data.length; i += 1 + data.readInt32BE(i + 1)) {
        if (String.fromCharCode(data[i]!) === type) {
          data = data.subarray(i + 1 + data.readInt32BE(i + 1));
          return;
        }
      }
      if (Date.now() > deadline) throw new Error(`no '${type}' from the server`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const params = Buffer.from("user\0postgres\0database\0postgres\0\0");
  const startup = Buffer.alloc(8);
  startup.writeInt32BE(8 + params.length, 0);
  startup.writeInt32BE(196608, 4);
  socket.write(Buffer.concat([startup, params]));
  await waitFor("Z");
  return { socket, received: () => data, waitFor };
}

const ids = async (): Promise<number[]> =>
  (await (await client()).query<{ id: number }>("select id from items order by id")).rows.map((r) => r.id);

// -----------------------------------------------------------------------------

describe("embedded wire server", () => {
  it("keeps extended-protocol batches of several connections apart, even when a message spans many reads", async () => {
    // An 8 MB parameter cannot arrive in one read; between its pieces other
    // connections' whole batches arrive. pglite-socket's stock queue lets
    // them run in between and they clobber the unnamed statement.
    const big = "y".repeat(8_000_000);
    const results = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const c = await client();
        return i % 2
          ? c.query<{ a: number; b: number }>("select $1::int as a, length($2::text) as b", [i, big])
          : c.query<{ a: number; b: string }>("select $1::int as a, $2::text as b", [i, `small-${i}`]);
      }),
    );
    results.forEach((r, i) => {
      expect(r.rows[0]).toEqual(i % 2 ? { a: i, b: big.length } : { a: i, b: `small-${i}` });
    });
  });

  it("gives a connection with an open transaction the engine until it ends", async () => {
    const a = await client();
    const b = await client();
    await a.query("begin");
    await a.query("insert into items values (1, 'a')");
    const bSees = b.query<{ n: number }>("select count(*)::int as n from items");
    await new Promise((r) => setTimeout(r, 150));
    await a.query("commit");
    expect((await bSees).rows[0]?.n).toBe(1);
  });

  it("fails a statement that waited longer than busyTimeoutMs with 55P03, and the connection stays usable", async () => {
    const local = await PGlite.create();
    const impatient = await startWireServer(local, { busyTimeoutMs: 300 });
    try {
      const a = await client(impatient.port);
      const b = await client(impatient.port);
      await a.query("begin");
      await expect(b.query("select 1")).rejects.toMatchObject({ code: "55P03" });
      await expect(b.query("select $1::int as x", [5])).rejects.toMatchObject({ code: "55P03" });
      await a.query("commit");
      expect((await b.query("select $1::int as x", [7])).rows).toEqual([{ x: 7 }]);
      expect((await b.query("select 8 as x")).rows).toEqual([{ x: 8 }]);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
      await impatient.stop(1_000);
      await local.close();
    }
  });

  it("rolls back the transaction of a connection that drops, and frees the engine", async () => {
    const raw = await rawSession();
    raw.socket.write(typed("Q", cstr("begin; insert into items values (10, 'dropped')")));
    await raw.waitFor("Z");
    raw.socket.destroy();
    expect(await ids()).toEqual([]);
  });

  it("never commits the unfinished batch (no Sync) of a connection that drops", async () => {
    const raw = await rawSession();
    raw.socket.write(
      Buffer.concat([
        typed("P", cstr(""), cstr("insert into items values (20, 'half')"), int16(0)),
        typed("B", cstr(""), cstr(""), int16(0), int16(0), int16(0)),
        typed("E", cstr(""), Buffer.from([0, 0, 0, 0])),
        typed("H"), // Flush: make the engine answer without ending the batch
      ]),
    );
    await raw.waitFor("C"); // CommandComplete: the INSERT ran inside the batch's implicit transaction
    raw.socket.destroy();
    expect(await ids()).toEqual([]);
    // The next batch of another connection is not swallowed by a leftover error state.
    const c = await client();
    await c.query("insert into items values ($1, $2)", [21, "next"]);
    expect(await ids()).toEqual([21]);
  });
});

describe("stopping the embedded wire server", () => {
  it("lets the open transaction finish, tells waiting connections nothing of theirs ran, then closes", async () => {
    const local = await PGlite.create();
    const stopping = await startWireServer(local, { busyTimeoutMs: 10_000 });
    try {
      const a = await client(stopping.port);
      const b = await client(stopping.port);
      await a.query("create table t (id int)");
      await a.query("begin");
      await a.query("insert into t values (1)");
      const waiting = b.query("insert into t values ($1)", [2]).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 100));
      const stopped = stopping.stop(5_000);
      await new Promise((r) => setTimeout(r, 100));
      await a.query("commit");
      await stopped;
      const err = await waiting;
      expect(isNotExecuted(err)).toBe(true);
      const rows = await local.query<{ id: number }>("select id from t");
      expect(rows.rows).toEqual([{ id: 1 }]);
    } finally {
      await stopping.stop(0);
      await local.close();
    }
  });

  it("rolls back a transaction still open after the grace period (not retryable for its owner)", async () => {
    const local = await PGlite.create();
    const stopping = await startWireServer(local);
    try {
      const a = await client(stopping.port);
      await a.query("create table t (id int)");
      await a.query("begin");
      await a.query("insert into t values (1)");
      const lost = new Promise<unknown>((resolve) => a.once("error", resolve));
      await stopping.stop(200);
      const err = await lost;
      expect(err).toMatchObject({ code: "57P01" });
      expect(isNotExecuted(err)).toBe(false);
      expect((await local.query("select id from t")).rows).toEqual([]);
    } finally {
      await local.close();
    }
  });
});

describe("the embedded wire server's password", () => {
  it("admits only connections that send it, and runs nothing for the others", async () => {
    const local = await PGlite.create();
    const guarded = await startWireServer(local, { password: "right-password" });
    const connectWith = async (password: string) => {
      const c = new pg.Client({
        host: "127.0.0.1",
        port: guarded.port,
        user: "postgres",
        password,
        database: "postgres",
      });
      c.on("error", () => undefined);
      await c.connect();
      clients.push(c);
      return c;
    };
    try {
      const ok = await connectWith("right-password");
      await ok.query("create table t (id int)");
      await expect(connectWith("wrong-password")).rejects.toMatchObject({ code: "28P01" });

      // A raw client that skips the startup and password and just sends a query.
      const socket = connect({ host: "127.0.0.1", port: guarded.port });
      socket.on("error", () => undefined);
      let reply = Buffer.alloc(0);
      socket.on("data", (d) => {
        reply = Buffer.concat([reply, d]);
      });
      await new Promise((r) => socket.once("connect", r));
      socket.write(typed("Q", cstr("insert into t values (1)")));
      const deadline = Date.now() + 5_000;
      while (!reply.includes("28000") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      socket.destroy();
      expect(reply.toString("latin1")).toContain("C28000");
      expect((await ok.query("select count(*)::int as n from t")).rows).toEqual([{ n: 0 }]);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
      await guarded.stop(1_000);
      await local.close();
    }
  });
});
