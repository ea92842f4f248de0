-- +goose Up
-- How an inbox body is stored: '' as received, 's2' compressed (S2 block
-- format). A webhook body is JSON and shrinks to under half, which halves
-- what each durable delivery writes to disk.
ALTER TABLE webhook_inbox ADD COLUMN body_codec TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhook_inbox DROP COLUMN body_codec;
