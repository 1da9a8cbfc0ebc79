-- Accounts foundation: users, server-side sessions, the audit trail and the
-- shared rate-limit counters. Timestamps are UTC without a zone (diesel's
-- MultiConnection has no Timestamptz), written by the application.
CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    hashed_password TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    email_verified_at TIMESTAMP NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    user_agent TEXT NOT NULL,
    ip TEXT NOT NULL,
    remember_me BOOLEAN NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id, expires_at);

CREATE TABLE security_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    -- No foreign key: the audit trail outlives the account it speaks of.
    user_id BIGINT NULL,
    kind TEXT NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX security_events_user ON security_events (user_id, occurred_at);
CREATE INDEX security_events_kind ON security_events (kind, occurred_at);

-- Windowed counters for the limits shared by every instance (failed logins
-- per email, reset requests per email, verification mails per user).
CREATE TABLE rate_counters (
    key TEXT PRIMARY KEY,
    window_started_at TIMESTAMP NOT NULL,
    hits INTEGER NOT NULL
);
