/**
 * Reads every event of a Responses SSE stream as a parsed object, for the
 * routes that translate the stream (the /v1 surface) rather than relay its
 * bytes. Framing by eventsource-parser; an event's type is its `event:`
 * field or, failing that, its JSON `type`.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";

export type ResponsesEvent = Record<string, unknown> & { type: string };

export class SseEventReader {
  readonly #decoder = new TextDecoder();
  readonly #parser;

  constructor(onEvent: (event: ResponsesEvent) => void) {
    this.#parser = createParser({
      onEvent: (message: EventSourceMessage) => {
        if (message.data === "[DONE]") return;
        let obj: unknown;
        try {
          obj = JSON.parse(message.data);
        } catch {
          return; // The Codex client skips unparsable data too.
        }
        if (!obj || typeof obj !== "object" || Array.isArray(obj)) return;
        const o = obj as Record<string, unknown>;
        const type = typeof o["type"] === "string" ? o["type"] : message.event;
        if (!type) return;
        onEvent({ ...o, type });
      },
    });
  }

  push(chunk: Uint8Array): void {
    this.#parser.feed(this.#decoder.decode(chunk, { stream: true }));
  }
}
