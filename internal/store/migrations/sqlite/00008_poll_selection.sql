-- +goose Up
-- Issue 14: a poller whose cost follows the selection, freshness per
-- project, projects that are gone, and per-integration settings. The same
-- columns exist in the PostgreSQL file.

-- Per-integration settings: request concurrency (0 = the service default),
-- the earliest date the backfill fetches, and whether the data of a project
-- the credential can no longer see is kept instead of purged.
ALTER TABLE integrations ADD COLUMN request_concurrency BIGINT NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN history_since DATETIME;
ALTER TABLE integrations ADD COLUMN keep_lost_project_data BOOLEAN NOT NULL DEFAULT 0;

-- Per project: when a poll last covered it and when its data was known
-- fresh, when a poll last found changes its webhook had not delivered,
-- and whether it is gone (deleted, access lost, archived, moved out of the
-- selection) with the reason, the path it had before a rename or transfer,
-- and when its data was purged.
ALTER TABLE projects ADD COLUMN last_poll_at DATETIME;
ALTER TABLE projects ADD COLUMN fresh_as_of DATETIME;
ALTER TABLE projects ADD COLUMN poll_found_changes_at DATETIME;
ALTER TABLE projects ADD COLUMN gone TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN gone_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN gone_at DATETIME;
ALTER TABLE projects ADD COLUMN previous_path TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN path_changed_at DATETIME;
ALTER TABLE projects ADD COLUMN data_purged_at DATETIME;

-- Whether the credential saw the whole instance at the last discovery (an
-- administrator): the poller may then ask instance-wide.
ALTER TABLE sync_state ADD COLUMN sees_instance BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN visible_projects BIGINT NOT NULL DEFAULT 0;

-- The purge sweep's question, every minute: gone projects by when.
CREATE INDEX projects_gone ON projects (gone_at) WHERE gone <> '';

-- A project's last webhook delivery, read from the inbox (every authentic
-- delivery is there, whether or not it changed a row).
CREATE INDEX webhook_inbox_project ON webhook_inbox (integration_id, project_gitlab_id, received_at);

-- +goose Down
DROP INDEX webhook_inbox_project;
DROP INDEX projects_gone;
ALTER TABLE sync_state DROP COLUMN visible_projects;
ALTER TABLE sync_state DROP COLUMN sees_instance;
ALTER TABLE projects DROP COLUMN data_purged_at;
ALTER TABLE projects DROP COLUMN path_changed_at;
ALTER TABLE projects DROP COLUMN previous_path;
ALTER TABLE projects DROP COLUMN gone_at;
ALTER TABLE projects DROP COLUMN gone_reason;
ALTER TABLE projects DROP COLUMN gone;
ALTER TABLE projects DROP COLUMN poll_found_changes_at;
ALTER TABLE projects DROP COLUMN fresh_as_of;
ALTER TABLE projects DROP COLUMN last_poll_at;
ALTER TABLE integrations DROP COLUMN keep_lost_project_data;
ALTER TABLE integrations DROP COLUMN history_since;
ALTER TABLE integrations DROP COLUMN request_concurrency;
