-- Account protection (SPEC §11): the TOTP second factor and its recovery
-- codes, logins waiting for their second step, the browsers a user has logged
-- in from, email changes waiting for their link, the notice opt-out, when a
-- session last proved its user (sudo mode), and the attempts still in flight
-- in a failure counter.

-- One row per user who has started or finished setting up TOTP. The secret is
-- sealed like exchange secrets (AAD `totp:<user_id>`); enabled_at is NULL
-- while the setup waits for its first code. last_used_step is the 30-second
-- step of the last code accepted, so no code is accepted twice.
CREATE TABLE totp_factors (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret TEXT NOT NULL,
    enabled_at TIMESTAMP NULL,
    last_used_step BIGINT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Single-use recovery codes, stored as SHA-256 (each carries 80 random bits).
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX recovery_codes_of_user ON recovery_codes (user_id);

-- A correct password waiting for its second factor: no session yet. Named by
-- the SHA-256 of the token the browser (or the JSON client) holds.
CREATE TABLE pending_logins (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    remember_me BOOLEAN NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    user_agent TEXT NOT NULL,
    ip TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX pending_logins_of_user ON pending_logins (user_id);

-- Browsers (device cookies, stored as SHA-256) that logged in to an account.
CREATE TABLE known_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, device_hash)
);

-- A new address waiting for its confirmation link (24 h, single use).
CREATE TABLE email_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    new_email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP NULL
);
CREATE INDEX email_changes_of_user ON email_changes (user_id);

ALTER TABLE users ADD COLUMN sign_in_notices BOOLEAN NOT NULL DEFAULT TRUE;

-- The last time this session proved its user: the login, or a later /sudo.
ALTER TABLE sessions ADD COLUMN authenticated_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE sessions SET authenticated_at = created_at;

-- Of a counter's hits, those whose attempt has not finished yet.
ALTER TABLE rate_counters ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
