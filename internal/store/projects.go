package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Project is a GitLab project an integration's credential can see, as
// discovery last saw it, and whether the selection includes it.
type Project struct {
	ID                int64  `json:"-"`
	OrgID             int64  `json:"-"`
	IntegrationID     int64  `json:"integration_id"`
	GitLabID          int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	NamespacePath     string `json:"namespace_path"`
	Name              string `json:"name"`
	WebURL            string `json:"web_url"`
	DefaultBranch     string `json:"default_branch"`
	Visibility        string `json:"visibility"`
	Archived          bool   `json:"archived"`
	// ObjectFormat is sha1 or sha256 (repository_object_format, GitLab
	// 16.9); sha256 projects are ingested like the others.
	ObjectFormat   string     `json:"object_format"`
	CIEnabled      bool       `json:"ci_enabled"`
	Selected       bool       `json:"selected"`
	LastActivityAt *time.Time `json:"last_activity_at,omitempty"`
	LastSeenAt     *time.Time `json:"last_seen_at,omitempty"`
	LastWebhookAt  *time.Time `json:"last_webhook_at,omitempty"`
	// LastPollAt is when a poll last covered the project and FreshAsOf
	// the time its data is known complete up to (the start of that poll).
	LastPollAt *time.Time `json:"last_poll_at,omitempty"`
	FreshAsOf  *time.Time `json:"fresh_as_of,omitempty"`
	// PollFoundChangesAt is when a poll last changed its rows: changes its
	// webhook had not delivered.
	PollFoundChangesAt *time.Time `json:"poll_found_changes_at,omitempty"`
	// Gone is empty for a project that is there, or one of the Gone*
	// kinds, with GoneReason saying what labsync saw and GoneAt when.
	Gone       string     `json:"gone,omitempty"`
	GoneReason string     `json:"gone_reason,omitempty"`
	GoneAt     *time.Time `json:"gone_at,omitempty"`
	// PreviousPath is the path the project had before its last rename or
	// transfer (its rows stay: they are keyed by GitLab id, not path).
	PreviousPath  string     `json:"previous_path,omitempty"`
	PathChangedAt *time.Time `json:"path_changed_at,omitempty"`
	// DataPurgedAt is when the synced data of a gone project was deleted.
	DataPurgedAt *time.Time      `json:"data_purged_at,omitempty"`
	Raw          json.RawMessage `json:"-"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

const projectColumns = `id, org_id, integration_id, gitlab_id, path_with_namespace, namespace_path, name, web_url, default_branch,
	visibility, archived, object_format, ci_enabled, selected, last_activity_at, last_seen_at, last_webhook_at, updated_at,
	last_poll_at, fresh_as_of, poll_found_changes_at, gone, gone_reason, gone_at, previous_path, path_changed_at, data_purged_at`

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var p Project
	err := row.Scan(&p.ID, &p.OrgID, &p.IntegrationID, &p.GitLabID, &p.PathWithNamespace, &p.NamespacePath, &p.Name, &p.WebURL,
		&p.DefaultBranch, &p.Visibility, &p.Archived, &p.ObjectFormat, &p.CIEnabled, &p.Selected, &p.LastActivityAt, &p.LastSeenAt,
		&p.LastWebhookAt, &p.UpdatedAt, &p.LastPollAt, &p.FreshAsOf, &p.PollFoundChangesAt, &p.Gone, &p.GoneReason, &p.GoneAt,
		&p.PreviousPath, &p.PathChangedAt, &p.DataPurgedAt)
	return p, err
}

// UpsertDiscoveredProjects saves what discovery (or a webhook's project
// block) says about projects, in one transaction. It never changes whether
// a project is selected. A project seen again is no longer gone; one whose
// path changed (a rename or a transfer) keeps its rows and remembers its
// previous path.
func (s *Store) UpsertDiscoveredProjects(ctx context.Context, orgID, integrationID int64, ps []Project) error {
	if len(ps) == 0 {
		return nil
	}
	now := s.Now()
	return s.InTxRepeatable(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO projects (org_id, integration_id, gitlab_id, path_with_namespace, namespace_path, name,
				web_url, default_branch, visibility, archived, object_format, ci_enabled, last_activity_at, raw, updated_at, discovered_at)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15
			WHERE EXISTS (SELECT 1 FROM integrations WHERE id = $2 AND org_id = $1)
			ON CONFLICT (integration_id, gitlab_id) DO UPDATE SET
				previous_path = CASE WHEN projects.path_with_namespace <> excluded.path_with_namespace
					THEN projects.path_with_namespace ELSE projects.previous_path END,
				path_changed_at = CASE WHEN projects.path_with_namespace <> excluded.path_with_namespace
					THEN excluded.updated_at ELSE projects.path_changed_at END,
				gone = '', gone_reason = '', gone_at = NULL, data_purged_at = NULL,
				path_with_namespace = excluded.path_with_namespace,
				namespace_path = excluded.namespace_path, name = excluded.name, web_url = excluded.web_url,
				default_branch = excluded.default_branch, visibility = excluded.visibility, archived = excluded.archived,
				object_format = excluded.object_format, ci_enabled = excluded.ci_enabled,
				last_activity_at = excluded.last_activity_at, raw = excluded.raw, updated_at = excluded.updated_at,
				discovered_at = excluded.discovered_at`)
		if err != nil {
			return fmt.Errorf("store: unable to save projects: %w", err)
		}
		defer st.Close()
		for _, p := range ps {
			if p.ObjectFormat == "" {
				p.ObjectFormat = "sha1"
			}
			if _, err := st.ExecContext(ctx, orgID, integrationID, p.GitLabID, p.PathWithNamespace, p.NamespacePath, p.Name, p.WebURL,
				p.DefaultBranch, p.Visibility, p.Archived, p.ObjectFormat, p.CIEnabled, utcPtr(p.LastActivityAt), rawText(p.Raw), now); err != nil {
				return fmt.Errorf("store: unable to save project %s: %w", p.PathWithNamespace, err)
			}
		}
		return nil
	})
}

// ProjectQuery filters the discovery cache.
type ProjectQuery struct {
	// Search matches a substring of path_with_namespace or name, any case.
	Search   string
	Selected *bool
	Archived *bool
	// After is the cursor: the path_with_namespace and id of the last
	// project of the previous page.
	AfterPath string
	AfterID   int64
	Limit     int
}

// Projects pages org's discovered projects of an integration by path.
func (s *Store) Projects(ctx context.Context, orgID, integrationID int64, q ProjectQuery) ([]Project, error) {
	where := []string{`org_id = $1`, `integration_id = $2`}
	args := []any{orgID, integrationID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if q.Search != "" {
		add(`(LOWER(path_with_namespace) LIKE ? OR LOWER(name) LIKE ?)`, "%"+strings.ToLower(escapeLike(q.Search))+"%")
	}
	if q.Selected != nil {
		add(`selected = ?`, *q.Selected)
	}
	if q.Archived != nil {
		add(`archived = ?`, *q.Archived)
	}
	if q.AfterPath != "" || q.AfterID != 0 {
		args = append(args, q.AfterPath, q.AfterID)
		n := len(args)
		where = append(where, fmt.Sprintf(`(path_with_namespace > $%d OR (path_with_namespace = $%d AND id > $%d))`, n-1, n-1, n))
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY path_with_namespace, id LIMIT %d`, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list projects: %w", err)
	}
	defer rows.Close()
	out := []Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("store: unable to list projects: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func escapeLike(s string) string {
	return strings.NewReplacer(`%`, ``, `_`, ``).Replace(s)
}

// AllProjects lists every discovered project of an integration (for
// applying a selection), ordered by GitLab id.
func (s *Store) AllProjects(ctx context.Context, orgID, integrationID int64) ([]Project, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE org_id = $1 AND integration_id = $2 ORDER BY gitlab_id`,
		orgID, integrationID)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list projects: %w", err)
	}
	defer rows.Close()
	var out []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("store: unable to list projects: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ProjectByGitLabID returns one discovered project, or ErrNotFound.
func (s *Store) ProjectByGitLabID(ctx context.Context, orgID, integrationID, gitlabID int64) (Project, error) {
	p, err := scanProject(s.rdb.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects
		WHERE org_id = $1 AND integration_id = $2 AND gitlab_id = $3`, orgID, integrationID, gitlabID))
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, ErrNotFound
	}
	if err != nil {
		return Project{}, fmt.Errorf("store: unable to read project: %w", err)
	}
	return p, nil
}

// ProjectByPath returns the discovered project of an integration whose
// path_with_namespace is path (GitLab paths are matched as stored, case
// included), or ErrNotFound.
func (s *Store) ProjectByPath(ctx context.Context, orgID, integrationID int64, path string) (Project, error) {
	p, err := scanProject(s.rdb.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects
		WHERE org_id = $1 AND integration_id = $2 AND path_with_namespace = $3 ORDER BY id DESC LIMIT 1`, orgID, integrationID, path))
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, ErrNotFound
	}
	if err != nil {
		return Project{}, fmt.Errorf("store: unable to read project: %w", err)
	}
	return p, nil
}

// SetSelectedProjects marks exactly the given projects (projects.id) as
// selected and every other project of the integration as not selected. Only
// the rows whose state changes are written, in ascending id order, the
// order every writer of projects keeps (two runs applying a selection while
// a poll records what it saw must not deadlock).
func (s *Store) SetSelectedProjects(ctx context.Context, orgID, integrationID int64, ids []int64) error {
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	// On PostgreSQL the rows are locked as they are read, so that two
	// selections applied at once end as the later one; SQLite has one
	// writer, which does the same.
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR NO KEY UPDATE"
	}
	return s.InTxRepeatable(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, selected FROM projects WHERE org_id = $1 AND integration_id = $2 ORDER BY id`+lock,
			orgID, integrationID)
		if err != nil {
			return fmt.Errorf("store: unable to update selection: %w", err)
		}
		type change struct {
			id       int64
			selected bool
		}
		var changes []change
		for rows.Next() {
			var id int64
			var selected bool
			if err := rows.Scan(&id, &selected); err != nil {
				rows.Close()
				return fmt.Errorf("store: unable to update selection: %w", err)
			}
			if selected != want[id] {
				changes = append(changes, change{id, want[id]})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: unable to update selection: %w", err)
		}
		for _, c := range changes {
			if _, err := tx.ExecContext(ctx, `UPDATE projects SET selected = $1 WHERE org_id = $2 AND integration_id = $3 AND id = $4`,
				c.selected, orgID, integrationID, c.id); err != nil {
				return fmt.Errorf("store: unable to update selection: %w", err)
			}
		}
		return nil
	})
}

// Group is a GitLab group the credential can see.
type Group struct {
	GitLabID       int64   `json:"id"`
	ParentGitLabID *int64  `json:"parent_id"`
	FullPath       string  `json:"full_path"`
	Name           string  `json:"name"`
	WebURL         string  `json:"web_url"`
	Visibility     string  `json:"visibility"`
	Subgroups      []Group `json:"subgroups"`
}

// GroupTree nests groups under their parents, in Subgroups; groups whose
// parent the credential cannot see become roots.
func GroupTree(gs []Group) []Group {
	known := map[int64]bool{}
	children := map[int64][]Group{}
	for _, g := range gs {
		known[g.GitLabID] = true
	}
	var roots []Group
	for _, g := range gs {
		if g.ParentGitLabID != nil && known[*g.ParentGitLabID] {
			children[*g.ParentGitLabID] = append(children[*g.ParentGitLabID], g)
		} else {
			roots = append(roots, g)
		}
	}
	var build func(g Group, depth int) Group
	build = func(g Group, depth int) Group {
		g.Subgroups = []Group{}
		if depth > 20 { // GitLab nests at most 20 levels
			return g
		}
		for _, c := range children[g.GitLabID] {
			g.Subgroups = append(g.Subgroups, build(c, depth+1))
		}
		return g
	}
	out := make([]Group, 0, len(roots))
	for _, g := range roots {
		out = append(out, build(g, 0))
	}
	return out
}

// ReplaceGroups saves the groups discovery found, dropping those it no
// longer sees.
func (s *Store) ReplaceGroups(ctx context.Context, orgID, integrationID int64, gs []Group) error {
	now := s.Now()
	return s.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM gitlab_groups WHERE org_id = $1 AND integration_id = $2`, orgID, integrationID); err != nil {
			return fmt.Errorf("store: unable to save groups: %w", err)
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO gitlab_groups (org_id, integration_id, gitlab_id, parent_gitlab_id, full_path, name, web_url, visibility, updated_at)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM integrations WHERE id = $2 AND org_id = $1)
			ON CONFLICT (integration_id, gitlab_id) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("store: unable to save groups: %w", err)
		}
		defer st.Close()
		for _, g := range gs {
			if _, err := st.ExecContext(ctx, orgID, integrationID, g.GitLabID, g.ParentGitLabID, g.FullPath, g.Name, g.WebURL, g.Visibility, now); err != nil {
				return fmt.Errorf("store: unable to save group %s: %w", g.FullPath, err)
			}
		}
		return nil
	})
}

// Groups lists the integration's groups, flat, ordered by full path.
func (s *Store) Groups(ctx context.Context, orgID, integrationID int64) ([]Group, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT gitlab_id, parent_gitlab_id, full_path, name, web_url, visibility FROM gitlab_groups
		WHERE org_id = $1 AND integration_id = $2 ORDER BY full_path`, orgID, integrationID)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list groups: %w", err)
	}
	defer rows.Close()
	out := []Group{}
	for rows.Next() {
		var g Group
		if err := rows.Scan(&g.GitLabID, &g.ParentGitLabID, &g.FullPath, &g.Name, &g.WebURL, &g.Visibility); err != nil {
			return nil, fmt.Errorf("store: unable to list groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Services says which resources an integration syncs.
type Services struct {
	MergeRequests bool `json:"merge_requests"`
	Issues        bool `json:"issues"`
	Pipelines     bool `json:"pipelines"`
	Pushes        bool `json:"pushes"`
	// Repository keeps a bare Git mirror of every selected project and
	// serves it read-only (internal/mirror, internal/gitserve). Off unless
	// switched on: it costs disk and GitLab bandwidth.
	Repository bool `json:"repository"`
	// Issue 20. Reviews: merge request notes, approvals and commits. Jobs:
	// pipeline jobs. Deployments: deployments and environments. Releases:
	// releases and tags. On for new integrations; a selection stored
	// before these keys existed reads each absent key as on (SelectionFor
	// decodes the stored JSON over AllServices).
	Reviews     bool `json:"reviews"`
	Jobs        bool `json:"jobs"`
	Deployments bool `json:"deployments"`
	Releases    bool `json:"releases"`
}

// AllServices turns every service on except the repository mirrors, which
// are opt-in.
var AllServices = Services{MergeRequests: true, Issues: true, Pipelines: true, Pushes: true,
	Reviews: true, Jobs: true, Deployments: true, Releases: true}

// GroupSelection selects a group's projects; with AutoImport, also those
// created in it (or its subgroups) later.
type GroupSelection struct {
	GitLabID   int64 `json:"id"`
	AutoImport bool  `json:"auto_import"`
}

// Selection is what an integration syncs.
type Selection struct {
	// Projects are GitLab project ids selected one by one.
	Projects []int64          `json:"projects"`
	Groups   []GroupSelection `json:"groups"`
	// Exclusions are glob patterns on path_with_namespace (* within a path
	// segment, ** across segments) that win over everything else.
	Exclusions      []string  `json:"exclusions"`
	IncludeArchived bool      `json:"include_archived"`
	Services        Services  `json:"services"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// SaveSelection replaces an integration's selection.
func (s *Store) SaveSelection(ctx context.Context, orgID, integrationID int64, sel Selection) error {
	if sel.Projects == nil {
		sel.Projects = []int64{}
	}
	if sel.Groups == nil {
		sel.Groups = []GroupSelection{}
	}
	if sel.Exclusions == nil {
		sel.Exclusions = []string{}
	}
	p, _ := json.Marshal(sel.Projects)
	g, _ := json.Marshal(sel.Groups)
	e, _ := json.Marshal(sel.Exclusions)
	sv, _ := json.Marshal(sel.Services)
	res, err := s.db.ExecContext(ctx, `INSERT INTO sync_selections (integration_id, org_id, projects, groups, exclusions, include_archived, services, updated_at)
		SELECT id, org_id, $1, $2, $3, $4, $5, $6 FROM integrations WHERE id = $7 AND org_id = $8
		ON CONFLICT (integration_id) DO UPDATE SET projects = excluded.projects, groups = excluded.groups, exclusions = excluded.exclusions,
			include_archived = excluded.include_archived, services = excluded.services, updated_at = excluded.updated_at`,
		string(p), string(g), string(e), sel.IncludeArchived, string(sv), s.Now(), integrationID, orgID)
	if err != nil {
		return fmt.Errorf("store: unable to save selection: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SelectionFor returns an integration's selection; an integration without
// one selects nothing, with every service on. A service whose key is absent
// from the stored JSON (saved before the service existed) reads as its
// AllServices value: on, except the repository mirrors.
func (s *Store) SelectionFor(ctx context.Context, orgID, integrationID int64) (Selection, error) {
	var p, g, e, sv string
	sel := Selection{Services: AllServices}
	err := s.rdb.QueryRowContext(ctx, `SELECT projects, groups, exclusions, include_archived, services, updated_at FROM sync_selections
		WHERE org_id = $1 AND integration_id = $2`, orgID, integrationID).Scan(&p, &g, &e, &sel.IncludeArchived, &sv, &sel.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		sel.Projects, sel.Groups, sel.Exclusions = []int64{}, []GroupSelection{}, []string{}
		return sel, nil
	}
	if err != nil {
		return sel, fmt.Errorf("store: unable to read selection: %w", err)
	}
	json.Unmarshal([]byte(p), &sel.Projects)
	json.Unmarshal([]byte(g), &sel.Groups)
	json.Unmarshal([]byte(e), &sel.Exclusions)
	json.Unmarshal([]byte(sv), &sel.Services)
	return sel, nil
}
