package store

import (
	"context"
	"fmt"
	"time"
)

// MirrorStatus is what the last clone or fetch of a project's repository
// mirror did, as the replica that ran it recorded it.
type MirrorStatus struct {
	OrgID           int64
	IntegrationID   int64
	ProjectGitLabID int64
	State           string
	ObjectFormat    string
	SizeBytes       int64
	LastFetchAt     *time.Time
	LastFetchMS     int64
	LastAttemptAt   *time.Time
	LastPushAt      *time.Time
	ErrorKind       string
	ErrorMessage    string
	ErrorRemedy     string
	Fetches         int64
	UpdatedAt       time.Time
}

// SaveMirrorStatus records m for org's integration (nothing when the
// integration is not org's). Fetches only ever grows and a push time only
// moves forward, whichever replica writes last.
func (s *Store) SaveMirrorStatus(ctx context.Context, m MirrorStatus) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO repository_mirrors (integration_id, project_gitlab_id, org_id, state, object_format,
			size_bytes, last_fetch_at, last_fetch_ms, last_attempt_at, last_push_at, error_kind, error_message, error_remedy, fetches, updated_at)
		SELECT id, $1, org_id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM integrations WHERE id = $14 AND org_id = $15
		ON CONFLICT (integration_id, project_gitlab_id) DO UPDATE SET state = excluded.state, object_format = excluded.object_format,
			size_bytes = excluded.size_bytes,
			last_fetch_at = COALESCE(excluded.last_fetch_at, repository_mirrors.last_fetch_at),
			last_fetch_ms = CASE WHEN excluded.last_fetch_at IS NULL THEN repository_mirrors.last_fetch_ms ELSE excluded.last_fetch_ms END,
			last_attempt_at = excluded.last_attempt_at,
			last_push_at = CASE WHEN repository_mirrors.last_push_at IS NULL OR excluded.last_push_at > repository_mirrors.last_push_at
				THEN COALESCE(excluded.last_push_at, repository_mirrors.last_push_at) ELSE repository_mirrors.last_push_at END,
			error_kind = excluded.error_kind, error_message = excluded.error_message, error_remedy = excluded.error_remedy,
			fetches = CASE WHEN excluded.fetches > repository_mirrors.fetches THEN excluded.fetches ELSE repository_mirrors.fetches END,
			updated_at = excluded.updated_at`,
		m.ProjectGitLabID, m.State, m.ObjectFormat, m.SizeBytes, utcPtr(m.LastFetchAt), m.LastFetchMS, utcPtr(m.LastAttemptAt), utcPtr(m.LastPushAt),
		m.ErrorKind, m.ErrorMessage, m.ErrorRemedy, m.Fetches, s.Now(), m.IntegrationID, m.OrgID)
	if err != nil {
		return fmt.Errorf("store: unable to save the status of a repository mirror: %w", err)
	}
	return nil
}

// MirrorStatuses returns the recorded mirror statuses of org's integration,
// by GitLab project id.
func (s *Store) MirrorStatuses(ctx context.Context, orgID, integrationID int64) (map[int64]MirrorStatus, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT project_gitlab_id, state, object_format, size_bytes, last_fetch_at, last_fetch_ms,
			last_attempt_at, last_push_at, error_kind, error_message, error_remedy, fetches, updated_at
		FROM repository_mirrors WHERE org_id = $1 AND integration_id = $2`, orgID, integrationID)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read repository mirror statuses: %w", err)
	}
	defer rows.Close()
	out := map[int64]MirrorStatus{}
	for rows.Next() {
		m := MirrorStatus{OrgID: orgID, IntegrationID: integrationID}
		if err := rows.Scan(&m.ProjectGitLabID, &m.State, &m.ObjectFormat, &m.SizeBytes, &m.LastFetchAt, &m.LastFetchMS,
			&m.LastAttemptAt, &m.LastPushAt, &m.ErrorKind, &m.ErrorMessage, &m.ErrorRemedy, &m.Fetches, &m.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to read repository mirror statuses: %w", err)
		}
		out[m.ProjectGitLabID] = m
	}
	return out, rows.Err()
}
