package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// purgeBatch bounds the rows one purge transaction deletes, so a large
// purge never holds SQLite's single writer (and webhook intake) for long.
const purgeBatch = 5000

// derivedTables are the tables whose rows are data derived from an
// integration, children before parents. Purging deletes them all; the
// integration row stays as a tombstone with its purge record, and the
// audit log stays.
var derivedTables = []struct {
	name  string
	keyed bool // has an id column to batch on
}{
	{"notes", true},
	{"approvals", true},
	{"merge_request_commits", true},
	{"jobs", true},
	{"deployments", true},
	{"environments", true},
	{"releases", true},
	{"tags", true},
	{"people", true},
	{"merge_requests", true},
	{"issues", true},
	{"pipelines", true},
	{"pushes", true},
	{"commits", true},
	{"events", true},
	{"webhook_inbox", true},
	{"sync_progress", false},
	{"sync_runs", true},
	{"projects", true},
	{"gitlab_groups", true},
	{"sync_selections", false},
	{"sync_state", false},
	{"webhook_registrations", false},
	{"repository_mirrors", false},
	{"webhook_endpoints", false},
	{"credentials", true},
	{"oauth_states", true},
}

// PurgeCounts is how many rows a purge deleted, per table.
type PurgeCounts map[string]int64

// Total is the number of rows deleted.
func (c PurgeCounts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// PurgeIntegration hard-deletes every row derived from org's disconnected
// integration id, in bounded batches, then records the purge as done. It
// refuses an integration that is not disconnected. Running it again is
// harmless: it deletes what is left and records the time again.
func (s *Store) PurgeIntegration(ctx context.Context, orgID, id int64) (PurgeCounts, error) {
	var status string
	err := s.db.QueryRowContext(ctx, `SELECT status FROM integrations WHERE org_id = $1 AND id = $2`, orgID, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to read integration %d for its purge: %w", id, err)
	}
	if status != StatusDisconnected {
		return nil, fmt.Errorf("store: integration %d is %s, not disconnected: refusing to purge it", id, status)
	}
	counts := PurgeCounts{}
	for _, t := range derivedTables {
		q := `DELETE FROM ` + t.name + ` WHERE org_id = $1 AND integration_id = $2`
		if t.keyed {
			q = `DELETE FROM ` + t.name + ` WHERE id IN (SELECT id FROM ` + t.name +
				` WHERE org_id = $1 AND integration_id = $2 LIMIT ` + fmt.Sprint(purgeBatch) + `)`
		}
		for {
			if err := ctx.Err(); err != nil {
				return counts, err
			}
			res, err := s.db.ExecContext(ctx, q, orgID, id)
			if err != nil {
				return counts, fmt.Errorf("store: unable to purge %s of integration %d: %w", t.name, id, err)
			}
			n, _ := res.RowsAffected()
			counts[t.name] += n
			if !t.keyed || n < purgeBatch {
				break
			}
		}
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE integrations SET purged_at = $1, purge_error = '', purge_attempts = purge_attempts + 1,
		webhook_hook_id = NULL WHERE org_id = $2 AND id = $3`, s.Now(), orgID, id); err != nil {
		return counts, fmt.Errorf("store: unable to record the purge of integration %d: %w", id, err)
	}
	return counts, nil
}

// RecordPurgeFailure notes a failed purge attempt so it is visible on the
// integration and retried.
func (s *Store) RecordPurgeFailure(ctx context.Context, orgID, id int64, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE integrations SET purge_attempts = purge_attempts + 1, purge_error = $1
		WHERE org_id = $2 AND id = $3`, reason, orgID, id)
	if err != nil {
		return fmt.Errorf("store: unable to record a failed purge: %w", err)
	}
	return nil
}

// PendingPurge is a disconnected integration whose data is not purged yet.
type PendingPurge struct {
	OrgID, IntegrationID int64
	Deadline             time.Time
}

// PendingPurges lists, across organisations, every disconnected
// integration whose data is not purged yet, most urgent first. Callers
// must keep each purge scoped to its OrgID.
func (s *Store) PendingPurges(ctx context.Context) ([]PendingPurge, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT org_id, id, purge_deadline FROM integrations
		WHERE status = $1 AND purged_at IS NULL AND purge_deadline IS NOT NULL ORDER BY purge_deadline, id`, StatusDisconnected)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list pending purges: %w", err)
	}
	defer rows.Close()
	var out []PendingPurge
	for rows.Next() {
		var p PendingPurge
		if err := rows.Scan(&p.OrgID, &p.IntegrationID, &p.Deadline); err != nil {
			return nil, fmt.Errorf("store: unable to list pending purges: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DerivedRows counts the rows derived from org's integration id that a
// purge deletes (tests and the integration page use it).
func (s *Store) DerivedRows(ctx context.Context, orgID, id int64) (PurgeCounts, error) {
	counts := PurgeCounts{}
	for _, t := range derivedTables {
		var n int64
		if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name+` WHERE org_id = $1 AND integration_id = $2`,
			orgID, id).Scan(&n); err != nil {
			return nil, fmt.Errorf("store: unable to count %s: %w", t.name, err)
		}
		if n > 0 {
			counts[t.name] = n
		}
	}
	return counts, nil
}
