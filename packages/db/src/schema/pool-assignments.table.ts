import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type { GeneratedTimestamp } from "./columns.ts";

export const ASSIGNMENT_STATUSES = ["active", "paused"] as const;
export type AssignmentStatus = (typeof ASSIGNMENT_STATUSES)[number];

export interface PoolAssignmentsTable {
  pool_id: string;
  account_id: string;
  status: Generated<AssignmentStatus>;
  created_at: GeneratedTimestamp;
}

export type PoolAssignmentRow = Selectable<PoolAssignmentsTable>;
export type NewPoolAssignment = Insertable<PoolAssignmentsTable>;
export type PoolAssignmentUpdate = Updateable<PoolAssignmentsTable>;
