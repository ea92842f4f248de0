-- +goose Up
-- Issue 18: the normalised rows' raw GitLab JSON is stored as text, as
-- received, not as jsonb. Nothing queries inside it, and parsing every
-- payload into jsonb on insert was a large share of the database's CPU per
-- processed webhook delivery (labsync bench webhooks on PostgreSQL: 2,480
-- and 3,521 deliveries processed per second with jsonb, 4,000 and 4,079 with
-- text, alternated in one session; WAL 7.1 against 6.2 KiB per delivery).
-- It also keeps GitLab's own key order. The change rewrites each table once.
-- Every raw column is then compressed with lz4 where the server can (00015
-- named only the tables of that time).
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.table_name FROM information_schema.columns c
             WHERE c.table_schema = current_schema() AND c.column_name = 'raw' AND c.data_type = 'jsonb'
             ORDER BY c.table_name LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN raw TYPE text USING raw::text', r.table_name);
    END LOOP;
    IF current_setting('server_version_num')::int < 140000 THEN
        RETURN;
    END IF;
    FOR r IN SELECT c.table_name FROM information_schema.columns c
             WHERE c.table_schema = current_schema() AND c.column_name = 'raw'
             ORDER BY c.table_name LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN raw SET COMPRESSION lz4', r.table_name);
    END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL server is built without lz4: raw columns keep pglz';
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.table_name FROM information_schema.columns c
             WHERE c.table_schema = current_schema() AND c.column_name = 'raw' AND c.data_type = 'text'
               AND c.table_name <> 'gitlab_groups' -- text from the start
             ORDER BY c.table_name LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN raw TYPE jsonb USING raw::jsonb', r.table_name);
    END LOOP;
END
$$;
-- +goose StatementEnd
