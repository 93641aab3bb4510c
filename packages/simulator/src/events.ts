/**
 * Builds the event list of one response (spec §3). Events are assembled from string templates: the only
 * JSON.stringify calls are on the variable text pieces (model, answer text, deltas, tool arguments), each done
 * once per response and reused in every event that repeats it. Ids are plain ASCII and go in unescaped.
 */

export interface SimEvent {
  type: string;
  /** The event's whole JSON object, `type` and `sequence_number` included. */
  data: string;
}

export interface Usage {
  input: number;
  cached: number;
  output: number;
  reasoning: number;
}

export interface ReasoningPart {
  id: string;
  summary: string | undefined;
  blob: string;
}

export interface TextPart {
  id: string;
  /** Already JSON-escaped pieces; their concatenation (unescaped) is the text. */
  deltasJson: string[];
  /** JSON-escaped full text. */
  textJson: string;
}

export interface CallPart {
  type: "function" | "custom";
  id: string;
  callId: string;
  name: string;
  payload: string;
}

export type Answer =
  | { kind: "empty" }
  | { kind: "compaction"; id: string; blob: string }
  | { kind: "output"; reasoning?: ReasoningPart; text?: TextPart; calls: CallPart[] };

export type Terminal =
  | { kind: "completed" }
  | { kind: "failed"; code: string; message: string }
  | { kind: "incomplete"; reason: string }
  | { kind: "error"; code: string; message: string };

export interface ResponseSpec {
  id: string;
  createdAt: number;
  model: string;
  previousResponseId: string | undefined;
  answer: Answer;
  usage: Usage;
  terminal: Terminal;
}

export interface BuiltResponse {
  events: SimEvent[];
  /** JSON of each output item as it appears in `response.completed`. */
  outputItems: string[];
}

export function usageJson(u: Usage): string {
  return `{"input_tokens":${u.input},"input_tokens_details":{"cached_tokens":${u.cached}},"output_tokens":${u.output},"output_tokens_details":{"reasoning_tokens":${u.reasoning}},"total_tokens":${u.input + u.output}}`;
}

/** Splits text into token-sized deltas (about 4 characters, never inside a surrogate pair). */
export function splitDeltas(text: string, size = 4): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    let end = Math.min(text.length, i + size);
    const c = text.charCodeAt(end - 1);
    if (end < text.length && c >= 0xd800 && c <= 0xdbff) end += 1;
    out.push(JSON.stringify(text.slice(i, end)));
    i = end;
  }
  if (out.length === 0) out.push('""');
  return out;
}

export function textPart(id: string, text: string): TextPart {
  return { id, deltasJson: splitDeltas(text), textJson: JSON.stringify(text) };
}

class Seq {
  readonly events: SimEvent[] = [];
  #n = 0;

  push(type: string, rest: string): void {
    this.events.push({ type, data: `{"type":"${type}","sequence_number":${this.#n++}${rest}}` });
  }
}

function responseObject(
  spec: ResponseSpec,
  modelJson: string,
  status: string,
  output: string,
  usage: string,
  error = "null",
  incomplete = "null",
): string {
  const prev = spec.previousResponseId === undefined ? "null" : `"${spec.previousResponseId}"`;
  return `{"id":"${spec.id}","object":"response","created_at":${spec.createdAt},"status":"${status}","background":false,"error":${error},"incomplete_details":${incomplete},"instructions":null,"max_output_tokens":null,"model":${modelJson},"output":${output},"parallel_tool_calls":true,"previous_response_id":${prev},"store":false,"tool_choice":"auto","tools":[],"usage":${usage},"metadata":{}}`;
}

export function buildResponse(spec: ResponseSpec): BuiltResponse {
  const seq = new Seq();
  const modelJson = JSON.stringify(spec.model);
  const inProgress = responseObject(spec, modelJson, "in_progress", "[]", "null");
  seq.push("response.created", `,"response":${inProgress}`);
  seq.push("response.in_progress", `,"response":${inProgress}`);
  const items: string[] = [];
  const t = spec.terminal;
  if (t.kind === "failed" || t.kind === "error") {
    if (t.kind === "failed") {
      const err = JSON.stringify({ code: t.code, message: t.message });
      seq.push(
        "response.failed",
        `,"response":${responseObject(spec, modelJson, "failed", "[]", "null", err)}`,
      );
    } else {
      seq.push(
        "error",
        `,"code":${JSON.stringify(t.code)},"message":${JSON.stringify(t.message)},"param":null`,
      );
    }
    return { events: seq.events, outputItems: items };
  }
  const a = spec.answer;
  if (a.kind === "compaction") {
    const item = `{"id":"${a.id}","type":"compaction","encrypted_content":"${a.blob}"}`;
    seq.push("response.output_item.added", `,"output_index":0,"item":${item}`);
    seq.push("response.output_item.done", `,"output_index":0,"item":${item}`);
    items.push(item);
  } else if (a.kind === "output") {
    if (a.reasoning) items.push(reasoningEvents(seq, items.length, a.reasoning));
    if (a.text) items.push(messageEvents(seq, items.length, a.text));
    for (const call of a.calls) items.push(callEvents(seq, items.length, call));
  }
  const output = `[${items.join(",")}]`;
  const usage = usageJson(spec.usage);
  if (t.kind === "incomplete") {
    const details = `{"reason":${JSON.stringify(t.reason)}}`;
    seq.push(
      "response.incomplete",
      `,"response":${responseObject(spec, modelJson, "incomplete", output, usage, "null", details)}`,
    );
  } else {
    seq.push(
      "response.completed",
      `,"response":${responseObject(spec, modelJson, "completed", output, usage)}`,
    );
  }
  return { events: seq.events, outputItems: items };
}

function reasoningEvents(seq: Seq, index: number, r: ReasoningPart): string {
  const at = `,"item_id":"${r.id}","output_index":${index}`;
  seq.push(
    "response.output_item.added",
    `,"output_index":${index},"item":{"id":"${r.id}","type":"reasoning","summary":[]}`,
  );
  let summary = "[]";
  if (r.summary !== undefined) {
    const textJson = JSON.stringify(r.summary);
    seq.push(
      "response.reasoning_summary_part.added",
      `${at},"summary_index":0,"part":{"type":"summary_text","text":""}`,
    );
    for (const d of splitDeltas(r.summary, 8)) {
      seq.push("response.reasoning_summary_text.delta", `${at},"summary_index":0,"delta":${d}`);
    }
    seq.push("response.reasoning_summary_text.done", `${at},"summary_index":0,"text":${textJson}`);
    seq.push(
      "response.reasoning_summary_part.done",
      `${at},"summary_index":0,"part":{"type":"summary_text","text":${textJson}}`,
    );
    summary = `[{"type":"summary_text","text":${textJson}}]`;
  }
  const item = `{"id":"${r.id}","type":"reasoning","summary":${summary},"encrypted_content":"${r.blob}"}`;
  seq.push("response.output_item.done", `,"output_index":${index},"item":${item}`);
  return item;
}

function messageEvents(seq: Seq, index: number, m: TextPart): string {
  const at = `,"item_id":"${m.id}","output_index":${index},"content_index":0`;
  seq.push(
    "response.output_item.added",
    `,"output_index":${index},"item":{"id":"${m.id}","type":"message","status":"in_progress","content":[],"role":"assistant"}`,
  );
  seq.push(
    "response.content_part.added",
    `${at},"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}`,
  );
  for (const d of m.deltasJson) seq.push("response.output_text.delta", `${at},"delta":${d},"logprobs":[]`);
  seq.push("response.output_text.done", `${at},"text":${m.textJson},"logprobs":[]`);
  const part = `{"type":"output_text","annotations":[],"logprobs":[],"text":${m.textJson}}`;
  seq.push("response.content_part.done", `${at},"part":${part}`);
  const item = `{"id":"${m.id}","type":"message","status":"completed","content":[${part}],"role":"assistant"}`;
  seq.push("response.output_item.done", `,"output_index":${index},"item":${item}`);
  return item;
}

function callEvents(seq: Seq, index: number, c: CallPart): string {
  const nameJson = JSON.stringify(c.name);
  const payloadJson = JSON.stringify(c.payload);
  const at = `,"item_id":"${c.id}","output_index":${index}`;
  if (c.type === "function") {
    const head = `{"id":"${c.id}","type":"function_call","status":"STATUS","arguments":ARGS,"call_id":"${c.callId}","name":${nameJson}}`;
    seq.push(
      "response.output_item.added",
      `,"output_index":${index},"item":${head.replace("STATUS", "in_progress").replace("ARGS", '""')}`,
    );
    for (const d of splitDeltas(c.payload, 16))
      seq.push("response.function_call_arguments.delta", `${at},"delta":${d}`);
    seq.push("response.function_call_arguments.done", `${at},"arguments":${payloadJson}`);
    const item = head.replace("STATUS", "completed").replace("ARGS", () => payloadJson);
    seq.push("response.output_item.done", `,"output_index":${index},"item":${item}`);
    return item;
  }
  const head = `{"id":"${c.id}","type":"custom_tool_call","status":"STATUS","call_id":"${c.callId}","input":INPUT,"name":${nameJson}}`;
  seq.push(
    "response.output_item.added",
    `,"output_index":${index},"item":${head.replace("STATUS", "in_progress").replace("INPUT", '""')}`,
  );
  for (const d of splitDeltas(c.payload, 16)) {
    seq.push("response.custom_tool_call_input.delta", `${at},"call_id":"${c.callId}","delta":${d}`);
  }
  seq.push("response.custom_tool_call_input.done", `${at},"call_id":"${c.callId}","input":${payloadJson}`);
  const item = head.replace("STATUS", "completed").replace("INPUT", () => payloadJson);
  seq.push("response.output_item.done", `,"output_index":${index},"item":${item}`);
  return item;
}

/** SSE framing of spec §3.1: `event:` line, one `data:` line, blank line. */
export function sseFrame(e: SimEvent): string {
  return `event: ${e.type}\ndata: ${e.data}\n\n`;
}
