import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type { GeneratedTimestamp } from "./columns.ts";

export const POOL_STATUSES = ["active", "disabled", "archived"] as const;
export type PoolStatus = (typeof POOL_STATUSES)[number];

export const ROUTING_STRATEGIES = ["quota_first", "least_recently_used", "deterministic_rotation"] as const;
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];

export const PINNED_FAILOVER_MODES = ["move", "refuse"] as const;
export type PinnedFailoverMode = (typeof PINNED_FAILOVER_MODES)[number];

export interface PoolsTable {
  /** `pool_…` */
  id: string;
  /** Unique case-insensitively (pools_name_key on lower(name)). */
  name: string;
  status: Generated<PoolStatus>;
  routing_strategy: Generated<RoutingStrategy>;
  /** How many ordered candidates one request may try (1–16). */
  ring_size: Generated<number>;
  pinned_failover: Generated<PinnedFailoverMode>;
  v1_enabled: Generated<boolean>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export type PoolRow = Selectable<PoolsTable>;
export type NewPool = Insertable<PoolsTable>;
export type PoolUpdate = Updateable<PoolsTable>;
