package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DoraQuery selects the rows behind DORA figures: one integration (or, with
// IntegrationID 0, all of the organisation's), one of its projects (by
// GitLab id) or all of them, one environment tier, and the time range
// [From, To).
type DoraQuery struct {
	IntegrationID   int64
	ProjectGitLabID int64
	// Tier is the environment tier deployments must have (production,
	// staging, testing, development, other).
	Tier     string
	From, To time.Time
}

// DoraDeployment is a successful deployment to an environment of the
// query's tier.
type DoraDeployment struct {
	GitLabID        int64
	IID             int64
	ProjectGitLabID int64
	ProjectPath     string
	EnvironmentName string
	// EnvironmentTier is the tier as stored, or GitLab's guess from the
	// environment's name for a row stored without one.
	EnvironmentTier string
	Ref, SHA        string
	FinishedAt      time.Time
}

// DoraChange is a merged merge request and the deployment that first
// shipped it: the first successful deployment of the same project, to an
// environment of the query's tier, whose ref is the merge request's target
// branch and that finished at or after the merge.
type DoraChange struct {
	GitLabID        int64
	IID             int64
	ProjectGitLabID int64
	ProjectPath     string
	TargetBranch    string
	MergedAt        time.Time
	DeploymentID    int64 // GitLab's deployment id
	DeploymentIID   int64
	DeployedAt      time.Time
}

// DoraIncident is an incident: an issue whose type is incident (see
// doraIncidentSQL for versions without issue types).
type DoraIncident struct {
	GitLabID        int64
	IID             int64
	ProjectGitLabID int64
	ProjectPath     string
	Title           string
	WebURL          string
	CreatedAt       time.Time
	// ClosedAt is set for a closed incident.
	ClosedAt *time.Time
}

// DoraCoverage says what data exists for a query's integration and project
// whatever the range and tier, so that an empty report can say what is
// missing.
type DoraCoverage struct {
	// Deployments counts successful deployments by environment tier.
	Deployments map[string]int64
	// MergedMergeRequests is true when a merged merge request exists.
	MergedMergeRequests bool
	// Incidents is true when an issue that is an incident exists.
	Incidents bool
}

// doraTierSQL is the tier of deployment d: its stored tier, or, when none
// was stored, GitLab's guess from the environment name — the rules the
// normaliser applies when it stores a deployment (ingest.EnvironmentTier),
// here for rows stored without a tier; a dora test keeps the two in step.
// Each rule is a case-insensitive substring match, first match wins (the
// optional letters of GitLab's patterns, ac(ce|)pt and the like, spelled
// out). None of the parts holds a LIKE wildcard.
var doraTierSQL = func() string {
	rules := []struct {
		tier  string
		parts []string
	}{
		{"development", []string{"dev", "review", "trunk"}},
		{"testing", []string{"test", "tst", "int", "acpt", "accept", "qa", "qc", "control", "quality"}},
		{"staging", []string{"stg", "stag", "modl", "model", "pre", "demo", "non"}},
		{"production", []string{"prd", "prod", "live"}},
	}
	var b strings.Builder
	b.WriteString("CASE WHEN d.environment_tier <> '' THEN d.environment_tier")
	for _, r := range rules {
		b.WriteString(" WHEN ")
		for i, p := range r.parts {
			if i > 0 {
				b.WriteString(" OR ")
			}
			fmt.Fprintf(&b, "LOWER(d.environment_name) LIKE '%%%s%%'", p)
		}
		fmt.Fprintf(&b, " THEN '%s'", r.tier)
	}
	b.WriteString(" ELSE 'other' END")
	return b.String()
}()

// doraIncidentSQL is true for an issue i that is an incident. The
// normaliser (ingest) stores issue_type "incident" for GitLab's incident
// type (13.0+) and, for versions without a type, for an issue carrying the
// label "incident" (the label GitLab's incident management used).
const doraIncidentSQL = `i.issue_type = 'incident'`

// doraTierIs is the condition that deployment d has the tier of argument
// $n: the stored tier, or the guessed one where none is stored. The IN
// lets the deployments_environment index (org_id, environment_tier,
// finished_at) narrow the rows first.
func doraTierIs(n int) string {
	return fmt.Sprintf("d.environment_tier IN ($%[1]d, '') AND (%[2]s) = $%[1]d", n, doraTierSQL)
}

// doraWhere returns the conditions every DORA query shares for table alias
// x (and projects p), with their arguments starting at $1.
func doraWhere(x string, orgID int64, q DoraQuery) ([]string, []any) {
	where := []string{x + ".org_id = $1"}
	args := []any{orgID}
	if q.IntegrationID != 0 {
		args = append(args, q.IntegrationID)
		where = append(where, fmt.Sprintf("%s.integration_id = $%d", x, len(args)))
	}
	if q.ProjectGitLabID != 0 {
		args = append(args, q.ProjectGitLabID)
		where = append(where, fmt.Sprintf("p.gitlab_id = $%d", len(args)))
	}
	return where, args
}

// DoraDeployments lists the successful deployments of q's integration (and
// project) to environments of q.Tier that finished in [q.From, q.To),
// oldest first.
func (s *Store) DoraDeployments(ctx context.Context, orgID int64, q DoraQuery) ([]DoraDeployment, error) {
	rows, err := s.doraDeployments(ctx, orgID, q)
	if err != nil {
		return nil, err
	}
	out := make([]DoraDeployment, len(rows))
	for i, r := range rows {
		out[i] = r.DoraDeployment
	}
	return out, nil
}

// doraDeployment is a DoraDeployment with its row and project row ids.
type doraDeployment struct {
	DoraDeployment
	id, projectID int64
}

func (s *Store) doraDeployments(ctx context.Context, orgID int64, q DoraQuery) ([]doraDeployment, error) {
	where, args := doraWhere("d", orgID, q)
	args = append(args, q.Tier, q.From.UTC(), q.To.UTC())
	n := len(args)
	where = append(where, "d.status = 'success'", doraTierIs(n-2),
		fmt.Sprintf("d.finished_at >= $%d", n-1), fmt.Sprintf("d.finished_at < $%d", n))
	rows, err := s.rdb.QueryContext(ctx, `SELECT d.id, d.project_id, d.gitlab_id, COALESCE(d.iid, 0), p.gitlab_id, p.path_with_namespace,
		d.environment_name, `+doraTierSQL+`, d.ref, d.sha, d.finished_at
		FROM deployments d JOIN projects p ON p.id = d.project_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY d.finished_at, d.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list deployments for DORA: %w", err)
	}
	defer rows.Close()
	var out []doraDeployment
	for rows.Next() {
		var d doraDeployment
		if err := rows.Scan(&d.id, &d.projectID, &d.GitLabID, &d.IID, &d.ProjectGitLabID, &d.ProjectPath, &d.EnvironmentName,
			&d.EnvironmentTier, &d.Ref, &d.SHA, &d.FinishedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list deployments for DORA: %w", err)
		}
		d.FinishedAt = d.FinishedAt.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// DoraChanges lists the merged merge requests first deployed in
// [q.From, q.To), each with that deployment (see DoraChange), ordered by
// deployment then merge time.
//
// A merge request is first deployed by deployment d when d is a
// successful deployment of its project, to q.Tier, whose ref is its target
// branch, that finished at or after the merge, and the previous such
// deployment (same project and ref, ordered by finish time then id)
// finished before the merge. Before a project's first such deployment
// there is no previous one: every merge request merged into its ref until
// then counts, as in GitLab's fallback when a deployment has no
// predecessor.
//
// It reads the deployments of the range, then, per project and ref, the
// last such deployment before the range and the merge requests merged
// between it and the range's last deployment, and pairs them in one pass:
// the rows read grow with the range, not with the history (a join of every
// merge request with every deployment of its branch would not).
func (s *Store) DoraChanges(ctx context.Context, orgID int64, q DoraQuery) ([]DoraChange, error) {
	deps, err := s.doraDeployments(ctx, orgID, q)
	if err != nil {
		return nil, err
	}
	type key struct {
		project int64
		ref     string
	}
	groups := map[key][]doraDeployment{}
	var order []key
	for _, d := range deps {
		k := key{d.projectID, d.Ref}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], d) // oldest first, as deps
	}
	var out []DoraChange
	for _, k := range order {
		g := groups[k]
		var prev *time.Time
		if err := s.rdb.QueryRowContext(ctx, `SELECT d.finished_at FROM deployments d
			WHERE d.org_id = $1 AND d.project_id = $2 AND d.ref = $3 AND d.status = 'success' AND `+doraTierIs(4)+`
				AND d.finished_at < $5
			ORDER BY d.finished_at DESC, d.id DESC LIMIT 1`, orgID, k.project, k.ref, q.Tier, q.From.UTC()).Scan(&prev); err != nil && !isNoRows(err) {
			return nil, fmt.Errorf("store: unable to read the deployment before the range for DORA: %w", err)
		}
		args := []any{orgID, k.project, k.ref, g[len(g)-1].FinishedAt}
		since := ""
		if prev != nil {
			args = append(args, prev.UTC())
			since = " AND m.merged_at > $5"
		}
		rows, err := s.rdb.QueryContext(ctx, `SELECT m.gitlab_id, m.iid, m.merged_at FROM merge_requests m
			WHERE m.org_id = $1 AND m.project_id = $2 AND m.target_branch = $3 AND m.state = 'merged'
				AND m.merged_at IS NOT NULL AND m.merged_at <= $4`+since+`
			ORDER BY m.merged_at, m.id`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: unable to list merge requests for DORA: %w", err)
		}
		// Merge requests and deployments both come oldest first: each
		// merge request goes to the first deployment finished at or after
		// its merge.
		i := 0
		for rows.Next() {
			var c DoraChange
			if err := rows.Scan(&c.GitLabID, &c.IID, &c.MergedAt); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: unable to list merge requests for DORA: %w", err)
			}
			c.MergedAt = c.MergedAt.UTC()
			for g[i].FinishedAt.Before(c.MergedAt) {
				i++ // the query's bound keeps i within g
			}
			d := g[i]
			c.ProjectGitLabID, c.ProjectPath, c.TargetBranch = d.ProjectGitLabID, d.ProjectPath, d.Ref
			c.DeploymentID, c.DeploymentIID, c.DeployedAt = d.GitLabID, d.IID, d.FinishedAt
			out = append(out, c)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: unable to list merge requests for DORA: %w", err)
		}
	}
	slices.SortStableFunc(out, func(a, b DoraChange) int {
		if c := a.DeployedAt.Compare(b.DeployedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.DeploymentID, b.DeploymentID)
	})
	return out, nil
}

// DoraIncidents lists the incidents (see DoraIncident) of q's integration
// (and project) opened or closed in [q.From, q.To), oldest first. The
// tier does not select them: GitLab's incidents name no environment.
func (s *Store) DoraIncidents(ctx context.Context, orgID int64, q DoraQuery) ([]DoraIncident, error) {
	where, args := doraWhere("i", orgID, q)
	args = append(args, q.From.UTC(), q.To.UTC())
	n := len(args)
	where = append(where, doraIncidentSQL, fmt.Sprintf(`((i.created_at >= $%[1]d AND i.created_at < $%[2]d)
		OR (i.state = 'closed' AND i.closed_at >= $%[1]d AND i.closed_at < $%[2]d))`, n-1, n))
	rows, err := s.rdb.QueryContext(ctx, `SELECT i.gitlab_id, i.iid, p.gitlab_id, p.path_with_namespace, i.title, i.web_url,
		i.created_at, i.state, i.closed_at
		FROM issues i JOIN projects p ON p.id = i.project_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY i.created_at, i.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list incidents for DORA: %w", err)
	}
	defer rows.Close()
	var out []DoraIncident
	for rows.Next() {
		var in DoraIncident
		var created *time.Time
		var state string
		if err := rows.Scan(&in.GitLabID, &in.IID, &in.ProjectGitLabID, &in.ProjectPath, &in.Title, &in.WebURL,
			&created, &state, &in.ClosedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list incidents for DORA: %w", err)
		}
		if created == nil {
			continue // cannot be placed in time; the WHERE clause keeps none
		}
		in.CreatedAt = created.UTC()
		if state != "closed" {
			in.ClosedAt = nil // a reopened issue keeps no restore time
		}
		if in.ClosedAt != nil {
			t := in.ClosedAt.UTC()
			in.ClosedAt = &t
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// DoraCoverage says what data behind DORA figures exists for q's
// integration (and project) over all time and tiers; q's range and tier
// are ignored.
func (s *Store) DoraCoverage(ctx context.Context, orgID int64, q DoraQuery) (DoraCoverage, error) {
	c := DoraCoverage{Deployments: map[string]int64{}}
	where, args := doraWhere("d", orgID, q)
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+doraTierSQL+` AS tier, COUNT(*)
		FROM deployments d JOIN projects p ON p.id = d.project_id
		WHERE `+strings.Join(where, " AND ")+` AND d.status = 'success' GROUP BY 1`, args...)
	if err != nil {
		return c, fmt.Errorf("store: unable to count deployments for DORA: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tier string
		var n int64
		if err := rows.Scan(&tier, &n); err != nil {
			return c, fmt.Errorf("store: unable to count deployments for DORA: %w", err)
		}
		c.Deployments[tier] += n
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("store: unable to count deployments for DORA: %w", err)
	}
	// One row is enough to know that merge requests and incidents exist.
	exists := func(table, x, cond string, dst *bool) error {
		where, args := doraWhere(x, orgID, q)
		var n int64
		err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM `+table+` `+x+` JOIN projects p ON p.id = `+x+`.project_id
			WHERE `+strings.Join(where, " AND ")+` AND `+cond+` LIMIT 1) e`, args...).Scan(&n)
		*dst = n > 0
		return err
	}
	if err := exists("merge_requests", "m", "m.state = 'merged'", &c.MergedMergeRequests); err != nil {
		return c, fmt.Errorf("store: unable to look for merge requests for DORA: %w", err)
	}
	if err := exists("issues", "i", doraIncidentSQL, &c.Incidents); err != nil {
		return c, fmt.Errorf("store: unable to look for incidents for DORA: %w", err)
	}
	return c, nil
}
