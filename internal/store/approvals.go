package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Approval sources.
const (
	ApprovalFromEvent   = "event"
	ApprovalFromAPI     = "api"
	ApprovalFromWebhook = "webhook"
)

// Approval is one approver's approval of a merge request. ApprovedAt is nil
// when the source gave no time (the approvals endpoint's approved_by lists
// users without one before GitLab 16.x); a later source with a time fills
// it. UpdatedAt is ApprovedAt, or when labsync first saw the approval.
type Approval struct {
	ID              int64           `json:"-"`
	IntegrationID   int64           `json:"integration_id"`
	ProjectGitLabID int64           `json:"project_id"`
	ProjectPath     string          `json:"project_path,omitempty"`
	MergeRequestIID int64           `json:"merge_request_iid"`
	UserGitLabID    int64           `json:"user_id"`
	Username        string          `json:"username"`
	ApprovedAt      *time.Time      `json:"approved_at"`
	Source          string          `json:"source"`
	UpdatedAt       time.Time       `json:"updated_at"`
	Raw             json.RawMessage `json:"raw,omitempty"`
}

// FeedKey is how the change feed names an approval: "<mr iid>:<user id>".
func (a Approval) FeedKey() string { return fmt.Sprintf("%d:%d", a.MergeRequestIID, a.UserGitLabID) }

// UpsertApprovals stores approvals once per (merge request, approver). An
// existing approval changes only when it gains a time it lacked or the
// approver's username changed, so the same approval seen by the events, the
// approvals endpoint and a webhook is one row with one feed entry.
func (s *Store) UpsertApprovals(ctx context.Context, tx Tx, orgID, integrationID int64, source string, approvals []Approval) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		return u.approvals(ctx, approvals)
	})
}

func (u *upsert) approvals(ctx context.Context, approvals []Approval) error {
	spec := keyedSpec{table: "approvals", entity: EntityApproval,
		conflict: []string{"integration_id", "project_id", "mr_iid", "user_gitlab_id"},
		cols: []string{"org_id", "integration_id", "project_id", "mr_iid", "user_gitlab_id", "username", "approved_at", "source",
			"updated_at", "raw", "content_hash", "ingested_at"},
		set: map[string]string{
			"approved_at": "COALESCE(excluded.approved_at, approvals.approved_at)",
			"source":      "CASE WHEN excluded.approved_at IS NULL AND approvals.approved_at IS NOT NULL THEN approvals.source ELSE excluded.source END",
			"updated_at":  "CASE WHEN excluded.approved_at IS NOT NULL AND approvals.approved_at IS NULL THEN excluded.approved_at ELSE approvals.updated_at END",
			"raw":         "COALESCE(excluded.raw, approvals.raw)",
			"ingested_at": "approvals.ingested_at",
		},
		where: "(approvals.approved_at IS NULL AND excluded.approved_at IS NOT NULL) OR excluded.username <> approvals.username",
	}
	rows := make([]keyedRow, 0, len(approvals))
	for _, a := range approvals {
		pid, err := u.project(ctx, a.ProjectGitLabID)
		if err != nil {
			return err
		}
		if pid == 0 {
			u.skipped++
			continue
		}
		at := u.now
		if a.ApprovedAt != nil && !a.ApprovedAt.IsZero() {
			at = a.ApprovedAt.UTC()
		}
		raw := a.Raw
		a.Raw, a.ID, a.ProjectPath, a.UpdatedAt = nil, 0, "", at
		rows = append(rows, keyedRow{feedKey: a.FeedKey(), projectID: pid, updatedAt: at, values: []any{u.orgID, u.integ, pid,
			a.MergeRequestIID, a.UserGitLabID, a.Username, utcPtr(a.ApprovedAt), a.Source, at, rawText(raw), contentHash(a), u.now}})
	}
	return u.keyed(ctx, spec, rows)
}

// RemoveApproval deletes one approver's approval of a merge request (an
// unapproval), appending a "deleted" feed entry when there was one.
func (s *Store) RemoveApproval(ctx context.Context, tx Tx, orgID, integrationID int64, source string, projectGitLabID, mrIID, userGitLabID int64) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		pid, err := u.project(ctx, projectGitLabID)
		if err != nil || pid == 0 {
			return err
		}
		return u.deleteRows(ctx, "approvals", EntityApproval, approvalFeedKeySQL,
			"project_id = $3 AND mr_iid = $4 AND user_gitlab_id = $5", pid, mrIID, userGitLabID)
	})
}

const approvalFeedKeySQL = `mr_iid || ':' || user_gitlab_id`

// ReplaceMergeRequestApprovals makes the approvals of one merge request
// exactly approvals (the approvals endpoint's full list): those not in it
// are deleted, with a feed entry each, and the rest upserted.
func (s *Store) ReplaceMergeRequestApprovals(ctx context.Context, tx Tx, orgID, integrationID int64, source string, projectGitLabID, mrIID int64, approvals []Approval) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		pid, err := u.project(ctx, projectGitLabID)
		if err != nil {
			return err
		}
		if pid == 0 {
			u.skipped += len(approvals)
			return nil
		}
		cond := "project_id = $3 AND mr_iid = $4"
		args := []any{pid, mrIID}
		if len(approvals) > 0 {
			ph := make([]string, len(approvals))
			for i, a := range approvals {
				if a.ProjectGitLabID != projectGitLabID || a.MergeRequestIID != mrIID {
					return fmt.Errorf("store: approval of %d!%d given for %d!%d", a.ProjectGitLabID, a.MergeRequestIID, projectGitLabID, mrIID)
				}
				args = append(args, a.UserGitLabID)
				ph[i] = fmt.Sprintf("$%d", len(args)+2)
			}
			cond += " AND user_gitlab_id NOT IN (" + strings.Join(ph, ", ") + ")"
		}
		if err := u.deleteRows(ctx, "approvals", EntityApproval, approvalFeedKeySQL, cond, args...); err != nil {
			return err
		}
		return u.approvals(ctx, approvals)
	})
}

// Approvals lists org's approvals matching q, by id (or newest first).
func (s *Store) Approvals(ctx context.Context, orgID int64, q DataQuery) ([]Approval, error) {
	lq := newListQuery("approvals", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.mr_iid, x.user_gitlab_id,
		x.username, x.approved_at, x.source, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list approvals: %w", err)
	}
	defer rows.Close()
	out := []Approval{}
	for rows.Next() {
		var a Approval
		if err := rows.Scan(&a.ID, &a.IntegrationID, &a.ProjectGitLabID, &a.ProjectPath, &a.MergeRequestIID, &a.UserGitLabID, &a.Username,
			&a.ApprovedAt, &a.Source, &a.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list approvals: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// MergeRequestCommit places a commit in a merge request; Position 0 is the
// newest (the order of GitLab's merge request commits endpoint). The
// commit's details go to UpsertCommits.
type MergeRequestCommit struct {
	ProjectGitLabID int64  `json:"project_id"`
	MergeRequestIID int64  `json:"merge_request_iid"`
	SHA             string `json:"sha"`
	Position        int64  `json:"position"`
}

// UpsertMergeRequestCommits stores which commits each merge request has,
// once per (project, merge request, sha); a changed position updates the
// row. The feed names them "<mr iid>:<sha>".
func (s *Store) UpsertMergeRequestCommits(ctx context.Context, tx Tx, orgID, integrationID int64, source string, cs []MergeRequestCommit) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		spec := keyedSpec{table: "merge_request_commits", entity: EntityMergeRequestCommit,
			conflict: []string{"project_id", "mr_iid", "sha"},
			cols:     []string{"org_id", "integration_id", "project_id", "mr_iid", "sha", "position", "updated_at", "content_hash", "ingested_at"},
			set:      map[string]string{"ingested_at": "merge_request_commits.ingested_at"},
			where:    "excluded.position <> merge_request_commits.position",
		}
		rows := make([]keyedRow, 0, len(cs))
		for _, c := range cs {
			pid, err := u.project(ctx, c.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			c.SHA = strings.ToLower(c.SHA)
			rows = append(rows, keyedRow{feedKey: fmt.Sprintf("%d:%s", c.MergeRequestIID, c.SHA), projectID: pid, updatedAt: u.now,
				values: []any{u.orgID, u.integ, pid, c.MergeRequestIID, c.SHA, c.Position, u.now, contentHash(c), u.now}})
		}
		return u.keyed(ctx, spec, rows)
	})
}
