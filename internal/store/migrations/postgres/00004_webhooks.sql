-- +goose Up
-- One webhook endpoint per integration: the public hook id in its URL and
-- the sealed secret (and optional Standard Webhooks signing token).
CREATE TABLE webhook_endpoints (
    integration_id  BIGINT PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    org_id          BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    hook_id         TEXT NOT NULL UNIQUE,
    secret_enc      BYTEA NOT NULL,
    signing_enc     BYTEA,
    issued_at       TIMESTAMPTZ NOT NULL,
    revealed        BOOLEAN NOT NULL DEFAULT FALSE
);

-- Project hooks labsync registered at GitLab itself (only when the user
-- opted in), so they can be verified and removed on disconnect.
CREATE TABLE webhook_registrations (
    integration_id    BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    org_id            BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_gitlab_id BIGINT NOT NULL,
    gitlab_hook_id    BIGINT NOT NULL,
    registered_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (integration_id, project_gitlab_id)
);

-- Fingerprints (SHA-256) of every secret ever issued, across organisations:
-- the UNIQUE constraint makes reuse impossible.
CREATE TABLE webhook_secret_fingerprints (
    fingerprint BYTEA PRIMARY KEY,
    issued_at   TIMESTAMPTZ NOT NULL
);

ALTER TABLE webhook_inbox ADD COLUMN project_gitlab_id BIGINT;

-- The poller steps in when webhooks go quiet: when it last ran, and when
-- it last found changes that webhooks had not delivered.
ALTER TABLE integrations ADD COLUMN last_poll_at TIMESTAMPTZ;
ALTER TABLE integrations ADD COLUMN poll_found_changes_at TIMESTAMPTZ;
ALTER TABLE webhook_inbox ADD COLUMN body_sha256 BYTEA;

-- +goose Down
ALTER TABLE webhook_inbox DROP COLUMN body_sha256;
ALTER TABLE webhook_inbox DROP COLUMN project_gitlab_id;
ALTER TABLE integrations DROP COLUMN poll_found_changes_at;
ALTER TABLE integrations DROP COLUMN last_poll_at;
DROP TABLE webhook_secret_fingerprints;
DROP TABLE webhook_registrations;
DROP TABLE webhook_endpoints;
