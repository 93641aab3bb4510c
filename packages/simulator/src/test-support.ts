// Helpers shared by this package's tests (not exported from the package).
import { createParser } from "eventsource-parser";
import type { Outcome, SimRequest, StreamOutcome } from "./core.ts";
import { sseFrame } from "./events.ts";

export interface ParsedEvent {
  event: string | undefined;
  data: Record<string, unknown>;
}

/** Parses SSE text with eventsource-parser: an SSE implementation independent of ours. */
export function parseSse(text: string): { events: ParsedEvent[]; comments: string[] } {
  const events: ParsedEvent[] = [];
  const comments: string[] = [];
  const parser = createParser({
    onEvent: (e) => events.push({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> }),
    onComment: (c) => comments.push(c),
  });
  parser.feed(text);
  return { events, comments };
}

/** The SSE body a transport would write for a stream outcome without faults. */
export function sseBody(o: StreamOutcome): string {
  let text = o.preamble ? `event: codex.rate_limits\ndata: ${o.preamble}\n\n` : "";
  for (const e of o.events) text += sseFrame(e);
  return text;
}

export function asStream(o: Outcome): StreamOutcome {
  if (o.type !== "stream") throw new Error(`expected a stream, got ${o.status} ${o.body}`);
  return o;
}

/** Runs a stream outcome to completion as a transport would and returns the parsed events. */
export function complete(o: Outcome): ParsedEvent[] {
  const s = asStream(o);
  const { events } = parseSse(sseBody(s));
  s.finish("completed");
  return events;
}

export function header(o: Outcome, name: string): string | undefined {
  for (let i = 0; i + 1 < o.headers.length; i += 2) if (o.headers[i] === name) return o.headers[i + 1];
  return undefined;
}

export function userMessage(text: string): Record<string, unknown> {
  return { type: "message", role: "user", content: [{ type: "input_text", text }] };
}

export function responsesRequest(
  token: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): SimRequest {
  const full = { model: "gpt-5.4", stream: true, store: false, ...body };
  return {
    transport: "http",
    method: "POST",
    path: "/backend-api/codex/responses",
    query: "",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: Buffer.from(JSON.stringify(full)),
  };
}

export function getRequest(path: string, token: string, headers: Record<string, string> = {}): SimRequest {
  return {
    transport: "http",
    method: "GET",
    path,
    query: "",
    headers: { authorization: `Bearer ${token}`, ...headers },
    body: undefined,
  };
}

export function jsonBody(o: Outcome): Record<string, unknown> {
  if (o.type !== "json") throw new Error("expected a JSON outcome");
  return JSON.parse(o.body) as Record<string, unknown>;
}
