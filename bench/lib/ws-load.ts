/**
 * Websocket turns: `connections` sockets, each sending a `response.create`
 * frame as soon as the previous turn's `response.completed` arrived, for
 * `durationMs`. Uses the `ws` client (already a dependency of the project's
 * tests) without compression, like the Codex CLI's default.
 */
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

export interface WsRun {
  sockets: number;
  turns: number;
  sent: number;
  errors: number;
  errorKinds: Record<string, number>;
  latenciesUs: number[];
  elapsedMs: number;
}

const COMPLETED = '{"type":"response.completed"';
const FAILED = ['{"type":"response.failed"', '{"type":"error"', '{"type":"response.incomplete"'];

export async function websocketTurns(opts: {
  url: string;
  headers: Record<string, string>;
  frame: string;
  connections: number;
  durationMs: number;
  /** Gives up on a socket whose turn has not finished this long after the run's end. */
  graceMs?: number;
}): Promise<WsRun> {
  const run: WsRun = {
    sockets: opts.connections,
    turns: 0,
    sent: 0,
    errors: 0,
    errorKinds: {},
    latenciesUs: [],
    elapsedMs: 0,
  };
  const fail = (kind: string) => {
    run.errors++;
    run.errorKinds[kind] = (run.errorKinds[kind] ?? 0) + 1;
  };
  let until = Number.POSITIVE_INFINITY;
  let startAll: () => void = () => {};
  const started = new Promise<void>((r) => {
    startAll = r;
  });
  const opened: Array<Promise<void>> = [];
  // Every listener is attached when the socket is made: a socket that closes early is never missed.
  const finished = Array.from(
    { length: opts.connections },
    () =>
      new Promise<void>((resolve) => {
        const ws = new WebSocket(opts.url, { headers: opts.headers, perMessageDeflate: false });
        let sentAt = 0;
        let waiting = false;
        let isOpen = false;
        let refused = false;
        let resolveOpen: () => void = () => {};
        opened.push(
          new Promise<void>((r) => {
            resolveOpen = r;
          }),
        );
        const next = () => {
          if (performance.now() >= until || ws.readyState !== WebSocket.OPEN) {
            ws.close(1000);
            return;
          }
          sentAt = performance.now();
          waiting = true;
          run.sent++;
          ws.send(opts.frame);
        };
        ws.once("open", () => {
          isOpen = true;
          resolveOpen();
          void started.then(next);
        });
        ws.once("unexpected-response", (_req, res) => {
          refused = true;
          fail(`upgrade_${res.statusCode}`);
          res.resume();
          ws.terminate();
        });
        ws.on("message", (data: Buffer, isBinary: boolean) => {
          if (isBinary) return;
          // Only the start of a frame is looked at: the event type is its first field.
          const start = data.toString("latin1", 0, 40);
          if (start.startsWith(COMPLETED)) {
            waiting = false;
            run.turns++;
            run.latenciesUs.push((performance.now() - sentAt) * 1000);
            next();
          } else if (FAILED.some((f) => start.startsWith(f))) {
            waiting = false;
            fail(start.slice(9, start.indexOf('"', 9)));
            next();
          }
        });
        // The reason a socket broke is worth keeping (the close that follows counts the error).
        ws.on("error", (err: Error) => {
          const kind = `ws_error: ${err.message.slice(0, 80)}`;
          run.errorKinds[kind] = (run.errorKinds[kind] ?? 0) + 1;
        });
        ws.once("close", (code: number) => {
          if (!isOpen) {
            if (!refused) fail("connect_failed");
            resolveOpen();
          } else if (waiting) fail(`closed_mid_turn_${code}`);
          else if (performance.now() < until) fail(`closed_early_${code}`);
          resolve();
        });
        const guard = setInterval(() => {
          if (performance.now() > until + (opts.graceMs ?? 10_000)) ws.terminate();
        }, 500);
        guard.unref();
        ws.once("close", () => clearInterval(guard));
      }),
  );
  await Promise.all(opened);
  const t0 = performance.now();
  until = t0 + opts.durationMs;
  startAll();
  await Promise.all(finished);
  run.elapsedMs = performance.now() - t0;
  return run;
}
