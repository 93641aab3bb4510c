import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type { GeneratedJson, GeneratedTimestamp, JsonObject } from "./columns.ts";

export const AUDIT_ACTOR_TYPES = ["operator", "cli", "system", "gateway"] as const;
export type AuditActorType = (typeof AUDIT_ACTOR_TYPES)[number];

export const AUDIT_OUTCOMES = ["success", "failure"] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export interface AuditEventsTable {
  /** `aud_…` */
  id: string;
  occurred_at: GeneratedTimestamp;
  actor_type: AuditActorType;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  pool_id: string | null;
  outcome: Generated<AuditOutcome>;
  source_ip: string | null;
  details: GeneratedJson<JsonObject>;
}

export type AuditEventRow = Selectable<AuditEventsTable>;
export type NewAuditEvent = Insertable<AuditEventsTable>;
export type AuditEventUpdate = Updateable<AuditEventsTable>;
