package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// MergeRequest is a normalised GitLab merge request. The sync and the
// webhook processor build it from GitLab's JSON (REST or webhook) and hand
// it to UpsertMergeRequests; Raw keeps that JSON beside the columns.
type MergeRequest struct {
	ID              int64 `json:"-"`
	IntegrationID   int64 `json:"integration_id"`
	ProjectGitLabID int64 `json:"project_id"`
	// ProjectPath is filled by reads.
	ProjectPath         string          `json:"project_path,omitempty"`
	GitLabID            int64           `json:"id"`
	IID                 int64           `json:"iid"`
	Title               string          `json:"title"`
	State               string          `json:"state"`
	Draft               bool            `json:"draft"`
	Author              string          `json:"author"`
	Assignees           []string        `json:"assignees"`
	Reviewers           []string        `json:"reviewers"`
	Labels              []string        `json:"labels"`
	SourceBranch        string          `json:"source_branch"`
	TargetBranch        string          `json:"target_branch"`
	MergeStatus         string          `json:"merge_status"`
	DetailedMergeStatus string          `json:"detailed_merge_status,omitempty"`
	MergeUser           string          `json:"merge_user,omitempty"`
	SHA                 string          `json:"sha"`
	WebURL              string          `json:"web_url"`
	MergedAt            *time.Time      `json:"merged_at"`
	ClosedAt            *time.Time      `json:"closed_at"`
	CreatedAt           *time.Time      `json:"created_at"`
	UpdatedAt           time.Time       `json:"updated_at"`
	Raw                 json.RawMessage `json:"raw,omitempty"`
}

// UpsertMergeRequests stores merge requests of one integration of org,
// inside tx when it is non-nil (so a caller can checkpoint in the same
// transaction), otherwise in a transaction of its own.
//
// It is idempotent and never lets older data win: an existing row changes
// only when the incoming GitLab updated_at is later, or equal with
// different content. Each row created or changed appends one change-feed
// entry with source (SourceSync, SourceWebhook or SourcePoll) and bumps its
// project's last-seen time (and last-webhook time for webhooks). Merge
// requests of projects not yet discovered for the integration are skipped
// and counted.
func (s *Store) UpsertMergeRequests(ctx context.Context, tx Tx, orgID, integrationID int64, source string, mrs []MergeRequest) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		cols := []string{"org_id", "integration_id", "project_id", "gitlab_id", "iid", "title", "state", "draft", "author", "assignees",
			"reviewers", "labels", "source_branch", "target_branch", "detailed_merge_status", "merge_status", "merge_user", "sha", "web_url",
			"merged_at", "closed_at", "created_at", "updated_at", "raw", "content_hash", "ingested_at"}
		rows := make([]versionedRow, 0, len(mrs))
		for _, m := range mrs {
			pid, err := u.project(ctx, m.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			m.UpdatedAt = m.UpdatedAt.UTC()
			raw := m.Raw
			m.Raw, m.ID, m.ProjectPath = nil, 0, ""
			rows = append(rows, versionedRow{gitlabID: m.GitLabID, projectID: pid, updatedAt: m.UpdatedAt, values: []any{orgID, integrationID,
				pid, m.GitLabID, m.IID, m.Title, m.State, m.Draft, m.Author, jsonList(m.Assignees), jsonList(m.Reviewers), jsonList(m.Labels),
				m.SourceBranch, m.TargetBranch, m.DetailedMergeStatus, m.MergeStatus, m.MergeUser, m.SHA, m.WebURL, utcPtr(m.MergedAt),
				utcPtr(m.ClosedAt), utcPtr(m.CreatedAt), m.UpdatedAt, rawText(raw), contentHash(m), u.now}})
		}
		return u.versioned(ctx, "merge_requests", EntityMergeRequest, cols, rows)
	})
}

// MergeRequests lists org's merge requests matching q, by id.
func (s *Store) MergeRequests(ctx context.Context, orgID int64, q DataQuery) ([]MergeRequest, error) {
	lq := newListQuery("merge_requests", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.gitlab_id, x.iid, x.title, x.state,
		x.draft, x.author, x.assignees, x.reviewers, x.labels, x.source_branch, x.target_branch, x.merge_status, x.detailed_merge_status,
		x.merge_user, x.sha, x.web_url, x.merged_at, x.closed_at, x.created_at, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list merge requests: %w", err)
	}
	defer rows.Close()
	out := []MergeRequest{}
	for rows.Next() {
		var m MergeRequest
		var as, rs, ls string
		if err := rows.Scan(&m.ID, &m.IntegrationID, &m.ProjectGitLabID, &m.ProjectPath, &m.GitLabID, &m.IID, &m.Title, &m.State, &m.Draft,
			&m.Author, &as, &rs, &ls, &m.SourceBranch, &m.TargetBranch, &m.MergeStatus, &m.DetailedMergeStatus, &m.MergeUser, &m.SHA,
			&m.WebURL, &m.MergedAt, &m.ClosedAt, &m.CreatedAt, &m.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list merge requests: %w", err)
		}
		m.Assignees, m.Reviewers, m.Labels = parseList(as), parseList(rs), parseList(ls)
		out = append(out, m)
	}
	return out, rows.Err()
}
