/**
 * Micro-benchmark of the SSE watcher on the gateway's hot path: the cost of
 * watching a relayed stream, per event, for long (2,000 deltas) and short
 * (10 events) Responses streams, fed in the chunk sizes a socket delivers.
 *
 *   node bin/run-ts.js bench/sse-watcher.ts [--seconds 2]
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { SseWatcher, sseFrame } from "../packages/upstream/src/sse.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "2" } } });
const seconds = Number(values.seconds);

function responseStream(deltas: number): Buffer {
  const id = "resp_0123456789abcdef";
  const item = "msg_0123456789abcdef";
  const base = { id, object: "response", status: "in_progress", model: "gpt-5.4", output: [], usage: null };
  const frames = [
    sseFrame("response.created", { sequence_number: 0, response: base }),
    sseFrame("response.in_progress", { sequence_number: 1, response: base }),
    sseFrame("response.output_item.added", { sequence_number: 2, output_index: 0, item: { id: item } }),
  ];
  let seq = 3;
  for (let i = 0; i < deltas; i++)
    frames.push(
      sseFrame("response.output_text.delta", {
        sequence_number: seq++,
        item_id: item,
        output_index: 0,
        content_index: 0,
        delta: " word",
        logprobs: [],
      }),
    );
  frames.push(
    sseFrame("response.completed", {
      sequence_number: seq,
      response: {
        ...base,
        status: "completed",
        usage: {
          input_tokens: 40,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: deltas,
          total_tokens: 40 + deltas,
        },
      },
    }),
  );
  return Buffer.from(frames.join(""));
}

function measure(label: string, stream: Buffer, chunkSize: number): void {
  const events = stream.toString().split("\n\n").length - 1;
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += chunkSize) chunks.push(stream.subarray(i, i + chunkSize));
  let streams = 0;
  let completed = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < until) {
    for (let k = 0; k < 20; k++) {
      const w = new SseWatcher((s) => {
        if (s.kind === "completed") completed++;
      });
      for (const c of chunks) w.push(c);
      streams++;
    }
  }
  const ns = ((performance.now() - t0) * 1e6) / (streams * events);
  if (completed !== streams) throw new Error(`${label}: ${completed} completed of ${streams}`);
  process.stdout.write(
    `${label.padEnd(44)} ${events} events, ${chunkSize} B chunks: ${ns.toFixed(0)} ns/event, ${((ns * events) / 1000).toFixed(1)} µs/stream\n`,
  );
}

measure("long stream (2,000 deltas)", responseStream(2000), 16 * 1024);
measure("long stream (2,000 deltas)", responseStream(2000), 64 * 1024);
measure("short stream (1 delta)", responseStream(1), 4096);
