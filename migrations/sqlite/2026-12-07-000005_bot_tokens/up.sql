-- The trading gateway (SPEC §10): bot tokens, each for one API key. Only the
-- SHA-256 of a token is stored; token_hint ("tbk_" and the next 6 characters)
-- is what pages show. allowed_ips is the canonical comma-separated list of
-- IPs/CIDRs, NULL for "any address".
CREATE TABLE bot_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key_id INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'trade')),
    token_hash TEXT NOT NULL UNIQUE,
    token_hint TEXT NOT NULL,
    allowed_ips TEXT NULL,
    expires_at TIMESTAMP NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NULL,
    last_used_ip TEXT NULL,
    revoked_at TIMESTAMP NULL
);
CREATE INDEX bot_tokens_of_key ON bot_tokens (api_key_id, created_at DESC, id DESC);
-- Structured facts of an event (a gateway order's symbol, side, the exchange's
-- status…), as JSON written from a typed struct: never a secret or a token.
ALTER TABLE security_events ADD COLUMN details TEXT NULL;
