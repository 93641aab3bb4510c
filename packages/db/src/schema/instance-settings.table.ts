import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type { GeneratedJson, GeneratedTimestamp, JsonObject } from "./columns.ts";

/** One row (id = 1), created by the initial migration; settings are validated by the application (zod). */
export interface InstanceSettingsTable {
  id: Generated<number>;
  settings: GeneratedJson<JsonObject>;
  /** Optimistic concurrency: bump on every write, compare in the WHERE clause. */
  lock_version: Generated<number>;
  updated_at: GeneratedTimestamp;
  updated_by: string | null;
}

export type InstanceSettingsRow = Selectable<InstanceSettingsTable>;
export type InstanceSettingsUpdate = Updateable<InstanceSettingsTable>;
export type NewInstanceSettings = Insertable<InstanceSettingsTable>;
