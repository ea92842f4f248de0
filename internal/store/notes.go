package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Note is a normalised GitLab note (a comment, or a system note GitLab
// writes itself: "approved this merge request", "changed the description").
// NoteableType is GitLab's: MergeRequest, Issue, Commit, Snippet, …;
// NoteableIID names the merge request or issue (nil for commit notes, whose
// commit is CommitID). Resolvable and Resolved come from discussions on
// merge requests (GitLab 9.x+ in the notes API; false where it gives none).
type Note struct {
	ID               int64           `json:"-"`
	IntegrationID    int64           `json:"integration_id"`
	ProjectGitLabID  int64           `json:"project_id"`
	ProjectPath      string          `json:"project_path,omitempty"`
	GitLabID         int64           `json:"id"`
	NoteableType     string          `json:"noteable_type"`
	NoteableGitLabID *int64          `json:"noteable_id,omitempty"`
	NoteableIID      *int64          `json:"noteable_iid,omitempty"`
	CommitID         string          `json:"commit_id,omitempty"`
	DiscussionID     string          `json:"discussion_id,omitempty"`
	AuthorGitLabID   *int64          `json:"author_id,omitempty"`
	Author           string          `json:"author"`
	Body             string          `json:"body"`
	System           bool            `json:"system"`
	Resolvable       bool            `json:"resolvable"`
	Resolved         bool            `json:"resolved"`
	ResolvedBy       string          `json:"resolved_by,omitempty"`
	ResolvedAt       *time.Time      `json:"resolved_at,omitempty"`
	CreatedAt        *time.Time      `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
	Raw              json.RawMessage `json:"raw,omitempty"`
}

// UpsertNotes stores notes with the guarantees of UpsertMergeRequests
// (idempotent, a later updated_at wins, one feed entry per real change).
func (s *Store) UpsertNotes(ctx context.Context, tx Tx, orgID, integrationID int64, source string, notes []Note) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		cols := []string{"org_id", "integration_id", "project_id", "gitlab_id", "noteable_type", "noteable_gitlab_id", "noteable_iid",
			"commit_id", "discussion_id", "author_gitlab_id", "author", "body", "system", "resolvable", "resolved", "resolved_by",
			"resolved_at", "created_at", "updated_at", "raw", "content_hash", "ingested_at"}
		spec := keyedSpec{table: "notes", entity: EntityNote, conflict: []string{"integration_id", "gitlab_id"}, cols: cols,
			fillText: []string{"author", "discussion_id", "resolved_by"}, fillNull: []string{"author_gitlab_id", "noteable_iid"},
			// A resolved note's resolver is kept when a payload names it
			// by id only; an unresolved note has none.
			set: map[string]string{"resolved_by": "CASE WHEN excluded.resolved AND excluded.resolved_by = '' THEN notes.resolved_by ELSE excluded.resolved_by END"}}
		rows := make([]keyedRow, 0, len(notes))
		for _, n := range notes {
			pid, err := u.project(ctx, n.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			n.UpdatedAt = n.UpdatedAt.UTC()
			raw := n.Raw
			n.Raw, n.ID, n.ProjectPath = nil, 0, ""
			values := []any{orgID, integrationID, pid, n.GitLabID, n.NoteableType, n.NoteableGitLabID, n.NoteableIID, n.CommitID,
				n.DiscussionID, n.AuthorGitLabID, n.Author, n.Body, n.System, n.Resolvable, n.Resolved, n.ResolvedBy, utcPtr(n.ResolvedAt),
				utcPtr(n.CreatedAt), n.UpdatedAt, rawText(raw), "", u.now}
			// What some sources lack stays out of the fingerprint.
			n.Author, n.AuthorGitLabID, n.DiscussionID, n.NoteableIID, n.ResolvedBy = "", nil, "", nil, ""
			values[20] = contentHash(n)
			rows = append(rows, keyedRow{feedKey: fmt.Sprint(n.GitLabID), projectID: pid, updatedAt: n.UpdatedAt, values: values})
		}
		return u.keyed(ctx, spec, rows)
	})
}

// Notes lists org's notes matching q, by id (or newest first).
func (s *Store) Notes(ctx context.Context, orgID int64, q DataQuery) ([]Note, error) {
	lq := newListQuery("notes", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.gitlab_id, x.noteable_type,
		x.noteable_gitlab_id, x.noteable_iid, x.commit_id, x.discussion_id, x.author_gitlab_id, x.author, x.body, x.system, x.resolvable,
		x.resolved, x.resolved_by, x.resolved_at, x.created_at, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list notes: %w", err)
	}
	defer rows.Close()
	out := []Note{}
	for rows.Next() {
		var n Note
		if err := rows.Scan(&n.ID, &n.IntegrationID, &n.ProjectGitLabID, &n.ProjectPath, &n.GitLabID, &n.NoteableType, &n.NoteableGitLabID,
			&n.NoteableIID, &n.CommitID, &n.DiscussionID, &n.AuthorGitLabID, &n.Author, &n.Body, &n.System, &n.Resolvable, &n.Resolved,
			&n.ResolvedBy, &n.ResolvedAt, &n.CreatedAt, &n.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list notes: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
