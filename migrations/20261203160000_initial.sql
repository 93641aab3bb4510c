-- Initial schema: pools, upstream accounts (tokens encrypted at rest), pool
-- assignments, Pool API keys, quota evidence, thread continuity, request
-- records and their upstream attempts, audit events, instance settings.
--
-- Conventions: ids are readable text with a prefix made by the application
-- (pool_…, acct_…, key_…, req_…, att_…, aud_…); timestamps are timestamptz;
-- every enum is a CHECK constraint; nothing here ever holds a prompt, a body,
-- a raw key or a raw token (secrets are AES-256-GCM ciphertext + nonce with
-- the root-key version that sealed them).

CREATE TABLE instance_settings (
  id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  lock_version integer NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text
);
INSERT INTO instance_settings (id) VALUES (1);

CREATE TABLE pools (
  id text PRIMARY KEY,
  name text NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'archived')),
  routing_strategy text NOT NULL DEFAULT 'quota_first'
    CHECK (routing_strategy IN ('quota_first', 'least_recently_used', 'deterministic_rotation')),
  -- How many ordered candidates one request may try before giving up.
  ring_size integer NOT NULL DEFAULT 3 CHECK (ring_size BETWEEN 1 AND 16),
  -- What happens to a thread whose account became unusable: move it to
  -- another account (stripping what only the old account can read) or refuse.
  pinned_failover text NOT NULL DEFAULT 'move' CHECK (pinned_failover IN ('move', 'refuse')),
  v1_enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pools_name_format CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
);
CREATE UNIQUE INDEX pools_name_key ON pools (lower(name));

CREATE TABLE upstream_accounts (
  id text PRIMARY KEY,
  chatgpt_account_id text NOT NULL,
  chatgpt_user_id text NOT NULL DEFAULT '',
  email text,
  label text,
  plan_type text,
  status text NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'paused', 'refresh_failed', 'reauth_required', 'disabled', 'deleted')),
  status_reason text,
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  -- Sealed OAuth tokens. The id token is not kept: its claims are copied above.
  access_token_ciphertext bytea NOT NULL,
  access_token_nonce bytea NOT NULL,
  refresh_token_ciphertext bytea NOT NULL,
  refresh_token_nonce bytea NOT NULL,
  secret_key_version integer NOT NULL,
  access_token_expires_at timestamptz,
  -- Bumped by every credential change; readers holding an older generation
  -- know their decrypted token is stale (fencing for concurrent refreshes).
  credential_generation integer NOT NULL DEFAULT 1,
  last_refresh_at timestamptz,
  last_refresh_error text,
  models_etag text,
  models_fetched_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- Several users of one ChatGPT workspace stay separate accounts.
CREATE UNIQUE INDEX upstream_accounts_identity_key ON upstream_accounts (chatgpt_account_id, chatgpt_user_id);

-- The model catalog each account reported (GET /backend-api/codex/models).
CREATE TABLE upstream_account_models (
  account_id text NOT NULL REFERENCES upstream_accounts (id) ON DELETE CASCADE,
  slug text NOT NULL,
  info jsonb NOT NULL,
  fetched_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, slug)
);

CREATE TABLE pool_assignments (
  pool_id text NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
  account_id text NOT NULL REFERENCES upstream_accounts (id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pool_id, account_id)
);
CREATE INDEX pool_assignments_account_idx ON pool_assignments (account_id);

-- Pool API keys: `sk-cxp-<prefix>-<secret>`; only the public prefix and the
-- SHA-256 digest of the whole key are stored.
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  pool_id text NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
  name text,
  prefix text NOT NULL UNIQUE,
  digest bytea NOT NULL CHECK (octet_length(digest) = 32),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'revoked')),
  expires_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_pool_idx ON api_keys (pool_id);

-- Quota evidence per account and limit family (x-codex-*, x-<limit>-*),
-- window = primary (usually 5 h) or secondary (usually weekly).
CREATE TABLE quota_windows (
  account_id text NOT NULL REFERENCES upstream_accounts (id) ON DELETE CASCADE,
  limit_id text NOT NULL DEFAULT 'codex',
  window_kind text NOT NULL CHECK (window_kind IN ('primary', 'secondary')),
  used_percent double precision NOT NULL CHECK (used_percent >= 0),
  window_minutes integer,
  reset_at timestamptz,
  source text NOT NULL CHECK (source IN ('headers', 'event', 'error', 'usage_endpoint', 'import')),
  observed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, limit_id, window_kind)
);

-- Thread continuity: hashed anchors (session id, turn state, previous
-- response id, prompt cache key) pointing at the account that owns the
-- thread's upstream state. Several gateway processes agree through this
-- table; the raw anchor values are never stored.
CREATE TABLE thread_affinities (
  pool_id text NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
  anchor_hash bytea NOT NULL,
  anchor_kind text NOT NULL CHECK (anchor_kind IN ('session', 'window', 'turn_state', 'previous_response', 'prompt_cache')),
  account_id text NOT NULL REFERENCES upstream_accounts (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (pool_id, anchor_hash)
);
CREATE INDEX thread_affinities_expiry_idx ON thread_affinities (expires_at);

-- One metadata-only row per client request. No foreign keys: history
-- outlives deleted keys and pools, and ingest stays cheap.
CREATE TABLE request_records (
  id text PRIMARY KEY,
  pool_id text,
  api_key_id text,
  account_id text,
  model text,
  route text NOT NULL,
  transport text NOT NULL CHECK (transport IN ('http_json', 'http_sse', 'websocket')),
  status text NOT NULL CHECK (status IN ('succeeded', 'failed', 'rejected', 'cancelled')),
  http_status integer,
  error_code text,
  attempt_count integer NOT NULL DEFAULT 0,
  client_originator text,
  started_at timestamptz NOT NULL,
  completed_at timestamptz,
  ttfb_ms double precision,
  duration_ms double precision,
  gateway_overhead_ms double precision,
  input_tokens integer,
  cached_input_tokens integer,
  output_tokens integer,
  reasoning_tokens integer,
  total_tokens integer,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_records_started_idx ON request_records (started_at DESC);
CREATE INDEX request_records_pool_started_idx ON request_records (pool_id, started_at DESC);
CREATE INDEX request_records_key_started_idx ON request_records (api_key_id, started_at DESC);

CREATE TABLE request_attempts (
  id text PRIMARY KEY,
  request_id text NOT NULL,
  attempt_no integer NOT NULL CHECK (attempt_no >= 1),
  account_id text,
  status text NOT NULL CHECK (status IN ('succeeded', 'failed', 'retryable_failed', 'cancelled')),
  http_status integer,
  error_code text,
  started_at timestamptz NOT NULL,
  ttfb_ms double precision,
  duration_ms double precision,
  input_tokens integer,
  cached_input_tokens integer,
  output_tokens integer,
  reasoning_tokens integer,
  total_tokens integer,
  UNIQUE (request_id, attempt_no)
);
CREATE INDEX request_attempts_account_idx ON request_attempts (account_id, started_at DESC);

CREATE TABLE audit_events (
  id text PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  actor_type text NOT NULL CHECK (actor_type IN ('operator', 'cli', 'system', 'gateway')),
  actor_id text,
  action text NOT NULL,
  target_type text,
  target_id text,
  pool_id text,
  outcome text NOT NULL DEFAULT 'success' CHECK (outcome IN ('success', 'failure')),
  source_ip text,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at DESC);
CREATE INDEX audit_events_target_idx ON audit_events (target_type, target_id);
