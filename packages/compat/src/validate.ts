/**
 * Small validation helpers shared by the request translators. Every failure
 * is a DomainError whose `param` is the field path as OpenAI writes it
 * (`messages[2].content[0].type`), so clients can find the offending field.
 *
 * Two codes, one rule:
 * - `invalid_request`: the body is malformed (wrong type, missing field).
 * - `unsupported_parameter`: the body is well-formed public API, but this
 *   gateway cannot honour that field or value without changing the answer.
 */
import { DomainError } from "@codex-pooler/core";
import type { z } from "zod";

export type Path = ReadonlyArray<string | number>;

/** `["messages", 2, "content", 0, "type"]` → `messages[2].content[0].type`. */
export function formatPath(path: Path): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? seg : `.${seg}`;
  }
  return out;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function invalid(path: Path, message: string): DomainError {
  const param = formatPath(path);
  return new DomainError("invalid_request", { param, message: `Invalid '${param}': ${message}` });
}

export function unsupported(path: Path, message: string): DomainError {
  const param = formatPath(path);
  return new DomainError("unsupported_parameter", {
    param,
    message: `Unsupported parameter '${param}': ${message}`,
  });
}

/**
 * Parses `value` with a zod schema; the first issue becomes a DomainError
 * whose param is `path` + the issue's own path.
 */
export function parseAt<S extends z.ZodType>(schema: S, value: unknown, path: Path): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw invalid(path, "invalid value.");
  const at = [...path, ...issue.path.filter((p): p is string | number => typeof p !== "symbol")];
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0] ?? "";
    throw unsupported([...at, key], "unknown field.");
  }
  throw invalid(at, issue.message);
}

/** `null` means "not set" for every optional OpenAI parameter. */
export function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** Rejects a body that is not a JSON object before any field is read. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (!isRecord(body)) {
    throw new DomainError("invalid_request", { message: "The request body must be a JSON object." });
  }
  return body;
}

/** `model` is required on both surfaces: a non-empty string. */
export function requireModel(body: Record<string, unknown>): string {
  const model = body["model"];
  if (!isSet(model)) throw invalid(["model"], "a model is required.");
  if (typeof model !== "string" || model.trim() === "") {
    throw invalid(["model"], "expected a non-empty string.");
  }
  return model;
}

/** Accepts a string, or an array of `{type: textType, text}` parts; returns the text. */
export function textOf(value: unknown, path: Path, textTypes: ReadonlySet<string>, joiner: string): string {
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) throw invalid(path, "expected a string or an array of text parts.");
  const texts: string[] = [];
  value.forEach((part, j) => {
    if (!isRecord(part)) throw invalid([...path, j], "expected an object.");
    const type = part["type"];
    if (typeof type !== "string" || !textTypes.has(type)) {
      throw invalid([...path, j, "type"], `expected one of ${[...textTypes].join(", ")}.`);
    }
    const text = part["text"];
    if (typeof text !== "string") throw invalid([...path, j, "text"], "expected a string.");
    texts.push(text);
  });
  return texts.join(joiner);
}

/** What happens to one top-level request key: kept, dropped, or checked (a function that throws to refuse). */
export type KeyRule = "keep" | "drop" | ((value: unknown) => void);

/** A rule that refuses the key with `why` whenever it is set to anything meaningful. */
export const refuseIfSet =
  (key: string, why: string): KeyRule =>
  (value) => {
    if (isSet(value)) throw unsupported([key], why);
  };
