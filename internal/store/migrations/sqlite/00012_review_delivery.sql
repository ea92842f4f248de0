-- +goose Up
-- Issue 20: review and delivery data — MR notes, approvals, MR commits,
-- pipeline jobs, environments, deployments, releases, tags and the people
-- seen in any of them — plus the issue type DORA needs for incidents. The
-- same tables and columns exist in the PostgreSQL file.
--
-- Every table carries org_id, integration_id, the local project row
-- (people excepted: a person belongs to the integration), GitLab's JSON as
-- raw, content_hash and version (the versioned upsert's change detection),
-- ingested_at, and an updated_at NOT NULL that orders newest-first lists.

-- Notes (comments) on merge requests, issues, commits and snippets.
-- noteable_iid is empty for commit notes (commit_id names the commit).
CREATE TABLE notes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id   BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id       BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    gitlab_id        BIGINT NOT NULL,
    noteable_type    TEXT NOT NULL DEFAULT '',
    noteable_gitlab_id BIGINT,
    noteable_iid     BIGINT,
    commit_id        TEXT NOT NULL DEFAULT '',
    discussion_id    TEXT NOT NULL DEFAULT '',
    author_gitlab_id BIGINT,
    author           TEXT NOT NULL DEFAULT '',
    body             TEXT NOT NULL DEFAULT '',
    system           BOOLEAN NOT NULL DEFAULT 0,
    resolvable       BOOLEAN NOT NULL DEFAULT 0,
    resolved         BOOLEAN NOT NULL DEFAULT 0,
    resolved_by      TEXT NOT NULL DEFAULT '',
    resolved_at      DATETIME,
    created_at       DATETIME,
    updated_at       DATETIME NOT NULL,
    raw              TEXT,
    content_hash     TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 1,
    ingested_at      DATETIME NOT NULL,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX notes_list ON notes (org_id, updated_at, id);
CREATE INDEX notes_project ON notes (org_id, project_id, id);
CREATE INDEX notes_noteable ON notes (project_id, noteable_type, noteable_iid);

-- Approvals of merge requests: one row per (merge request, approver). An
-- unapproval deletes the row. approved_at is empty when the source gave no
-- time; source is 'event' (project events), 'api' (the approvals endpoint)
-- or 'webhook'.
CREATE TABLE approvals (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id   BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id       BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    mr_iid           BIGINT NOT NULL,
    user_gitlab_id   BIGINT NOT NULL,
    username         TEXT NOT NULL DEFAULT '',
    approved_at      DATETIME,
    source           TEXT NOT NULL DEFAULT '',
    updated_at       DATETIME NOT NULL,
    raw              TEXT,
    content_hash     TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 1,
    ingested_at      DATETIME NOT NULL,
    UNIQUE (integration_id, project_id, mr_iid, user_gitlab_id)
);
CREATE INDEX approvals_list ON approvals (org_id, updated_at, id);
CREATE INDEX approvals_project ON approvals (org_id, project_id, id);

-- The commits of a merge request, position 0 the newest (GitLab's order);
-- the commits themselves are in commits.
CREATE TABLE merge_request_commits (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id   BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id       BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    mr_iid           BIGINT NOT NULL,
    sha              TEXT NOT NULL,
    position         BIGINT NOT NULL DEFAULT 0,
    updated_at       DATETIME NOT NULL,
    content_hash     TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 1,
    ingested_at      DATETIME NOT NULL,
    UNIQUE (project_id, mr_iid, sha)
);
CREATE INDEX merge_request_commits_project ON merge_request_commits (org_id, project_id, id);

-- Pipeline jobs. GitLab's jobs have no updated_at: updated_at is the latest
-- of finished_at, started_at and created_at (or a webhook's time when it is
-- later), see store.Job.
CREATE TABLE jobs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id             BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id     BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id         BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    gitlab_id          BIGINT NOT NULL,
    pipeline_gitlab_id BIGINT,
    name               TEXT NOT NULL DEFAULT '',
    stage              TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT '',
    ref                TEXT NOT NULL DEFAULT '',
    tag                BOOLEAN NOT NULL DEFAULT 0,
    sha                TEXT NOT NULL DEFAULT '',
    allow_failure      BOOLEAN NOT NULL DEFAULT 0,
    retried            BOOLEAN NOT NULL DEFAULT 0,
    failure_reason     TEXT NOT NULL DEFAULT '',
    duration_s         REAL,
    queued_duration_s  REAL,
    runner_gitlab_id   BIGINT,
    runner_description TEXT NOT NULL DEFAULT '',
    username           TEXT NOT NULL DEFAULT '',
    web_url            TEXT NOT NULL DEFAULT '',
    created_at         DATETIME,
    started_at         DATETIME,
    finished_at        DATETIME,
    updated_at         DATETIME NOT NULL,
    raw                TEXT,
    content_hash       TEXT NOT NULL DEFAULT '',
    version            BIGINT NOT NULL DEFAULT 1,
    ingested_at        DATETIME NOT NULL,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX jobs_list ON jobs (org_id, updated_at, id);
CREATE INDEX jobs_project ON jobs (org_id, project_id, id);
CREATE INDEX jobs_pipeline ON jobs (integration_id, pipeline_gitlab_id);

-- Environments; tier is GitLab's (13.10+) or derived from the name by
-- GitLab's own rules before it (see ingest.EnvironmentTier).
CREATE TABLE environments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id   BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id       BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    gitlab_id        BIGINT NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    slug             TEXT NOT NULL DEFAULT '',
    tier             TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL DEFAULT '',
    external_url     TEXT NOT NULL DEFAULT '',
    created_at       DATETIME,
    updated_at       DATETIME NOT NULL,
    raw              TEXT,
    content_hash     TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 1,
    ingested_at      DATETIME NOT NULL,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX environments_list ON environments (org_id, updated_at, id);
CREATE INDEX environments_project ON environments (org_id, project_id, id);

-- Deployments, with their environment's name and tier at the time.
CREATE TABLE deployments (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                   BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id           BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id               BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    gitlab_id                BIGINT NOT NULL,
    iid                      BIGINT,
    environment_gitlab_id    BIGINT,
    environment_name         TEXT NOT NULL DEFAULT '',
    environment_tier         TEXT NOT NULL DEFAULT '',
    status                   TEXT NOT NULL DEFAULT '',
    ref                      TEXT NOT NULL DEFAULT '',
    sha                      TEXT NOT NULL DEFAULT '',
    deployable_job_gitlab_id BIGINT,
    username                 TEXT NOT NULL DEFAULT '',
    created_at               DATETIME,
    finished_at              DATETIME,
    updated_at               DATETIME NOT NULL,
    raw                      TEXT,
    content_hash             TEXT NOT NULL DEFAULT '',
    version                  BIGINT NOT NULL DEFAULT 1,
    ingested_at              DATETIME NOT NULL,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX deployments_list ON deployments (org_id, updated_at, id);
CREATE INDEX deployments_project ON deployments (org_id, project_id, id);
CREATE INDEX deployments_environment ON deployments (org_id, environment_tier, finished_at);

-- Releases, one per tag of a project.
CREATE TABLE releases (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id   BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id       BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    tag_name         TEXT NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    description      TEXT NOT NULL DEFAULT '',
    author           TEXT NOT NULL DEFAULT '',
    commit_sha       TEXT NOT NULL DEFAULT '',
    upcoming         BOOLEAN NOT NULL DEFAULT 0,
    created_at       DATETIME,
    released_at      DATETIME,
    updated_at       DATETIME NOT NULL,
    raw              TEXT,
    content_hash     TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 1,
    ingested_at      DATETIME NOT NULL,
    UNIQUE (project_id, tag_name)
);
CREATE INDEX releases_list ON releases (org_id, updated_at, id);
CREATE INDEX releases_project ON releases (org_id, project_id, id);

-- Tags. created_at is the annotated tag's time when GitLab gives one, else
-- the tag push time when the tag came from a webhook, else empty.
CREATE TABLE tags (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id   BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    project_id       BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    target_sha       TEXT NOT NULL DEFAULT '',
    message          TEXT NOT NULL DEFAULT '',
    protected        BOOLEAN,
    created_at       DATETIME,
    updated_at       DATETIME NOT NULL,
    raw              TEXT,
    content_hash     TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 1,
    ingested_at      DATETIME NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX tags_list ON tags (org_id, updated_at, id);
CREATE INDEX tags_project ON tags (org_id, project_id, id);

-- People seen as author, approver or user in any payload of an integration.
CREATE TABLE people (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id   BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    gitlab_id        BIGINT NOT NULL,
    username         TEXT NOT NULL DEFAULT '',
    name             TEXT NOT NULL DEFAULT '',
    bot              BOOLEAN NOT NULL DEFAULT 0,
    user_type        TEXT NOT NULL DEFAULT '',
    first_seen_at    DATETIME NOT NULL,
    last_seen_at     DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    content_hash     TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 1,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX people_list ON people (org_id, updated_at, id);

-- The issue type (issue, incident, test_case, task, …): DORA's change
-- failure rate and time to restore count incidents.
ALTER TABLE issues ADD COLUMN issue_type TEXT NOT NULL DEFAULT 'issue';
CREATE INDEX issues_type ON issues (org_id, issue_type, created_at);

-- +goose Down
DROP INDEX issues_type;
ALTER TABLE issues DROP COLUMN issue_type;
DROP TABLE people;
DROP TABLE tags;
DROP TABLE releases;
DROP TABLE deployments;
DROP TABLE environments;
DROP TABLE jobs;
DROP TABLE merge_request_commits;
DROP TABLE approvals;
DROP TABLE notes;
