package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Progress statuses of one project's resource.
const (
	ProgressPending   = "pending"
	ProgressRunning   = "running"
	ProgressDone      = "done"
	ProgressForbidden = "forbidden" // GitLab answered 403: e.g. CI/CD disabled
	ProgressNotFound  = "not_found" // GitLab answered 404: gone or no access
	ProgressFailed    = "failed"
	// ProgressCIDisabled: the project has CI/CD disabled, so its pipelines
	// are skipped; not an error.
	ProgressCIDisabled = "ci_disabled"
)

// Progress is the checkpoint and counters of one (integration, project,
// resource) page chain. NextPage and PassHigh are written in the same
// transaction as the page's rows, so a restart resumes exactly there.
type Progress struct {
	IntegrationID   int64      `json:"-"`
	ProjectID       int64      `json:"-"`
	ProjectGitLabID int64      `json:"project_id"`
	ProjectPath     string     `json:"project_path"`
	ObjectFormat    string     `json:"object_format"`
	Resource        string     `json:"resource"`
	Mode            string     `json:"mode"`
	Status          string     `json:"status"`
	PagesDone       int64      `json:"pages_done"`
	ItemsDone       int64      `json:"items_done"`
	ItemsKnown      *int64     `json:"items_known,omitempty"`
	NextPage        string     `json:"-"`
	Watermark       *time.Time `json:"watermark,omitempty"`
	PassHigh        *time.Time `json:"-"`
	LastError       string     `json:"last_error,omitempty"`
	ErrorKind       string     `json:"error_kind,omitempty"`
	ErrorStatus     int        `json:"error_status,omitempty"`
	StartedAt       *time.Time `json:"started_at,omitempty"`
	FinishedAt      *time.Time `json:"finished_at,omitempty"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

const progressColumns = `sp.integration_id, sp.project_id, p.gitlab_id, p.path_with_namespace, p.object_format, sp.resource, sp.mode,
	sp.status, sp.pages_done, sp.items_done, sp.items_known, sp.next_page, sp.watermark, sp.pass_high, sp.last_error, sp.error_kind,
	sp.error_status, sp.started_at, sp.finished_at, sp.updated_at`

func scanProgress(row interface{ Scan(...any) error }) (Progress, error) {
	var p Progress
	err := row.Scan(&p.IntegrationID, &p.ProjectID, &p.ProjectGitLabID, &p.ProjectPath, &p.ObjectFormat, &p.Resource, &p.Mode, &p.Status,
		&p.PagesDone, &p.ItemsDone, &p.ItemsKnown, &p.NextPage, &p.Watermark, &p.PassHigh, &p.LastError, &p.ErrorKind, &p.ErrorStatus,
		&p.StartedAt, &p.FinishedAt, &p.UpdatedAt)
	return p, err
}

// EnsureProgress creates a pending backfill row for each (project,
// resource) that has none; existing rows keep their checkpoints.
func (s *Store) EnsureProgress(ctx context.Context, orgID, integrationID int64, projectIDs []int64, resources []string) error {
	now := s.Now()
	return s.InTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO sync_progress (org_id, integration_id, project_id, resource, status, mode, updated_at)
			SELECT org_id, integration_id, id, $1, $2, $3, $4 FROM projects WHERE org_id = $5 AND integration_id = $6 AND id = $7
			ON CONFLICT (integration_id, project_id, resource) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("store: unable to create progress: %w", err)
		}
		defer st.Close()
		for _, pid := range projectIDs {
			for _, r := range resources {
				if _, err := st.ExecContext(ctx, r, ProgressPending, "backfill", now, orgID, integrationID, pid); err != nil {
					return fmt.Errorf("store: unable to create progress: %w", err)
				}
			}
		}
		return nil
	})
}

// StartIncrementalPass puts finished rows of the given projects and
// resources back to pending for an incremental pass from their watermark.
// Rows still pending or running (a backfill) are left alone.
func (s *Store) StartIncrementalPass(ctx context.Context, orgID, integrationID int64, projectIDs []int64, resources []string) error {
	now := s.Now()
	return s.InTx(ctx, func(tx *sql.Tx) error {
		for _, pid := range projectIDs {
			for _, r := range resources {
				if _, err := tx.ExecContext(ctx, `UPDATE sync_progress SET status = $1, mode = $2, next_page = '', pages_done = 0, items_done = 0,
						items_known = NULL, pass_high = NULL, started_at = NULL, finished_at = NULL, updated_at = $3
					WHERE org_id = $4 AND integration_id = $5 AND project_id = $6 AND resource = $7 AND status NOT IN ($8, $9)`,
					ProgressPending, "incremental", now, orgID, integrationID, pid, r, ProgressPending, ProgressRunning); err != nil {
					return fmt.Errorf("store: unable to start incremental pass: %w", err)
				}
			}
		}
		return nil
	})
}

// ProgressRows lists an integration's progress rows; with unfinished, only
// those pending or running. Rows of projects no longer selected are left out.
func (s *Store) ProgressRows(ctx context.Context, orgID, integrationID int64, unfinished bool) ([]Progress, error) {
	q := `SELECT ` + progressColumns + ` FROM sync_progress sp JOIN projects p ON p.id = sp.project_id
		WHERE sp.org_id = $1 AND sp.integration_id = $2 AND p.selected = $3`
	args := []any{orgID, integrationID, true}
	if unfinished {
		q += ` AND sp.status IN ($4, $5)`
		args = append(args, ProgressPending, ProgressRunning)
	}
	rows, err := s.rdb.QueryContext(ctx, q+` ORDER BY p.path_with_namespace, sp.resource`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read progress: %w", err)
	}
	defer rows.Close()
	out := []Progress{}
	for rows.Next() {
		p, err := scanProgress(rows)
		if err != nil {
			return nil, fmt.Errorf("store: unable to read progress: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SaveProgress writes a row's checkpoint and counters, inside tx when it is
// non-nil (the transaction that stored the page's rows).
func (s *Store) SaveProgress(ctx context.Context, tx Tx, orgID int64, p Progress) error {
	q := `UPDATE sync_progress SET mode = $1, status = $2, pages_done = $3, items_done = $4, items_known = $5, next_page = $6,
			watermark = $7, pass_high = $8, last_error = $9, error_kind = $10, error_status = $11, started_at = $12, finished_at = $13,
			updated_at = $14
		WHERE org_id = $15 AND integration_id = $16 AND project_id = $17 AND resource = $18`
	args := []any{p.Mode, p.Status, p.PagesDone, p.ItemsDone, p.ItemsKnown, p.NextPage, utcPtr(p.Watermark), utcPtr(p.PassHigh),
		p.LastError, p.ErrorKind, p.ErrorStatus, utcPtr(p.StartedAt), utcPtr(p.FinishedAt), s.Now(), orgID, p.IntegrationID, p.ProjectID, p.Resource}
	var err error
	if tx != nil {
		_, err = tx.ExecContext(ctx, q, args...)
	} else {
		_, err = s.db.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return fmt.Errorf("store: unable to save progress: %w", err)
	}
	return nil
}

// Sync states of an integration.
const (
	SyncIdle    = "idle"
	SyncRunning = "running"
	SyncStopped = "stopped" // a problem only a person can fix (token)
)

// SyncState is an integration's sync run, lease and poll watermarks.
type SyncState struct {
	IntegrationID     int64      `json:"integration_id"`
	State             string     `json:"state"`
	Reason            string     `json:"reason,omitempty"`
	Concurrency       int        `json:"concurrency"`
	LeaseOwner        string     `json:"-"`
	LeaseUntil        *time.Time `json:"-"`
	StartedAt         *time.Time `json:"started_at,omitempty"`
	FinishedAt        *time.Time `json:"finished_at,omitempty"`
	DiscoveredAt      *time.Time `json:"discovered_at,omitempty"`
	MRWatermark       *time.Time `json:"-"`
	IssueWatermark    *time.Time `json:"-"`
	ActivityWatermark *time.Time `json:"-"`
	SweepOffset       int64      `json:"-"`
	Requests          int64      `json:"requests"`
	// SeesInstance says the credential saw the whole instance at the last
	// discovery (an administrator), and VisibleProjects how many projects
	// that discovery listed: the poller decides from them whether asking
	// instance-wide is cheaper than asking through the selection.
	SeesInstance    bool      `json:"sees_instance"`
	VisibleProjects int64     `json:"visible_projects"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// SyncStateFor returns an integration's sync state (idle when it never
// synced), or ErrNotFound when org has no such integration.
func (s *Store) SyncStateFor(ctx context.Context, orgID, integrationID int64) (SyncState, error) {
	st := SyncState{IntegrationID: integrationID, State: SyncIdle}
	err := s.db.QueryRowContext(ctx, `SELECT state, reason, concurrency, lease_owner, lease_until, started_at, finished_at, discovered_at,
			mr_watermark, issue_watermark, activity_watermark, sweep_offset, requests, updated_at, sees_instance, visible_projects
		FROM sync_state WHERE org_id = $1 AND integration_id = $2`, orgID, integrationID).Scan(&st.State, &st.Reason, &st.Concurrency,
		&st.LeaseOwner, &st.LeaseUntil, &st.StartedAt, &st.FinishedAt, &st.DiscoveredAt, &st.MRWatermark, &st.IssueWatermark,
		&st.ActivityWatermark, &st.SweepOffset, &st.Requests, &st.UpdatedAt, &st.SeesInstance, &st.VisibleProjects)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.Integration(ctx, orgID, integrationID); err != nil {
			return st, err
		}
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("store: unable to read sync state: %w", err)
	}
	return st, nil
}

// SaveSyncState writes an integration's sync state except its lease.
func (s *Store) SaveSyncState(ctx context.Context, orgID int64, st SyncState) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO sync_state (integration_id, org_id, state, reason, concurrency, started_at, finished_at,
			discovered_at, mr_watermark, issue_watermark, activity_watermark, sweep_offset, requests, updated_at, sees_instance, visible_projects)
		SELECT id, org_id, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $15, $16 FROM integrations WHERE id = $13 AND org_id = $14
		ON CONFLICT (integration_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, concurrency = excluded.concurrency,
			started_at = excluded.started_at, finished_at = excluded.finished_at, discovered_at = excluded.discovered_at,
			mr_watermark = excluded.mr_watermark, issue_watermark = excluded.issue_watermark,
			activity_watermark = excluded.activity_watermark, sweep_offset = excluded.sweep_offset, requests = excluded.requests,
			updated_at = excluded.updated_at, sees_instance = excluded.sees_instance, visible_projects = excluded.visible_projects`,
		st.State, st.Reason, st.Concurrency, utcPtr(st.StartedAt), utcPtr(st.FinishedAt), utcPtr(st.DiscoveredAt), utcPtr(st.MRWatermark),
		utcPtr(st.IssueWatermark), utcPtr(st.ActivityWatermark), st.SweepOffset, st.Requests, s.Now(), st.IntegrationID, orgID, st.SeesInstance, st.VisibleProjects)
	if err != nil {
		return fmt.Errorf("store: unable to save sync state: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// AcquireSyncLease makes owner the only worker of an integration's sync
// until ttl from now, unless another owner holds an unexpired lease. It
// reports whether owner holds the lease.
func (s *Store) AcquireSyncLease(ctx context.Context, orgID, integrationID int64, owner string, ttl time.Duration) (bool, error) {
	now := s.Now()
	var got int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO sync_state (integration_id, org_id, lease_owner, lease_until, updated_at)
		SELECT id, org_id, $1, $2, $3 FROM integrations WHERE id = $4 AND org_id = $5
		ON CONFLICT (integration_id) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
		WHERE sync_state.lease_owner = '' OR sync_state.lease_owner = excluded.lease_owner OR sync_state.lease_until IS NULL
			OR sync_state.lease_until < $3
		RETURNING integration_id`, owner, now.Add(ttl), now, integrationID, orgID).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: unable to take the sync lease: %w", err)
	}
	return true, nil
}

// ReleaseSyncLease gives up owner's lease.
func (s *Store) ReleaseSyncLease(ctx context.Context, orgID, integrationID int64, owner string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sync_state SET lease_owner = '', lease_until = NULL
		WHERE org_id = $1 AND integration_id = $2 AND lease_owner = $3`, orgID, integrationID, owner)
	if err != nil {
		return fmt.Errorf("store: unable to release the sync lease: %w", err)
	}
	return nil
}

// SyncStates lists every organisation's integrations with a sync state
// (for the periodic poll), as (org id, state) pairs.
func (s *Store) SyncStates(ctx context.Context) (map[int64]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT integration_id, org_id FROM sync_state`)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list sync states: %w", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var i, o int64
		if err := rows.Scan(&i, &o); err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, rows.Err()
}

// ResumeProgress puts rows left running (a crash) or failed back to
// pending, keeping their checkpoints, so the next run resumes them.
func (s *Store) ResumeProgress(ctx context.Context, orgID, integrationID int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sync_progress SET status = $1 WHERE org_id = $2 AND integration_id = $3 AND status IN ($4, $5)`,
		ProgressPending, orgID, integrationID, ProgressRunning, ProgressFailed)
	if err != nil {
		return fmt.Errorf("store: unable to resume progress: %w", err)
	}
	return nil
}

// RecentPushRefs lists the branches a project (GitLab id) was pushed to
// since a time, from the stored pushes.
func (s *Store) RecentPushRefs(ctx context.Context, orgID, integrationID, projectGitLabID int64, since time.Time) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT x.ref FROM pushes x JOIN projects p ON p.id = x.project_id
		WHERE x.org_id = $1 AND x.integration_id = $2 AND p.gitlab_id = $3 AND x.ref_type = $4 AND x.after_sha <> '' AND x.pushed_at >= $5
		ORDER BY x.ref`, orgID, integrationID, projectGitLabID, "branch", since.UTC())
	if err != nil {
		return nil, fmt.Errorf("store: unable to list pushed branches: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
