/**
 * The upstream client in isolation: CPU per short streamed answer (≈ 3 KB of
 * SSE) read to its end, undici's `request()` (a Readable body read with
 * `for await`, over a keep-alive undici Agent) against `sendUpstream` (our
 * HTTP/1.1 client, packages/upstream/src/http1.ts), both against the
 * simulator (its own process, so its CPU is not counted).
 *
 *   node bin/run-ts.js bench/upstream-client.ts [--requests 10000] [--concurrency 32]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createUpstreamAgent, sendUpstream } from "@codex-pooler/upstream";

// The undici that packages/upstream uses (the repository root may hold another major).
const { request } = createRequire(fileURLToPath(import.meta.resolve("@codex-pooler/upstream")))("undici") as {
  request(url: string, options: Record<string, unknown>): Promise<{ body: AsyncIterable<Buffer> }>;
};

const { values } = parseArgs({
  options: { requests: { type: "string", default: "10000" }, concurrency: { type: "string", default: "32" } },
});
const N = Number(values.requests);
const C = Number(values.concurrency);

const dir = mkdtempSync(join(tmpdir(), "cxp-upstream-bench-"));
const bin = fileURLToPath(new URL("../bin/codex-pooler.js", import.meta.url));
const sim = spawn(process.execPath, [bin, "simulator", "--auth-dir", dir, "--request-log", "0"], {
  stdio: ["ignore", "pipe", "inherit"],
});
const info = JSON.parse(
  await new Promise<string>((resolve) => {
    let buf = "";
    sim.stdout!.on("data", (c: Buffer) => {
      buf += c.toString();
      if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
    });
  }),
) as { baseUrl: string; accounts: Array<{ authFile: string }> };
const auth = JSON.parse(readFileSync(info.accounts[0]!.authFile, "utf8")) as {
  tokens: { access_token: string; account_id: string };
};
const headers = {
  authorization: `Bearer ${auth.tokens.access_token}`,
  "chatgpt-account-id": auth.tokens.account_id,
  "content-type": "application/json",
  accept: "text/event-stream",
  originator: "codex_cli_rs",
};
const body = JSON.stringify({
  model: "gpt-5.4",
  stream: true,
  store: false,
  input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "sim: reply PONG" }] }],
});
const agent = createUpstreamAgent();
const baseUrl = `${info.baseUrl}/backend-api`;

/** Reads a body to its end; its size in bytes. */
async function drain(body: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const c of body) n += c.byteLength;
  return n;
}

async function viaRequest(): Promise<number> {
  const res = await request(`${baseUrl}/codex/responses`, {
    method: "POST",
    headers,
    body,
    dispatcher: agent.dispatcher,
  });
  return drain(res.body);
}

async function viaSendUpstream(): Promise<number> {
  const res = await sendUpstream({
    baseUrl,
    path: "/codex/responses",
    method: "POST",
    headers,
    body,
    agent,
  });
  return drain(res.body);
}

async function run(fn: () => Promise<number>): Promise<{ cpuUs: number; perSecond: number }> {
  let left = N;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (left-- > 0) if ((await fn()) < 1000) throw new Error("short body");
    }),
  );
  const c = process.cpuUsage(c0);
  return { cpuUs: (c.user + c.system) / N, perSecond: (N / (performance.now() - t0)) * 1000 };
}

try {
  // Warm both paths (JIT, connections), then measure each twice, alternating.
  await run(viaRequest);
  await run(viaSendUpstream);
  const rows: Array<[string, { cpuUs: number; perSecond: number }]> = [];
  for (let i = 0; i < 2; i++) {
    rows.push(["undici request() + for await", await run(viaRequest)]);
    rows.push(["sendUpstream (own HTTP/1.1)", await run(viaSendUpstream)]);
  }
  for (const [name, r] of rows)
    process.stdout.write(
      `${name.padEnd(30)} ${r.cpuUs.toFixed(1)} µs CPU/answer  ${Math.round(r.perSecond)} answers/s\n`,
    );
} finally {
  sim.kill("SIGTERM");
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
}
