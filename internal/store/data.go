package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Tx is a transaction the normalising upserts may join; nil means they
// open their own.
type Tx = *sql.Tx

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// DataQuery filters the ingested data of an organisation. Results are
// ordered by labsync's row id; AfterID is the cursor. With NewestFirst they
// are ordered by their time instead (updated_at; pushed_at for pushes),
// newest first, then by row id descending; Before is then the cursor.
type DataQuery struct {
	IntegrationID   int64
	ProjectGitLabID int64
	// ProjectPath keeps the rows of the project with this full path
	// (group/subgroup/project), compared without regard to case as GitLab
	// resolves paths.
	ProjectPath string
	NewestFirst bool
	Before      *DataCursor
	// State filters merge requests and issues (opened, closed, merged,
	// locked) and pipelines (success, failed, …); pushes ignore it.
	State        string
	UpdatedAfter time.Time
	// MergeRequestIID keeps notes and approvals of that merge request (of
	// ProjectGitLabID or ProjectPath; other lists ignore it).
	MergeRequestIID int64
	// PipelineGitLabID keeps the jobs of that pipeline.
	PipelineGitLabID int64
	// Environment keeps deployments to, and environments of, that name;
	// Tier those of that tier (production, staging, …).
	Environment string
	Tier        string
	AfterID     int64
	Limit       int
}

// DataCursor is where a newest-first page ended: the time and row id of
// its last row.
type DataCursor struct {
	At time.Time
	ID int64
}

type listQuery struct {
	table  string
	where  []string
	args   []any
	limit  int
	newest bool
}

// timeColumn is the column a newest-first list of table is ordered by.
func timeColumn(table string) string {
	if table == "pushes" {
		return "x.pushed_at"
	}
	return "x.updated_at"
}

func newListQuery(table string, orgID int64, q DataQuery) *listQuery {
	lq := &listQuery{table: table, where: []string{"x.org_id = $1"}, args: []any{orgID}}
	add := func(cond string, v any) {
		lq.args = append(lq.args, v)
		lq.where = append(lq.where, fmt.Sprintf(cond, len(lq.args)))
	}
	if q.IntegrationID != 0 {
		add("x.integration_id = $%d", q.IntegrationID)
	}
	if q.ProjectGitLabID != 0 {
		add("p.gitlab_id = $%d", q.ProjectGitLabID)
	}
	if q.ProjectPath != "" {
		add("LOWER(p.path_with_namespace) = $%d", strings.ToLower(q.ProjectPath))
	}
	if q.State != "" {
		col := "x.state"
		switch table {
		case "pipelines", "jobs", "deployments":
			col = "x.status"
		case "pushes", "notes", "approvals", "releases", "tags":
			col = ""
		}
		if col != "" {
			add(col+" = $%d", q.State)
		}
	}
	if q.MergeRequestIID != 0 {
		switch table {
		case "notes":
			lq.where = append(lq.where, "x.noteable_type = 'MergeRequest'")
			add("x.noteable_iid = $%d", q.MergeRequestIID)
		case "approvals":
			add("x.mr_iid = $%d", q.MergeRequestIID)
		}
	}
	if q.PipelineGitLabID != 0 && table == "jobs" {
		add("x.pipeline_gitlab_id = $%d", q.PipelineGitLabID)
	}
	if q.Environment != "" {
		switch table {
		case "deployments":
			add("x.environment_name = $%d", q.Environment)
		case "environments":
			add("x.name = $%d", q.Environment)
		}
	}
	if q.Tier != "" {
		switch table {
		case "deployments":
			add("x.environment_tier = $%d", q.Tier)
		case "environments":
			add("x.tier = $%d", q.Tier)
		}
	}
	if !q.UpdatedAfter.IsZero() {
		col := "x.updated_at"
		if table == "pushes" {
			col = "x.pushed_at"
		}
		add(col+" >= $%d", q.UpdatedAfter.UTC())
	}
	if q.AfterID > 0 {
		add("x.id > $%d", q.AfterID)
	}
	if lq.newest = q.NewestFirst; lq.newest && q.Before != nil {
		col := timeColumn(table)
		lq.args = append(lq.args, q.Before.At.UTC(), q.Before.ID)
		n := len(lq.args)
		lq.where = append(lq.where, fmt.Sprintf("(%s < $%d OR (%s = $%d AND x.id < $%d))", col, n-1, col, n-1, n))
	}
	lq.limit = q.Limit
	if lq.limit <= 0 || lq.limit > 500 {
		lq.limit = 100
	}
	return lq
}

func (lq *listQuery) sql(cols string) string {
	order := "x.id"
	if lq.newest {
		order = timeColumn(lq.table) + " DESC, x.id DESC"
	}
	return fmt.Sprintf(`SELECT %s FROM %s x JOIN projects p ON p.id = x.project_id WHERE %s ORDER BY %s LIMIT %d`,
		cols, lq.table, strings.Join(lq.where, " AND "), order, lq.limit)
}
