-- +goose Up
CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    created_at  DATETIME NOT NULL
);

CREATE TABLE org_keys (
    org_id      BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key_id      BIGINT NOT NULL,
    kek_id      TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  DATETIME NOT NULL,
    rotated_at  DATETIME,
    PRIMARY KEY (org_id, key_id)
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email           TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL DEFAULT '',
    password_hash   TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    last_sign_in_at DATETIME
);

CREATE TABLE memberships (
    org_id      BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at  DATETIME NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    revoked_at   DATETIME
);
CREATE INDEX api_tokens_org ON api_tokens (org_id);

CREATE TABLE oauth_apps (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id            BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    base_url          TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    client_secret_enc BLOB NOT NULL,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL,
    UNIQUE (org_id, base_url)
);

CREATE TABLE integrations (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    alias                   TEXT NOT NULL,
    base_url                TEXT NOT NULL,
    auth_method             TEXT NOT NULL CHECK (auth_method IN ('token', 'oauth')),
    oauth_app_id            BIGINT REFERENCES oauth_apps(id) ON DELETE SET NULL,
    status                  TEXT NOT NULL,
    status_reason           TEXT NOT NULL DEFAULT '',
    gitlab_version          TEXT NOT NULL DEFAULT '',
    gitlab_revision         TEXT NOT NULL DEFAULT '',
    gitlab_enterprise       BOOLEAN NOT NULL DEFAULT 0,
    capabilities            TEXT NOT NULL DEFAULT '[]',
    version_checked_at      DATETIME,
    ca_pem                  TEXT NOT NULL DEFAULT '',
    services                TEXT NOT NULL DEFAULT '{}',
    webhook_hook_id         TEXT UNIQUE,
    webhook_last_received_at DATETIME,
    poll_state              TEXT NOT NULL DEFAULT '',
    created_by              BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at              DATETIME NOT NULL,
    updated_at              DATETIME NOT NULL,
    UNIQUE (org_id, alias)
);

CREATE TABLE credentials (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    ciphertext     BLOB NOT NULL,
    token_kind     TEXT NOT NULL DEFAULT '',
    scopes         TEXT NOT NULL DEFAULT '',
    expires_at     DATETIME,
    updated_at     DATETIME NOT NULL,
    UNIQUE (integration_id, kind)
);

CREATE TABLE projects (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id              BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id      BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    gitlab_id           BIGINT NOT NULL,
    path_with_namespace TEXT NOT NULL,
    name                TEXT NOT NULL DEFAULT '',
    web_url             TEXT NOT NULL DEFAULT '',
    default_branch      TEXT NOT NULL DEFAULT '',
    visibility          TEXT NOT NULL DEFAULT '',
    archived            BOOLEAN NOT NULL DEFAULT 0,
    object_format       TEXT NOT NULL DEFAULT 'sha1',
    selected            BOOLEAN NOT NULL DEFAULT 0,
    last_webhook_at     DATETIME,
    raw                 TEXT,
    updated_at          DATETIME NOT NULL,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX projects_org ON projects (org_id, integration_id);

CREATE TABLE merge_requests (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id        BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id            BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    gitlab_id             BIGINT NOT NULL,
    iid                   BIGINT NOT NULL,
    title                 TEXT NOT NULL DEFAULT '',
    state                 TEXT NOT NULL DEFAULT '',
    draft                 BOOLEAN NOT NULL DEFAULT 0,
    author                TEXT NOT NULL DEFAULT '',
    assignees             TEXT NOT NULL DEFAULT '[]',
    reviewers             TEXT NOT NULL DEFAULT '[]',
    labels                TEXT NOT NULL DEFAULT '[]',
    source_branch         TEXT NOT NULL DEFAULT '',
    target_branch         TEXT NOT NULL DEFAULT '',
    detailed_merge_status TEXT NOT NULL DEFAULT '',
    merged_at             DATETIME,
    created_at            DATETIME,
    updated_at            DATETIME NOT NULL,
    raw                   TEXT,
    ingested_at           DATETIME NOT NULL,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX merge_requests_list ON merge_requests (org_id, updated_at, id);

CREATE TABLE issues (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id     BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    gitlab_id      BIGINT NOT NULL,
    iid            BIGINT NOT NULL,
    title          TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL DEFAULT '',
    confidential   BOOLEAN NOT NULL DEFAULT 0,
    author         TEXT NOT NULL DEFAULT '',
    assignees      TEXT NOT NULL DEFAULT '[]',
    labels         TEXT NOT NULL DEFAULT '[]',
    closed_at      DATETIME,
    created_at     DATETIME,
    updated_at     DATETIME NOT NULL,
    raw            TEXT,
    ingested_at    DATETIME NOT NULL,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX issues_list ON issues (org_id, updated_at, id);

CREATE TABLE pipelines (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id     BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    gitlab_id      BIGINT NOT NULL,
    status         TEXT NOT NULL DEFAULT '',
    ref            TEXT NOT NULL DEFAULT '',
    sha            TEXT NOT NULL DEFAULT '',
    source         TEXT NOT NULL DEFAULT '',
    duration_s     BIGINT,
    started_at     DATETIME,
    finished_at    DATETIME,
    created_at     DATETIME,
    updated_at     DATETIME NOT NULL,
    raw            TEXT,
    ingested_at    DATETIME NOT NULL,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX pipelines_list ON pipelines (org_id, updated_at, id);

CREATE TABLE pushes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id     BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event_key      TEXT NOT NULL,
    ref            TEXT NOT NULL DEFAULT '',
    before_sha     TEXT NOT NULL DEFAULT '',
    after_sha      TEXT NOT NULL DEFAULT '',
    author         TEXT NOT NULL DEFAULT '',
    commit_count   BIGINT NOT NULL DEFAULT 0,
    pushed_at      DATETIME NOT NULL,
    raw            TEXT,
    ingested_at    DATETIME NOT NULL,
    UNIQUE (integration_id, event_key)
);
CREATE INDEX pushes_list ON pushes (org_id, pushed_at, id);

CREATE TABLE commits (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id     BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    sha            TEXT NOT NULL,
    title          TEXT NOT NULL DEFAULT '',
    author_name    TEXT NOT NULL DEFAULT '',
    author_email   TEXT NOT NULL DEFAULT '',
    authored_at    DATETIME,
    committed_at   DATETIME,
    raw            TEXT,
    ingested_at    DATETIME NOT NULL,
    UNIQUE (project_id, sha)
);

CREATE TABLE webhook_inbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    dedupe_key     TEXT NOT NULL,
    event_kind     TEXT NOT NULL,
    headers        TEXT NOT NULL DEFAULT '{}',
    body           BLOB NOT NULL,
    received_at    DATETIME NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending',
    processed_at   DATETIME,
    error          TEXT NOT NULL DEFAULT '',
    UNIQUE (integration_id, dedupe_key)
);
CREATE INDEX webhook_inbox_pending ON webhook_inbox (status, id);

CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    entity         TEXT NOT NULL,
    entity_id      BIGINT NOT NULL,
    action         TEXT NOT NULL,
    source         TEXT NOT NULL,
    occurred_at    DATETIME NOT NULL
);
CREATE INDEX events_feed ON events (org_id, id);

CREATE TABLE sync_runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    started_at     DATETIME NOT NULL,
    finished_at    DATETIME,
    error          TEXT NOT NULL DEFAULT ''
);

CREATE TABLE sync_progress (
    org_id         BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id     BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    resource       TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending',
    pages_done     BIGINT NOT NULL DEFAULT 0,
    items_done     BIGINT NOT NULL DEFAULT 0,
    items_known    BIGINT,
    next_page      TEXT NOT NULL DEFAULT '',
    watermark      DATETIME,
    last_error     TEXT NOT NULL DEFAULT '',
    updated_at     DATETIME NOT NULL,
    PRIMARY KEY (integration_id, project_id, resource)
);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id        BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    actor_user_id BIGINT,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    target        TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '{}',
    at            DATETIME NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE sync_progress;
DROP TABLE sync_runs;
DROP TABLE events;
DROP TABLE webhook_inbox;
DROP TABLE commits;
DROP TABLE pushes;
DROP TABLE pipelines;
DROP TABLE issues;
DROP TABLE merge_requests;
DROP TABLE projects;
DROP TABLE credentials;
DROP TABLE integrations;
DROP TABLE oauth_apps;
DROP TABLE api_tokens;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE org_keys;
DROP TABLE organizations;
