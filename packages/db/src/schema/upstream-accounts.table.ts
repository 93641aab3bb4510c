import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type { Bytes, GeneratedTimestamp, NullableTimestamp } from "./columns.ts";

export const ACCOUNT_STATUSES = [
  "active",
  "paused",
  "refresh_failed",
  "reauth_required",
  "disabled",
  "deleted",
] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

/** Upstream ChatGPT/Codex accounts; OAuth tokens sealed (AES-256-GCM) with the root-key version. */
export interface UpstreamAccountsTable {
  /** `acct_…` */
  id: string;
  chatgpt_account_id: string;
  /** '' when unknown; (chatgpt_account_id, chatgpt_user_id) is unique. */
  chatgpt_user_id: Generated<string>;
  email: string | null;
  label: string | null;
  plan_type: string | null;
  status: Generated<AccountStatus>;
  status_reason: string | null;
  status_changed_at: GeneratedTimestamp;
  access_token_ciphertext: Bytes;
  access_token_nonce: Bytes;
  refresh_token_ciphertext: Bytes;
  refresh_token_nonce: Bytes;
  secret_key_version: number;
  access_token_expires_at: NullableTimestamp;
  /** Bumped by every credential change (fencing for concurrent refreshes). */
  credential_generation: Generated<number>;
  last_refresh_at: NullableTimestamp;
  last_refresh_error: string | null;
  /** Who may refresh this account now (one process at a time), and until when. */
  refresh_lease_owner: string | null;
  refresh_lease_until: NullableTimestamp;
  models_etag: string | null;
  models_fetched_at: NullableTimestamp;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export type UpstreamAccountRow = Selectable<UpstreamAccountsTable>;
export type NewUpstreamAccount = Insertable<UpstreamAccountsTable>;
export type UpstreamAccountUpdate = Updateable<UpstreamAccountsTable>;
