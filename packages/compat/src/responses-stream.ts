/**
 * Streaming POST /v1/responses: upstream events out as public Responses
 * events.
 *
 * - `sequence_number` is renumbered from 0: the client sees one gap-free
 *   stream even though events the public API does not define are left out
 *   and the gateway may end the stream with an event of its own.
 * - Only `response.*` events and `error` are passed; others (e.g.
 *   `codex.rate_limits`, quota evidence of a pool account) are the gateway's
 *   business, not the client's.
 * - The first terminal event (`response.completed`/`done`, `.incomplete`,
 *   `.failed`, `error`) ends the stream: later events are ignored.
 * - `fail(code, message)` ends a stream the upstream did not end cleanly
 *   (cut, timeout) with one `error` event carrying both the public flat
 *   fields and a nested `error` object, so the OpenAI SDKs raise it as an
 *   API error and the AI SDK parses it with either of its schemas.
 */
import { failureStatus, safeCode, terminalOf } from "./events.ts";
import { isRecord } from "./validate.ts";

/** One public event; write it as `event: <type>\ndata: <JSON>\n\n`. */
export type ResponsesEvent = Record<string, unknown>;

export class ResponsesStreamNormalizer {
  #sequence = 0;
  #done = false;

  /** True once a terminal event went out (from upstream or from `fail`). */
  get done(): boolean {
    return this.#done;
  }

  /** Example: `{type:"response.output_text.delta", sequence_number: 7, delta:"hi", …}` → one event numbered 0, 1, … */
  push(event: unknown): ResponsesEvent[] {
    if (this.#done || !isRecord(event)) return [];
    const type = event["type"];
    if (typeof type !== "string" || (type !== "error" && !type.startsWith("response."))) return [];
    if (terminalOf(type)) this.#done = true;
    return [{ ...event, sequence_number: this.#sequence++ }];
  }

  /** The closing `error` event; nothing if the stream already ended. */
  fail(code: string, message: string): ResponsesEvent[] {
    if (this.#done) return [];
    this.#done = true;
    const safe = safeCode(code);
    return [
      {
        type: "error",
        sequence_number: this.#sequence++,
        code: safe,
        message,
        param: null,
        error: { type: failureStatus(safe).type, code: safe, message, param: null },
      },
    ];
  }
}
