import type { Insertable, Selectable, Updateable } from "kysely";
import type { Bytes, GeneratedTimestamp, Timestamp } from "./columns.ts";

export const ANCHOR_KINDS = [
  "session",
  "window",
  "turn_state",
  "previous_response",
  "prompt_cache",
  "history_item",
] as const;
export type AnchorKind = (typeof ANCHOR_KINDS)[number];

/** Hashed continuity anchors → the account holding the thread's upstream state (raw anchors never stored). */
export interface ThreadAffinitiesTable {
  pool_id: string;
  anchor_hash: Bytes;
  anchor_kind: AnchorKind;
  account_id: string;
  created_at: GeneratedTimestamp;
  last_seen_at: GeneratedTimestamp;
  expires_at: Timestamp;
}

export type ThreadAffinityRow = Selectable<ThreadAffinitiesTable>;
export type NewThreadAffinity = Insertable<ThreadAffinitiesTable>;
export type ThreadAffinityUpdate = Updateable<ThreadAffinitiesTable>;
