import type { Insertable, Selectable, Updateable } from "kysely";
import type { Timestamp } from "./columns.ts";

export const ATTEMPT_STATUSES = ["succeeded", "failed", "retryable_failed", "cancelled"] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

/** Each upstream attempt of a request; (request_id, attempt_no) is unique. */
export interface RequestAttemptsTable {
  /** `att_…` */
  id: string;
  request_id: string;
  /** 1-based. */
  attempt_no: number;
  account_id: string | null;
  status: AttemptStatus;
  http_status: number | null;
  error_code: string | null;
  started_at: Timestamp;
  ttfb_ms: number | null;
  duration_ms: number | null;
  input_tokens: number | null;
  cached_input_tokens: number | null;
  output_tokens: number | null;
  reasoning_tokens: number | null;
  total_tokens: number | null;
}

export type RequestAttemptRow = Selectable<RequestAttemptsTable>;
export type NewRequestAttempt = Insertable<RequestAttemptsTable>;
export type RequestAttemptUpdate = Updateable<RequestAttemptsTable>;
