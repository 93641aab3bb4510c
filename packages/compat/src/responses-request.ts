/**
 * POST /v1/responses → the body the Codex upstream accepts.
 *
 * Every top-level field of the public Responses API falls in one class
 * (see README.md for the table and the reasons):
 * - kept (validated, forwarded),
 * - dropped (the upstream refuses it and leaving it out cannot change what
 *   the client relies on),
 * - refused with 400 `unsupported_parameter` (leaving it out would silently
 *   change the answer, or it needs server-side state the gateway lacks),
 * - unknown → refused too: the upstream would refuse it with a vaguer
 *   message after an account was already spent on it.
 * The result always carries `stream: true` and `store: false`.
 */
import { z } from "zod";
import { SystemText, type TranslateOptions } from "./instructions.ts";
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

export interface UpstreamResponsesRequest {
  upstream: Record<string, unknown>;
  /** What the client asked for: relay SSE (true) or answer one JSON object (false). */
  stream: boolean;
  model: string;
}

const STATELESS = "the gateway keeps no response state; send the whole conversation in `input`.";

/** Top-level rules; a Map so that keys such as `__proto__` are just unknown keys. */
const RESPONSES_KEYS = new Map<string, KeyRule>([
  ["model", "keep"],
  ["input", "keep"],
  ["instructions", "keep"],
  ["stream", "keep"],
  ["tools", "keep"],
  ["tool_choice", "keep"],
  ["parallel_tool_calls", "keep"],
  ["reasoning", "keep"],
  ["text", "keep"],
  ["include", "keep"],
  ["prompt_cache_key", "keep"],
  ["service_tier", "keep"],
  ["client_metadata", "keep"],
  // Sampling knobs and bookkeeping: the upstream refuses them, and no client
  // can rely on their effect on a single answer.
  ["temperature", "drop"],
  ["top_p", "drop"],
  ["presence_penalty", "drop"],
  ["frequency_penalty", "drop"],
  ["seed", "drop"],
  ["user", "drop"],
  ["metadata", "drop"],
  ["safety_identifier", "drop"],
  ["prompt_cache_retention", "drop"],
  ["prompt_cache_options", "drop"],
  ["stream_options", "drop"],
  [
    "truncation",
    (v) => {
      if (isSet(v) && v !== "auto" && v !== "disabled") {
        throw invalid(["truncation"], "expected 'auto' or 'disabled'.");
      }
    },
  ],
  [
    "store",
    (v) => {
      if (v === true)
        throw unsupported(["store"], "responses are never stored upstream; send false or omit it.");
      if (isSet(v) && typeof v !== "boolean") throw invalid(["store"], "expected a boolean.");
    },
  ],
  [
    "background",
    (v) => {
      if (v === true)
        throw unsupported(["background"], `background responses need server-side state; ${STATELESS}`);
      if (isSet(v) && typeof v !== "boolean") throw invalid(["background"], "expected a boolean.");
    },
  ],
  [
    "top_logprobs",
    (v) => {
      if (isSet(v) && v !== 0) {
        throw unsupported(["top_logprobs"], "log probabilities are not available from the Codex upstream.");
      }
    },
  ],
  [
    "max_output_tokens",
    refuseIfSet(
      "max_output_tokens",
      "the Codex upstream cannot cap the output length, so the answer could be longer than asked; omit it.",
    ),
  ],
  [
    "max_tool_calls",
    refuseIfSet("max_tool_calls", "the Codex upstream cannot limit the number of tool calls."),
  ],
  ["previous_response_id", refuseIfSet("previous_response_id", STATELESS)],
  ["conversation", refuseIfSet("conversation", STATELESS)],
  ["prompt", refuseIfSet("prompt", "stored prompt templates are not available; send the text itself.")],
]);

/** Hosted tools the Codex upstream does not run for pooled traffic. */
export const REFUSED_HOSTED_TOOLS: ReadonlySet<string> = new Set([
  "mcp",
  "file_search",
  "computer_use",
  "computer_use_preview",
  "code_interpreter",
  "image_generation",
]);

/**
 * Tool types forwarded unchanged besides `function` and `custom`: the ones a
 * Codex client sends to this same upstream (so a Codex CLI configured with a
 * `/v1` base URL keeps working).
 */
export const CODEX_NATIVE_TOOLS: ReadonlySet<string> = new Set([
  "web_search",
  "local_shell",
  "namespace",
  "tool_search",
]);

/** Input item types that imply state or hosted tools the gateway cannot serve. */
const REFUSED_ITEM_TYPES = new Map<string, string>([
  ["item_reference", `item references need stored responses; ${STATELESS}`],
  ["file_search_call", "file_search is not available through the Codex upstream."],
  ["computer_call", "computer use is not available through the Codex upstream."],
  ["computer_call_output", "computer use is not available through the Codex upstream."],
  ["code_interpreter_call", "code_interpreter is not available through the Codex upstream."],
  ["mcp_call", "remote MCP tools are not available through the Codex upstream."],
  ["mcp_list_tools", "remote MCP tools are not available through the Codex upstream."],
  ["mcp_approval_request", "remote MCP tools are not available through the Codex upstream."],
  ["mcp_approval_response", "remote MCP tools are not available through the Codex upstream."],
  ["image_generation_call", "image generation is not available on /v1/responses."],
]);

const nullishString = z.string().nullish();

const InputText = z.looseObject({ type: z.literal("input_text"), text: z.string() });
const InputImage = z
  .looseObject({
    type: z.literal("input_image"),
    image_url: nullishString,
    file_id: nullishString,
    detail: z.enum(["auto", "low", "high", "original"]).nullish(),
  })
  .refine((p) => isSet(p.image_url) || isSet(p.file_id), {
    message: "an image_url or a file_id is required.",
    path: ["image_url"],
  });
const InputFile = z
  .looseObject({
    type: z.literal("input_file"),
    file_data: nullishString,
    file_id: nullishString,
    file_url: nullishString,
    filename: nullishString,
  })
  .refine((p) => isSet(p.file_data) || isSet(p.file_id) || isSet(p.file_url), {
    message: "file_data, file_id or file_url is required.",
    path: ["file_data"],
  });
const InputAudio = z.looseObject({
  type: z.literal("input_audio"),
  input_audio: z.looseObject({ data: z.string(), format: z.string() }),
});
const OutputText = z.looseObject({ type: z.literal("output_text"), text: z.string() });
const Refusal = z.looseObject({ type: z.literal("refusal"), refusal: z.string() });

const USER_PARTS = new Map<string, z.ZodType>([
  ["input_text", InputText],
  ["input_image", InputImage],
  ["input_file", InputFile],
  ["input_audio", InputAudio],
]);
const ASSISTANT_PARTS = new Map<string, z.ZodType>([
  ["output_text", OutputText],
  ["refusal", Refusal],
]);
const SYSTEM_TEXT_PARTS: ReadonlySet<string> = new Set(["input_text"]);

const ToolOutput = z.union([z.string(), z.array(z.unknown())]);
const ITEM_SCHEMAS = new Map<string, z.ZodType>([
  ["function_call", z.looseObject({ call_id: z.string(), name: z.string(), arguments: z.string() })],
  ["function_call_output", z.looseObject({ call_id: z.string(), output: ToolOutput })],
  ["custom_tool_call", z.looseObject({ call_id: z.string(), name: z.string(), input: z.string() })],
  ["custom_tool_call_output", z.looseObject({ call_id: z.string(), output: ToolOutput })],
]);

function contentParts(
  value: unknown,
  path: Path,
  allowed: ReadonlyMap<string, z.ZodType>,
  stringType: string,
): unknown[] {
  if (typeof value === "string") return [{ type: stringType, text: value }];
  if (!Array.isArray(value)) throw invalid(path, "expected a string or an array of content parts.");
  return value.map((part, j) => {
    if (!isRecord(part)) throw invalid([...path, j], "expected an object.");
    const type = part["type"];
    const schema = typeof type === "string" ? allowed.get(type) : undefined;
    if (!schema) throw invalid([...path, j, "type"], `expected one of ${[...allowed.keys()].join(", ")}.`);
    parseAt(schema, part, [...path, j]);
    return part;
  });
}

function messageItem(item: Record<string, unknown>, path: Path, out: unknown[], system: SystemText): void {
  const role = item["role"];
  const contentPath = [...path, "content"];
  switch (role) {
    case "system":
    case "developer": {
      const text = textOf(item["content"], contentPath, SYSTEM_TEXT_PARTS, "\n");
      const content =
        typeof item["content"] === "string" ? [{ type: "input_text", text }] : (item["content"] as unknown[]);
      system.message(text, out, { ...item, type: "message", role: "developer", content });
      return;
    }
    case "user":
      out.push({
        ...item,
        type: "message",
        role,
        content: contentParts(item["content"], contentPath, USER_PARTS, "input_text"),
      });
      return;
    case "assistant":
      out.push({
        ...item,
        type: "message",
        role,
        content: contentParts(item["content"], contentPath, ASSISTANT_PARTS, "output_text"),
      });
      return;
    default:
      throw invalid([...path, "role"], "expected user, assistant, system or developer.");
  }
}

function inputItems(value: unknown, system: SystemText): unknown[] {
  if (!isSet(value)) throw invalid(["input"], "input is required.");
  if (typeof value === "string") {
    return [{ type: "message", role: "user", content: [{ type: "input_text", text: value }] }];
  }
  if (!Array.isArray(value)) throw invalid(["input"], "expected a string or an array of items.");
  const out: unknown[] = [];
  value.forEach((item, i) => {
    const path: Path = ["input", i];
    if (!isRecord(item)) throw invalid(path, "expected an object.");
    const type = isSet(item["type"]) ? item["type"] : isSet(item["role"]) ? "message" : undefined;
    if (typeof type !== "string") throw invalid([...path, "type"], "expected an item type.");
    if (type === "message") {
      messageItem(item, path, out, system);
      return;
    }
    const refused = REFUSED_ITEM_TYPES.get(type);
    if (refused) throw unsupported([...path, "type"], refused);
    const schema = ITEM_SCHEMAS.get(type);
    if (schema) parseAt(schema, item, path);
    // Other item types (reasoning, compaction, web_search_call, …) are
    // conversation history the upstream itself produced: forwarded as is.
    out.push(item);
  });
  return out;
}

const FunctionTool = z.looseObject({
  type: z.literal("function"),
  name: z.string().min(1),
  description: nullishString,
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});
const CustomTool = z.looseObject({
  type: z.literal("custom"),
  name: z.string().min(1),
  description: nullishString,
  format: z.record(z.string(), z.unknown()).nullish(),
});

function toolTypeError(type: string, path: Path): Error {
  if (REFUSED_HOSTED_TOOLS.has(type)) {
    return unsupported(path, `the hosted tool '${type}' is not available through the Codex upstream.`);
  }
  return unsupported(path, `unknown tool type '${type}' (supported: function, custom).`);
}

function responsesTools(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw invalid(["tools"], "expected an array.");
  return value.map((tool, i) => {
    const path: Path = ["tools", i];
    if (!isRecord(tool)) throw invalid(path, "expected an object.");
    const type = tool["type"];
    if (typeof type !== "string") throw invalid([...path, "type"], "expected a string.");
    if (type === "function") parseAt(FunctionTool, tool, path);
    else if (type === "custom") parseAt(CustomTool, tool, path);
    else if (!CODEX_NATIVE_TOOLS.has(type)) throw toolTypeError(type, [...path, "type"]);
    return tool;
  });
}

const NamedChoice = z.looseObject({ name: z.string().min(1) });
const AllowedTools = z.looseObject({
  mode: z.enum(["auto", "required"]),
  tools: z.array(z.looseObject({ type: z.string() })),
});

function responsesToolChoice(value: unknown): unknown {
  const path: Path = ["tool_choice"];
  if (typeof value === "string") {
    if (value === "none" || value === "auto" || value === "required") return value;
    throw invalid(path, "expected 'none', 'auto', 'required' or an object.");
  }
  if (!isRecord(value)) throw invalid(path, "expected a string or an object.");
  const type = value["type"];
  if (typeof type !== "string") throw invalid([...path, "type"], "expected a string.");
  if (type === "function" || type === "custom") parseAt(NamedChoice, value, path);
  else if (type === "allowed_tools") parseAt(AllowedTools, value, path);
  else if (!CODEX_NATIVE_TOOLS.has(type)) throw toolTypeError(type, [...path, "type"]);
  return value;
}

/** `text.format`: checked so a malformed schema fails here, not after routing. */
export function checkTextFormat(value: unknown, path: Path): void {
  if (!isRecord(value)) throw invalid(path, "expected an object.");
  const type = value["type"];
  if (type === "text" || type === "json_object") return;
  if (type !== "json_schema") throw invalid([...path, "type"], "expected text, json_object or json_schema.");
  parseAt(
    z.looseObject({
      name: z.string().min(1),
      schema: z.record(z.string(), z.unknown()),
      description: nullishString,
      strict: z.boolean().nullish(),
    }),
    value,
    path,
  );
}

const Reasoning = z.looseObject({ effort: nullishString, summary: nullishString });
const Verbosity = z.enum(["low", "medium", "high"]).nullish();

function responsesText(value: unknown): Record<string, unknown> {
  const text = parseAt(z.looseObject({ verbosity: Verbosity }), value, ["text"]);
  if (isSet(text["format"])) checkTextFormat(text["format"], ["text", "format"]);
  return text;
}

/**
 * Reasoning items come back sealed for the account only when asked; a
 * stateless client can then send them back in the next turn, which is the
 * only way reasoning survives between turns when nothing is stored.
 */
const ENCRYPTED_REASONING = "reasoning.encrypted_content";

function responsesInclude(value: unknown): string[] {
  const include = parseAt(z.array(z.string()), value, ["include"]);
  include.forEach((entry, i) => {
    if (entry === "message.output_text.logprobs") {
      throw unsupported(["include", i], "log probabilities are not available from the Codex upstream.");
    }
  });
  return [...new Set([...include, ENCRYPTED_REASONING])];
}

/**
 * `priority` (and its alias `fast`) is forwarded; the standard tiers are the
 * upstream's default anyway and are dropped; other tiers are refused.
 */
export function serviceTier(value: unknown, path: Path): string | undefined {
  if (!isSet(value)) return undefined;
  if (value === "priority" || value === "fast") return "priority";
  if (value === "auto" || value === "default" || value === "flex") return undefined;
  if (typeof value !== "string") throw invalid(path, "expected a string.");
  throw unsupported(path, `service tier '${value}' is not available (use auto, default or priority).`);
}

/** Applies the key table: refusals and unknown keys fail here, in body order. */
export function applyKeyRules(body: Record<string, unknown>, rules: ReadonlyMap<string, KeyRule>): void {
  for (const key of Object.keys(body)) {
    const rule = rules.get(key);
    if (rule === undefined) throw unsupported([key], "unknown parameter.");
    if (typeof rule === "function") rule(body[key]);
  }
}

/**
 * Translates a public Responses body.
 *
 * Example: `{"model":"gpt-5.4","input":"hi","temperature":0.2}` →
 * `{ stream: false, model: "gpt-5.4", upstream: {"model":"gpt-5.4","input":[{"type":"message","role":"user",
 * "content":[{"type":"input_text","text":"hi"}]}],"include":["reasoning.encrypted_content"],"stream":true,"store":false} }`.
 */
export function toUpstreamResponsesBody(
  body: unknown,
  options: TranslateOptions = {},
): UpstreamResponsesRequest {
  const b = requireObject(body);
  applyKeyRules(b, RESPONSES_KEYS);
  const model = requireModel(b);
  const stream = parseAt(z.boolean().nullish(), b["stream"], ["stream"]) === true;
  const system = new SystemText(options.instructionsMode);
  const input = inputItems(b["input"], system);
  const top = parseAt(nullishString, b["instructions"], ["instructions"]);
  if (top) system.top(top, input);

  const upstream: Record<string, unknown> = { model };
  const instructions = system.instructions();
  if (instructions !== undefined) upstream["instructions"] = instructions;
  upstream["input"] = input;
  if (isSet(b["tools"])) upstream["tools"] = responsesTools(b["tools"]);
  if (isSet(b["tool_choice"])) upstream["tool_choice"] = responsesToolChoice(b["tool_choice"]);
  if (isSet(b["parallel_tool_calls"])) {
    upstream["parallel_tool_calls"] = parseAt(z.boolean(), b["parallel_tool_calls"], ["parallel_tool_calls"]);
  }
  if (isSet(b["reasoning"])) upstream["reasoning"] = parseAt(Reasoning, b["reasoning"], ["reasoning"]);
  if (isSet(b["text"])) upstream["text"] = responsesText(b["text"]);
  upstream["include"] = isSet(b["include"]) ? responsesInclude(b["include"]) : [ENCRYPTED_REASONING];
  if (isSet(b["prompt_cache_key"])) {
    upstream["prompt_cache_key"] = parseAt(z.string(), b["prompt_cache_key"], ["prompt_cache_key"]);
  }
  const tier = serviceTier(b["service_tier"], ["service_tier"]);
  if (tier !== undefined) upstream["service_tier"] = tier;
  if (isSet(b["client_metadata"])) {
    upstream["client_metadata"] = parseAt(z.record(z.string(), z.string()), b["client_metadata"], [
      "client_metadata",
    ]);
  }
  upstream["stream"] = true;
  upstream["store"] = false;
  return { upstream, stream, model };
}
