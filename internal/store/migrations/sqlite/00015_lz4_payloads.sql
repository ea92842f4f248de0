-- +goose Up
-- Issue 18: PostgreSQL compresses payload columns with lz4 from here on.
-- SQLite has no column compression (the inbox body is compressed by
-- labsync itself, see inboxbody.go): nothing changes in this dialect.
SELECT 1;

-- +goose Down
SELECT 1;
