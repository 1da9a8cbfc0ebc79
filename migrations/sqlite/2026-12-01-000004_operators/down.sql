DROP INDEX users_newest_first;
DROP INDEX api_keys_status_newest_first;
DROP INDEX api_keys_newest_first;
DROP INDEX security_events_kind;
CREATE INDEX security_events_kind ON security_events (kind, occurred_at);
DROP INDEX security_events_user;
CREATE INDEX security_events_user ON security_events (user_id, occurred_at);
DROP INDEX security_events_newest_first;
ALTER TABLE security_events DROP COLUMN actor_id;
