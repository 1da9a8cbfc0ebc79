-- The operator side: who acted on an audit event (an operator revoking a key
-- or deactivating an account; NULL when the user acted themself), and the
-- indexes the admin listings page through, newest first.
ALTER TABLE security_events ADD COLUMN actor_id BIGINT NULL;
CREATE INDEX security_events_newest_first ON security_events (occurred_at DESC, id DESC);
DROP INDEX security_events_user;
CREATE INDEX security_events_user ON security_events (user_id, occurred_at DESC, id DESC);
DROP INDEX security_events_kind;
CREATE INDEX security_events_kind ON security_events (kind, occurred_at DESC, id DESC);

CREATE INDEX api_keys_newest_first ON api_keys (created_at DESC, id DESC);
CREATE INDEX api_keys_status_newest_first ON api_keys (status, created_at DESC, id DESC);
-- An owner-email search with a status filter: the owners' keys in that status.
CREATE INDEX api_keys_owner_status_newest_first ON api_keys (user_id, status, created_at DESC, id DESC);
CREATE INDEX users_newest_first ON users (created_at DESC, id DESC);
