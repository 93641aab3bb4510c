import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type { GeneratedTimestamp, NullableTimestamp, Timestamp } from "./columns.ts";

export const REQUEST_TRANSPORTS = ["http_json", "http_sse", "websocket"] as const;
export type RequestTransport = (typeof REQUEST_TRANSPORTS)[number];

export const REQUEST_STATUSES = ["succeeded", "failed", "rejected", "cancelled"] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** One metadata-only row per client request (no bodies, no tokens; no foreign keys on purpose). */
export interface RequestRecordsTable {
  /** `req_…` */
  id: string;
  pool_id: string | null;
  api_key_id: string | null;
  account_id: string | null;
  model: string | null;
  route: string;
  transport: RequestTransport;
  status: RequestStatus;
  http_status: number | null;
  error_code: string | null;
  attempt_count: Generated<number>;
  client_originator: string | null;
  started_at: Timestamp;
  completed_at: NullableTimestamp;
  ttfb_ms: number | null;
  duration_ms: number | null;
  gateway_overhead_ms: number | null;
  input_tokens: number | null;
  cached_input_tokens: number | null;
  output_tokens: number | null;
  reasoning_tokens: number | null;
  total_tokens: number | null;
  recorded_at: GeneratedTimestamp;
}

export type RequestRecordRow = Selectable<RequestRecordsTable>;
export type NewRequestRecord = Insertable<RequestRecordsTable>;
export type RequestRecordUpdate = Updateable<RequestRecordsTable>;
