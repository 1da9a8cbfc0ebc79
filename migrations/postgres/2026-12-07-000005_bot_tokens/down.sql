ALTER TABLE security_events DROP COLUMN details;
DROP TABLE bot_tokens;
