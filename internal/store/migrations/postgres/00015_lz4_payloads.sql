-- +goose Up
-- Issue 18: the columns that hold GitLab's payloads (the webhook inbox's
-- body, the normalised rows' raw JSON) are compressed with lz4 rather than
-- pglz when the server can (PostgreSQL 14 and later, built with lz4): pglz
-- was most of the database's time spent storing a processed delivery.
-- Values already stored keep their compression until they are rewritten.
-- A server without lz4 keeps pglz, and the migration says so in a notice.
-- SQLite has no column compression: its 00015 changes nothing.
-- +goose StatementBegin
DO $$
DECLARE
    col text;
BEGIN
    IF current_setting('server_version_num')::int < 140000 THEN
        RAISE NOTICE 'PostgreSQL before 14 has no per-column compression: payload columns keep pglz';
        RETURN;
    END IF;
    FOREACH col IN ARRAY ARRAY['webhook_inbox.body', 'merge_requests.raw', 'issues.raw', 'pipelines.raw', 'pushes.raw',
                               'commits.raw', 'projects.raw', 'gitlab_groups.raw'] LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET COMPRESSION lz4', split_part(col, '.', 1), split_part(col, '.', 2));
    END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL server is built without lz4: payload columns keep pglz';
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    col text;
BEGIN
    IF current_setting('server_version_num')::int < 140000 THEN
        RETURN;
    END IF;
    FOREACH col IN ARRAY ARRAY['webhook_inbox.body', 'merge_requests.raw', 'issues.raw', 'pipelines.raw', 'pushes.raw',
                               'commits.raw', 'projects.raw', 'gitlab_groups.raw'] LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET COMPRESSION default', split_part(col, '.', 1), split_part(col, '.', 2));
    END LOOP;
END
$$;
-- +goose StatementEnd
