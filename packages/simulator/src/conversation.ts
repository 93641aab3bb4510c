/**
 * What the simulator needs to know about a request's `input`: the latest user message (where directives
 * live), tool outputs that arrived after it, opaque blobs to verify, and whether compaction was asked for.
 * Unknown item types and keys are ignored, as the real backend does.
 */

export interface ToolOutput {
  callId: string;
  output: string;
  custom: boolean;
}

export interface BlobRef {
  kind: "reasoning" | "compaction";
  id: string | undefined;
  content: string;
}

export interface InputAnalysis {
  /** Text of the latest `user` message, or undefined when the input has none. */
  lastUserText: string | undefined;
  /** Outputs of tool calls found after the latest user message. */
  toolOutputs: ToolOutput[];
  /** Names of calls issued after the latest user message, by call_id. */
  callNames: Map<string, string>;
  blobs: BlobRef[];
  compactionTrigger: boolean;
  items: number;
}

type Item = Record<string, unknown>;

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let out = "";
  for (const part of content) {
    if (part !== null && typeof part === "object") {
      const t = (part as Item)["text"];
      if (typeof t === "string") out = out.length === 0 ? t : `${out}\n${t}`;
    }
  }
  return out;
}

export function analyzeInput(input: unknown): InputAnalysis {
  const result: InputAnalysis = {
    lastUserText: undefined,
    toolOutputs: [],
    callNames: new Map(),
    blobs: [],
    compactionTrigger: false,
    items: 0,
  };
  if (typeof input === "string") {
    result.lastUserText = input;
    result.items = 1;
    return result;
  }
  if (!Array.isArray(input)) return result;
  result.items = input.length;
  for (const raw of input) {
    if (raw === null || typeof raw !== "object") continue;
    const item = raw as Item;
    const type = item["type"] ?? (item["role"] !== undefined ? "message" : undefined);
    switch (type) {
      case "message":
        if (item["role"] === "user") {
          result.lastUserText = textOf(item["content"]);
          result.toolOutputs = [];
          result.callNames = new Map();
        }
        break;
      case "function_call":
      case "custom_tool_call": {
        const callId = item["call_id"];
        if (typeof callId === "string") result.callNames.set(callId, String(item["name"] ?? ""));
        break;
      }
      case "function_call_output":
      case "custom_tool_call_output": {
        const callId = item["call_id"];
        const out = item["output"];
        result.toolOutputs.push({
          callId: typeof callId === "string" ? callId : "",
          output: typeof out === "string" ? out : textOf(out),
          custom: type === "custom_tool_call_output",
        });
        break;
      }
      case "reasoning":
      case "compaction": {
        const content = item["encrypted_content"];
        if (typeof content === "string") {
          const id = item["id"];
          result.blobs.push({
            kind: type as "reasoning" | "compaction",
            id: typeof id === "string" ? id : undefined,
            content,
          });
        }
        break;
      }
      case "compaction_trigger":
        result.compactionTrigger = true;
        break;
    }
  }
  // Only a trailing trigger asks for compaction (spec §1.1: the input *ends* with it).
  const last = input[input.length - 1] as Item | undefined;
  result.compactionTrigger = result.compactionTrigger && last?.["type"] === "compaction_trigger";
  return result;
}
