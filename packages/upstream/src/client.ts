/**
 * HTTP calls to the Codex backend through one keep-alive undici Agent.
 * Bodies are streamed back untouched; callers own reading and aborting them.
 */
import { Agent, type Dispatcher, request } from "undici";

export type { Dispatcher };

export interface UpstreamResponse {
  status: number;
  /** Lower-case names; repeated headers joined by ", ". */
  headers: Record<string, string>;
  body: Dispatcher.ResponseData["body"];
}

export interface UpstreamTimeouts {
  connectMs: number;
  /** Until the response headers arrive (covers a slow first byte). */
  headersMs: number;
  /** Longest silence between body chunks. */
  bodyIdleMs: number;
}

export const DEFAULT_TIMEOUTS: UpstreamTimeouts = {
  connectMs: 10_000,
  headersMs: 120_000,
  bodyIdleMs: 300_000,
};

export function createUpstreamAgent(timeouts: UpstreamTimeouts = DEFAULT_TIMEOUTS): Agent {
  return new Agent({
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyIdleMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    pipelining: 1,
  });
}

export function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

export interface UpstreamRequest {
  /** e.g. `https://chatgpt.com/backend-api` */
  baseUrl: string;
  /** e.g. `/codex/responses` */
  path: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string | Buffer;
  signal?: AbortSignal;
  dispatcher: Dispatcher;
}

/** Sends one request; rejects only on transport failure (any HTTP status resolves). */
export async function sendUpstream(req: UpstreamRequest): Promise<UpstreamResponse> {
  const res = await request(`${req.baseUrl}${req.path}`, {
    method: req.method,
    headers: req.headers,
    ...(req.body !== undefined ? { body: req.body } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
    dispatcher: req.dispatcher,
  });
  return { status: res.statusCode, headers: flattenHeaders(res.headers), body: res.body };
}

/** Reads at most `limit` bytes of an error body as text, then discards the rest. */
export async function readCapped(body: UpstreamResponse["body"], limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      if (size < limit) chunks.push(b.subarray(0, limit - size));
      size += b.byteLength;
    }
  } catch {
    // A broken error body is still an error: classify what arrived.
  }
  return Buffer.concat(chunks).toString("utf8");
}
