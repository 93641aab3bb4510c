/**
 * Non-streaming POST /v1/responses (and /v1/chat/completions): the upstream
 * always streams, so the events are folded into the one response object
 * the client asked for.
 *
 * The output is built from `response.output_item.done` events, in
 * `output_index` order — the terminal event's `output` is not relied on (the
 * upstream may send it empty). Where an item never got its `.done` event the
 * terminal event's item at that index is used, and failing that the item is
 * rebuilt from its `.added` event and the deltas (text, refusal, function
 * arguments, custom tool input, reasoning summary).
 */
import { failureOf, failureStatus, int, record, STREAM_CUT_MESSAGE, str, terminalOf } from "./events.ts";
import { isRecord } from "./validate.ts";

export type AggregateOutcome =
  | { kind: "completed"; response: Record<string, unknown> }
  | { kind: "failed"; code: string; message: string; status: number }
  | { kind: "incomplete"; response: Record<string, unknown> };

interface Part {
  type: "output_text" | "refusal";
  text: string;
  final?: string;
}

/** What is known about one output item while it streams. */
interface Slot {
  added?: Record<string, unknown>;
  done?: Record<string, unknown>;
  itemId?: string;
  parts: Map<number, Part>;
  payload: string;
  payloadFinal?: string;
  summaries: Map<number, string>;
}

function newSlot(): Slot {
  return { parts: new Map(), payload: "", summaries: new Map() };
}

function sortedValues<T>(map: Map<number, T>): T[] {
  return [...map.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

/** The convenience `output_text`: every assistant text part, in order (as the OpenAI SDKs compute it). */
export function outputTextOf(output: unknown[]): string {
  let text = "";
  for (const item of output) {
    if (!isRecord(item) || item["type"] !== "message") continue;
    const content = item["content"];
    if (!Array.isArray(content)) continue;
    for (const part of content) {
      if (isRecord(part) && part["type"] === "output_text" && typeof part["text"] === "string")
        text += part["text"];
    }
  }
  return text;
}

export class ResponsesAggregator {
  readonly #slots = new Map<number, Slot>();
  readonly #indexById = new Map<string, number>();
  #snapshot: Record<string, unknown> = {};
  #terminal:
    | { kind: "completed" | "incomplete"; response: Record<string, unknown> }
    | { kind: "failed"; code: string; message: string }
    | undefined;

  done(): boolean {
    return this.#terminal !== undefined;
  }

  push(event: unknown): void {
    if (this.#terminal || !isRecord(event)) return;
    const type = str(event["type"]);
    if (!type) return;
    const terminal = terminalOf(type);
    if (terminal) {
      this.#finish(terminal, event);
      return;
    }
    switch (type) {
      case "response.created":
      case "response.in_progress":
      case "response.queued": {
        const response = record(event["response"]);
        if (response) this.#snapshot = response;
        return;
      }
      case "response.output_item.added":
      case "response.output_item.done": {
        const item = record(event["item"]);
        const slot = this.#slot(event, str(item?.["id"]));
        if (!slot || !item) return;
        if (type.endsWith(".added")) slot.added = item;
        else slot.done = item;
        return;
      }
      case "response.content_part.added":
      case "response.content_part.done": {
        const part = record(event["part"]);
        const kind = part?.["type"];
        if (kind !== "output_text" && kind !== "refusal") return;
        const p = this.#part(event, kind);
        const text = str(part?.[kind === "refusal" ? "refusal" : "text"]);
        if (p && text !== undefined && (type.endsWith(".done") || text !== "")) p.final = text;
        return;
      }
      case "response.output_text.delta":
      case "response.refusal.delta": {
        const p = this.#part(event, type === "response.refusal.delta" ? "refusal" : "output_text");
        const delta = str(event["delta"]);
        if (p && delta) p.text += delta;
        return;
      }
      case "response.output_text.done":
      case "response.refusal.done": {
        const isRefusal = type === "response.refusal.done";
        const p = this.#part(event, isRefusal ? "refusal" : "output_text");
        const text = str(event[isRefusal ? "refusal" : "text"]);
        if (p && text !== undefined) p.final = text;
        return;
      }
      case "response.function_call_arguments.delta":
      case "response.custom_tool_call_input.delta": {
        const slot = this.#slot(event, str(event["item_id"]));
        const delta = str(event["delta"]);
        if (slot && delta) slot.payload += delta;
        return;
      }
      case "response.function_call_arguments.done":
      case "response.custom_tool_call_input.done": {
        const slot = this.#slot(event, str(event["item_id"]));
        const final = str(event[type.startsWith("response.function") ? "arguments" : "input"]);
        if (slot && final !== undefined) slot.payloadFinal = final;
        return;
      }
      case "response.reasoning_summary_text.delta": {
        const slot = this.#slot(event, str(event["item_id"]));
        const index = int(event["summary_index"]) ?? 0;
        const delta = str(event["delta"]);
        if (slot && delta) slot.summaries.set(index, (slot.summaries.get(index) ?? "") + delta);
        return;
      }
      case "response.reasoning_summary_text.done": {
        const slot = this.#slot(event, str(event["item_id"]));
        const text = str(event["text"]);
        if (slot && text !== undefined) slot.summaries.set(int(event["summary_index"]) ?? 0, text);
        return;
      }
      default:
        return;
    }
  }

  outcome(): AggregateOutcome {
    const t = this.#terminal;
    if (!t) return { kind: "failed", code: "upstream_error", message: STREAM_CUT_MESSAGE, status: 502 };
    if (t.kind === "failed") return { ...t, status: failureStatus(t.code).status };
    const base = { ...this.#snapshot, ...t.response };
    const output = this.#output(t.response["output"], t.kind);
    const response: Record<string, unknown> = {
      ...base,
      id: base["id"] ?? null,
      object: "response",
      created_at: base["created_at"] ?? null,
      model: base["model"] ?? null,
      status: t.kind,
      output,
      output_text: outputTextOf(output),
      usage: base["usage"] ?? null,
    };
    return { kind: t.kind, response };
  }

  #finish(kind: "completed" | "incomplete" | "failed", event: Record<string, unknown>): void {
    if (kind === "failed") {
      this.#terminal = { kind, ...failureOf(event) };
      return;
    }
    this.#terminal = { kind, response: record(event["response"]) ?? {} };
  }

  /** The slot of an event: by `output_index`, else by the item id seen earlier. */
  #slot(event: Record<string, unknown>, itemId: string | undefined): Slot | undefined {
    let index = int(event["output_index"]);
    if (index === undefined && itemId !== undefined) index = this.#indexById.get(itemId);
    if (index === undefined) return undefined;
    let slot = this.#slots.get(index);
    if (!slot) {
      slot = newSlot();
      this.#slots.set(index, slot);
    }
    if (itemId !== undefined) {
      slot.itemId ??= itemId;
      this.#indexById.set(itemId, index);
    }
    return slot;
  }

  #part(event: Record<string, unknown>, type: Part["type"]): Part | undefined {
    const slot = this.#slot(event, str(event["item_id"]));
    if (!slot) return undefined;
    const index = int(event["content_index"]) ?? 0;
    let part = slot.parts.get(index);
    if (!part) {
      part = { type, text: "" };
      slot.parts.set(index, part);
    }
    return part;
  }

  #output(terminalOutput: unknown, kind: "completed" | "incomplete"): unknown[] {
    const fromTerminal = Array.isArray(terminalOutput) ? terminalOutput : [];
    const count = Math.max(fromTerminal.length, ...[...this.#slots.keys()].map((i) => i + 1));
    const output: unknown[] = [];
    for (let i = 0; i < count; i++) {
      const slot = this.#slots.get(i);
      const item = slot?.done ?? fromTerminal[i] ?? (slot ? rebuild(slot, kind) : undefined);
      if (item !== undefined) output.push(item);
    }
    return output;
  }
}

/** An item that never got its `.done` event, from what streamed. */
function rebuild(slot: Slot, kind: "completed" | "incomplete"): Record<string, unknown> | undefined {
  const base = slot.added ?? (slot.parts.size > 0 ? { type: "message", role: "assistant" } : undefined);
  if (!base) return undefined;
  const status = kind === "completed" ? "completed" : "incomplete";
  const id = base["id"] ?? slot.itemId;
  const payload = slot.payloadFinal ?? slot.payload;
  switch (base["type"]) {
    case "message": {
      const content = sortedValues(slot.parts).map((p) =>
        p.type === "refusal"
          ? { type: "refusal", refusal: p.final ?? p.text }
          : { type: "output_text", text: p.final ?? p.text, annotations: [] },
      );
      return { ...base, ...(id === undefined ? {} : { id }), status, content };
    }
    case "function_call":
      return { ...base, status, arguments: payload || str(base["arguments"]) || "" };
    case "custom_tool_call":
      return { ...base, status, input: payload || str(base["input"]) || "" };
    case "reasoning": {
      if (slot.summaries.size === 0) return base;
      const summary = sortedValues(slot.summaries).map((text) => ({ type: "summary_text", text }));
      return { ...base, summary };
    }
    default:
      return base;
  }
}
