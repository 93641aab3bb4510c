import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type { GeneratedTimestamp, NullableTimestamp } from "./columns.ts";

export const QUOTA_WINDOW_KINDS = ["primary", "secondary"] as const;
export type QuotaWindowKind = (typeof QUOTA_WINDOW_KINDS)[number];

export const QUOTA_EVIDENCE_SOURCES = ["headers", "event", "error", "usage_endpoint", "import"] as const;
export type QuotaEvidenceSource = (typeof QUOTA_EVIDENCE_SOURCES)[number];

/** Latest quota evidence per account, limit family and window (primary ≈ 5 h, secondary ≈ weekly). */
export interface QuotaWindowsTable {
  account_id: string;
  limit_id: Generated<string>;
  window_kind: QuotaWindowKind;
  used_percent: number;
  window_minutes: number | null;
  reset_at: NullableTimestamp;
  source: QuotaEvidenceSource;
  observed_at: GeneratedTimestamp;
}

export type QuotaWindowRow = Selectable<QuotaWindowsTable>;
export type NewQuotaWindow = Insertable<QuotaWindowsTable>;
export type QuotaWindowUpdate = Updateable<QuotaWindowsTable>;
