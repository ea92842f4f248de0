package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Issue is a normalised GitLab issue (see MergeRequest for the contract).
type Issue struct {
	ID              int64  `json:"-"`
	IntegrationID   int64  `json:"integration_id"`
	ProjectGitLabID int64  `json:"project_id"`
	ProjectPath     string `json:"project_path,omitempty"`
	GitLabID        int64  `json:"id"`
	IID             int64  `json:"iid"`
	Title           string `json:"title"`
	State           string `json:"state"`
	Confidential    bool   `json:"confidential"`
	// IssueType is GitLab's issue_type (13.x+: issue, incident, test_case,
	// later task, …) or type (15.x+, upper case there, stored lower case);
	// "issue" where GitLab gives neither, or "incident" when the issue
	// carries the incident label (see ingest). Stored issues written before
	// the column existed read "issue" until their next sync.
	IssueType string          `json:"issue_type"`
	Author    string          `json:"author"`
	Assignees []string        `json:"assignees"`
	Labels    []string        `json:"labels"`
	WebURL    string          `json:"web_url"`
	ClosedAt  *time.Time      `json:"closed_at"`
	CreatedAt *time.Time      `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Raw       json.RawMessage `json:"raw,omitempty"`
}

// UpsertIssues stores issues with the same guarantees as
// UpsertMergeRequests: idempotent, newer updated_at wins, one feed entry per
// real change, project last-seen updated.
func (s *Store) UpsertIssues(ctx context.Context, tx Tx, orgID, integrationID int64, source string, issues []Issue) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		cols := []string{"org_id", "integration_id", "project_id", "gitlab_id", "iid", "title", "state", "confidential", "author",
			"assignees", "labels", "web_url", "issue_type", "closed_at", "created_at", "updated_at", "raw", "content_hash", "ingested_at"}
		rows := make([]versionedRow, 0, len(issues))
		for _, is := range issues {
			pid, err := u.project(ctx, is.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			is.UpdatedAt = is.UpdatedAt.UTC()
			is.IssueType = issueType(is.IssueType)
			raw := is.Raw
			is.Raw, is.ID, is.ProjectPath = nil, 0, ""
			rows = append(rows, versionedRow{gitlabID: is.GitLabID, projectID: pid, updatedAt: is.UpdatedAt, values: []any{orgID, integrationID,
				pid, is.GitLabID, is.IID, is.Title, is.State, is.Confidential, is.Author, jsonList(is.Assignees), jsonList(is.Labels), is.WebURL, issueType(is.IssueType),
				utcPtr(is.ClosedAt), utcPtr(is.CreatedAt), is.UpdatedAt, rawText(raw), contentHash(is), u.now}})
		}
		return u.versioned(ctx, "issues", EntityIssue, cols, rows)
	})
}

// Issues lists org's issues matching q, by id.
func (s *Store) Issues(ctx context.Context, orgID int64, q DataQuery) ([]Issue, error) {
	lq := newListQuery("issues", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.gitlab_id, x.iid, x.title, x.state,
		x.confidential, x.author, x.assignees, x.labels, x.web_url, x.issue_type, x.closed_at, x.created_at, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list issues: %w", err)
	}
	defer rows.Close()
	out := []Issue{}
	for rows.Next() {
		var is Issue
		var as, ls string
		if err := rows.Scan(&is.ID, &is.IntegrationID, &is.ProjectGitLabID, &is.ProjectPath, &is.GitLabID, &is.IID, &is.Title, &is.State,
			&is.Confidential, &is.Author, &as, &ls, &is.WebURL, &is.IssueType, &is.ClosedAt, &is.CreatedAt, &is.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list issues: %w", err)
		}
		is.Assignees, is.Labels = parseList(as), parseList(ls)
		out = append(out, is)
	}
	return out, rows.Err()
}

// issueType is t, or "issue" when empty.
func issueType(t string) string {
	if t == "" {
		return "issue"
	}
	return t
}
