-- Clients without a session id (the OpenAI SDKs over /v1) replay reasoning
-- and compaction items minted by one account; their ids become continuity
-- anchors so the follow-up goes back to that account.
ALTER TABLE thread_affinities DROP CONSTRAINT thread_affinities_anchor_kind_check;
ALTER TABLE thread_affinities ADD CONSTRAINT thread_affinities_anchor_kind_check
  CHECK (anchor_kind IN ('session', 'window', 'turn_state', 'previous_response', 'prompt_cache', 'history_item'));
