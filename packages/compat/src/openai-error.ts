/**
 * The OpenAI error envelope for /v1 answers: `{"error":{"message","type","param","code"}}`.
 */
import { type DomainError, toOpenAiErrorBody } from "@codex-pooler/core";
import { failureStatus, safeCode } from "./events.ts";

/** A DomainError as the OpenAI SDKs expect it (the catalog decides status and type). */
export function openAiError(err: DomainError): { error: Record<string, unknown> } {
  return toOpenAiErrorBody(err) as { error: Record<string, unknown> };
}

/**
 * The body for a failed non-streaming answer (ResponsesAggregator's
 * `failed` outcome); send it with `failure.status`.
 */
export function upstreamFailureBody(failure: { code: string; message: string }): {
  error: Record<string, unknown>;
} {
  const code = safeCode(failure.code);
  return { error: { message: failure.message, type: failureStatus(code).type, param: null, code } };
}
