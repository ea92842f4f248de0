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
// ordered by labsync's row id; AfterID is the cursor.
type DataQuery struct {
	IntegrationID   int64
	ProjectGitLabID int64
	// State filters merge requests and issues (opened, closed, merged,
	// locked) and pipelines (success, failed, …); pushes ignore it.
	State        string
	UpdatedAfter time.Time
	AfterID      int64
	Limit        int
}

type listQuery struct {
	table string
	where []string
	args  []any
	limit int
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
	if q.State != "" {
		col := "x.state"
		switch table {
		case "pipelines":
			col = "x.status"
		case "pushes":
			col = ""
		}
		if col != "" {
			add(col+" = $%d", q.State)
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
	lq.limit = q.Limit
	if lq.limit <= 0 || lq.limit > 500 {
		lq.limit = 100
	}
	return lq
}

func (lq *listQuery) sql(cols string) string {
	return fmt.Sprintf(`SELECT %s FROM %s x JOIN projects p ON p.id = x.project_id WHERE %s ORDER BY x.id LIMIT %d`,
		cols, lq.table, strings.Join(lq.where, " AND "), lq.limit)
}
