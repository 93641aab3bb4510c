/**
 * uWebSockets.js websocket plumbing, kept here with the HTTP adapter: the
 * upgrade is decided asynchronously (auth, account choice, upstream
 * handshake) with onAborted attached first and the upgrade corked; frames
 * sent in one tick leave in one write; sends report backpressure; nothing is
 * touched after close.
 */
import type uws from "uWebSockets.js";
import { type HeaderList, type IncomingRequest, readRequest, statusLine } from "./http.ts";

/** What a relay session sees of the client socket. */
export interface ClientSocket {
  /**
   * Queues a frame (it leaves with the others of this tick). False when the
   * client is not keeping up (wait for `onDrain`) or the socket is closed.
   */
  send(text: string): boolean;
  close(code: number, reason: string): void;
  readonly closed: boolean;
}

export interface WsSession {
  attach(client: ClientSocket): void;
  onMessage(text: string, isBinary: boolean): void;
  onDrain(): void;
  onClose(code: number): void;
}

export type UpgradeDecision =
  | { accept: true; headers: HeaderList; session: WsSession }
  | { accept: false; status: number; body: string; headers: HeaderList };

export interface WsRoute {
  pattern: string;
  decide(req: IncomingRequest, signal: AbortSignal): Promise<UpgradeDecision>;
  maxPayloadBytes: number;
  idleTimeoutSeconds: number;
}

interface UserData {
  session: WsSession;
  client?: ClientSocket;
}

export function registerWebsocket(
  app: uws.TemplatedApp,
  route: WsRoute,
  onError: (err: unknown) => void,
): void {
  app.ws<UserData>(route.pattern, {
    maxPayloadLength: route.maxPayloadBytes,
    idleTimeout: route.idleTimeoutSeconds,
    maxBackpressure: 4 * 1024 * 1024,
    sendPingsAutomatically: true,
    compression: 1 /* uWS.SHARED_COMPRESSOR: the Codex client offers permessage-deflate */,
    upgrade: (res, req, context) => {
      const request = readRequest(req);
      const key = req.getHeader("sec-websocket-key");
      const protocol = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      const abort = new AbortController();
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
        abort.abort();
      });
      route
        .decide(request, abort.signal)
        .then((decision) => {
          if (aborted) {
            if (decision.accept) decision.session.onClose(1006);
            return;
          }
          res.cork(() => {
            if (!decision.accept) {
              res.writeStatus(statusLine(decision.status));
              for (const [k, v] of decision.headers) res.writeHeader(k, v);
              res.end(decision.body, true);
              return;
            }
            res.writeStatus("101 Switching Protocols");
            for (const [k, v] of decision.headers) res.writeHeader(k, v);
            res.upgrade<UserData>({ session: decision.session }, key, protocol, extensions, context);
          });
        })
        .catch((err: unknown) => {
          onError(err);
          if (aborted) return;
          res.cork(() => {
            res.writeStatus(statusLine(500));
            res.end('{"error":{"code":"internal_error","message":"Internal error."}}', true);
          });
        });
    },
    open: (ws) => {
      const data = ws.getUserData();
      let closed = false;
      // Frames queued in one tick leave in one corked write at its end (an upstream chunk
      // usually carries several events: one syscall instead of one per frame).
      const queue: string[] = [];
      let scheduled = false;
      const flush = () => {
        scheduled = false;
        if (closed || queue.length === 0) {
          queue.length = 0;
          return;
        }
        ws.cork(() => {
          for (const frame of queue) {
            // 1 = sent, 0 = buffered under backpressure, 2 = dropped (over maxBackpressure).
            if (ws.send(frame, false, false) === 2) {
              // A frame was lost: the conversation cannot go on correctly.
              closed = true;
              ws.end(1011, "client too slow");
              break;
            }
          }
          queue.length = 0;
        });
      };
      const client: ClientSocket = {
        send(text) {
          if (closed) return false;
          queue.push(text);
          if (!scheduled) {
            scheduled = true;
            queueMicrotask(flush);
          }
          // Backpressure as of the last write: the caller pauses its source until `drain`.
          return ws.getBufferedAmount() === 0;
        },
        close(code, reason) {
          if (closed) return;
          flush();
          if (closed) return;
          closed = true;
          ws.cork(() => ws.end(code, reason));
        },
        get closed() {
          return closed;
        },
      };
      data.client = client;
      const markClosed = () => {
        closed = true;
      };
      (data as UserData & { markClosed?: () => void }).markClosed = markClosed;
      data.session.attach(client);
    },
    message: (ws, message, isBinary) => {
      const text = Buffer.from(message).toString("utf8");
      ws.getUserData().session.onMessage(text, isBinary);
    },
    drain: (ws) => {
      ws.getUserData().session.onDrain();
    },
    close: (ws, code) => {
      const data = ws.getUserData() as UserData & { markClosed?: () => void };
      data.markClosed?.();
      data.session.onClose(code);
    },
  });
}
