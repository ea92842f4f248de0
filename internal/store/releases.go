package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Release is a normalised GitLab release, one per tag of a project.
// UpdatedAt orders changes: ReleasedAt or CreatedAt, or the webhook's time
// when later (GitLab's releases carry no updated_at).
type Release struct {
	ID              int64           `json:"-"`
	IntegrationID   int64           `json:"integration_id"`
	ProjectGitLabID int64           `json:"project_id"`
	ProjectPath     string          `json:"project_path,omitempty"`
	TagName         string          `json:"tag_name"`
	Name            string          `json:"name"`
	Description     string          `json:"description"`
	Author          string          `json:"author,omitempty"`
	CommitSHA       string          `json:"commit_sha"`
	Upcoming        bool            `json:"upcoming_release"`
	CreatedAt       *time.Time      `json:"created_at"`
	ReleasedAt      *time.Time      `json:"released_at,omitempty"`
	UpdatedAt       time.Time       `json:"updated_at"`
	Raw             json.RawMessage `json:"raw,omitempty"`
}

// UpsertReleases stores releases once per (project, tag name), a later
// UpdatedAt (or an equal one with other content) winning; the feed names
// them by tag name.
func (s *Store) UpsertReleases(ctx context.Context, tx Tx, orgID, integrationID int64, source string, rs []Release) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		spec := keyedSpec{table: "releases", entity: EntityRelease, conflict: []string{"project_id", "tag_name"},
			cols: []string{"org_id", "integration_id", "project_id", "tag_name", "name", "description", "author", "commit_sha", "upcoming",
				"created_at", "released_at", "updated_at", "raw", "content_hash", "ingested_at"},
			fillText: []string{"author"}}
		rows := make([]keyedRow, 0, len(rs))
		for _, r := range rs {
			pid, err := u.project(ctx, r.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			if r.UpdatedAt.IsZero() {
				r.UpdatedAt = JobUpdatedAt(r.CreatedAt, r.ReleasedAt)
			}
			if r.UpdatedAt.IsZero() {
				r.UpdatedAt = u.now
			}
			r.UpdatedAt = r.UpdatedAt.UTC()
			raw := r.Raw
			r.Raw, r.ID, r.ProjectPath = nil, 0, ""
			author := r.Author
			r.Author = "" // payloads carry none: out of the fingerprint
			rows = append(rows, keyedRow{feedKey: r.TagName, projectID: pid, updatedAt: r.UpdatedAt, values: []any{orgID, integrationID, pid,
				r.TagName, r.Name, r.Description, author, strings.ToLower(r.CommitSHA), r.Upcoming, utcPtr(r.CreatedAt), utcPtr(r.ReleasedAt),
				r.UpdatedAt, rawText(raw), contentHash(r), u.now}})
		}
		return u.keyed(ctx, spec, rows)
	})
}

// DeleteRelease deletes the release of a project's tag (GitLab's release
// hook with action "delete"), appending a "deleted" feed entry.
func (s *Store) DeleteRelease(ctx context.Context, tx Tx, orgID, integrationID int64, source string, projectGitLabID int64, tagName string) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		pid, err := u.project(ctx, projectGitLabID)
		if err != nil || pid == 0 {
			return err
		}
		return u.deleteRows(ctx, "releases", EntityRelease, "tag_name", "project_id = $3 AND tag_name = $4", pid, tagName)
	})
}

// Releases lists org's releases matching q, by id (or newest first).
func (s *Store) Releases(ctx context.Context, orgID int64, q DataQuery) ([]Release, error) {
	lq := newListQuery("releases", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.tag_name, x.name,
		x.description, x.author, x.commit_sha, x.upcoming, x.created_at, x.released_at, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list releases: %w", err)
	}
	defer rows.Close()
	out := []Release{}
	for rows.Next() {
		var r Release
		if err := rows.Scan(&r.ID, &r.IntegrationID, &r.ProjectGitLabID, &r.ProjectPath, &r.TagName, &r.Name, &r.Description, &r.Author,
			&r.CommitSHA, &r.Upcoming, &r.CreatedAt, &r.ReleasedAt, &r.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list releases: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Tag is a normalised Git tag of a project. CreatedAt is the annotated
// tag's time where GitLab gives one, else the push time of a tag that came
// from a Tag Push webhook, else nil; UpdatedAt is CreatedAt, or the target
// commit's time, or when labsync saw it. Protected is nil where unknown.
type Tag struct {
	ID              int64           `json:"-"`
	IntegrationID   int64           `json:"integration_id"`
	ProjectGitLabID int64           `json:"project_id"`
	ProjectPath     string          `json:"project_path,omitempty"`
	Name            string          `json:"name"`
	TargetSHA       string          `json:"target"`
	Message         string          `json:"message"`
	Protected       *bool           `json:"protected,omitempty"`
	CreatedAt       *time.Time      `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	Raw             json.RawMessage `json:"raw,omitempty"`
}

// UpsertTags stores tags once per (project, name): a tag moved to another
// commit (a later UpdatedAt, or other content) updates its row. The feed
// names them by tag name.
func (s *Store) UpsertTags(ctx context.Context, tx Tx, orgID, integrationID int64, source string, tags []Tag) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		spec := keyedSpec{table: "tags", entity: EntityTag, conflict: []string{"project_id", "name"},
			cols: []string{"org_id", "integration_id", "project_id", "name", "target_sha", "message", "protected", "created_at", "updated_at",
				"raw", "content_hash", "ingested_at"},
			// A tag push's time is when it was created; an API page later
			// without one keeps it, and keeps a known protected flag.
			set: map[string]string{"created_at": "COALESCE(excluded.created_at, tags.created_at)",
				"protected": "COALESCE(excluded.protected, tags.protected)"},
			// A tag changes when it moves or gains what a source lacked;
			// an API page without a time never counts as news by itself.
			where: `excluded.target_sha <> tags.target_sha OR excluded.message <> tags.message
				OR (excluded.created_at IS NOT NULL AND tags.created_at IS NULL)
				OR (excluded.protected IS NOT NULL AND (tags.protected IS NULL OR excluded.protected <> tags.protected))`}
		rows := make([]keyedRow, 0, len(tags))
		for _, t := range tags {
			pid, err := u.project(ctx, t.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			if t.UpdatedAt.IsZero() && t.CreatedAt != nil {
				t.UpdatedAt = *t.CreatedAt
			}
			if t.UpdatedAt.IsZero() {
				t.UpdatedAt = u.now
			}
			t.UpdatedAt = t.UpdatedAt.UTC()
			t.TargetSHA = strings.ToLower(t.TargetSHA)
			raw := t.Raw
			t.Raw, t.ID, t.ProjectPath = nil, 0, ""
			rows = append(rows, keyedRow{feedKey: t.Name, projectID: pid, updatedAt: t.UpdatedAt, values: []any{orgID, integrationID, pid,
				t.Name, t.TargetSHA, t.Message, t.Protected, utcPtr(t.CreatedAt), t.UpdatedAt, rawText(raw), contentHash(t), u.now}})
		}
		return u.keyed(ctx, spec, rows)
	})
}

// DeleteTag deletes a project's tag (a Tag Push whose after is all zeros),
// appending a "deleted" feed entry when it was stored.
func (s *Store) DeleteTag(ctx context.Context, tx Tx, orgID, integrationID int64, source string, projectGitLabID int64, name string) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		pid, err := u.project(ctx, projectGitLabID)
		if err != nil || pid == 0 {
			return err
		}
		return u.deleteRows(ctx, "tags", EntityTag, "name", "project_id = $3 AND name = $4", pid, name)
	})
}

// Tags lists org's tags matching q, by id (or newest first).
func (s *Store) Tags(ctx context.Context, orgID int64, q DataQuery) ([]Tag, error) {
	lq := newListQuery("tags", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.name, x.target_sha, x.message,
		x.protected, x.created_at, x.updated_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list tags: %w", err)
	}
	defer rows.Close()
	out := []Tag{}
	for rows.Next() {
		var t Tag
		if err := rows.Scan(&t.ID, &t.IntegrationID, &t.ProjectGitLabID, &t.ProjectPath, &t.Name, &t.TargetSHA, &t.Message, &t.Protected,
			&t.CreatedAt, &t.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list tags: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
