package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Job is a normalised pipeline job (a build). GitLab's jobs carry no
// updated_at: UpdatedAt is the latest of FinishedAt, StartedAt and
// CreatedAt — or, for a webhook, the later of that and the delivery's own
// time — so a job that started or finished later wins over its older state
// (JobUpdatedAt computes it). Retried, once true, stays true: GitLab never
// un-retries a job, and webhook payloads do not say.
type Job struct {
	ID                int64           `json:"-"`
	IntegrationID     int64           `json:"integration_id"`
	ProjectGitLabID   int64           `json:"project_id"`
	ProjectPath       string          `json:"project_path,omitempty"`
	GitLabID          int64           `json:"id"`
	PipelineGitLabID  *int64          `json:"pipeline_id,omitempty"`
	Name              string          `json:"name"`
	Stage             string          `json:"stage"`
	Status            string          `json:"status"`
	Ref               string          `json:"ref"`
	Tag               bool            `json:"tag"`
	SHA               string          `json:"sha"`
	AllowFailure      bool            `json:"allow_failure"`
	Retried           bool            `json:"retried"`
	FailureReason     string          `json:"failure_reason,omitempty"`
	DurationS         *float64        `json:"duration_s,omitempty"`
	QueuedDurationS   *float64        `json:"queued_duration_s,omitempty"`
	RunnerGitLabID    *int64          `json:"runner_id,omitempty"`
	RunnerDescription string          `json:"runner_description,omitempty"`
	Username          string          `json:"user,omitempty"`
	WebURL            string          `json:"web_url,omitempty"`
	CreatedAt         *time.Time      `json:"created_at"`
	StartedAt         *time.Time      `json:"started_at,omitempty"`
	FinishedAt        *time.Time      `json:"finished_at,omitempty"`
	UpdatedAt         time.Time       `json:"updated_at"`
	Raw               json.RawMessage `json:"raw,omitempty"`
}

// JobUpdatedAt is the latest of the given times (nil ones ignored), the
// zero time when all are nil.
func JobUpdatedAt(ts ...*time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t != nil && t.After(out) {
			out = t.UTC()
		}
	}
	return out
}

// UpsertJobs stores jobs with the guarantees of UpsertMergeRequests.
func (s *Store) UpsertJobs(ctx context.Context, tx Tx, orgID, integrationID int64, source string, jobs []Job) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		cols := []string{"org_id", "integration_id", "project_id", "gitlab_id", "pipeline_gitlab_id", "name", "stage", "status", "ref", "tag",
			"sha", "allow_failure", "retried", "failure_reason", "duration_s", "queued_duration_s", "runner_gitlab_id", "runner_description",
			"username", "web_url", "created_at", "started_at", "finished_at", "updated_at", "raw", "content_hash", "ingested_at"}
		spec := keyedSpec{table: "jobs", entity: EntityJob, conflict: []string{"integration_id", "gitlab_id"}, cols: cols,
			set:      map[string]string{"retried": "(excluded.retried OR jobs.retried)"},
			fillText: []string{"web_url"}}
		rows := make([]keyedRow, 0, len(jobs))
		for _, j := range jobs {
			pid, err := u.project(ctx, j.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			if j.UpdatedAt.IsZero() {
				j.UpdatedAt = JobUpdatedAt(j.CreatedAt, j.StartedAt, j.FinishedAt)
			}
			if j.UpdatedAt.IsZero() {
				j.UpdatedAt = u.now
			}
			j.UpdatedAt = j.UpdatedAt.UTC()
			raw := j.Raw
			j.Raw, j.ID, j.ProjectPath = nil, 0, ""
			// Payloads carry no web_url: it stays out of the fingerprint.
			fp := j
			fp.WebURL = ""
			hash := contentHash(fp)
			rows = append(rows, keyedRow{feedKey: fmt.Sprint(j.GitLabID), projectID: pid, updatedAt: j.UpdatedAt, values: []any{orgID, integrationID,
				pid, j.GitLabID, j.PipelineGitLabID, j.Name, j.Stage, j.Status, j.Ref, j.Tag, j.SHA, j.AllowFailure, j.Retried, j.FailureReason,
				j.DurationS, j.QueuedDurationS, j.RunnerGitLabID, j.RunnerDescription, j.Username, j.WebURL, utcPtr(j.CreatedAt),
				utcPtr(j.StartedAt), utcPtr(j.FinishedAt), j.UpdatedAt, rawText(raw), hash, u.now}})
		}
		return u.keyed(ctx, spec, rows)
	})
}

// Jobs lists org's jobs matching q (State filters status), by id (or
// newest first).
func (s *Store) Jobs(ctx context.Context, orgID int64, q DataQuery) ([]Job, error) {
	lq := newListQuery("jobs", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.gitlab_id, x.pipeline_gitlab_id,
		x.name, x.stage, x.status, x.ref, x.tag, x.sha, x.allow_failure, x.retried, x.failure_reason, x.duration_s, x.queued_duration_s,
		x.runner_gitlab_id, x.runner_description, x.username, x.web_url, x.created_at, x.started_at, x.finished_at, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list jobs: %w", err)
	}
	defer rows.Close()
	out := []Job{}
	for rows.Next() {
		var j Job
		if err := rows.Scan(&j.ID, &j.IntegrationID, &j.ProjectGitLabID, &j.ProjectPath, &j.GitLabID, &j.PipelineGitLabID, &j.Name, &j.Stage,
			&j.Status, &j.Ref, &j.Tag, &j.SHA, &j.AllowFailure, &j.Retried, &j.FailureReason, &j.DurationS, &j.QueuedDurationS,
			&j.RunnerGitLabID, &j.RunnerDescription, &j.Username, &j.WebURL, &j.CreatedAt, &j.StartedAt, &j.FinishedAt, &j.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}
