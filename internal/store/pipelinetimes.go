package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// PipelineTimes are the fields GitLab's REST pipelines list leaves out
// (the syncer reads them in bulk from GraphQL): nil ones are left as they
// are.
type PipelineTimes struct {
	GitLabID   int64
	DurationS  *int64
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// finishedPipeline lists the statuses after which GitLab's pipeline has
// its times (success, failed, canceled; skipped and manual pipelines may
// never start).
var finishedPipeline = []string{"success", "failed", "canceled"}

// PipelinesMissingTimes lists the GitLab ids of a project's finished
// pipelines that lack a duration, start or finish time, among those
// updated at or after since (all when since is zero), highest id first.
func (s *Store) PipelinesMissingTimes(ctx context.Context, orgID, integrationID, projectGitLabID int64, since time.Time) ([]int64, error) {
	q := `SELECT x.gitlab_id FROM pipelines x JOIN projects p ON p.id = x.project_id
		WHERE x.org_id = $1 AND x.integration_id = $2 AND p.gitlab_id = $3 AND x.status IN ($4, $5, $6)
		AND (x.duration_s IS NULL OR x.started_at IS NULL OR x.finished_at IS NULL)`
	args := []any{orgID, integrationID, projectGitLabID, finishedPipeline[0], finishedPipeline[1], finishedPipeline[2]}
	if !since.IsZero() {
		q += ` AND x.updated_at >= $7`
		args = append(args, since.UTC())
	}
	rows, err := s.rdb.QueryContext(ctx, q+` ORDER BY x.gitlab_id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list pipelines without times: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: unable to list pipelines without times: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// StoredPipelineTimes returns the status and times stored for the given
// pipelines of an integration (those it has), so that a listing without
// times does not blank what GraphQL or a webhook filled in.
func (s *Store) StoredPipelineTimes(ctx context.Context, orgID, integrationID int64, gitlabIDs []int64) (map[int64]Pipeline, error) {
	out := map[int64]Pipeline{}
	if len(gitlabIDs) == 0 {
		return out, nil
	}
	args := []any{orgID, integrationID}
	ph := make([]string, 0, len(gitlabIDs))
	for _, id := range gitlabIDs {
		args = append(args, id)
		ph = append(ph, fmt.Sprintf("$%d", len(args)))
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT gitlab_id, status, duration_s, started_at, finished_at FROM pipelines
		WHERE org_id = $1 AND integration_id = $2 AND gitlab_id IN (`+strings.Join(ph, ", ")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read pipeline times: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pl Pipeline
		if err := rows.Scan(&pl.GitLabID, &pl.Status, &pl.DurationS, &pl.StartedAt, &pl.FinishedAt); err != nil {
			return nil, fmt.Errorf("store: unable to read pipeline times: %w", err)
		}
		out[pl.GitLabID] = pl
	}
	return out, rows.Err()
}

// SetPipelineTimes fills the times of stored pipelines (rows the
// integration does not have are skipped) and records each changed row in
// the change feed as an update. The row's updated_at stays GitLab's; its
// content hash is recomputed so the versioned upsert keeps working.
func (s *Store) SetPipelineTimes(ctx context.Context, tx Tx, orgID, integrationID int64, source string, ts []PipelineTimes) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		var ps []pending
		for _, t := range ts {
			var pl Pipeline
			var projectID int64
			err := u.tx.QueryRowContext(ctx, `SELECT x.id, x.project_id, p.gitlab_id, x.integration_id, x.gitlab_id, x.iid, x.status, x.ref, x.sha,
				x.source, x.duration_s, x.web_url, x.started_at, x.finished_at, x.created_at, x.updated_at
				FROM pipelines x JOIN projects p ON p.id = x.project_id
				WHERE x.org_id = $1 AND x.integration_id = $2 AND x.gitlab_id = $3`, orgID, integrationID, t.GitLabID).Scan(
				&pl.ID, &projectID, &pl.ProjectGitLabID, &pl.IntegrationID, &pl.GitLabID, &pl.IID, &pl.Status, &pl.Ref, &pl.SHA, &pl.Source,
				&pl.DurationS, &pl.WebURL, &pl.StartedAt, &pl.FinishedAt, &pl.CreatedAt, &pl.UpdatedAt)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return fmt.Errorf("store: unable to read a pipeline: %w", err)
			}
			changed := false
			if t.DurationS != nil && (pl.DurationS == nil || *pl.DurationS != *t.DurationS) {
				d := *t.DurationS
				pl.DurationS, changed = &d, true
			}
			if t.StartedAt != nil && (pl.StartedAt == nil || !pl.StartedAt.Equal(*t.StartedAt)) {
				v := t.StartedAt.UTC()
				pl.StartedAt, changed = &v, true
			}
			if t.FinishedAt != nil && (pl.FinishedAt == nil || !pl.FinishedAt.Equal(*t.FinishedAt)) {
				v := t.FinishedAt.UTC()
				pl.FinishedAt, changed = &v, true
			}
			if !changed {
				continue
			}
			id := pl.ID
			pl.ID, pl.UpdatedAt = 0, pl.UpdatedAt.UTC()
			if _, err := u.tx.ExecContext(ctx, `UPDATE pipelines SET duration_s = $1, started_at = $2, finished_at = $3, content_hash = $4,
				version = version + 1 WHERE id = $5`, pl.DurationS, utcPtr(pl.StartedAt), utcPtr(pl.FinishedAt), contentHash(pl), id); err != nil {
				return fmt.Errorf("store: unable to fill a pipeline's times: %w", err)
			}
			at := pl.UpdatedAt
			ps = append(ps, pending{entity: EntityPipeline, entityID: id, projectID: projectID, gitlabID: fmt.Sprint(pl.GitLabID), updatedAt: &at})
		}
		return u.flush(ctx, ps)
	})
}
