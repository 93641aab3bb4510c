/**
 * Non-streaming POST /v1/chat/completions: a full Responses object (from
 * ResponsesAggregator, completed or incomplete) → one `chat.completion`.
 */
import { chatUsage, incompleteFinishReason, str } from "./events.ts";
import { isRecord } from "./validate.ts";

export interface ChatCompletionMeta {
  id: string;
  model: string;
  created: number;
}

/**
 * Example: output `[reasoning, message "PONG"]`, status completed →
 * `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"PONG","refusal":null},
 * "logprobs":null,"finish_reason":"stop"}],"usage":{…}}`.
 */
export function chatCompletionFromResponse(
  response: Record<string, unknown>,
  meta: ChatCompletionMeta,
): Record<string, unknown> {
  let content = "";
  let refusal = "";
  const toolCalls: Record<string, unknown>[] = [];
  const output = Array.isArray(response["output"]) ? response["output"] : [];
  for (const item of output) {
    if (!isRecord(item)) continue;
    switch (item["type"]) {
      case "message": {
        if (item["role"] !== undefined && item["role"] !== "assistant") break;
        const parts = Array.isArray(item["content"]) ? item["content"] : [];
        for (const part of parts) {
          if (!isRecord(part)) continue;
          if (part["type"] === "output_text") content += str(part["text"]) ?? "";
          else if (part["type"] === "refusal") refusal += str(part["refusal"]) ?? "";
        }
        break;
      }
      case "function_call":
        toolCalls.push({
          id: str(item["call_id"]) ?? str(item["id"]) ?? "",
          type: "function",
          function: { name: str(item["name"]) ?? "", arguments: str(item["arguments"]) ?? "" },
        });
        break;
      case "custom_tool_call":
        toolCalls.push({
          id: str(item["call_id"]) ?? str(item["id"]) ?? "",
          type: "custom",
          custom: { name: str(item["name"]) ?? "", input: str(item["input"]) ?? "" },
        });
        break;
      default:
        break;
    }
  }
  const finishReason =
    response["status"] === "incomplete"
      ? incompleteFinishReason(response)
      : toolCalls.length > 0
        ? "tool_calls"
        : "stop";
  const message: Record<string, unknown> = {
    role: "assistant",
    // OpenAI's convention: null content when the turn only called tools.
    content: content === "" && toolCalls.length > 0 ? null : content,
    refusal: refusal === "" ? null : refusal,
  };
  if (toolCalls.length > 0) message["tool_calls"] = toolCalls;
  return {
    id: meta.id,
    object: "chat.completion",
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    usage: chatUsage(response["usage"]),
  };
}
