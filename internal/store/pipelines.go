package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Pipeline is a normalised GitLab pipeline (see MergeRequest for the
// contract). SHA is 40 or 64 hex characters.
type Pipeline struct {
	ID              int64           `json:"-"`
	IntegrationID   int64           `json:"integration_id"`
	ProjectGitLabID int64           `json:"project_id"`
	ProjectPath     string          `json:"project_path,omitempty"`
	GitLabID        int64           `json:"id"`
	IID             *int64          `json:"iid,omitempty"`
	Status          string          `json:"status"`
	Ref             string          `json:"ref"`
	SHA             string          `json:"sha"`
	Source          string          `json:"source,omitempty"`
	DurationS       *int64          `json:"duration_s,omitempty"`
	WebURL          string          `json:"web_url"`
	StartedAt       *time.Time      `json:"started_at,omitempty"`
	FinishedAt      *time.Time      `json:"finished_at,omitempty"`
	CreatedAt       *time.Time      `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	Raw             json.RawMessage `json:"raw,omitempty"`
}

// UpsertPipelines stores pipelines with the same guarantees as
// UpsertMergeRequests.
func (s *Store) UpsertPipelines(ctx context.Context, tx Tx, orgID, integrationID int64, source string, pls []Pipeline) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		cols := []string{"org_id", "integration_id", "project_id", "gitlab_id", "iid", "status", "ref", "sha", "source", "duration_s",
			"web_url", "started_at", "finished_at", "created_at", "updated_at", "raw", "content_hash", "ingested_at"}
		rows := make([]versionedRow, 0, len(pls))
		for _, pl := range pls {
			pid, err := u.project(ctx, pl.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			pl.UpdatedAt = pl.UpdatedAt.UTC()
			raw := pl.Raw
			pl.Raw, pl.ID, pl.ProjectPath = nil, 0, ""
			rows = append(rows, versionedRow{gitlabID: pl.GitLabID, projectID: pid, updatedAt: pl.UpdatedAt, values: []any{orgID, integrationID,
				pid, pl.GitLabID, pl.IID, pl.Status, pl.Ref, pl.SHA, pl.Source, pl.DurationS, pl.WebURL, utcPtr(pl.StartedAt),
				utcPtr(pl.FinishedAt), utcPtr(pl.CreatedAt), pl.UpdatedAt, rawText(raw), contentHash(pl), u.now}})
		}
		return u.versioned(ctx, "pipelines", EntityPipeline, cols, rows)
	})
}

// Pipelines lists org's pipelines matching q (State filters status), by id.
func (s *Store) Pipelines(ctx context.Context, orgID int64, q DataQuery) ([]Pipeline, error) {
	lq := newListQuery("pipelines", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.gitlab_id, x.iid, x.status, x.ref,
		x.sha, x.source, x.duration_s, x.web_url, x.started_at, x.finished_at, x.created_at, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list pipelines: %w", err)
	}
	defer rows.Close()
	out := []Pipeline{}
	for rows.Next() {
		var pl Pipeline
		if err := rows.Scan(&pl.ID, &pl.IntegrationID, &pl.ProjectGitLabID, &pl.ProjectPath, &pl.GitLabID, &pl.IID, &pl.Status, &pl.Ref,
			&pl.SHA, &pl.Source, &pl.DurationS, &pl.WebURL, &pl.StartedAt, &pl.FinishedAt, &pl.CreatedAt, &pl.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list pipelines: %w", err)
		}
		out = append(out, pl)
	}
	return out, rows.Err()
}
