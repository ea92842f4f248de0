-- +goose Up
-- What the last clone or fetch of each project's repository mirror did, so
-- every replica shows it (internal/mirror keeps the mirrors on disk).
CREATE TABLE repository_mirrors (
    integration_id    BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_gitlab_id BIGINT NOT NULL,
    org_id            BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    state             TEXT NOT NULL,
    object_format     TEXT NOT NULL DEFAULT 'sha1',
    size_bytes        BIGINT NOT NULL DEFAULT 0,
    last_fetch_at     DATETIME,
    last_fetch_ms     BIGINT NOT NULL DEFAULT 0,
    last_attempt_at   DATETIME,
    last_push_at      DATETIME,
    error_kind        TEXT NOT NULL DEFAULT '',
    error_message     TEXT NOT NULL DEFAULT '',
    error_remedy      TEXT NOT NULL DEFAULT '',
    fetches           BIGINT NOT NULL DEFAULT 0,
    updated_at        DATETIME NOT NULL,
    PRIMARY KEY (integration_id, project_gitlab_id)
);
CREATE INDEX repository_mirrors_org ON repository_mirrors (org_id, integration_id);

-- +goose Down
DROP TABLE repository_mirrors;
