/**
 * The few pieces of the PostgreSQL wire protocol (v3) the embedded server
 * needs: recognising frontend messages, spotting ReadyForQuery in the engine's
 * output, and writing the handful of backend/frontend messages we synthesise.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

/** Transaction status carried by ReadyForQuery: idle, in a transaction block, in a failed one. */
export type TxStatus = "I" | "T" | "E";

const Z = 0x5a; // ReadyForQuery

/** Frontend message type letter, or "startup" for the untyped StartupMessage. */
export function frontendType(message: Uint8Array): string {
  const first = message[0];
  // Typed messages start with an ASCII letter; the StartupMessage starts with
  // its int32 length, whose first byte is 0 for any sane length.
  if (first === undefined || first === 0) return "startup";
  return String.fromCharCode(first);
}

/**
 * Follows the engine's backend message stream across arbitrary chunk
 * boundaries and remembers the status of the most recent ReadyForQuery.
 */
export class ReadyForQueryScanner {
  #header = new Uint8Array(5);
  #headerFill = 0;
  #bodyLeft = 0;
  #inReady = false;
  #readyCount = 0;
  #lastStatus: TxStatus = "I";

  get readyCount(): number {
    return this.#readyCount;
  }

  get lastStatus(): TxStatus {
    return this.#lastStatus;
  }

  /** True when the bytes pushed so far end exactly on a message boundary. */
  get atBoundary(): boolean {
    return this.#headerFill === 0 && this.#bodyLeft === 0;
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#bodyLeft > 0) {
        const take = Math.min(this.#bodyLeft, chunk.length - i);
        // The status is the last byte of a ReadyForQuery body.
        if (this.#inReady && take === this.#bodyLeft) this.#setStatus(chunk[i + take - 1]!);
        this.#bodyLeft -= take;
        i += take;
        continue;
      }
      this.#header[this.#headerFill++] = chunk[i++]!;
      if (this.#headerFill < 5) continue;
      this.#headerFill = 0;
      const length = new DataView(this.#header.buffer).getInt32(1);
      this.#bodyLeft = Math.max(0, length - 4);
      this.#inReady = this.#header[0] === Z;
    }
  }

  #setStatus(byte: number): void {
    const status = String.fromCharCode(byte);
    this.#lastStatus = status === "T" || status === "E" ? status : "I";
    this.#readyCount++;
    this.#inReady = false;
  }
}

function typed(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

const cstring = (s: string): Buffer => Buffer.concat([Buffer.from(s, "utf8"), Buffer.from([0])]);

export interface ErrorFields {
  severity: "ERROR" | "FATAL";
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** Backend ErrorResponse ('E'). */
export function errorResponse(fields: ErrorFields): Uint8Array {
  const parts = [
    Buffer.from("S"),
    cstring(fields.severity),
    Buffer.from("V"),
    cstring(fields.severity),
    Buffer.from("C"),
    cstring(fields.code),
    Buffer.from("M"),
    cstring(fields.message),
  ];
  if (fields.detail) parts.push(Buffer.from("D"), cstring(fields.detail));
  if (fields.hint) parts.push(Buffer.from("H"), cstring(fields.hint));
  parts.push(Buffer.from([0]));
  return typed("E", Buffer.concat(parts));
}

/** Backend AuthenticationCleartextPassword ('R', 3). */
export function authenticationCleartextPassword(): Uint8Array {
  return typed("R", new Uint8Array([0, 0, 0, 3]));
}

/** Backend ReadyForQuery ('Z'). */
export function readyForQuery(status: TxStatus): Uint8Array {
  return typed("Z", Buffer.from(status, "latin1"));
}

/** Frontend Query ('Q'). */
export function queryMessage(sql: string): Uint8Array {
  return typed("Q", cstring(sql));
}

/** Frontend Execute ('E') of a named portal. */
export function executeMessage(portal: string): Uint8Array {
  return typed("E", Buffer.concat([cstring(portal), Buffer.from([0, 0, 0, 0])]));
}

/** Frontend CopyFail ('f'); ignored by the server outside COPY FROM STDIN. */
export function copyFailMessage(reason: string): Uint8Array {
  return typed("f", cstring(reason));
}

/** Frontend Sync ('S'). */
export const SYNC_MESSAGE: Uint8Array = typed("S", new Uint8Array(0));

/**
 * Marker in the `detail` of the FATAL 57P01 (admin_shutdown) the embedded
 * server sends when its owner shuts down: the statement was never handed to
 * the engine, so a client may reconnect (to the next owner) and send it again.
 */
export const NOT_EXECUTED_DETAIL =
  "codex-pooler embedded engine: statement not executed; reconnect and retry";
