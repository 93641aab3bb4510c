/**
 * The upstream side of a Responses websocket (`GET {codex}/responses`
 * upgraded), through the `ws` client. Resolves once the upgrade succeeded
 * (with the upgrade response's headers, which carry turn state and quota),
 * or with the refused HTTP answer, classified like any other failure.
 */
import type { IncomingMessage } from "node:http";
import WebSocket from "ws";
import { flattenHeaders } from "./client.ts";
import { classifyHttpFailure, type Failure } from "./failures.ts";

export type UpstreamSocket = WebSocket;

export type UpstreamSocketResult =
  | { kind: "open"; socket: WebSocket; headers: Record<string, string> }
  | { kind: "refused"; status: number; failure: Failure; headers: Record<string, string> }
  | { kind: "unreachable"; code: string };

export function connectUpstreamWebsocket(options: {
  /** http(s) base, e.g. `https://chatgpt.com/backend-api` */
  baseUrl: string;
  path: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  now: () => number;
  handshakeTimeoutMs?: number;
}): Promise<UpstreamSocketResult> {
  const url = `${options.baseUrl.replace(/^http/, "ws")}${options.path}`;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: UpstreamSocketResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const socket = new WebSocket(url, {
      headers: options.headers,
      handshakeTimeout: options.handshakeTimeoutMs ?? 15_000,
      perMessageDeflate: true,
      maxPayload: 256 * 1024 * 1024,
    });
    const onAbort = () => {
      socket.terminate();
      settle({ kind: "unreachable", code: "client_aborted" });
    };
    options.signal.addEventListener("abort", onAbort, { once: true });
    let upgradeHeaders: Record<string, string> = {};
    socket.once("upgrade", (res: IncomingMessage) => {
      upgradeHeaders = flattenHeaders(res.headers);
    });
    socket.once("open", () => {
      options.signal.removeEventListener("abort", onAbort);
      settle({ kind: "open", socket, headers: upgradeHeaders });
    });
    socket.once("unexpected-response", (_req, res: IncomingMessage) => {
      options.signal.removeEventListener("abort", onAbort);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        if (size < 64 * 1024) chunks.push(c);
        size += c.byteLength;
      });
      res.on("end", () => {
        const status = res.statusCode ?? 502;
        const body = Buffer.concat(chunks).toString("utf8");
        settle({
          kind: "refused",
          status,
          failure: classifyHttpFailure(status, body, options.now()),
          headers: flattenHeaders(res.headers),
        });
      });
      res.on("error", () => settle({ kind: "unreachable", code: "upstream_unreachable" }));
    });
    socket.once("error", () => {
      options.signal.removeEventListener("abort", onAbort);
      settle({ kind: "unreachable", code: "upstream_unreachable" });
    });
  });
}
