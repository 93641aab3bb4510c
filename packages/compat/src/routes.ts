/**
 * Which /v1 routes exist. Everything else under /v1 answers 404
 * `unsupported_endpoint` in the OpenAI error shape, before admission — never
 * a silent proxy to the upstream.
 */
import { DomainError } from "@codex-pooler/core";

export interface V1Route {
  method: "GET" | "POST";
  path: string;
  /** What serves it. */
  note: string;
}

export const SUPPORTED_V1_ROUTES: ReadonlyArray<V1Route> = [
  { method: "POST", path: "/v1/responses", note: "Responses, translated (JSON or SSE)" },
  { method: "GET", path: "/v1/responses", note: "Responses websocket (upgrade)" },
  { method: "POST", path: "/v1/chat/completions", note: "Chat Completions over Responses (JSON or SSE)" },
  { method: "GET", path: "/v1/models", note: "the pool's model catalog" },
  { method: "GET", path: "/v1/usage", note: "key-local usage and limits" },
];

/**
 * OpenAI paths clients are known to call that this gateway deliberately does
 * not serve (documentation and tests; the rule is "not in SUPPORTED_V1_ROUTES").
 */
export const UNSUPPORTED_V1_PATHS: ReadonlyArray<string> = [
  "/v1/completions",
  "/v1/embeddings",
  "/v1/moderations",
  "/v1/realtime",
  "/v1/realtime/sessions",
  "/v1/audio/transcriptions",
  "/v1/audio/translations",
  "/v1/audio/speech",
  "/v1/images/generations",
  "/v1/images/edits",
  "/v1/images/variations",
  "/v1/files",
  "/v1/uploads",
  "/v1/batches",
  "/v1/fine_tuning/jobs",
  "/v1/vector_stores",
  "/v1/assistants",
  "/v1/threads",
  "/v1/conversations",
  "/v1/responses/compact",
  "/v1/responses/{response_id}",
  "/v1/responses/{response_id}/cancel",
  "/v1/responses/{response_id}/input_items",
  "/v1/chat/completions/{completion_id}",
  "/v1/models/{model}",
];

/** `/v1/models/?x=1` → `/v1/models`. */
export function normalizeV1Path(path: string): string {
  let p = path;
  const q = p.search(/[?#]/);
  if (q >= 0) p = p.slice(0, q);
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p;
}

/** Example: `isSupportedV1Route("post", "/v1/chat/completions")` → true; `("POST", "/v1/embeddings")` → false. */
export function isSupportedV1Route(method: string, path: string): boolean {
  const m = method.toUpperCase();
  const p = normalizeV1Path(path);
  return SUPPORTED_V1_ROUTES.some((r) => r.method === m && r.path === p);
}

/** The 404 for any other /v1 request (the client's own method and path are safe to echo). */
export function unsupportedEndpoint(method: string, path: string): DomainError {
  const route = `${method.toUpperCase()} ${normalizeV1Path(path)}`.slice(0, 200);
  return new DomainError("unsupported_endpoint", {
    message: `${route} is not supported by Codex Pooler (supported: ${SUPPORTED_V1_ROUTES.map((r) => `${r.method} ${r.path}`).join(", ")}).`,
  });
}
