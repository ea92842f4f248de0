package store

import (
	"context"
	"fmt"
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
	// EnvironmentTier is the tier as stored; empty when GitLab gave none
	// (before 13.10) and the tier was guessed from the name.
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
	// MergedMergeRequests counts merged merge requests.
	MergedMergeRequests int64
	// Incidents counts issues that are incidents.
	Incidents int64
}

// doraTierSQL is the tier of deployment d: its stored tier, or, when none
// was stored, GitLab's guess from the environment name. It says what
// dora.GuessTier says (a store test keeps them in step): each rule is a
// case-insensitive substring match, first match wins. None of the parts
// holds a LIKE wildcard.
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
	where, args := doraWhere("d", orgID, q)
	args = append(args, q.Tier, q.From.UTC(), q.To.UTC())
	n := len(args)
	where = append(where, "d.status = 'success'", doraTierIs(n-2),
		fmt.Sprintf("d.finished_at >= $%d", n-1), fmt.Sprintf("d.finished_at < $%d", n))
	rows, err := s.rdb.QueryContext(ctx, `SELECT d.gitlab_id, COALESCE(d.iid, 0), p.gitlab_id, p.path_with_namespace, d.environment_name,
		d.environment_tier, d.ref, d.sha, d.finished_at
		FROM deployments d JOIN projects p ON p.id = d.project_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY d.finished_at, d.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list deployments for DORA: %w", err)
	}
	defer rows.Close()
	var out []DoraDeployment
	for rows.Next() {
		var d DoraDeployment
		if err := rows.Scan(&d.GitLabID, &d.IID, &d.ProjectGitLabID, &d.ProjectPath, &d.EnvironmentName, &d.EnvironmentTier,
			&d.Ref, &d.SHA, &d.FinishedAt); err != nil {
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
func (s *Store) DoraChanges(ctx context.Context, orgID int64, q DoraQuery) ([]DoraChange, error) {
	where, args := doraWhere("d", orgID, q)
	args = append(args, q.Tier, q.To.UTC(), q.From.UTC())
	n := len(args)
	where = append(where, "d.status = 'success'", doraTierIs(n-2),
		"d.finished_at IS NOT NULL", fmt.Sprintf("d.finished_at < $%d", n-1))
	// The window runs over every earlier deployment of the ref, not only
	// those in the range: the one before the range bounds the merge
	// requests of the range's first deployment.
	query := `WITH d AS (
		SELECT d.id, d.gitlab_id, d.iid, d.project_id, d.ref, d.finished_at,
			LAG(d.finished_at) OVER (PARTITION BY d.project_id, d.ref ORDER BY d.finished_at, d.id) AS prev_finished_at
		FROM deployments d JOIN projects p ON p.id = d.project_id
		WHERE ` + strings.Join(where, " AND ") + `)
	SELECT m.gitlab_id, m.iid, p.gitlab_id, p.path_with_namespace, m.target_branch, m.merged_at, d.gitlab_id, COALESCE(d.iid, 0), d.finished_at
	FROM d
	JOIN merge_requests m ON m.project_id = d.project_id AND m.target_branch = d.ref
	JOIN projects p ON p.id = d.project_id
	WHERE m.org_id = $1 AND m.state = 'merged' AND m.merged_at IS NOT NULL
		AND m.merged_at <= d.finished_at AND (d.prev_finished_at IS NULL OR m.merged_at > d.prev_finished_at)
		AND d.finished_at >= $` + fmt.Sprint(n) + `
	ORDER BY d.finished_at, d.id, m.merged_at, m.id`
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list merge requests for DORA: %w", err)
	}
	defer rows.Close()
	var out []DoraChange
	for rows.Next() {
		var c DoraChange
		if err := rows.Scan(&c.GitLabID, &c.IID, &c.ProjectGitLabID, &c.ProjectPath, &c.TargetBranch, &c.MergedAt,
			&c.DeploymentID, &c.DeploymentIID, &c.DeployedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list merge requests for DORA: %w", err)
		}
		c.MergedAt, c.DeployedAt = c.MergedAt.UTC(), c.DeployedAt.UTC()
		out = append(out, c)
	}
	return out, rows.Err()
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

// DoraCoverage counts the data behind DORA figures of q's integration (and
// project) over all time and tiers; q's range and tier are ignored.
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
	where, args = doraWhere("m", orgID, q)
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM merge_requests m JOIN projects p ON p.id = m.project_id
		WHERE `+strings.Join(where, " AND ")+` AND m.state = 'merged'`, args...).Scan(&c.MergedMergeRequests); err != nil {
		return c, fmt.Errorf("store: unable to count merge requests for DORA: %w", err)
	}
	where, args = doraWhere("i", orgID, q)
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM issues i JOIN projects p ON p.id = i.project_id
		WHERE `+strings.Join(where, " AND ")+` AND `+doraIncidentSQL, args...).Scan(&c.Incidents); err != nil {
		return c, fmt.Errorf("store: unable to count incidents for DORA: %w", err)
	}
	return c, nil
}
