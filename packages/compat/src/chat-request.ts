/**
 * POST /v1/chat/completions → an upstream Responses body (spec §6).
 *
 * Same classes as the Responses translator (kept, dropped, refused, unknown
 * → refused); README.md lists every field and the reason. Chat-specific
 * choices:
 * - `max_tokens` / `max_completion_tokens` are dropped, not refused (unlike
 *   `max_output_tokens` on /v1/responses): chat clients and frameworks send
 *   them routinely as a ceiling rather than as a request for a short answer,
 *   and refusing would lock most of them out. The effect of dropping is only
 *   ever a longer answer, never a different one up to that point.
 * - `n > 1`, `logprobs`, `top_logprobs`, non-empty `stop` and `logit_bias`,
 *   audio output and the legacy `functions` / `function_call` are refused:
 *   dropping them would silently change what the client gets.
 * - Function tools get `strict: false` unless the client said otherwise:
 *   Chat tools are non-strict by default, Responses tools strict by default,
 *   and a non-strict schema sent as strict is refused upstream.
 */
import { z } from "zod";
import { SystemText, type TranslateOptions } from "./instructions.ts";
import { applyKeyRules, checkTextFormat, serviceTier } from "./responses-request.ts";
import {
  invalid,
  isRecord,
  isSet,
  type KeyRule,
  type Path,
  parseAt,
  refuseIfSet,
  requireModel,
  requireObject,
  textOf,
  unsupported,
} from "./validate.ts";

export interface UpstreamChatRequest {
  upstream: Record<string, unknown>;
  stream: boolean;
  /** `stream_options.include_usage` on a streaming request: send the usage-only chunk at the end. */
  includeUsage: boolean;
  model: string;
}

const NO_LOGPROBS = "log probabilities are not available from the Codex upstream.";

const CHAT_KEYS = new Map<string, KeyRule>([
  ["model", "keep"],
  ["messages", "keep"],
  ["stream", "keep"],
  ["stream_options", "keep"],
  ["tools", "keep"],
  ["tool_choice", "keep"],
  ["parallel_tool_calls", "keep"],
  ["response_format", "keep"],
  ["reasoning_effort", "keep"],
  ["verbosity", "keep"],
  ["prompt_cache_key", "keep"],
  ["service_tier", "keep"],
  ["temperature", "drop"],
  ["top_p", "drop"],
  ["presence_penalty", "drop"],
  ["frequency_penalty", "drop"],
  ["seed", "drop"],
  ["user", "drop"],
  ["metadata", "drop"],
  ["safety_identifier", "drop"],
  ["prompt_cache_retention", "drop"],
  // Chat `store` only opts into distillation/evals logging; it has no
  // retrieval semantics a client could depend on.
  ["store", "drop"],
  // A latency optimisation; the answer is the same without it.
  ["prediction", "drop"],
  ["max_tokens", "drop"],
  ["max_completion_tokens", "drop"],
  [
    "n",
    (v) => {
      if (isSet(v) && v !== 1) throw unsupported(["n"], "only one choice per request is available (n = 1).");
    },
  ],
  [
    "logprobs",
    (v) => {
      if (v === true) throw unsupported(["logprobs"], NO_LOGPROBS);
    },
  ],
  [
    "top_logprobs",
    (v) => {
      if (isSet(v) && v !== 0) throw unsupported(["top_logprobs"], NO_LOGPROBS);
    },
  ],
  [
    "stop",
    (v) => {
      if (isSet(v) && !(Array.isArray(v) && v.length === 0)) {
        throw unsupported(["stop"], "stop sequences are not available from the Codex upstream.");
      }
    },
  ],
  [
    "logit_bias",
    (v) => {
      if (isSet(v) && !(isRecord(v) && Object.keys(v).length === 0)) {
        throw unsupported(["logit_bias"], "logit_bias is not available from the Codex upstream.");
      }
    },
  ],
  [
    "modalities",
    (v) => {
      if (isSet(v) && !(Array.isArray(v) && v.every((m) => m === "text"))) {
        throw unsupported(["modalities"], "only text output is available.");
      }
    },
  ],
  ["audio", refuseIfSet("audio", "audio output is not available.")],
  [
    "web_search_options",
    refuseIfSet("web_search_options", "web search is not available on /v1/chat/completions."),
  ],
  ["functions", refuseIfSet("functions", "the legacy functions API is not supported; use tools.")],
  [
    "function_call",
    refuseIfSet("function_call", "the legacy functions API is not supported; use tool_choice."),
  ],
]);

type CallKind = "function" | "custom";

const TEXT_PARTS: ReadonlySet<string> = new Set(["text"]);

const ImageUrlPart = z.looseObject({
  image_url: z.union([
    z.string(),
    z.looseObject({ url: z.string(), detail: z.enum(["auto", "low", "high"]).nullish() }),
  ]),
});
const AudioPart = z.looseObject({ input_audio: z.looseObject({ data: z.string(), format: z.string() }) });
const FilePart = z.looseObject({
  file: z
    .looseObject({
      file_data: z.string().nullish(),
      file_id: z.string().nullish(),
      filename: z.string().nullish(),
    })
    .refine((f) => isSet(f.file_data) || isSet(f.file_id), {
      message: "file_data or file_id is required.",
      path: ["file_data"],
    }),
});

function defined(entries: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => isSet(v)));
}

function userPart(part: unknown, path: Path): Record<string, unknown> {
  if (!isRecord(part)) throw invalid(path, "expected an object.");
  switch (part["type"]) {
    case "text":
      return { type: "input_text", text: parseAt(z.string(), part["text"], [...path, "text"]) };
    case "image_url": {
      const { image_url } = parseAt(ImageUrlPart, part, path);
      if (typeof image_url === "string") return { type: "input_image", image_url };
      return defined({ type: "input_image", image_url: image_url.url, detail: image_url.detail });
    }
    case "input_audio": {
      const { input_audio } = parseAt(AudioPart, part, path);
      return { type: "input_audio", input_audio: { data: input_audio.data, format: input_audio.format } };
    }
    case "file": {
      const { file } = parseAt(FilePart, part, path);
      return defined({
        type: "input_file",
        file_data: file.file_data,
        file_id: file.file_id,
        filename: file.filename,
      });
    }
    default:
      throw invalid([...path, "type"], "expected one of text, image_url, input_audio, file.");
  }
}

const FunctionCall = z.looseObject({
  id: z.string().min(1),
  type: z.literal("function"),
  function: z.looseObject({
    name: z.string().min(1),
    // Some clients send the arguments as an object; it means the same JSON.
    arguments: z.union([z.string(), z.record(z.string(), z.unknown())]),
  }),
});
const CustomCall = z.looseObject({
  id: z.string().min(1),
  type: z.literal("custom"),
  custom: z.looseObject({ name: z.string().min(1), input: z.string() }),
});

function assistantItems(
  msg: Record<string, unknown>,
  path: Path,
  out: unknown[],
  calls: Map<string, CallKind>,
): void {
  if (isSet(msg["function_call"])) {
    throw unsupported(
      [...path, "function_call"],
      "the legacy functions API is not supported; use tool_calls.",
    );
  }
  if (isSet(msg["audio"])) throw unsupported([...path, "audio"], "audio output is not available.");
  const parts: Record<string, unknown>[] = [];
  const content = msg["content"];
  const contentPath = [...path, "content"];
  if (typeof content === "string") {
    if (content !== "") parts.push({ type: "output_text", text: content });
  } else if (Array.isArray(content)) {
    content.forEach((part, j) => {
      if (!isRecord(part)) throw invalid([...contentPath, j], "expected an object.");
      if (part["type"] === "text") {
        parts.push({
          type: "output_text",
          text: parseAt(z.string(), part["text"], [...contentPath, j, "text"]),
        });
      } else if (part["type"] === "refusal") {
        parts.push({
          type: "refusal",
          refusal: parseAt(z.string(), part["refusal"], [...contentPath, j, "refusal"]),
        });
      } else {
        throw invalid([...contentPath, j, "type"], "expected one of text, refusal.");
      }
    });
  } else if (isSet(content)) {
    throw invalid(contentPath, "expected a string, an array of parts or null.");
  }
  if (isSet(msg["refusal"])) {
    parts.push({ type: "refusal", refusal: parseAt(z.string(), msg["refusal"], [...path, "refusal"]) });
  }
  const toolCalls = msg["tool_calls"];
  if (isSet(toolCalls) && !Array.isArray(toolCalls))
    throw invalid([...path, "tool_calls"], "expected an array.");
  const hasCalls = Array.isArray(toolCalls) && toolCalls.length > 0;
  // An assistant turn that only called tools has no message item upstream.
  if (parts.length > 0 || !hasCalls) {
    out.push({
      type: "message",
      role: "assistant",
      content: parts.length > 0 ? parts : [{ type: "output_text", text: "" }],
    });
  }
  if (!Array.isArray(toolCalls)) return;
  toolCalls.forEach((call, k) => {
    const callPath = [...path, "tool_calls", k];
    if (!isRecord(call)) throw invalid(callPath, "expected an object.");
    if (call["type"] === "custom") {
      const c = parseAt(CustomCall, call, callPath);
      calls.set(c.id, "custom");
      out.push({ type: "custom_tool_call", call_id: c.id, name: c.custom.name, input: c.custom.input });
      return;
    }
    if (call["type"] !== "function") throw invalid([...callPath, "type"], "expected function or custom.");
    const c = parseAt(FunctionCall, call, callPath);
    calls.set(c.id, "function");
    const args = c.function.arguments;
    out.push({
      type: "function_call",
      call_id: c.id,
      name: c.function.name,
      arguments: typeof args === "string" ? args : JSON.stringify(args),
    });
  });
}

function chatInput(value: unknown, system: SystemText): unknown[] {
  if (!isSet(value)) throw invalid(["messages"], "messages are required.");
  if (!Array.isArray(value) || value.length === 0) throw invalid(["messages"], "expected a non-empty array.");
  const out: unknown[] = [];
  const calls = new Map<string, CallKind>();
  value.forEach((msg, i) => {
    const path: Path = ["messages", i];
    if (!isRecord(msg)) throw invalid(path, "expected an object.");
    const contentPath = [...path, "content"];
    switch (msg["role"]) {
      case "system":
      case "developer":
        system.message(textOf(msg["content"], contentPath, TEXT_PARTS, "\n"), out);
        return;
      case "user": {
        const content = msg["content"];
        let parts: Record<string, unknown>[];
        if (typeof content === "string") parts = [{ type: "input_text", text: content }];
        else if (Array.isArray(content)) parts = content.map((p, j) => userPart(p, [...contentPath, j]));
        else throw invalid(contentPath, "expected a string or an array of parts.");
        out.push({ type: "message", role: "user", content: parts });
        return;
      }
      case "assistant":
        assistantItems(msg, path, out, calls);
        return;
      case "tool": {
        const callId = parseAt(z.string().min(1), msg["tool_call_id"], [...path, "tool_call_id"]);
        const output = textOf(msg["content"], contentPath, TEXT_PARTS, "");
        const type = calls.get(callId) === "custom" ? "custom_tool_call_output" : "function_call_output";
        out.push({ type, call_id: callId, output });
        return;
      }
      case "function":
        throw unsupported([...path, "role"], "the legacy functions API is not supported; use tool messages.");
      default:
        throw invalid([...path, "role"], "expected system, developer, user, assistant or tool.");
    }
  });
  return out;
}

const ChatFunctionTool = z.looseObject({
  function: z.looseObject({
    name: z.string().min(1),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
});
const ChatCustomTool = z.looseObject({
  custom: z.looseObject({
    name: z.string().min(1),
    description: z.string().nullish(),
    format: z.record(z.string(), z.unknown()).nullish(),
  }),
});

/** A function with no parameters still needs a schema upstream. */
const EMPTY_PARAMETERS = { type: "object", properties: {} };

function chatTools(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw invalid(["tools"], "expected an array.");
  return value.map((tool, i) => {
    const path: Path = ["tools", i];
    if (!isRecord(tool)) throw invalid(path, "expected an object.");
    if (tool["type"] === "function") {
      const f = parseAt(ChatFunctionTool, tool, path).function;
      return defined({
        type: "function",
        name: f.name,
        description: f.description,
        parameters: f.parameters ?? EMPTY_PARAMETERS,
        strict: f.strict ?? false,
      });
    }
    if (tool["type"] === "custom") {
      const c = parseAt(ChatCustomTool, tool, path).custom;
      return defined({ type: "custom", name: c.name, description: c.description, format: c.format });
    }
    if (typeof tool["type"] !== "string") throw invalid([...path, "type"], "expected a string.");
    throw unsupported(
      [...path, "type"],
      `tool type '${tool["type"]}' is not supported (use function or custom).`,
    );
  });
}

const NamedFunction = z.looseObject({ function: z.looseObject({ name: z.string().min(1) }) });
const NamedCustom = z.looseObject({ custom: z.looseObject({ name: z.string().min(1) }) });

function namedTool(value: unknown, path: Path): Record<string, unknown> {
  if (!isRecord(value)) throw invalid(path, "expected an object.");
  if (value["type"] === "function") {
    return { type: "function", name: parseAt(NamedFunction, value, path).function.name };
  }
  if (value["type"] === "custom")
    return { type: "custom", name: parseAt(NamedCustom, value, path).custom.name };
  throw invalid([...path, "type"], "expected function or custom.");
}

function chatToolChoice(value: unknown): unknown {
  const path: Path = ["tool_choice"];
  if (value === "none" || value === "auto" || value === "required") return value;
  if (!isRecord(value)) throw invalid(path, "expected 'none', 'auto', 'required' or an object.");
  if (value["type"] !== "allowed_tools") return namedTool(value, path);
  const allowed = parseAt(
    z.looseObject({
      allowed_tools: z.looseObject({ mode: z.enum(["auto", "required"]), tools: z.array(z.unknown()) }),
    }),
    value,
    path,
  ).allowed_tools;
  return {
    type: "allowed_tools",
    mode: allowed.mode,
    tools: allowed.tools.map((t, k) => namedTool(t, [...path, "allowed_tools", "tools", k])),
  };
}

function chatResponseFormat(value: unknown): Record<string, unknown> | undefined {
  const path: Path = ["response_format"];
  if (!isRecord(value)) throw invalid(path, "expected an object.");
  switch (value["type"]) {
    case "text":
      return undefined;
    case "json_object":
      return { type: "json_object" };
    case "json_schema": {
      const js = parseAt(
        z.looseObject({
          json_schema: z.looseObject({
            name: z.string().min(1),
            description: z.string().nullish(),
            schema: z.record(z.string(), z.unknown()).nullish(),
            strict: z.boolean().nullish(),
          }),
        }),
        value,
        path,
      ).json_schema;
      const format = defined({
        type: "json_schema",
        name: js.name,
        description: js.description,
        schema: js.schema ?? {},
        strict: js.strict ?? false,
      });
      checkTextFormat(format, path);
      return format;
    }
    default:
      throw invalid([...path, "type"], "expected text, json_object or json_schema.");
  }
}

/**
 * Translates a Chat Completions body.
 *
 * Example: `{"model":"gpt-5.4","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}`
 * → upstream `{"model":"gpt-5.4","input":[{developer "Be brief."},{user "hi"}],"stream":true,"store":false}`.
 */
export function chatToUpstreamResponsesBody(
  body: unknown,
  options: TranslateOptions = {},
): UpstreamChatRequest {
  const b = requireObject(body);
  applyKeyRules(b, CHAT_KEYS);
  const model = requireModel(b);
  const stream = parseAt(z.boolean().nullish(), b["stream"], ["stream"]) === true;
  const streamOptions = parseAt(
    z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
    b["stream_options"],
    ["stream_options"],
  );
  const system = new SystemText(options.instructionsMode);
  const input = chatInput(b["messages"], system);

  const upstream: Record<string, unknown> = { model };
  const instructions = system.instructions();
  if (instructions !== undefined) upstream["instructions"] = instructions;
  upstream["input"] = input;
  if (isSet(b["tools"])) upstream["tools"] = chatTools(b["tools"]);
  if (isSet(b["tool_choice"])) upstream["tool_choice"] = chatToolChoice(b["tool_choice"]);
  if (isSet(b["parallel_tool_calls"])) {
    upstream["parallel_tool_calls"] = parseAt(z.boolean(), b["parallel_tool_calls"], ["parallel_tool_calls"]);
  }
  if (isSet(b["reasoning_effort"])) {
    upstream["reasoning"] = {
      effort: parseAt(z.string().min(1), b["reasoning_effort"], ["reasoning_effort"]),
    };
  }
  const text: Record<string, unknown> = {};
  if (isSet(b["response_format"])) {
    const format = chatResponseFormat(b["response_format"]);
    if (format) text["format"] = format;
  }
  if (isSet(b["verbosity"])) {
    text["verbosity"] = parseAt(z.enum(["low", "medium", "high"]), b["verbosity"], ["verbosity"]);
  }
  if (Object.keys(text).length > 0) upstream["text"] = text;
  if (isSet(b["prompt_cache_key"])) {
    upstream["prompt_cache_key"] = parseAt(z.string(), b["prompt_cache_key"], ["prompt_cache_key"]);
  }
  const tier = serviceTier(b["service_tier"], ["service_tier"]);
  if (tier !== undefined) upstream["service_tier"] = tier;
  upstream["stream"] = true;
  upstream["store"] = false;
  return { upstream, stream, includeUsage: stream && streamOptions?.include_usage === true, model };
}
