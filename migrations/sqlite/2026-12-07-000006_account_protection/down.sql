ALTER TABLE rate_counters DROP COLUMN in_flight;
ALTER TABLE sessions DROP COLUMN authenticated_at;
ALTER TABLE users DROP COLUMN sign_in_notices;
DROP TABLE email_changes;
DROP TABLE known_devices;
DROP TABLE pending_logins;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
