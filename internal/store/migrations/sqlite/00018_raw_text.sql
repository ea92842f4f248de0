-- +goose Up
-- Issue 18: PostgreSQL stores the rows' raw JSON as text from here on.
-- SQLite always stored it as text: nothing changes in this dialect.
SELECT 1;

-- +goose Down
SELECT 1;
