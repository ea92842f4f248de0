-- +goose Up
-- Web UI sessions: only the SHA-256 of the cookie's token is stored. A
-- session ends at expires_at (absolute) or when idle for too long
-- (last_seen_at); the web package decides the durations.
CREATE TABLE sessions (
    id_hash       BLOB PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    DATETIME NOT NULL,
    last_seen_at  DATETIME NOT NULL,
    expires_at    DATETIME NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Failed sign-ins, for throttling across replicas (by email and by
-- address). Rows older than the window are pruned.
CREATE TABLE login_failures (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    email   TEXT NOT NULL,
    ip      TEXT NOT NULL,
    at      DATETIME NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);

-- NULL until the user sets a password of their own (the first-run
-- password printed by `labsync serve` is one-time).
ALTER TABLE users ADD COLUMN password_changed_at DATETIME;

-- +goose Down
ALTER TABLE users DROP COLUMN password_changed_at;
DROP TABLE login_failures;
DROP TABLE sessions;
