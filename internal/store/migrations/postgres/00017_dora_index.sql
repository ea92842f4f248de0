-- +goose Up
-- DORA's lead time pairs each project's merged merge requests with the
-- deployments of their target branch (store/dora.go, DoraChanges): this
-- index serves that scan. The same index exists in the other dialect.
CREATE INDEX merge_requests_merged ON merge_requests (org_id, project_id, target_branch, merged_at);

-- +goose Down
DROP INDEX merge_requests_merged;
