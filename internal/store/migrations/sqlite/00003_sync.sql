-- +goose Up
-- Discovery, selection, sync state and the extra columns the normalising
-- upserts need. The same tables and columns exist in the PostgreSQL file.

-- Groups the integration's credential can see (the groups tree).
CREATE TABLE gitlab_groups (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id           BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    integration_id   BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    gitlab_id        BIGINT NOT NULL,
    parent_gitlab_id BIGINT,
    full_path        TEXT NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    web_url          TEXT NOT NULL DEFAULT '',
    visibility       TEXT NOT NULL DEFAULT '',
    raw              TEXT,
    updated_at       DATETIME NOT NULL,
    UNIQUE (integration_id, gitlab_id)
);
CREATE INDEX gitlab_groups_org ON gitlab_groups (org_id, integration_id, full_path);

-- What to sync, per integration.
CREATE TABLE sync_selections (
    integration_id   INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    org_id           BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    projects         TEXT NOT NULL DEFAULT '[]',
    groups           TEXT NOT NULL DEFAULT '[]',
    exclusions       TEXT NOT NULL DEFAULT '[]',
    include_archived BOOLEAN NOT NULL DEFAULT 0,
    services         TEXT NOT NULL DEFAULT '{}',
    updated_at       DATETIME NOT NULL
);

-- One row per integration: the state of its sync run, the lease that keeps
-- one worker on it, and the instance-wide poll watermarks.
CREATE TABLE sync_state (
    integration_id     INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    org_id             BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    state              TEXT NOT NULL DEFAULT 'idle',
    reason             TEXT NOT NULL DEFAULT '',
    concurrency        BIGINT NOT NULL DEFAULT 0,
    lease_owner        TEXT NOT NULL DEFAULT '',
    lease_until        DATETIME,
    started_at         DATETIME,
    finished_at        DATETIME,
    discovered_at      DATETIME,
    mr_watermark       DATETIME,
    issue_watermark    DATETIME,
    activity_watermark DATETIME,
    sweep_offset       BIGINT NOT NULL DEFAULT 0,
    requests           BIGINT NOT NULL DEFAULT 0,
    updated_at         DATETIME NOT NULL
);

ALTER TABLE projects ADD COLUMN namespace_path TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN last_activity_at DATETIME;
ALTER TABLE projects ADD COLUMN last_seen_at DATETIME;
ALTER TABLE projects ADD COLUMN ci_enabled BOOLEAN NOT NULL DEFAULT 1;
ALTER TABLE projects ADD COLUMN discovered_at DATETIME;
CREATE INDEX projects_path ON projects (org_id, integration_id, path_with_namespace, id);

ALTER TABLE merge_requests ADD COLUMN merge_status TEXT NOT NULL DEFAULT '';
ALTER TABLE merge_requests ADD COLUMN merge_user TEXT NOT NULL DEFAULT '';
ALTER TABLE merge_requests ADD COLUMN closed_at DATETIME;
ALTER TABLE merge_requests ADD COLUMN sha TEXT NOT NULL DEFAULT '';
ALTER TABLE merge_requests ADD COLUMN web_url TEXT NOT NULL DEFAULT '';
ALTER TABLE merge_requests ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE merge_requests ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX merge_requests_project ON merge_requests (org_id, project_id, id);

ALTER TABLE issues ADD COLUMN web_url TEXT NOT NULL DEFAULT '';
ALTER TABLE issues ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE issues ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX issues_project ON issues (org_id, project_id, id);

ALTER TABLE pipelines ADD COLUMN iid BIGINT;
ALTER TABLE pipelines ADD COLUMN web_url TEXT NOT NULL DEFAULT '';
ALTER TABLE pipelines ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE pipelines ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX pipelines_project ON pipelines (org_id, project_id, id);

ALTER TABLE pushes ADD COLUMN ref_type TEXT NOT NULL DEFAULT 'branch';
ALTER TABLE pushes ADD COLUMN action TEXT NOT NULL DEFAULT '';
ALTER TABLE pushes ADD COLUMN commit_title TEXT NOT NULL DEFAULT '';
CREATE INDEX pushes_project ON pushes (org_id, project_id, id);

ALTER TABLE commits ADD COLUMN parent_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE commits ADD COLUMN web_url TEXT NOT NULL DEFAULT '';
CREATE INDEX commits_list ON commits (org_id, id);

ALTER TABLE events ADD COLUMN project_id BIGINT;
ALTER TABLE events ADD COLUMN gitlab_id TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN updated_at DATETIME;

ALTER TABLE sync_progress ADD COLUMN mode TEXT NOT NULL DEFAULT 'backfill';
ALTER TABLE sync_progress ADD COLUMN pass_high DATETIME;
ALTER TABLE sync_progress ADD COLUMN started_at DATETIME;
ALTER TABLE sync_progress ADD COLUMN finished_at DATETIME;
ALTER TABLE sync_progress ADD COLUMN error_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE sync_progress ADD COLUMN error_status BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sync_progress_org ON sync_progress (org_id, integration_id, status);

-- +goose Down
DROP INDEX sync_progress_org;
ALTER TABLE sync_progress DROP COLUMN error_status;
ALTER TABLE sync_progress DROP COLUMN error_kind;
ALTER TABLE sync_progress DROP COLUMN finished_at;
ALTER TABLE sync_progress DROP COLUMN started_at;
ALTER TABLE sync_progress DROP COLUMN pass_high;
ALTER TABLE sync_progress DROP COLUMN mode;
ALTER TABLE events DROP COLUMN updated_at;
ALTER TABLE events DROP COLUMN gitlab_id;
ALTER TABLE events DROP COLUMN project_id;
DROP INDEX commits_list;
ALTER TABLE commits DROP COLUMN web_url;
ALTER TABLE commits DROP COLUMN parent_ids;
DROP INDEX pushes_project;
ALTER TABLE pushes DROP COLUMN commit_title;
ALTER TABLE pushes DROP COLUMN action;
ALTER TABLE pushes DROP COLUMN ref_type;
DROP INDEX pipelines_project;
ALTER TABLE pipelines DROP COLUMN version;
ALTER TABLE pipelines DROP COLUMN content_hash;
ALTER TABLE pipelines DROP COLUMN web_url;
ALTER TABLE pipelines DROP COLUMN iid;
DROP INDEX issues_project;
ALTER TABLE issues DROP COLUMN version;
ALTER TABLE issues DROP COLUMN content_hash;
ALTER TABLE issues DROP COLUMN web_url;
DROP INDEX merge_requests_project;
ALTER TABLE merge_requests DROP COLUMN version;
ALTER TABLE merge_requests DROP COLUMN content_hash;
ALTER TABLE merge_requests DROP COLUMN web_url;
ALTER TABLE merge_requests DROP COLUMN sha;
ALTER TABLE merge_requests DROP COLUMN closed_at;
ALTER TABLE merge_requests DROP COLUMN merge_user;
ALTER TABLE merge_requests DROP COLUMN merge_status;
DROP INDEX projects_path;
ALTER TABLE projects DROP COLUMN discovered_at;
ALTER TABLE projects DROP COLUMN ci_enabled;
ALTER TABLE projects DROP COLUMN last_seen_at;
ALTER TABLE projects DROP COLUMN last_activity_at;
ALTER TABLE projects DROP COLUMN namespace_path;
DROP TABLE sync_state;
DROP TABLE sync_selections;
DROP TABLE gitlab_groups;
