/**
 * Structured JSON logging (pino) with redaction by construction: every log
 * line's fields pass through `sanitizeLogFields`, which drops values under
 * sensitive key names at any depth and masks anything that looks like a
 * credential, so a careless `log.info({ headers })` cannot leak a key.
 */
import type { Logger } from "@codex-pooler/core";
import { type DestinationStream, pino } from "pino";

const SENSITIVE_KEY =
  /(authorization|token|secret|password|passwd|cookie|api[-_]?key|apikey|bearer|credential|prompt|messages|^input$|^instructions$|^body$|payload|auth[-_]?json|private[-_]?key|ciphertext|nonce)/i;

// Pool API keys, MCP tokens, OpenAI-style keys, JWTs and bearer values.
const SECRET_VALUE =
  /(sk-cxp-[A-Za-z0-9_-]+|mcp-cxp-[A-Za-z0-9_-]+|sk-[A-Za-z0-9_-]{16,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*|Bearer\s+\S+)/g;

export const REDACTED = "[redacted]";

/** Returns a copy of `value` safe to log. Example: `sanitizeLogFields({ token: "x" })` → `{ token: "[redacted]" }`. */
export function sanitizeLogFields(value: unknown, depth = 0): unknown {
  if (depth > 8) return "[depth]";
  if (typeof value === "string") return value.replace(SECRET_VALUE, REDACTED);
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Error) return sanitizeError(value);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((v) => sanitizeLogFields(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SENSITIVE_KEY.test(k) ? REDACTED : sanitizeLogFields(v, depth + 1);
  }
  return out;
}

function sanitizeError(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: err.name,
    message: String(err.message).replace(SECRET_VALUE, REDACTED),
  };
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") out["code"] = code;
  if (err.stack) out["stack"] = err.stack.replace(SECRET_VALUE, REDACTED);
  if (err.cause instanceof Error) out["cause"] = sanitizeError(err.cause);
  return out;
}

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Where lines go (default stdout); tests pass a capture stream. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = pino(
    {
      level: options.level ?? "info",
      base: options.name ? { svc: options.name } : {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => sanitizeLogFields(fields) as Record<string, unknown>,
        bindings: (bindings) => sanitizeLogFields(bindings) as Record<string, unknown>,
      },
    },
    options.destination,
  );
  return wrap(base);
}

function wrap(p: pino.Logger): Logger {
  return {
    debug: (fields, message) => p.debug(fields, message),
    info: (fields, message) => p.info(fields, message),
    warn: (fields, message) => p.warn(fields, message),
    error: (fields, message) => p.error(fields, message),
    child: (bindings) => wrap(p.child(sanitizeLogFields(bindings) as Record<string, unknown>)),
  };
}

/** A logger that drops everything (unit tests, benchmarks of pure code). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
