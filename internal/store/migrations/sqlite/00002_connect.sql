-- +goose Up
-- Connecting a GitLab (issue 4): who the credential acts as, the webhook
-- registration opt-in, the OAuth refresh lease, expiry warnings, and the
-- single-use OAuth states.
ALTER TABLE integrations ADD COLUMN gitlab_username TEXT NOT NULL DEFAULT '';
ALTER TABLE integrations ADD COLUMN gitlab_user_id BIGINT;
ALTER TABLE integrations ADD COLUMN allow_hook_registration BOOLEAN NOT NULL DEFAULT 0;

-- refresh_lock_until/owner: the lease one replica holds while it spends the
-- single-use refresh token. expiry_warned_days: the smallest expiry warning
-- threshold (30, 7, 1) already written to the audit log; 0 for none.
ALTER TABLE credentials ADD COLUMN refresh_lock_until DATETIME;
ALTER TABLE credentials ADD COLUMN refresh_lock_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN expiry_warned_days BIGINT NOT NULL DEFAULT 0;

-- An OAuth authorization in flight. Only the SHA-256 of the state is kept;
-- the PKCE verifier is sealed by the vault. A row is deleted when used.
CREATE TABLE oauth_states (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    state_hash              BLOB NOT NULL UNIQUE,
    org_id                  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id                 BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    oauth_app_id            BIGINT NOT NULL REFERENCES oauth_apps(id) ON DELETE CASCADE,
    integration_id          BIGINT REFERENCES integrations(id) ON DELETE CASCADE,
    base_url                TEXT NOT NULL,
    redirect_uri            TEXT NOT NULL,
    alias                   TEXT NOT NULL,
    scopes                  TEXT NOT NULL DEFAULT '',
    ca_pem                  TEXT NOT NULL DEFAULT '',
    allow_hook_registration BOOLEAN NOT NULL DEFAULT 0,
    verifier_enc            BLOB NOT NULL,
    expires_at              DATETIME NOT NULL,
    created_at              DATETIME NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);

-- +goose Down
DROP TABLE oauth_states;
ALTER TABLE credentials DROP COLUMN expiry_warned_days;
ALTER TABLE credentials DROP COLUMN refresh_lock_owner;
ALTER TABLE credentials DROP COLUMN refresh_lock_until;
ALTER TABLE integrations DROP COLUMN allow_hook_registration;
ALTER TABLE integrations DROP COLUMN gitlab_user_id;
ALTER TABLE integrations DROP COLUMN gitlab_username;
