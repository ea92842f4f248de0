package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Kinds of a gone project (Project.Gone).
const (
	// GoneNotFound: GitLab answers 404 on the project. It was deleted, or
	// the credential can no longer see it (GitLab answers 404 to both).
	GoneNotFound = "not_found"
	// GoneForbidden: GitLab answers 403 on the project: access revoked.
	GoneForbidden = "forbidden"
	// GoneNotMember: the project is still visible (public or internal)
	// but the credential's user is no longer a member, and the project was
	// not selected by id.
	GoneNotMember = "not_member"
)

// GoneProject is what discovery found about a project it no longer lists.
type GoneProject struct {
	GitLabID int64
	Gone     string
	Reason   string
}

// MarkProjectsGone records gone projects of org's integration and
// unselects them; a project already gone keeps the time it went.
func (s *Store) MarkProjectsGone(ctx context.Context, orgID, integrationID int64, gs []GoneProject) error {
	if len(gs) == 0 {
		return nil
	}
	now := s.Now()
	gs = slices.SortedFunc(slices.Values(gs), func(a, b GoneProject) int { return cmp.Compare(a.GitLabID, b.GitLabID) })
	return s.InTxRepeatable(ctx, func(tx *sql.Tx) error {
		for _, g := range gs {
			if _, err := tx.ExecContext(ctx, `UPDATE projects SET gone = $1, gone_reason = $2, selected = $3,
					gone_at = CASE WHEN gone = $1 AND gone_at IS NOT NULL THEN gone_at ELSE $4 END
				WHERE org_id = $5 AND integration_id = $6 AND gitlab_id = $7`,
				g.Gone, g.Reason, false, now, orgID, integrationID, g.GitLabID); err != nil {
				return fmt.Errorf("store: unable to mark project %d gone: %w", g.GitLabID, err)
			}
		}
		return nil
	})
}

// ForgetProjects deletes discovery-cache rows of org's integration that
// hold no synced data (never selected, or purged): a project the
// credential no longer sees and nobody selected leaves no trace.
func (s *Store) ForgetProjects(ctx context.Context, orgID, integrationID int64, gitlabIDs []int64) error {
	return s.InTxRepeatable(ctx, func(tx *sql.Tx) error {
		for _, id := range gitlabIDs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM projects WHERE org_id = $1 AND integration_id = $2 AND gitlab_id = $3
				AND NOT EXISTS (SELECT 1 FROM sync_progress sp WHERE sp.project_id = projects.id)
				AND NOT EXISTS (SELECT 1 FROM events e WHERE e.project_id = projects.id)`, orgID, integrationID, id); err != nil {
				return fmt.Errorf("store: unable to forget project %d: %w", id, err)
			}
		}
		return nil
	})
}

// MarkProjectsPolled records that a poll that started at start covered
// the given projects (projects.id) and finished without error: their data
// is fresh as of start.
func (s *Store) MarkProjectsPolled(ctx context.Context, orgID, integrationID int64, ids []int64, start time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	now := s.Now()
	ids = slices.Sorted(slices.Values(ids))
	return s.InTxRepeatable(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE projects SET last_poll_at = $1, fresh_as_of = $2
				WHERE org_id = $3 AND integration_id = $4 AND id = $5`, now, start.UTC(), orgID, integrationID, id); err != nil {
				return fmt.Errorf("store: unable to record a poll: %w", err)
			}
		}
		return nil
	})
}

// MarkProjectsFresh records that a backfill that started at start worked
// every chain of the given projects (projects.id) to the end: their data is
// fresh as of start, unless a poll or delivery already made it fresher. The
// last poll time is left as it is: no poll ran.
func (s *Store) MarkProjectsFresh(ctx context.Context, orgID, integrationID int64, ids []int64, start time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Sorted(slices.Values(ids))
	return s.InTxRepeatable(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE projects SET fresh_as_of = $1
				WHERE org_id = $2 AND integration_id = $3 AND id = $4 AND (fresh_as_of IS NULL OR fresh_as_of < $1)`,
				start.UTC(), orgID, integrationID, id); err != nil {
				return fmt.Errorf("store: unable to record a backfill: %w", err)
			}
		}
		return nil
	})
}

// SelectedOrGoneProjects lists the projects of org's integration that are
// selected or gone, ordered by path: what freshness and gone reasons are
// shown for. LastWebhookAt is the later of the last delivery that changed
// the project's rows and its last delivery in the webhook inbox (every
// authentic delivery is there, even one that changed nothing).
func (s *Store) SelectedOrGoneProjects(ctx context.Context, orgID, integrationID int64) ([]Project, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE org_id = $1 AND integration_id = $2
		AND (selected = $3 OR gone <> '') ORDER BY path_with_namespace, id`, orgID, integrationID, true)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: unable to list projects: %w", err)
	}
	rows.Close()
	for i, p := range out {
		var at time.Time
		err := s.rdb.QueryRowContext(ctx, `SELECT received_at FROM webhook_inbox WHERE integration_id = $1 AND project_gitlab_id = $2
			AND org_id = $3 ORDER BY received_at DESC LIMIT 1`, integrationID, p.GitLabID, orgID).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: unable to read a project's last delivery: %w", err)
		}
		if p.LastWebhookAt == nil || at.After(*p.LastWebhookAt) {
			at := at.UTC()
			out[i].LastWebhookAt = &at
		}
	}
	return out, nil
}

// SyncSettings are an integration's sync settings (issue 14), kept in
// the integrations table.
type SyncSettings struct {
	// RequestConcurrency bounds the simultaneous GitLab requests of the
	// integration's syncs; 0 takes the service default.
	RequestConcurrency int `json:"request_concurrency"`
	// HistorySince, when set, is the earliest date the backfill fetches
	// (merge requests, issues and pipelines updated after it, commits and
	// pushes after it).
	HistorySince *time.Time `json:"history_since,omitempty"`
	// KeepLostProjectData keeps the synced data of a project the
	// credential can no longer see instead of purging it.
	KeepLostProjectData bool `json:"keep_lost_project_data"`
}

// MaxRequestConcurrency bounds SyncSettings.RequestConcurrency.
const MaxRequestConcurrency = 64

// SyncSettingsFor returns org's integration's sync settings, or
// ErrNotFound.
func (s *Store) SyncSettingsFor(ctx context.Context, orgID, integrationID int64) (SyncSettings, error) {
	var st SyncSettings
	err := s.rdb.QueryRowContext(ctx, `SELECT request_concurrency, history_since, keep_lost_project_data FROM integrations
		WHERE org_id = $1 AND id = $2`, orgID, integrationID).Scan(&st.RequestConcurrency, &st.HistorySince, &st.KeepLostProjectData)
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrNotFound
	}
	if err != nil {
		return st, fmt.Errorf("store: unable to read integration settings: %w", err)
	}
	return st, nil
}

// SaveSyncSettings replaces org's integration's sync settings. It
// refuses a concurrency outside 0..MaxRequestConcurrency.
func (s *Store) SaveSyncSettings(ctx context.Context, orgID, integrationID int64, st SyncSettings) error {
	if st.RequestConcurrency < 0 || st.RequestConcurrency > MaxRequestConcurrency {
		return fmt.Errorf("store: request concurrency %d is outside 0..%d", st.RequestConcurrency, MaxRequestConcurrency)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE integrations SET request_concurrency = $1, history_since = $2, keep_lost_project_data = $3,
		updated_at = $4 WHERE org_id = $5 AND id = $6`, st.RequestConcurrency, utcPtr(st.HistorySince), st.KeepLostProjectData, s.Now(),
		orgID, integrationID)
	if err != nil {
		return fmt.Errorf("store: unable to save integration settings: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// LostProject is a gone project whose synced data is due for purging.
type LostProject struct {
	OrgID, IntegrationID, ProjectID, GitLabID int64
	GoneAt                                    time.Time
}

// LostProjectsToPurge lists, across organisations, the projects gone
// because the credential can no longer see them (not found, forbidden,
// not a member) at or before goneBefore whose data is not purged yet, of
// integrations that do not keep such data. Callers must keep each purge
// scoped to its OrgID.
func (s *Store) LostProjectsToPurge(ctx context.Context, goneBefore time.Time) ([]LostProject, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT p.org_id, p.integration_id, p.id, p.gitlab_id, p.gone_at FROM projects p
		JOIN integrations i ON i.id = p.integration_id AND i.org_id = p.org_id
		WHERE p.gone <> '' AND p.gone IN ($1, $2, $3) AND p.gone_at <= $4 AND p.data_purged_at IS NULL AND i.keep_lost_project_data = $5
		ORDER BY p.gone_at, p.id`, GoneNotFound, GoneForbidden, GoneNotMember, goneBefore.UTC(), false)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list lost projects: %w", err)
	}
	defer rows.Close()
	var out []LostProject
	for rows.Next() {
		var l LostProject
		if err := rows.Scan(&l.OrgID, &l.IntegrationID, &l.ProjectID, &l.GitLabID, &l.GoneAt); err != nil {
			return nil, fmt.Errorf("store: unable to list lost projects: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// projectDerivedTables hold a project's synced data (project_id is
// projects.id), children before parents.
var projectDerivedTables = []struct {
	name  string
	keyed bool
}{
	{"notes", true},
	{"approvals", true},
	{"merge_request_commits", true},
	{"jobs", true},
	{"deployments", true},
	{"environments", true},
	{"releases", true},
	{"tags", true},
	{"merge_requests", true},
	{"issues", true},
	{"pipelines", true},
	{"pushes", true},
	{"commits", true},
	{"events", true},
	{"sync_progress", false},
}

// PurgeProjectData hard-deletes the synced data of one gone project of
// org's integration (projects.id), in bounded batches, and records when.
// The project row stays, with its gone reason, as the tombstone users see.
// It refuses a project that is not gone.
func (s *Store) PurgeProjectData(ctx context.Context, orgID, integrationID, projectID int64) (PurgeCounts, error) {
	var gone string
	err := s.db.QueryRowContext(ctx, `SELECT gone FROM projects WHERE org_id = $1 AND integration_id = $2 AND id = $3`,
		orgID, integrationID, projectID).Scan(&gone)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to read project %d for its purge: %w", projectID, err)
	}
	if gone == "" {
		return nil, fmt.Errorf("store: project %d is not gone: refusing to purge its data", projectID)
	}
	counts := PurgeCounts{}
	for _, t := range projectDerivedTables {
		q := `DELETE FROM ` + t.name + ` WHERE org_id = $1 AND integration_id = $2 AND project_id = $3`
		if t.keyed {
			q = `DELETE FROM ` + t.name + ` WHERE id IN (SELECT id FROM ` + t.name +
				` WHERE org_id = $1 AND integration_id = $2 AND project_id = $3 LIMIT ` + fmt.Sprint(purgeBatch) + `)`
		}
		for {
			if err := ctx.Err(); err != nil {
				return counts, err
			}
			res, err := s.db.ExecContext(ctx, q, orgID, integrationID, projectID)
			if err != nil {
				return counts, fmt.Errorf("store: unable to purge %s of project %d: %w", t.name, projectID, err)
			}
			n, _ := res.RowsAffected()
			counts[t.name] += n
			if !t.keyed || n < purgeBatch {
				break
			}
		}
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE projects SET data_purged_at = $1, selected = $2 WHERE org_id = $3 AND integration_id = $4 AND id = $5`,
		s.Now(), false, orgID, integrationID, projectID); err != nil {
		return counts, fmt.Errorf("store: unable to record the purge of project %d: %w", projectID, err)
	}
	return counts, nil
}

// CountProjectItems counts the merge requests or issues (table) stored for
// one project (projects.id) of org's integration.
func (s *Store) CountProjectItems(ctx context.Context, orgID, integrationID, projectID int64, table string) (int64, error) {
	if table != "merge_requests" && table != "issues" {
		return 0, fmt.Errorf("store: cannot count %q", table)
	}
	var n int64
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE org_id = $1 AND integration_id = $2 AND project_id = $3`,
		orgID, integrationID, projectID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: unable to count %s: %w", table, err)
	}
	return n, nil
}

// DeleteProjectItemsExcept deletes the merge requests or issues (table) of
// one project (projects.id) of org's integration whose GitLab id is not in
// keep: items deleted in GitLab or moved to another project. It returns
// how many it deleted.
func (s *Store) DeleteProjectItemsExcept(ctx context.Context, orgID, integrationID, projectID int64, table string, keep map[int64]bool) (int64, error) {
	if table != "merge_requests" && table != "issues" {
		return 0, fmt.Errorf("store: cannot sweep %q", table)
	}
	var deleted int64
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, gitlab_id FROM `+table+` WHERE org_id = $1 AND integration_id = $2 AND project_id = $3`,
			orgID, integrationID, projectID)
		if err != nil {
			return err
		}
		var gone []int64
		for rows.Next() {
			var id, gid int64
			if err := rows.Scan(&id, &gid); err != nil {
				rows.Close()
				return err
			}
			if !keep[gid] {
				gone = append(gone, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range gone {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE org_id = $1 AND id = $2`, orgID, id); err != nil {
				return err
			}
		}
		deleted = int64(len(gone))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: unable to sweep %s of project %d: %w", table, projectID, err)
	}
	return deleted, nil
}

// DeleteItems deletes merge requests or issues (table) of org's
// integration by GitLab id: an issue moved to another project (GitLab
// keeps the original, closed, with moved_to_id) is gone from its old
// project here. It returns how many it deleted.
// It runs inside tx when tx is non-nil.
func (s *Store) DeleteItems(ctx context.Context, tx *sql.Tx, orgID, integrationID int64, table string, gitlabIDs []int64) (int64, error) {
	if table != "merge_requests" && table != "issues" {
		return 0, fmt.Errorf("store: cannot delete from %q", table)
	}
	var n int64
	run := func(tx *sql.Tx) error {
		for _, id := range gitlabIDs {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE org_id = $1 AND integration_id = $2 AND gitlab_id = $3`,
				orgID, integrationID, id)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += k
		}
		return nil
	}
	var err error
	if tx != nil {
		err = run(tx)
	} else {
		err = s.InTx(ctx, run)
	}
	if err != nil {
		return 0, fmt.Errorf("store: unable to delete %s: %w", table, err)
	}
	return n, nil
}
