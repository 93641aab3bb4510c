import type { Directives } from "./directives.ts";
import type { CallPart, TextPart } from "./events.ts";
import { fnv1a } from "./ids.ts";

/** Messages of `response.failed` by code; the rate-limit one carries the "try again in" delay the CLI parses. */
export const FAILED_MESSAGES: Record<string, string> = {
  context_length_exceeded:
    "Your input exceeds the context window of this model. Please adjust your input and try again.",
  rate_limit_exceeded:
    "Rate limit reached for organization on tokens per min (TPM): Limit 30000, Used 30000, Requested 1200. Please try again in 2.5s.",
  server_is_overloaded: "Our servers are currently overloaded. Please try again later.",
  slow_down: "Our servers are experiencing high traffic. Please slow down and try again later.",
  insufficient_quota: "You exceeded your current quota, please check your plan and billing details.",
  usage_not_included: "Your current plan does not include Codex usage.",
  invalid_prompt: "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
  cyber_policy: "This request has been flagged for potentially high-risk cyber activity.",
  server_error: "An error occurred while processing your request. Please try again.",
};

const VOCAB = (
  "the a of to and in is for that on with as by it this be are from at or an was which code test stream " +
  "token gateway account model request response simulator window quota value result function data event"
).split(" ");
const VOCAB_JSON = VOCAB.map((w) => JSON.stringify(` ${w}`));

/** A long answer of exactly `n` one-word deltas (about n output tokens), deterministic in `seed`. */
export function longText(id: string, n: number, seed: number): TextPart {
  const deltas: string[] = new Array(n);
  const words: string[] = new Array(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const k = (x >>> 0) % VOCAB.length;
    deltas[i] = VOCAB_JSON[k]!;
    words[i] = VOCAB[k]!;
  }
  const text = ` ${words.join(" ")}`;
  return { id, deltasJson: deltas, textJson: JSON.stringify(text) };
}

/** One delta of `bytes` characters: a single SSE event bigger than any buffer a relay might assume. */
export function bigText(id: string, bytes: number): TextPart {
  const json = `"${"x".repeat(bytes)}"`;
  return { id, deltasJson: [json], textJson: json };
}

/** What the simulator says when the prompt has no directive: stable for a given input. */
export function defaultAnswer(lastUserText: string | undefined): string {
  if (lastUserText === undefined) return "Simulated answer.";
  const snippet = lastUserText.replace(/\s+/g, " ").trim().slice(0, 80);
  return `Simulated answer ${fnv1a(lastUserText).toString(16).padStart(8, "0")}: ${snippet}`;
}

export function followUpText(
  d: Directives | undefined,
  outputs: { output: string; callName: string }[],
): string {
  const head = d?.reply ?? `Tool ${outputs.map((o) => o.callName || "call").join(", ")} returned:`;
  return `${head}\n${outputs.map((o) => o.output).join("\n")}`;
}

export function textTokens(t: TextPart, longCount: number | undefined): number {
  if (longCount !== undefined) return longCount;
  // textJson length is close to the text length for ASCII; good enough for a token estimate.
  return Math.max(1, Math.ceil((t.textJson.length - 2) / 4));
}

export function callTokens(c: CallPart): number {
  return 5 + Math.ceil(c.payload.length / 4);
}
