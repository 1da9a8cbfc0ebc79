-- The vault: exchange API keys, sealed (see src/vault/sealing.rs). Listings
-- read only api_key_hint (first and last four characters), never the sealed
-- columns.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    encrypted_api_key TEXT NOT NULL,
    encrypted_secret_key TEXT NOT NULL,
    api_key_hint TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'unverified'
        CHECK (status IN ('unverified', 'valid', 'invalid', 'unsafe', 'revoked')),
    status_message TEXT NULL,
    permissions_checked_at TIMESTAMP NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX api_keys_owner_newest_first ON api_keys (user_id, created_at DESC, id DESC);
