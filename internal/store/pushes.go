package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Push is a normalised push to a branch or tag. Pushes are immutable: the
// same push from the events API, a webhook or a poll has the same Key and is
// stored once.
type Push struct {
	ID              int64  `json:"-"`
	IntegrationID   int64  `json:"integration_id"`
	ProjectGitLabID int64  `json:"project_id"`
	ProjectPath     string `json:"project_path,omitempty"`
	// Ref is the short branch or tag name ("main", not "refs/heads/main");
	// use ShortRef on a webhook's ref.
	Ref     string `json:"ref"`
	RefType string `json:"ref_type"`
	// BeforeSHA is empty for a new branch (GitLab's all-zero id);
	// AfterSHA is empty (all-zero) for a deleted one. Both are 40 or 64 hex.
	BeforeSHA   string          `json:"before_sha"`
	AfterSHA    string          `json:"after_sha"`
	Action      string          `json:"action"`
	Author      string          `json:"author"`
	CommitCount int64           `json:"commit_count"`
	CommitTitle string          `json:"commit_title"`
	PushedAt    time.Time       `json:"pushed_at"`
	Raw         json.RawMessage `json:"raw,omitempty"`
}

// Key identifies a push whatever its source: ref type, ref, before and
// after commit ids.
func (p Push) Key() string {
	return p.RefType + ":" + p.Ref + ":" + zeroToEmpty(p.BeforeSHA) + ":" + zeroToEmpty(p.AfterSHA)
}

func zeroToEmpty(sha string) string {
	if strings.Trim(sha, "0") == "" {
		return ""
	}
	return strings.ToLower(sha)
}

// ShortRef turns refs/heads/x into (x, branch) and refs/tags/x into (x, tag).
func ShortRef(ref string) (name, refType string) {
	if n, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return n, "branch"
	}
	if n, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return n, "tag"
	}
	return ref, "branch"
}

// UpsertPushes stores pushes once each (by Key), appending a feed entry for
// each new one and updating project last-seen.
func (s *Store) UpsertPushes(ctx context.Context, tx Tx, orgID, integrationID int64, source string, pushes []Push) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		cols := []string{"org_id", "integration_id", "project_id", "event_key", "ref", "ref_type", "before_sha", "after_sha", "action",
			"author", "commit_count", "commit_title", "pushed_at", "raw", "ingested_at"}
		var rows [][]any
		type meta struct {
			pid int64
			at  time.Time
		}
		metas := map[string]meta{}
		var order []string
		for _, p := range pushes {
			pid, err := u.project(ctx, p.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			if p.RefType == "" {
				p.RefType = "branch"
			}
			// The key is per integration; the project keeps equal pushes
			// to forks apart.
			key := fmt.Sprintf("%d:%s", p.ProjectGitLabID, p.Key())
			if _, dup := metas[key]; dup {
				continue
			}
			metas[key] = meta{pid, p.PushedAt.UTC()}
			order = append(order, key)
			rows = append(rows, []any{orgID, integrationID, pid, key, p.Ref, p.RefType, zeroToEmpty(p.BeforeSHA), zeroToEmpty(p.AfterSHA),
				p.Action, p.Author, p.CommitCount, p.CommitTitle, p.PushedAt.UTC(), rawText(p.Raw), u.now})
		}
		got := map[string]int64{}
		if err := u.bulk(ctx, "pushes", cols, rows, `ON CONFLICT (integration_id, event_key) DO NOTHING RETURNING id, event_key`,
			func(rs *sql.Rows) error {
				var id int64
				var key string
				if err := rs.Scan(&id, &key); err != nil {
					return err
				}
				got[key] = id
				return nil
			}); err != nil {
			return err
		}
		var ps []pending
		for _, key := range order {
			if id, ok := got[key]; ok {
				m := metas[key]
				at := m.at
				ps = append(ps, pending{entity: EntityPush, entityID: id, projectID: m.pid, gitlabID: key, created: true, updatedAt: &at})
			}
		}
		return u.flush(ctx, ps)
	})
}

// Pushes lists org's pushes matching q (UpdatedAfter filters pushed_at), by id.
func (s *Store) Pushes(ctx context.Context, orgID int64, q DataQuery) ([]Push, error) {
	lq := newListQuery("pushes", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, lq.sql(`x.id, x.integration_id, p.gitlab_id, p.path_with_namespace, x.ref, x.ref_type, x.before_sha,
		x.after_sha, x.action, x.author, x.commit_count, x.commit_title, x.pushed_at`), lq.args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list pushes: %w", err)
	}
	defer rows.Close()
	out := []Push{}
	for rows.Next() {
		var p Push
		if err := rows.Scan(&p.ID, &p.IntegrationID, &p.ProjectGitLabID, &p.ProjectPath, &p.Ref, &p.RefType, &p.BeforeSHA, &p.AfterSHA,
			&p.Action, &p.Author, &p.CommitCount, &p.CommitTitle, &p.PushedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list pushes: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Commit is a normalised commit. SHA is 40 hex (SHA-1 repositories) or 64
// hex (SHA-256 repositories); nothing in labsync shortens or rejects either.
type Commit struct {
	ProjectGitLabID int64           `json:"project_id"`
	SHA             string          `json:"sha"`
	Title           string          `json:"title"`
	AuthorName      string          `json:"author_name"`
	AuthorEmail     string          `json:"author_email"`
	AuthoredAt      *time.Time      `json:"authored_at"`
	CommittedAt     *time.Time      `json:"committed_at"`
	ParentIDs       []string        `json:"parent_ids"`
	WebURL          string          `json:"web_url"`
	Raw             json.RawMessage `json:"-"`
}

// UpsertCommits stores commits once each per project (commits are
// immutable), appending a feed entry for each new one.
func (s *Store) UpsertCommits(ctx context.Context, tx Tx, orgID, integrationID int64, source string, commits []Commit) (UpsertResult, error) {
	return s.withUpsert(ctx, tx, orgID, integrationID, source, func(u *upsert) error {
		cols := []string{"org_id", "integration_id", "project_id", "sha", "title", "author_name", "author_email", "authored_at",
			"committed_at", "parent_ids", "web_url", "raw", "ingested_at"}
		type meta struct {
			pid int64
			at  *time.Time
		}
		metas := map[[2]any]meta{}
		var order [][2]any
		var rows [][]any
		for _, c := range commits {
			pid, err := u.project(ctx, c.ProjectGitLabID)
			if err != nil {
				return err
			}
			if pid == 0 {
				u.skipped++
				continue
			}
			sha := strings.ToLower(c.SHA)
			k := [2]any{pid, sha}
			if _, dup := metas[k]; dup {
				continue
			}
			metas[k] = meta{pid, utcTimePtr(c.CommittedAt)}
			order = append(order, k)
			rows = append(rows, []any{orgID, integrationID, pid, sha, c.Title, c.AuthorName, c.AuthorEmail, utcPtr(c.AuthoredAt),
				utcPtr(c.CommittedAt), jsonList(c.ParentIDs), c.WebURL, rawText(c.Raw), u.now})
		}
		got := map[[2]any]int64{}
		if err := u.bulk(ctx, "commits", cols, rows, `ON CONFLICT (project_id, sha) DO NOTHING RETURNING id, project_id, sha`,
			func(rs *sql.Rows) error {
				var id, pid int64
				var sha string
				if err := rs.Scan(&id, &pid, &sha); err != nil {
					return err
				}
				got[[2]any{pid, sha}] = id
				return nil
			}); err != nil {
			return err
		}
		var ps []pending
		for _, k := range order {
			if id, ok := got[k]; ok {
				m := metas[k]
				ps = append(ps, pending{entity: EntityCommit, entityID: id, projectID: m.pid, gitlabID: k[1].(string), created: true, updatedAt: m.at})
			}
		}
		return u.flush(ctx, ps)
	})
}

func utcTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// HasCommit reports whether a project (GitLab id) already has a commit.
func (s *Store) HasCommit(ctx context.Context, orgID, integrationID, projectGitLabID int64, sha string) (bool, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM commits c JOIN projects p ON p.id = c.project_id
		WHERE c.org_id = $1 AND c.integration_id = $2 AND p.gitlab_id = $3 AND c.sha = $4`,
		orgID, integrationID, projectGitLabID, strings.ToLower(sha)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: unable to look up commit: %w", err)
	}
	return n > 0, nil
}

// DataCounts counts an integration's stored rows per resource and project
// (GitLab id), for progress and comparisons.
type DataCounts struct {
	MergeRequests, Issues, Pipelines, Pushes, Commits int64
	// Issue 20.
	Notes, Approvals, MergeRequestCommits, Jobs, Environments, Deployments, Releases, Tags, People int64
}

// CountData counts org's rows of an integration, optionally for one project.
func (s *Store) CountData(ctx context.Context, orgID, integrationID int64) (DataCounts, error) {
	var c DataCounts
	for _, x := range []struct {
		table string
		dst   *int64
	}{{"merge_requests", &c.MergeRequests}, {"issues", &c.Issues}, {"pipelines", &c.Pipelines}, {"pushes", &c.Pushes}, {"commits", &c.Commits},
		{"notes", &c.Notes}, {"approvals", &c.Approvals}, {"merge_request_commits", &c.MergeRequestCommits}, {"jobs", &c.Jobs},
		{"environments", &c.Environments}, {"deployments", &c.Deployments}, {"releases", &c.Releases}, {"tags", &c.Tags},
		{"people", &c.People}} {
		if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+x.table+` WHERE org_id = $1 AND integration_id = $2`,
			orgID, integrationID).Scan(x.dst); err != nil {
			return c, fmt.Errorf("store: unable to count %s: %w", x.table, err)
		}
	}
	return c, nil
}
