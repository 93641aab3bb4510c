/**
 * Metadata-only accounting records: one per client request, one per upstream
 * attempt. The gateway produces them, the queue carries them, the worker
 * stores them. The schema has no field that could hold a prompt, a body, a
 * header value or a credential; the worker rejects anything else (strict).
 */
import { z } from "zod";

const ms = z.number().finite().nonnegative();
const count = z.number().int().nonnegative().max(2_000_000_000);
const code = z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/);
const id = z.string().regex(/^[a-z]{2,5}_[0-9a-z]{10,40}$/);

export const tokenUsageSchema = z
  .object({
    inputTokens: count,
    cachedInputTokens: count,
    outputTokens: count,
    reasoningTokens: count,
    totalTokens: count,
  })
  .strict();

export const attemptRecordSchema = z
  .object({
    id,
    attemptNo: z.number().int().min(1).max(100),
    accountId: id.nullable(),
    status: z.enum(["succeeded", "failed", "retryable_failed", "cancelled"]),
    httpStatus: z.number().int().min(100).max(599).nullable(),
    errorCode: code.nullable(),
    startedAt: ms,
    ttfbMs: ms.nullable(),
    durationMs: ms.nullable(),
    usage: tokenUsageSchema.nullable(),
  })
  .strict();

export const requestRecordSchema = z
  .object({
    id,
    poolId: id.nullable(),
    apiKeyId: id.nullable(),
    accountId: id.nullable(),
    model: z.string().max(200).nullable(),
    route: z.string().regex(/^[a-z0-9_]{1,40}$/),
    transport: z.enum(["http_json", "http_sse", "websocket"]),
    status: z.enum(["succeeded", "failed", "rejected", "cancelled"]),
    httpStatus: z.number().int().min(100).max(599).nullable(),
    errorCode: code.nullable(),
    clientOriginator: z.string().max(64).nullable(),
    startedAt: ms,
    completedAt: ms,
    ttfbMs: ms.nullable(),
    durationMs: ms,
    gatewayOverheadMs: ms.nullable(),
    usage: tokenUsageSchema.nullable(),
    attempts: z.array(attemptRecordSchema).max(100),
  })
  .strict();

export const recordBatchMessageSchema = z
  .object({
    v: z.literal(1),
    records: z.array(requestRecordSchema).min(1).max(1000),
  })
  .strict();

export type TokenUsage = z.infer<typeof tokenUsageSchema>;
export type AttemptRecord = z.infer<typeof attemptRecordSchema>;
export type RequestRecord = z.infer<typeof requestRecordSchema>;
export type RecordBatchMessage = z.infer<typeof recordBatchMessageSchema>;
