package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Sources of a change, as the change feed records them.
const (
	SourceSync    = "sync"
	SourceWebhook = "webhook"
	SourcePoll    = "poll"
)

// Feed actions.
const (
	ActionCreated = "created"
	ActionUpdated = "updated"
	// ActionDeleted: the row is gone (an unapproval, a deleted tag or
	// release); EntityID names the row it was.
	ActionDeleted = "deleted"
)

// Entities of the change feed.
const (
	EntityMergeRequest = "merge_request"
	EntityIssue        = "issue"
	EntityPipeline     = "pipeline"
	EntityPush         = "push"
	EntityCommit       = "commit"
	// Issue 20: review and delivery data.
	EntityNote               = "note"
	EntityApproval           = "approval"
	EntityMergeRequestCommit = "merge_request_commit"
	EntityJob                = "job"
	EntityEnvironment        = "environment"
	EntityDeployment         = "deployment"
	EntityRelease            = "release"
	EntityTag                = "tag"
	EntityPerson             = "person"
)

// FeedEntry is one change: an entity created or updated, by whichever source
// saw it first. Entries are ordered by ID; a reader resumes after the last ID
// it processed (at-least-once: an entity changed twice appears twice).
type FeedEntry struct {
	ID            int64      `json:"id"`
	IntegrationID int64      `json:"integration_id"`
	ProjectID     *int64     `json:"project_id,omitempty"`
	Entity        string     `json:"entity"`
	EntityID      int64      `json:"entity_id"`
	GitLabID      string     `json:"gitlab_id"`
	Action        string     `json:"action"`
	Source        string     `json:"source"`
	UpdatedAt     *time.Time `json:"updated_at,omitempty"`
	OccurredAt    time.Time  `json:"occurred_at"`
}

// upsert carries one batch of normalising upserts: its transaction, the
// organisation and integration every row belongs to, the source, and the
// projects it touched (their last-seen time is updated at the end).
type upsert struct {
	s            *Store
	tx           *sql.Tx
	orgID, integ int64
	source       string
	now          time.Time
	projects     map[int64]int64 // GitLab project id -> projects.id (0: unknown)
	touched      map[int64]bool  // projects.id
	changed      map[int64]bool  // projects.id with a created or changed row
	Changed      int
	skipped      int
}

// withUpsert runs fn with an upsert batch inside tx, or inside a
// transaction of its own when tx is nil.
func (s *Store) withUpsert(ctx context.Context, tx *sql.Tx, orgID, integrationID int64, source string, fn func(u *upsert) error) (UpsertResult, error) {
	switch source {
	case SourceSync, SourceWebhook, SourcePoll:
	default:
		return UpsertResult{}, fmt.Errorf("store: unknown change source %q", source)
	}
	var res UpsertResult
	run := func(tx *sql.Tx) error {
		u := &upsert{s: s, tx: tx, orgID: orgID, integ: integrationID, source: source, now: s.Now(),
			projects: map[int64]int64{}, touched: map[int64]bool{}, changed: map[int64]bool{}}
		if s.dialect == Postgres {
			// Feed ids must become visible in order, or a reader that saw
			// id 10 would never see a later-committed 9: writers of the
			// feed take turns (SQLite has one writer anyway).
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7083263)`); err != nil {
				return fmt.Errorf("store: unable to lock the change feed: %w", err)
			}
		}
		if err := fn(u); err != nil {
			return err
		}
		if err := u.touchProjects(ctx); err != nil {
			return err
		}
		res = UpsertResult{Changed: u.Changed, SkippedUnknownProject: u.skipped}
		if source == SourcePoll && u.Changed > 0 {
			return s.markPollFoundChanges(ctx, tx, orgID, integrationID)
		}
		return nil
	}
	if tx != nil {
		return res, run(tx)
	}
	return res, s.InTx(ctx, run)
}

// UpsertResult says what a batch of upserts did.
type UpsertResult struct {
	// Changed counts rows created or updated (one feed entry each).
	Changed int
	// SkippedUnknownProject counts items whose project labsync has not
	// discovered for this integration; they are not stored.
	SkippedUnknownProject int
}

// project resolves a GitLab project id to the projects row of this
// integration, 0 when unknown.
func (u *upsert) project(ctx context.Context, gitlabID int64) (int64, error) {
	if id, ok := u.projects[gitlabID]; ok {
		return id, nil
	}
	var id int64
	err := u.tx.QueryRowContext(ctx, `SELECT id FROM projects WHERE org_id = $1 AND integration_id = $2 AND gitlab_id = $3`,
		u.orgID, u.integ, gitlabID).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: unable to resolve project %d: %w", gitlabID, err)
	}
	u.projects[gitlabID] = id
	return id, nil
}

func (u *upsert) touchProjects(ctx context.Context) error {
	for _, id := range u.projects {
		if id != 0 {
			u.touched[id] = true
		}
	}
	if len(u.touched) == 0 {
		return nil
	}
	q := `UPDATE projects SET last_seen_at = $1 WHERE org_id = $2 AND id = $3`
	if u.source == SourceWebhook {
		q = `UPDATE projects SET last_seen_at = $1, last_webhook_at = $1 WHERE org_id = $2 AND id = $3`
	}
	// In ascending id order, the order every writer of projects keeps.
	for _, id := range slices.Sorted(maps.Keys(u.touched)) {
		if _, err := u.tx.ExecContext(ctx, q, u.now, u.orgID, id); err != nil {
			return fmt.Errorf("store: unable to update project last-seen: %w", err)
		}
	}
	if u.source != SourcePoll {
		return nil
	}
	// A poll that changed a project's rows found changes its webhook had
	// not delivered (or not yet): that project is polled every minute for
	// a while, whatever the other projects' webhooks do.
	for _, id := range slices.Sorted(maps.Keys(u.changed)) {
		if _, err := u.tx.ExecContext(ctx, `UPDATE projects SET poll_found_changes_at = $1 WHERE org_id = $2 AND id = $3`,
			u.now, u.orgID, id); err != nil {
			return fmt.Errorf("store: unable to record the changes a poll found: %w", err)
		}
	}
	return nil
}

// Feed returns up to limit change-feed entries of org after the given id,
// oldest first; integrationID 0 means every integration.
func (s *Store) Feed(ctx context.Context, orgID, integrationID, after int64, limit int) ([]FeedEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	q := `SELECT id, integration_id, project_id, entity, entity_id, gitlab_id, action, source, updated_at, occurred_at
		FROM events WHERE org_id = $1 AND id > $2`
	args := []any{orgID, after}
	if integrationID != 0 {
		q += ` AND integration_id = $3`
		args = append(args, integrationID)
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read the change feed: %w", err)
	}
	defer rows.Close()
	out := []FeedEntry{}
	for rows.Next() {
		var e FeedEntry
		if err := rows.Scan(&e.ID, &e.IntegrationID, &e.ProjectID, &e.Entity, &e.EntityID, &e.GitLabID, &e.Action, &e.Source, &e.UpdatedAt, &e.OccurredAt); err != nil {
			return nil, fmt.Errorf("store: unable to read the change feed: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// contentHash fingerprints the normalised fields of a row, so an upsert
// with an equal updated_at but different content still counts as a change
// and an identical one does not.
func contentHash(v any) string {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

func jsonList(xs []string) string {
	if xs == nil {
		xs = []string{}
	}
	b, _ := json.Marshal(xs)
	return string(b)
}

func parseList(s string) []string {
	out := []string{}
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

func rawText(r json.RawMessage) any {
	if len(r) == 0 {
		return nil
	}
	// PostgreSQL's jsonb refuses NUL characters that JSON may escape.
	return strings.ReplaceAll(string(r), `\u0000`, "")
}

func utcPtr(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC()
}

// DataFingerprint hashes the normalised merge requests, issues, pipelines,
// pushes, commits and the review and delivery data of one integration (not raw JSON, row ids or ingest
// times), so two syncs of the same GitLab can be compared.
func (s *Store) DataFingerprint(ctx context.Context, orgID, integrationID int64) (string, error) {
	h := sha256.New()
	queries := []string{
		`SELECT p.gitlab_id, m.gitlab_id, m.iid, m.title, m.state, m.draft, m.author, m.assignees, m.reviewers, m.labels, m.source_branch,
			m.target_branch, m.detailed_merge_status, m.merge_status, m.merge_user, m.sha, m.merged_at, m.closed_at, m.created_at, m.updated_at
		 FROM merge_requests m JOIN projects p ON p.id = m.project_id WHERE m.org_id = $1 AND m.integration_id = $2 ORDER BY m.gitlab_id`,
		`SELECT p.gitlab_id, i.gitlab_id, i.iid, i.title, i.state, i.confidential, i.author, i.assignees, i.labels, i.closed_at, i.created_at, i.updated_at
		 FROM issues i JOIN projects p ON p.id = i.project_id WHERE i.org_id = $1 AND i.integration_id = $2 ORDER BY i.gitlab_id`,
		`SELECT p.gitlab_id, x.gitlab_id, x.status, x.ref, x.sha, x.source, x.duration_s, x.created_at, x.updated_at
		 FROM pipelines x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2 ORDER BY x.gitlab_id`,
		`SELECT p.gitlab_id, x.event_key, x.ref, x.ref_type, x.before_sha, x.after_sha, x.author, x.commit_count, x.pushed_at
		 FROM pushes x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2 ORDER BY p.gitlab_id, x.event_key`,
		`SELECT p.gitlab_id, c.sha, c.title, c.author_name, c.author_email, c.authored_at, c.committed_at, c.parent_ids
		 FROM commits c JOIN projects p ON p.id = c.project_id WHERE c.org_id = $1 AND c.integration_id = $2 ORDER BY p.gitlab_id, c.sha`,
		// Issue 20 (approval times and people's seen times depend on the
		// source and the clock; they are left out).
		`SELECT p.gitlab_id, x.gitlab_id, x.noteable_type, x.noteable_iid, x.discussion_id, x.author, x.body, x.system, x.resolvable,
			x.resolved, x.created_at, x.updated_at
		 FROM notes x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2 ORDER BY x.gitlab_id`,
		`SELECT p.gitlab_id, x.mr_iid, x.user_gitlab_id, x.username
		 FROM approvals x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2
		 ORDER BY p.gitlab_id, x.mr_iid, x.user_gitlab_id`,
		`SELECT p.gitlab_id, x.mr_iid, x.sha, x.position
		 FROM merge_request_commits x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2
		 ORDER BY p.gitlab_id, x.mr_iid, x.sha`,
		`SELECT p.gitlab_id, x.gitlab_id, x.pipeline_gitlab_id, x.name, x.stage, x.status, x.ref, x.sha, x.allow_failure, x.retried,
			x.duration_s, x.runner_gitlab_id, x.created_at, x.started_at, x.finished_at
		 FROM jobs x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2 ORDER BY x.gitlab_id`,
		`SELECT p.gitlab_id, x.gitlab_id, x.name, x.tier, x.state, x.external_url
		 FROM environments x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2 ORDER BY x.gitlab_id`,
		`SELECT p.gitlab_id, x.gitlab_id, x.iid, x.environment_name, x.environment_tier, x.status, x.ref, x.sha, x.created_at, x.finished_at,
			x.updated_at
		 FROM deployments x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2 ORDER BY x.gitlab_id`,
		`SELECT p.gitlab_id, x.tag_name, x.name, x.description, x.commit_sha, x.created_at, x.released_at
		 FROM releases x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2 ORDER BY p.gitlab_id, x.tag_name`,
		`SELECT p.gitlab_id, x.name, x.target_sha, x.message
		 FROM tags x JOIN projects p ON p.id = x.project_id WHERE x.org_id = $1 AND x.integration_id = $2 ORDER BY p.gitlab_id, x.name`,
		`SELECT x.gitlab_id, x.username, x.name, x.bot FROM people x WHERE x.org_id = $1 AND x.integration_id = $2 ORDER BY x.gitlab_id`,
	}
	for _, q := range queries {
		rows, err := s.rdb.QueryContext(ctx, q, orgID, integrationID)
		if err != nil {
			return "", fmt.Errorf("store: unable to fingerprint data: %w", err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", fmt.Errorf("store: unable to fingerprint data: %w", err)
			}
			for _, v := range vals {
				switch x := v.(type) {
				case time.Time:
					fmt.Fprintf(h, "%s|", x.UTC().Format(time.RFC3339Nano))
				case []byte:
					fmt.Fprintf(h, "%s|", x)
				case nil:
					fmt.Fprint(h, "∅|")
				case bool:
					fmt.Fprintf(h, "%t|", x)
				case int64:
					fmt.Fprintf(h, "%d|", x)
				default:
					fmt.Fprintf(h, "%v|", x)
				}
			}
			h.Write([]byte{'\n'})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return "", fmt.Errorf("store: unable to fingerprint data: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// bulk runs one multi-row INSERT of rows (each len(cols) values) with the
// given tail (ON CONFLICT … RETURNING …), calling scan for every returned
// row. Rows are sent in chunks that stay under both dialects' parameter limits.
func (u *upsert) bulk(ctx context.Context, table string, cols []string, rows [][]any, tail string, scan func(*sql.Rows) error) error {
	const maxParams = 30000
	per := max(1, maxParams/len(cols))
	sizes := make([]int, 0, len(rows)/per+1)
	if u.s.dialect == SQLite {
		// A few fixed shapes, each compiled once (stmtcache.go).
		sizes = batchSizes(len(rows), min(per, 100))
	} else {
		for n := len(rows); n > 0; n -= per {
			sizes = append(sizes, min(n, per))
		}
	}
	start := 0
	for _, size := range sizes {
		chunk := rows[start : start+size]
		start += size
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
		args := make([]any, 0, len(chunk)*len(cols))
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j := range r {
				if j > 0 {
					b.WriteString(", ")
				}
				if u.s.dialect == SQLite {
					// Plain ? binds by position; SQLite looks $N names up
					// one by one, which is quadratic in a long statement.
					b.WriteByte('?')
				} else {
					fmt.Fprintf(&b, "$%d", len(args)+1)
				}
				args = append(args, r[j])
			}
			b.WriteByte(')')
		}
		b.WriteString(" " + tail)
		rs, err := u.s.txQuery(ctx, u.tx, b.String(), args...)
		if err != nil {
			return fmt.Errorf("store: unable to save %s: %w", table, err)
		}
		for rs.Next() {
			if err := scan(rs); err != nil {
				rs.Close()
				return fmt.Errorf("store: unable to save %s: %w", table, err)
			}
		}
		err = rs.Err()
		rs.Close()
		if err != nil {
			return fmt.Errorf("store: unable to save %s: %w", table, err)
		}
	}
	return nil
}

// pending is a feed entry to append once the batch's rows are written.
type pending struct {
	entity    string
	entityID  int64
	projectID int64
	gitlabID  string
	created   bool
	// action overrides created/updated when set (ActionDeleted).
	action    string
	updatedAt *time.Time
}

// flush appends feed entries in one statement per chunk, in the order given.
func (u *upsert) flush(ctx context.Context, ps []pending) error {
	if len(ps) == 0 {
		return nil
	}
	cols := []string{"org_id", "integration_id", "entity", "entity_id", "action", "source", "occurred_at", "project_id", "gitlab_id", "updated_at"}
	rows := make([][]any, 0, len(ps))
	for _, p := range ps {
		action := ActionUpdated
		if p.created {
			action = ActionCreated
		}
		if p.action != "" {
			action = p.action
		}
		var upd any
		if p.updatedAt != nil {
			upd = p.updatedAt.UTC()
		}
		// A person belongs to the integration, not to a project.
		var project any
		if p.projectID != 0 {
			project = p.projectID
			u.touched[p.projectID] = true
			u.changed[p.projectID] = true
		}
		rows = append(rows, []any{u.orgID, u.integ, p.entity, p.entityID, action, u.source, u.now, project, p.gitlabID, upd})
		u.Changed++
	}
	return u.bulk(ctx, "events", cols, rows, "", func(*sql.Rows) error { return nil })
}

// resolve looks up the projects rows of the GitLab project ids in one query
// per unknown id (a page usually holds one project).
func (u *upsert) resolve(ctx context.Context, gitlabIDs []int64) error {
	for _, id := range gitlabIDs {
		if _, err := u.project(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// versionedRow is one row of a table whose rows carry GitLab's updated_at.
type versionedRow struct {
	gitlabID  int64
	projectID int64
	updatedAt time.Time
	values    []any // in the order of the cols given to versioned
}

// versioned upserts rows into table keyed by (integration_id, gitlab_id):
// a row changes only when the incoming updated_at is later, or equal with a
// different content_hash; each created or changed row gets a feed entry.
// cols must start with org_id, integration_id, project_id, gitlab_id and
// include updated_at and content_hash.
func (u *upsert) versioned(ctx context.Context, table, entity string, cols []string, in []versionedRow) error {
	// One statement cannot touch a row twice: keep the newest of duplicates.
	idx := map[int64]int{}
	var rows []versionedRow
	for _, r := range in {
		if i, ok := idx[r.gitlabID]; ok {
			if !r.updatedAt.Before(rows[i].updatedAt) {
				rows[i] = r
			}
			continue
		}
		idx[r.gitlabID] = len(rows)
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil
	}
	sets := make([]string, 0, len(cols))
	for _, c := range cols[2:] {
		if c != "gitlab_id" {
			sets = append(sets, c+" = excluded."+c)
		}
	}
	tail := fmt.Sprintf(`ON CONFLICT (integration_id, gitlab_id) DO UPDATE SET %s, version = %s.version + 1
		WHERE excluded.updated_at > %s.updated_at OR (excluded.updated_at = %s.updated_at AND excluded.content_hash <> %s.content_hash)
		RETURNING id, version, gitlab_id`, strings.Join(sets, ", "), table, table, table, table)
	vals := make([][]any, len(rows))
	for i, r := range rows {
		vals[i] = r.values
	}
	type res struct{ id, version int64 }
	got := map[int64]res{}
	if err := u.bulk(ctx, table, cols, vals, tail, func(rs *sql.Rows) error {
		var id, version, gid int64
		if err := rs.Scan(&id, &version, &gid); err != nil {
			return err
		}
		got[gid] = res{id, version}
		return nil
	}); err != nil {
		return err
	}
	var ps []pending
	for _, r := range rows {
		if x, ok := got[r.gitlabID]; ok {
			at := r.updatedAt
			ps = append(ps, pending{entity: entity, entityID: x.id, projectID: r.projectID, gitlabID: fmt.Sprint(r.gitlabID),
				created: x.version == 1, updatedAt: &at})
		}
	}
	return u.flush(ctx, ps)
}
