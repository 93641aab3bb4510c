/**
 * Watching a Responses SSE stream while its bytes are relayed untouched.
 *
 * This runs for every relayed chunk, so it works on bytes: events are found
 * with native searches for the blank line, the `event:` line gives the type,
 * and only the few event types that carry what the gateway needs (usage,
 * failures, rate limits) are decoded and JSON-parsed. A delta costs a few
 * byte comparisons — no UTF-8 decoding, no line splitting, no parse. Streams
 * in another shape (CR or CRLF line ends, data-only events, comments,
 * multi-line data) take a general path that follows the SSE rules.
 */

import type { TokenUsage } from "@codex-pooler/core";

export type { TokenUsage };

export type StreamSignal =
  | { kind: "preamble"; type: string }
  | { kind: "output"; type: string }
  | { kind: "rate_limits"; event: unknown }
  | { kind: "completed"; responseId: string | undefined; usage: TokenUsage | undefined }
  | { kind: "failed"; type: string; code: string | undefined; usage: TokenUsage | undefined }
  | { kind: "incomplete"; reason: string | undefined; usage: TokenUsage | undefined };

/** Events that may arrive before any output; holding them back keeps failover possible. */
const PREAMBLE = new Set([
  "response.created",
  "response.in_progress",
  "response.queued",
  "response.metadata",
]);

const PARSED = new Set([
  "response.completed",
  "response.done",
  "response.failed",
  "response.incomplete",
  "error",
  "codex.rate_limits",
]);

const SEQ = /"sequence_number"\s*:\s*(\d+)/;
const TYPE = /"type"\s*:\s*"([^"]+)"/;

function int(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? Math.max(0, Math.trunc(v)) : 0;
}

/** Reads Responses `usage` (`input_tokens`, `input_tokens_details.cached_tokens`, …). */
export function readUsage(raw: unknown): TokenUsage | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const u = raw as Record<string, unknown>;
  if (typeof u["input_tokens"] !== "number" && typeof u["output_tokens"] !== "number") return undefined;
  const inDetails = (u["input_tokens_details"] ?? {}) as Record<string, unknown>;
  const outDetails = (u["output_tokens_details"] ?? {}) as Record<string, unknown>;
  const input = int(u["input_tokens"]);
  const output = int(u["output_tokens"]);
  return {
    inputTokens: input,
    cachedInputTokens: int(inDetails["cached_tokens"]),
    outputTokens: output,
    reasoningTokens: int(outDetails["reasoning_tokens"]),
    totalTokens: typeof u["total_tokens"] === "number" ? int(u["total_tokens"]) : input + output,
  };
}

/** Classifies one Responses event; `data` is only read for the types that need it. */
export function signalOf(type: string, data: string): StreamSignal {
  if (!PARSED.has(type)) return PREAMBLE.has(type) ? { kind: "preamble", type } : { kind: "output", type };
  let obj: Record<string, unknown> = {};
  try {
    obj = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return { kind: "output", type };
  }
  const response = (obj["response"] ?? {}) as Record<string, unknown>;
  switch (type) {
    case "codex.rate_limits":
      return { kind: "rate_limits", event: obj };
    case "response.completed":
    case "response.done":
      return {
        kind: "completed",
        responseId: typeof response["id"] === "string" ? response["id"] : undefined,
        usage: readUsage(response["usage"]),
      };
    case "response.incomplete": {
      const details = (response["incomplete_details"] ?? {}) as Record<string, unknown>;
      return {
        kind: "incomplete",
        reason: typeof details["reason"] === "string" ? details["reason"] : undefined,
        usage: readUsage(response["usage"]),
      };
    }
    default: {
      // response.failed carries response.error; a top-level error event carries code directly.
      const err = (response["error"] ?? obj["error"] ?? obj) as Record<string, unknown>;
      const code =
        typeof err["code"] === "string"
          ? err["code"]
          : typeof err["type"] === "string"
            ? err["type"]
            : undefined;
      return { kind: "failed", type, code, usage: readUsage(response["usage"]) };
    }
  }
}

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const EMPTY = Buffer.alloc(0);
/** The blank line that ends an event (line ends are LF by then). */
const BLANK = Buffer.from("\n\n");
/** Where a Responses event names its sequence: `{"type":"<type>","sequence_number":<n>,…`. */
const SEQ_KEY = '"sequence_number":';
const SEQ_OFFSET = '{"type":"'.length;

/**
 * Feed it the stream's bytes in order; it calls `onSignal` once per event.
 * Data-only events (no `event:` line) are typed from their JSON `type`.
 * Signals are read-only: consecutive `output`/`preamble` events of one type
 * share one frozen signal object.
 *
 * Chunks are scanned as bytes, in place: line feeds are found with native
 * searches and fields compared byte by byte, so nothing is copied or
 * decoded for an ordinary event. (An earlier version scanned a latin1 copy
 * of every chunk; without it the gateway ran 7 % fewer young-generation
 * collections per short request.) An event in the Responses shape costs two line-feed searches,
 * one comparison with the previous event's type and a few digits of
 * `sequence_number`; only the events that need their data are decoded from
 * the bytes as UTF-8 and parsed.
 */
export class SseWatcher {
  readonly #onSignal: (signal: StreamSignal) => void;
  /** Bytes of the event being received (copies: the caller may reuse its chunks), LF line ends only. */
  readonly #pending: Buffer[] = [];
  /** The bytes seen so far end with a line feed (a blank line may complete at the next chunk's start). */
  #endsWithLf = false;
  /** The previous chunk ended with CR: a LF at the start of the next one belongs to the same line end. */
  #afterCr = false;
  #first = true;
  /** The last event type seen on the fast path (as decoded, and as its bytes in latin1), and its shared signal. */
  #lastType = "";
  #lastTypeBytes = "";
  #lastSignal: StreamSignal | undefined;
  lastSequenceNumber = -1;

  constructor(onSignal: (signal: StreamSignal) => void) {
    this.#onSignal = onSignal;
  }

  push(chunk: Uint8Array): void {
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#first && buf.length > 0) {
      this.#first = false;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    }
    if (this.#afterCr || buf.indexOf(CR) !== -1) buf = this.#normalize(buf);
    const len = buf.length;
    if (len === 0) return;

    let pos = 0;
    if (this.#endsWithLf && buf[0] === LF) {
      // The blank line straddles the two chunks: what is pending is a whole event.
      this.#takePending(EMPTY);
      pos = 1;
    } else if (this.#pending.length > 0) {
      const blank = buf.indexOf(BLANK);
      if (blank === -1) {
        this.#pending.push(Buffer.from(buf));
        this.#endsWithLf = buf[len - 1] === LF;
        return;
      }
      this.#takePending(buf.subarray(0, blank + 1));
      pos = blank + 2;
    }

    while (pos < len) {
      // Fast path, the Responses shape: `event: <type>\ndata: <one line>\n\n`.
      if (isEventField(buf, pos)) {
        const typeStart = buf[pos + 6] === SPACE ? pos + 7 : pos + 6;
        const typeEnd = buf.indexOf(LF, typeStart);
        if (typeEnd === -1) break;
        const dataLine = typeEnd + 1;
        if (typeEnd > typeStart && isDataField(buf, dataLine)) {
          const dataStart = buf[dataLine + 5] === SPACE ? dataLine + 6 : dataLine + 5;
          const dataEnd = buf.indexOf(LF, dataStart);
          if (dataEnd === -1 || dataEnd === len - 1) break; // the rest (or its blank line) comes next
          if (buf[dataEnd + 1] === LF) {
            this.#responsesEvent(buf, typeStart, typeEnd, dataStart, dataEnd);
            pos = dataEnd + 2;
            continue;
          }
        }
      }
      const blank = buf.indexOf(BLANK, pos);
      if (blank === -1) break;
      this.#event(buf, pos, blank + 1);
      pos = blank + 2;
    }
    if (pos < len) this.#pending.push(Buffer.from(buf.subarray(pos)));
    this.#endsWithLf = buf[len - 1] === LF;
  }

  /** Dispatches the pending bytes completed by `tail` (this chunk's part of the event; may be empty). */
  #takePending(tail: Buffer): void {
    const parts = this.#pending.splice(0);
    if (tail.length > 0) parts.push(tail);
    if (parts.length === 0) return;
    const block = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.#event(block, 0, block.length);
  }

  /** CR and CRLF line ends become LF (rare: the Codex backend sends LF), in a copy. */
  #normalize(buf: Buffer): Buffer {
    const out = Buffer.allocUnsafe(buf.length);
    let o = 0;
    let k = this.#afterCr && buf[0] === LF ? 1 : 0;
    this.#afterCr = false;
    for (; k < buf.length; k++) {
      const c = buf[k]!;
      if (c !== CR) {
        out[o++] = c;
        continue;
      }
      out[o++] = LF;
      if (buf[k + 1] === LF) k++;
      else if (k === buf.length - 1) this.#afterCr = true;
    }
    return out.subarray(0, o);
  }

  /** One whole event: bytes [start, end) of `b`, every line ending with LF, so `b[end - 1]` is LF. */
  #event(b: Buffer, start: number, end: number): void {
    if (isEventField(b, start)) {
      const typeStart = b[start + 6] === SPACE ? start + 7 : start + 6;
      const typeEnd = b.indexOf(LF, typeStart);
      const dataLine = typeEnd + 1;
      if (typeEnd > typeStart && typeEnd < end && isDataField(b, dataLine)) {
        const dataStart = b[dataLine + 5] === SPACE ? dataLine + 6 : dataLine + 5;
        if (b.indexOf(LF, dataStart) === end - 1) {
          this.#responsesEvent(b, typeStart, typeEnd, dataStart, end - 1);
          return;
        }
      }
    }
    this.#generalEvent(b.toString("utf8", start, end));
  }

  /** `event: <type>` + one `data:` line, given by offsets. */
  #responsesEvent(b: Buffer, typeStart: number, typeEnd: number, dataStart: number, dataEnd: number): void {
    let type = this.#lastType;
    let signal = this.#lastSignal;
    if (!sameBytes(b, typeStart, typeEnd, this.#lastTypeBytes)) {
      // Decoded (copied) from the bytes: nothing remembered may keep the chunk alive.
      const bytes = b.toString("latin1", typeStart, typeEnd);
      type = isAscii(bytes) ? bytes : b.toString("utf8", typeStart, typeEnd);
      signal = PARSED.has(type) ? undefined : Object.freeze(signalOf(type, ""));
      this.#lastType = type;
      this.#lastTypeBytes = bytes;
      this.#lastSignal = signal;
    }
    this.#sequence(b, dataStart, dataEnd, typeEnd - typeStart);
    this.#onSignal(signal ?? signalOf(type, b.toString("utf8", dataStart, dataEnd)));
  }

  /** Any event shape, by the SSE field rules (comments, id/retry ignored, data lines joined by LF). */
  #generalEvent(text: string): void {
    let type: string | undefined;
    let data: string | undefined;
    for (const line of text.split("\n")) {
      if (line === "" || line.charCodeAt(0) === 0x3a) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.charCodeAt(0) === SPACE) value = value.slice(1);
      if (field === "event") type = value || undefined;
      else if (field === "data") data = data === undefined ? value : `${data}\n${value}`;
    }
    if (data === undefined) return;
    if (!type) {
      const m = TYPE.exec(data);
      if (!m) return;
      type = m[1]!;
    }
    // Usually near the start, sometimes last: look at both ends, never scan a 1 MB delta.
    const seq = SEQ.exec(data.slice(0, 160)) ?? SEQ.exec(data.slice(-64));
    if (seq) this.lastSequenceNumber = Number(seq[1]);
    this.#onSignal(signalOf(type, data));
  }

  /** Reads `sequence_number` where the Responses shape puts it; else searches both ends of the data. */
  #sequence(b: Buffer, dataStart: number, dataEnd: number, typeBytes: number): void {
    const at = dataStart + SEQ_OFFSET + typeBytes + 2;
    if (sameBytes(b, at, at + SEQ_KEY.length, SEQ_KEY)) {
      let n = 0;
      let i = at + SEQ_KEY.length;
      const first = i;
      for (; i < dataEnd; i++) {
        const d = b[i]! - 0x30;
        if (d < 0 || d > 9) break;
        n = n * 10 + d;
      }
      if (i > first) {
        this.lastSequenceNumber = n;
        return;
      }
    }
    const seq =
      SEQ.exec(b.toString("latin1", dataStart, Math.min(dataEnd, dataStart + 160))) ??
      SEQ.exec(b.toString("latin1", Math.max(dataStart, dataEnd - 64), dataEnd));
    if (seq) this.lastSequenceNumber = Number(seq[1]);
  }
}

/** Bytes [start, end) of `b` are the characters of `s` (a latin1 string). */
function sameBytes(b: Buffer, start: number, end: number, s: string): boolean {
  if (end - start !== s.length || end > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[start + i] !== s.charCodeAt(i)) return false;
  return true;
}

/** `event:` at `at` (inline comparisons: the cheapest test on the per-event path). */
function isEventField(b: Buffer, at: number): boolean {
  return (
    b[at] === 0x65 &&
    b[at + 1] === 0x76 &&
    b[at + 2] === 0x65 &&
    b[at + 3] === 0x6e &&
    b[at + 4] === 0x74 &&
    b[at + 5] === 0x3a
  );
}

/** `data:` at `at`. */
function isDataField(b: Buffer, at: number): boolean {
  return (
    b[at] === 0x64 && b[at + 1] === 0x61 && b[at + 2] === 0x74 && b[at + 3] === 0x61 && b[at + 4] === 0x3a
  );
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** One SSE frame in the Responses framing (`event:` + one-line `data:`). */
export function sseFrame(type: string, payload: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
}
