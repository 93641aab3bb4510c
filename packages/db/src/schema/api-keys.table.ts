import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type { Bytes, GeneratedTimestamp, NullableTimestamp } from "./columns.ts";

export const API_KEY_STATUSES = ["active", "paused", "revoked"] as const;
export type ApiKeyStatus = (typeof API_KEY_STATUSES)[number];

/** Pool API keys `sk-cxp-<prefix>-<secret>`: only the prefix and the SHA-256 digest of the whole key. */
export interface ApiKeysTable {
  /** `key_…` */
  id: string;
  pool_id: string;
  name: string | null;
  prefix: string;
  /** 32 bytes. */
  digest: Bytes;
  status: Generated<ApiKeyStatus>;
  expires_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
  revoked_at: NullableTimestamp;
}

export type ApiKeyRow = Selectable<ApiKeysTable>;
export type NewApiKey = Insertable<ApiKeysTable>;
export type ApiKeyUpdate = Updateable<ApiKeysTable>;
