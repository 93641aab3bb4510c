/**
 * Streaming POST /v1/chat/completions: upstream Responses events →
 * `chat.completion.chunk` payloads (spec §6). Each string returned is the
 * JSON of one `data:` line.
 *
 * Life of a stream:
 * - Nothing is returned until the first visible output (text, refusal or a
 *   tool call); it is preceded by the opening chunk
 *   `delta: {role: "assistant", content: ""}`. So as long as `push` returned
 *   nothing, nothing is committed and the gateway may still fail over.
 *   `open()` forces the opening chunk out (e.g. to show life during a long
 *   reasoning phase).
 * - Text deltas → `delta.content`; refusal deltas → `delta.refusal`; a
 *   function call → `delta.tool_calls[{index, id, type: "function",
 *   function: {name, arguments: ""}}]`, then argument fragments with the same
 *   index (custom tools the same with `custom.input`). When the upstream's
 *   `.done` events carry text that was never sent as deltas, the missing
 *   tail is sent then; a terminal event whose `output` holds items never
 *   seen sends them too.
 * - `response.completed` / `response.incomplete` only record the finish
 *   reason and usage; `finish()` returns the closing chunks (finish_reason,
 *   then the usage-only chunk with `choices: []` when includeUsage). The
 *   caller then writes `data: [DONE]` — unless `failed` is true.
 * - `response.failed` / `error` (from `push`), `fail()` from the gateway, or
 *   a `finish()` with no terminal event: one `{"error":{…}}` payload and
 *   nothing after it (no `[DONE]`).
 */
import {
  chatUsage,
  failureOf,
  failureStatus,
  incompleteFinishReason,
  int,
  record,
  STREAM_CUT_MESSAGE,
  safeCode,
  str,
  terminalOf,
} from "./events.ts";
import { isRecord } from "./validate.ts";

export interface ChatStreamOptions {
  id: string;
  model: string;
  created: number;
  includeUsage: boolean;
}

type FinishReason = "stop" | "tool_calls" | "length" | "content_filter";

interface Call {
  index: number;
  kind: "function" | "custom";
  sent: string;
}

export class ChatStreamTranslator {
  readonly #o: ChatStreamOptions;
  #opened = false;
  #state: "streaming" | "ended" | "closed" | "failed" = "streaming";
  #finishReason: FinishReason = "stop";
  #usage: unknown;
  /** Text sent per content part, keyed `outputIndex:contentIndex`. */
  readonly #sentText = new Map<string, string>();
  /** Tool calls by output index, numbered in order of appearance. */
  readonly #calls = new Map<number, Call>();
  readonly #indexById = new Map<string, number>();
  readonly #seenItems = new Set<number>();

  constructor(options: ChatStreamOptions) {
    this.#o = options;
  }

  /** True once an error payload went out: do not write `[DONE]`. */
  get failed(): boolean {
    return this.#state === "failed";
  }

  /** The opening chunk, if not sent yet. */
  open(): string[] {
    if (this.#opened || this.#state === "failed" || this.#state === "closed") return [];
    this.#opened = true;
    return [this.#chunk({ role: "assistant", content: "" })];
  }

  push(event: unknown): string[] {
    if (this.#state !== "streaming" || !isRecord(event)) return [];
    const type = str(event["type"]);
    if (!type) return [];
    const terminal = terminalOf(type);
    if (terminal === "failed") {
      const f = failureOf(event);
      return this.fail(f.code, f.message);
    }
    if (terminal) return this.#end(terminal, event);
    const out: string[] = [];
    switch (type) {
      case "response.output_text.delta":
      case "response.refusal.delta":
        this.#text(event, type === "response.refusal.delta", str(event["delta"]) ?? "", false, out);
        break;
      case "response.output_text.done":
      case "response.refusal.done": {
        const refusal = type === "response.refusal.done";
        this.#text(event, refusal, str(event[refusal ? "refusal" : "text"]) ?? "", true, out);
        break;
      }
      case "response.content_part.done": {
        const part = record(event["part"]);
        const refusal = part?.["type"] === "refusal";
        if (part?.["type"] === "output_text" || refusal) {
          this.#text(event, refusal, str(part[refusal ? "refusal" : "text"]) ?? "", true, out);
        }
        break;
      }
      case "response.output_item.added":
        this.#item(event, false, out);
        break;
      case "response.output_item.done":
        this.#item(event, true, out);
        break;
      case "response.function_call_arguments.delta":
      case "response.custom_tool_call_input.delta":
        this.#payload(event, str(event["delta"]) ?? "", false, out);
        break;
      case "response.function_call_arguments.done":
        this.#payload(event, str(event["arguments"]) ?? "", true, out);
        break;
      case "response.custom_tool_call_input.done":
        this.#payload(event, str(event["input"]) ?? "", true, out);
        break;
      default:
        break;
    }
    return out;
  }

  /** The closing chunks after a clean end; an error payload if the upstream never ended. */
  finish(): string[] {
    if (this.#state === "streaming") return this.fail("upstream_error", STREAM_CUT_MESSAGE);
    if (this.#state !== "ended") return [];
    const out = this.open();
    this.#state = "closed";
    out.push(this.#chunk({}, this.#finishReason));
    if (this.#o.includeUsage) {
      out.push(JSON.stringify({ ...this.#head(), choices: [], usage: chatUsage(record(this.#usage) ?? {}) }));
    }
    return out;
  }

  /** One `{"error":{…}}` payload; nothing if the stream already closed or failed. */
  fail(code: string, message: string): string[] {
    if (this.#state === "closed" || this.#state === "failed") return [];
    this.#state = "failed";
    const safe = safeCode(code);
    return [JSON.stringify({ error: { message, type: failureStatus(safe).type, param: null, code: safe } })];
  }

  #end(kind: "completed" | "incomplete", event: Record<string, unknown>): string[] {
    const response = record(event["response"]) ?? {};
    const out: string[] = [];
    // Items the upstream only reported in the terminal event.
    const output = response["output"];
    if (Array.isArray(output)) {
      output.forEach((item, i) => {
        if (!this.#seenItems.has(i)) this.#item({ output_index: i, item }, true, out);
      });
    }
    this.#usage = response["usage"];
    if (kind === "incomplete") this.#finishReason = incompleteFinishReason(response);
    else this.#finishReason = this.#calls.size > 0 ? "tool_calls" : "stop";
    this.#state = "ended";
    return out;
  }

  #head(): Record<string, unknown> {
    return {
      id: this.#o.id,
      object: "chat.completion.chunk",
      created: this.#o.created,
      model: this.#o.model,
    };
  }

  #chunk(delta: Record<string, unknown>, finishReason: FinishReason | null = null): string {
    return JSON.stringify({ ...this.#head(), choices: [{ index: 0, delta, finish_reason: finishReason }] });
  }

  /** Emits a content chunk, preceded by the opening chunk the first time. */
  #emit(delta: Record<string, unknown>, out: string[]): void {
    out.push(...this.open());
    out.push(this.#chunk(delta));
  }

  #outputIndex(event: Record<string, unknown>): number | undefined {
    const index = int(event["output_index"]);
    if (index !== undefined) return index;
    const id = str(event["item_id"]);
    return id === undefined ? undefined : this.#indexById.get(id);
  }

  /**
   * A text or refusal fragment. `whole` marks a `.done` event carrying the
   * full text: only the part not sent yet goes out (nothing if the client
   * already has it all, or if it disagrees with what was sent).
   */
  #text(event: Record<string, unknown>, refusal: boolean, text: string, whole: boolean, out: string[]): void {
    const outputIndex = this.#outputIndex(event) ?? 0;
    this.#seenItems.add(outputIndex);
    const key = `${outputIndex}:${int(event["content_index"]) ?? 0}:${refusal ? "r" : "t"}`;
    const sent = this.#sentText.get(key) ?? "";
    let piece = text;
    if (whole) piece = text.startsWith(sent) ? text.slice(sent.length) : "";
    if (piece === "") return;
    this.#sentText.set(key, sent + piece);
    this.#emit(refusal ? { refusal: piece } : { content: piece }, out);
  }

  #item(event: Record<string, unknown>, done: boolean, out: string[]): void {
    const item = record(event["item"]);
    const outputIndex = int(event["output_index"]);
    if (!item || outputIndex === undefined) return;
    this.#seenItems.add(outputIndex);
    const id = str(item["id"]);
    if (id !== undefined) this.#indexById.set(id, outputIndex);
    const type = item["type"];
    if (type === "message" && done) {
      const content = item["content"];
      if (!Array.isArray(content)) return;
      content.forEach((part, j) => {
        if (!isRecord(part)) return;
        const refusal = part["type"] === "refusal";
        if (part["type"] !== "output_text" && !refusal) return;
        const text = str(part[refusal ? "refusal" : "text"]) ?? "";
        this.#text({ output_index: outputIndex, content_index: j }, refusal, text, true, out);
      });
      return;
    }
    if (type !== "function_call" && type !== "custom_tool_call") return;
    const kind = type === "function_call" ? "function" : "custom";
    const payload = str(item[kind === "function" ? "arguments" : "input"]) ?? "";
    if (!this.#calls.has(outputIndex)) {
      const call: Call = { index: this.#calls.size, kind, sent: "" };
      this.#calls.set(outputIndex, call);
      const callId = str(item["call_id"]) ?? id ?? `call_${outputIndex}`;
      const name = str(item["name"]) ?? "";
      const body =
        kind === "function" ? { function: { name, arguments: "" } } : { custom: { name, input: "" } };
      this.#emit({ tool_calls: [{ index: call.index, id: callId, type: kind, ...body }] }, out);
    }
    // Whatever the item already carries counts as the whole payload so far.
    this.#payload({ output_index: outputIndex }, payload, true, out);
  }

  /** An argument (or custom input) fragment; `whole` as for text. */
  #payload(event: Record<string, unknown>, text: string, whole: boolean, out: string[]): void {
    const outputIndex = this.#outputIndex(event);
    const call = outputIndex === undefined ? undefined : this.#calls.get(outputIndex);
    if (!call) return;
    let piece = text;
    if (whole) piece = text.startsWith(call.sent) ? text.slice(call.sent.length) : "";
    if (piece === "") return;
    call.sent += piece;
    const body = call.kind === "function" ? { function: { arguments: piece } } : { custom: { input: piece } };
    this.#emit({ tool_calls: [{ index: call.index, ...body }] }, out);
  }
}
