// Measures the simulator's own cost. Runs it in a child process (request log off), drives it from this
// process with a minimal keep-alive HTTP/1.1 client on raw sockets, and reads the child's CPU time from the
// control API, so the figure is the simulator's CPU per request, not the load generator's.
//
//   node bin/run-ts.js packages/simulator/src/bench.ts [--seconds 5] [--connections 32] [--idle 2000]
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import WebSocket from "ws";

interface Started {
  baseUrl: string;
  controlUrl: string;
  tokens: string[];
  stop: () => Promise<void>;
}

async function startChild(accounts: number): Promise<Started> {
  const main = fileURLToPath(new URL("./main.ts", import.meta.url));
  const runTs = fileURLToPath(new URL("../../../bin/run-ts.js", import.meta.url));
  const child = spawn(process.execPath, [runTs, main, "--accounts", String(accounts), "--request-log", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = "";
    child.stdout.on("data", (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once("exit", (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  const info = JSON.parse(line) as { baseUrl: string; controlUrl: string };
  const accountsInfo = (await (await fetch(`${info.controlUrl}/accounts`)).json()) as {
    accessToken: string;
  }[];
  return {
    ...info,
    tokens: accountsInfo.map((a) => a.accessToken),
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

async function cpu(controlUrl: string): Promise<{ micros: number; rss: number; requests: number }> {
  const s = (await (await fetch(`${controlUrl}/stats`)).json()) as {
    cpuMicros: { user: number; system: number };
    rssBytes: number;
    requests: number;
  };
  return { micros: s.cpuMicros.user + s.cpuMicros.system, rss: s.rssBytes, requests: s.requests };
}

function requestBytes(host: string, token: string, prompt: string, session: string): Buffer {
  const body = JSON.stringify({
    model: "gpt-5.4",
    stream: true,
    store: false,
    input: [{ type: "message", role: "user", content: [{ type: "input_text", text: prompt }] }],
  });
  return Buffer.from(
    `POST /backend-api/codex/responses HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${token}\r\n` +
      `content-type: application/json\r\naccept: text/event-stream\r\nsession-id: ${session}\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** One keep-alive connection sending the same request back to back; a response ends at the chunked terminator. */
function loop(port: number, req: Buffer, until: number, onDone: (bytes: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(port, "127.0.0.1");
    sock.setNoDelay(true);
    let tail = "";
    let bytes = 0;
    sock.on("connect", () => sock.write(req));
    sock.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      tail = (tail + chunk.toString("latin1")).slice(-16);
      if (tail.endsWith("\r\n0\r\n\r\n")) {
        tail = "";
        onDone(bytes);
        bytes = 0;
        if (Date.now() < until) sock.write(req);
        else sock.end();
      }
    });
    sock.on("close", () => resolve());
    sock.on("error", reject);
  });
}

async function scenario(
  sim: Started,
  label: string,
  prompt: string,
  seconds: number,
  connections: number,
): Promise<Record<string, number | string>> {
  const url = new URL(sim.baseUrl);
  const port = Number(url.port);
  let count = 0;
  let bytes = 0;
  const before = await cpu(sim.controlUrl);
  const t0 = performance.now();
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, (_, i) =>
      loop(
        port,
        requestBytes(url.host, sim.tokens[i % sim.tokens.length]!, prompt, `bench-${i}`),
        until,
        (b) => {
          count += 1;
          bytes += b;
        },
      ),
    ),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const after = await cpu(sim.controlUrl);
  const cpuMicros = after.micros - before.micros;
  return {
    scenario: label,
    requests: count,
    requestsPerSecond: Math.round(count / elapsed),
    simulatorCpuMicrosPerRequest: Math.round((cpuMicros / count) * 10) / 10,
    simulatorCpuShareOfOneCore: Math.round((cpuMicros / 1e6 / elapsed) * 100) / 100,
    responseBytesPerRequest: Math.round(bytes / count),
  };
}

/** `connections` websockets, each sending `response.create` turns back to back (no prewarm). */
async function websocketTurns(
  sim: Started,
  seconds: number,
  connections: number,
): Promise<Record<string, number | string>> {
  const url = `${sim.baseUrl.replace("http", "ws")}/backend-api/codex/responses`;
  const frame = JSON.stringify({
    type: "response.create",
    model: "gpt-5.4",
    store: false,
    stream: true,
    input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "sim: reply PONG" }] }],
  });
  let count = 0;
  const before = await cpu(sim.controlUrl);
  const t0 = performance.now();
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from(
      { length: connections },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url, {
            headers: {
              authorization: `Bearer ${sim.tokens[i % sim.tokens.length]}`,
              "openai-beta": "responses_websockets=2026-02-06",
            },
            perMessageDeflate: false,
          });
          ws.on("open", () => ws.send(frame));
          ws.on("message", (m) => {
            // Cheap check on the raw frame: only the terminal event starts with this prefix.
            if (!String(m).startsWith('{"type":"response.completed"')) return;
            count += 1;
            if (Date.now() < until) ws.send(frame);
            else ws.close();
          });
          ws.on("close", () => resolve());
          ws.on("error", reject);
        }),
    ),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const after = await cpu(sim.controlUrl);
  return {
    scenario: "websocket turns (sim: reply PONG)",
    turns: count,
    turnsPerSecond: Math.round(count / elapsed),
    simulatorCpuMicrosPerTurn: Math.round(((after.micros - before.micros) / count) * 10) / 10,
  };
}

/** Opens `n` streams that stall after two events and stay open; reports the simulator's memory. */
async function idleStreams(sim: Started, n: number): Promise<Record<string, number | string>> {
  const url = new URL(sim.baseUrl);
  const port = Number(url.port);
  const before = await cpu(sim.controlUrl);
  const sockets: Socket[] = [];
  let headersSeen = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    let opened = 0;
    const openOne = (i: number) => {
      const s = connect(port, "127.0.0.1");
      sockets.push(s);
      s.on("connect", () =>
        s.write(requestBytes(url.host, sim.tokens[i % sim.tokens.length]!, "sim: fail stall 2", `idle-${i}`)),
      );
      s.once("data", () => {
        headersSeen += 1;
        if (headersSeen === n) resolve();
      });
      s.on("error", reject);
      opened += 1;
      if (opened < n) setImmediate(() => openOne(opened));
    };
    openOne(0);
  });
  const openMs = performance.now() - t0;
  const during = await cpu(sim.controlUrl);
  const stats = (await (await fetch(`${sim.controlUrl}/stats`)).json()) as { activeStreams: number };
  for (const s of sockets) s.destroy();
  return {
    scenario: `${n} idle open streams`,
    activeStreamsReported: stats.activeStreams,
    openAllMs: Math.round(openMs),
    simulatorRssMiBBefore: Math.round(before.rss / 1048576),
    simulatorRssMiBWithStreams: Math.round(during.rss / 1048576),
    simulatorCpuMicrosPerStreamOpened: Math.round((during.micros - before.micros) / n),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "5" },
      connections: { type: "string", default: "32" },
      idle: { type: "string", default: "2000" },
    },
  });
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const sim = await startChild(8);
  try {
    // Warm-up so JIT and buffers settle before measuring.
    await scenario(sim, "warm-up", "sim: reply PONG", 1, connections);
    const results = [
      await scenario(sim, "short SSE stream (sim: reply PONG)", "sim: reply PONG", seconds, connections),
      await scenario(
        sim,
        "long SSE stream (2,000 deltas)",
        "sim: tokens 2000",
        seconds,
        Math.min(connections, 8),
      ),
      await websocketTurns(sim, seconds, connections),
      await idleStreams(sim, Number(values.idle)),
    ];
    for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
  } finally {
    await sim.stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
