-- +goose Up
-- Issue 14: the per-integration opt-in to plain http to a self-managed
-- GitLab (never GitLab.com), and the same opt-in carried by an OAuth
-- authorization in flight. The same columns exist in the other dialect.
ALTER TABLE integrations ADD COLUMN allow_insecure_http BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE oauth_states ADD COLUMN allow_insecure_http BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE oauth_states DROP COLUMN allow_insecure_http;
ALTER TABLE integrations DROP COLUMN allow_insecure_http;
