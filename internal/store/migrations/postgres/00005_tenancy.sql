-- +goose Up
-- Disconnecting: when it happened, the deadline by which the purge job must
-- have hard-deleted every derived row, and how the purge went.
ALTER TABLE integrations ADD COLUMN disconnected_at TIMESTAMPTZ;
ALTER TABLE integrations ADD COLUMN purge_deadline TIMESTAMPTZ;
ALTER TABLE integrations ADD COLUMN purged_at TIMESTAMPTZ;
ALTER TABLE integrations ADD COLUMN purge_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN purge_error TEXT NOT NULL DEFAULT '';

-- API tokens may expire.
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ;

-- An organisation being deleted: its keys are already destroyed, its rows
-- are going (a retried job finishes the work).
ALTER TABLE organizations ADD COLUMN deleting_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE organizations DROP COLUMN deleting_at;
ALTER TABLE api_tokens DROP COLUMN expires_at;
ALTER TABLE integrations DROP COLUMN purge_error;
ALTER TABLE integrations DROP COLUMN purge_attempts;
ALTER TABLE integrations DROP COLUMN purged_at;
ALTER TABLE integrations DROP COLUMN purge_deadline;
ALTER TABLE integrations DROP COLUMN disconnected_at;
