package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Integration statuses.
const (
	StatusActive               = "active"
	StatusNeedsNewToken        = "needs_new_token"
	StatusNeedsReauthorization = "needs_reauthorization"
	StatusUnreachable          = "unreachable"
	StatusDisconnected         = "disconnected"
	AuthMethodToken            = "token"
	AuthMethodOAuth            = "oauth"
)

// Integration is one connection from an organisation to a GitLab, under an
// alias unique within the organisation. It holds no secret: credentials are
// rows of their own, sealed by the vault.
type Integration struct {
	ID                    int64           `json:"id"`
	OrgID                 int64           `json:"org_id"`
	Alias                 string          `json:"alias"`
	BaseURL               string          `json:"base_url"`
	AuthMethod            string          `json:"auth_method"`
	OAuthAppID            *int64          `json:"oauth_app_id,omitempty"`
	Status                string          `json:"status"`
	StatusReason          string          `json:"status_reason,omitempty"`
	GitLabVersion         string          `json:"gitlab_version,omitempty"`
	GitLabRevision        string          `json:"gitlab_revision,omitempty"`
	GitLabEnterprise      bool            `json:"gitlab_enterprise"`
	Capabilities          json.RawMessage `json:"capabilities"`
	VersionCheckedAt      *time.Time      `json:"version_checked_at,omitempty"`
	CAPEM                 string          `json:"ca_pem,omitempty"`
	Services              json.RawMessage `json:"services"`
	WebhookHookID         *string         `json:"webhook_hook_id,omitempty"`
	WebhookLastReceivedAt *time.Time      `json:"webhook_last_received_at,omitempty"`
	PollState             string          `json:"poll_state,omitempty"`
	// GitLabUsername and GitLabUserID name the GitLab account the
	// credential acts as.
	GitLabUsername string `json:"gitlab_username,omitempty"`
	GitLabUserID   *int64 `json:"gitlab_user_id,omitempty"`
	// AllowHookRegistration is the opt-in that lets labsync create and
	// delete its own webhooks in GitLab (the only API writes it may send).
	AllowHookRegistration bool `json:"allow_hook_registration"`
	// AllowInsecureHTTP is the opt-in to plain http to a self-managed
	// GitLab that is not on this machine (never GitLab.com): the stored
	// BaseURL is parsed with gitlab.AllowInsecureHTTP when it is set.
	AllowInsecureHTTP bool      `json:"allow_insecure_http"`
	CreatedBy         *int64    `json:"created_by,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// Purge is set once the integration is disconnected: by when its
	// synced data must be gone, and how the purge went.
	Purge *Purge `json:"purge,omitempty"`
}

// Purge is the state of a disconnected integration's data purge.
type Purge struct {
	DisconnectedAt time.Time  `json:"disconnected_at"`
	Deadline       time.Time  `json:"deadline"`
	PurgedAt       *time.Time `json:"purged_at,omitempty"`
	Attempts       int64      `json:"attempts"`
	LastError      string     `json:"last_error,omitempty"`
}

const integrationColumns = `id, org_id, alias, base_url, auth_method, oauth_app_id, status, status_reason,
	gitlab_version, gitlab_revision, gitlab_enterprise, capabilities, version_checked_at, ca_pem, services,
	webhook_hook_id, webhook_last_received_at, poll_state, gitlab_username, gitlab_user_id, allow_hook_registration,
	allow_insecure_http, created_by, created_at, updated_at, disconnected_at, purge_deadline, purged_at, purge_attempts, purge_error`

func scanIntegration(row interface{ Scan(...any) error }) (Integration, error) {
	var i Integration
	var caps, services string
	var disconnectedAt, deadline *time.Time
	var p Purge
	err := row.Scan(&i.ID, &i.OrgID, &i.Alias, &i.BaseURL, &i.AuthMethod, &i.OAuthAppID, &i.Status, &i.StatusReason,
		&i.GitLabVersion, &i.GitLabRevision, &i.GitLabEnterprise, &caps, &i.VersionCheckedAt, &i.CAPEM, &services,
		&i.WebhookHookID, &i.WebhookLastReceivedAt, &i.PollState, &i.GitLabUsername, &i.GitLabUserID, &i.AllowHookRegistration,
		&i.AllowInsecureHTTP, &i.CreatedBy, &i.CreatedAt, &i.UpdatedAt, &disconnectedAt, &deadline, &p.PurgedAt, &p.Attempts, &p.LastError)
	i.Capabilities, i.Services = json.RawMessage(caps), json.RawMessage(services)
	if disconnectedAt != nil && deadline != nil {
		p.DisconnectedAt, p.Deadline = *disconnectedAt, *deadline
		i.Purge = &p
	}
	return i, err
}

// CreateIntegration inserts i (ID, CreatedAt and UpdatedAt are set) inside
// tx when tx is non-nil, so credentials can be saved in the same
// transaction. ErrConflict when the alias is taken in the organisation.
func (s *Store) CreateIntegration(ctx context.Context, tx *sql.Tx, i *Integration) error {
	now := s.Now()
	i.CreatedAt, i.UpdatedAt = now, now
	if len(i.Capabilities) == 0 {
		i.Capabilities = json.RawMessage(`[]`)
	}
	if len(i.Services) == 0 {
		i.Services = json.RawMessage(`{}`)
	}
	if i.Status == "" {
		i.Status = StatusActive
	}
	q := `INSERT INTO integrations (org_id, alias, base_url, auth_method, oauth_app_id, status, status_reason,
			gitlab_version, gitlab_revision, gitlab_enterprise, capabilities, version_checked_at, ca_pem, services,
			webhook_hook_id, poll_state, created_by, created_at, updated_at,
			gitlab_username, gitlab_user_id, allow_hook_registration, allow_insecure_http)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18, $19, $20, $21, $22) RETURNING id`
	args := []any{i.OrgID, i.Alias, i.BaseURL, i.AuthMethod, i.OAuthAppID, i.Status, i.StatusReason,
		i.GitLabVersion, i.GitLabRevision, i.GitLabEnterprise, string(i.Capabilities), i.VersionCheckedAt, i.CAPEM,
		string(i.Services), i.WebhookHookID, i.PollState, i.CreatedBy, now,
		i.GitLabUsername, i.GitLabUserID, i.AllowHookRegistration, i.AllowInsecureHTTP}
	var row *sql.Row
	if tx != nil {
		row = tx.QueryRowContext(ctx, q, args...)
	} else {
		row = s.db.QueryRowContext(ctx, q, args...)
	}
	err := row.Scan(&i.ID)
	if isUniqueViolation(err) {
		return fmt.Errorf("store: an integration named %q already exists in this organization: %w", i.Alias, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: unable to create integration: %w", err)
	}
	return nil
}

// Integration returns one of org's integrations, or ErrNotFound (also when
// it belongs to another organisation).
func (s *Store) Integration(ctx context.Context, orgID, id int64) (Integration, error) {
	i, err := scanIntegration(s.db.QueryRowContext(ctx,
		`SELECT `+integrationColumns+` FROM integrations WHERE org_id = $1 AND id = $2`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Integration{}, ErrNotFound
	}
	if err != nil {
		return Integration{}, fmt.Errorf("store: unable to read integration: %w", err)
	}
	return i, nil
}

// Integrations lists org's integrations, oldest first.
func (s *Store) Integrations(ctx context.Context, orgID int64) ([]Integration, error) {
	return s.listIntegrations(ctx, `WHERE org_id = $1 ORDER BY id`, orgID)
}

// AllIntegrations lists every organisation's integrations in the given
// status (all when empty), for background work that spans organisations.
// Callers must keep each integration's work scoped to its OrgID.
func (s *Store) AllIntegrations(ctx context.Context, status string) ([]Integration, error) {
	if status == "" {
		return s.listIntegrations(ctx, `ORDER BY id`)
	}
	return s.listIntegrations(ctx, `WHERE status = $1 ORDER BY id`, status)
}

func (s *Store) listIntegrations(ctx context.Context, where string, args ...any) ([]Integration, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+integrationColumns+` FROM integrations `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list integrations: %w", err)
	}
	defer rows.Close()
	out := []Integration{}
	for rows.Next() {
		i, err := scanIntegration(rows)
		if err != nil {
			return nil, fmt.Errorf("store: unable to list integrations: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// SetIntegrationStatus records a status and its reason in words.
func (s *Store) SetIntegrationStatus(ctx context.Context, orgID, id int64, status, reason string) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE integrations SET status = $1, status_reason = $2, updated_at = $3 WHERE org_id = $4 AND id = $5`,
		status, reason, s.Now(), orgID, id)
	if err != nil {
		return fmt.Errorf("store: unable to update integration status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// IntegrationSettings are the fields PATCH may change. Nil leaves a field as it is.
type IntegrationSettings struct {
	Alias                 *string
	CAPEM                 *string
	AllowHookRegistration *bool
	AllowInsecureHTTP     *bool
}

// UpdateIntegrationSettings changes org's integration id. ErrConflict when
// the new alias is taken, ErrNotFound when the integration is not org's.
func (s *Store) UpdateIntegrationSettings(ctx context.Context, orgID, id int64, set IntegrationSettings) error {
	q := `UPDATE integrations SET updated_at = $1`
	args := []any{s.Now()}
	add := func(col string, v any) {
		args = append(args, v)
		q += fmt.Sprintf(", %s = $%d", col, len(args))
	}
	if set.Alias != nil {
		add("alias", *set.Alias)
	}
	if set.CAPEM != nil {
		add("ca_pem", *set.CAPEM)
	}
	if set.AllowHookRegistration != nil {
		add("allow_hook_registration", *set.AllowHookRegistration)
	}
	if set.AllowInsecureHTTP != nil {
		add("allow_insecure_http", *set.AllowInsecureHTTP)
	}
	args = append(args, orgID, id)
	q += fmt.Sprintf(" WHERE org_id = $%d AND id = $%d", len(args)-1, len(args))
	res, err := s.db.ExecContext(ctx, q, args...)
	if isUniqueViolation(err) {
		return fmt.Errorf("store: an integration with that alias already exists in this organization: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: unable to update integration: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// IntegrationVersion is what labsync learned about a GitLab's release.
type IntegrationVersion struct {
	Version      string
	Revision     string
	Enterprise   bool
	Capabilities json.RawMessage
	CheckedAt    time.Time
}

// SetIntegrationVersion records the version, edition and capabilities of
// org's integration id.
func (s *Store) SetIntegrationVersion(ctx context.Context, orgID, id int64, v IntegrationVersion) error {
	res, err := s.db.ExecContext(ctx, `UPDATE integrations SET gitlab_version = $1, gitlab_revision = $2,
		gitlab_enterprise = $3, capabilities = $4, version_checked_at = $5, updated_at = $6 WHERE org_id = $7 AND id = $8`,
		v.Version, v.Revision, v.Enterprise, string(v.Capabilities), v.CheckedAt, s.Now(), orgID, id)
	if err != nil {
		return fmt.Errorf("store: unable to record the GitLab version: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetIntegrationAccount records, inside tx, the GitLab account a new
// credential acts as and makes the integration active again.
func (s *Store) SetIntegrationAccount(ctx context.Context, tx *sql.Tx, orgID, id int64, username string, userID *int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE integrations SET gitlab_username = $1, gitlab_user_id = $2, status = $3,
		status_reason = '', updated_at = $4 WHERE org_id = $5 AND id = $6`,
		username, userID, StatusActive, s.Now(), orgID, id)
	if err != nil {
		return fmt.Errorf("store: unable to update integration: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetIntegrationStatusIf records a status only while the integration is in
// one of the from statuses, and reports whether it changed anything. It lets
// a background check flip a status without undoing a concurrent reconnect.
func (s *Store) SetIntegrationStatusIf(ctx context.Context, orgID, id int64, status, reason string, from ...string) (bool, error) {
	q := `UPDATE integrations SET status = $1, status_reason = $2, updated_at = $3 WHERE org_id = $4 AND id = $5`
	args := []any{status, reason, s.Now(), orgID, id}
	if len(from) > 0 {
		q += ` AND status IN (`
		for i, f := range from {
			if i > 0 {
				q += `, `
			}
			args = append(args, f)
			q += fmt.Sprintf("$%d", len(args))
		}
		q += `)`
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("store: unable to update integration status: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Disconnected says what DisconnectIntegration destroyed.
type Disconnected struct {
	// OAuthAppDeleted is true when the integration's OAuth application
	// (and its client secret) was used by no other live integration and
	// was deleted with it.
	OAuthAppDeleted bool
}

// DisconnectIntegration, in one transaction, marks org's integration id
// disconnected with reason and a purge deadline, and hard-deletes its
// secrets: every credential, the webhook endpoint (secret and signing
// token, so later deliveries to its URL find nothing), pending OAuth
// states, and the OAuth application when no other live integration uses
// it. Synced data stays until PurgeIntegration removes it.
func (s *Store) DisconnectIntegration(ctx context.Context, orgID, id int64, reason string, deadline time.Time) (Disconnected, error) {
	var d Disconnected
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		now := s.Now()
		var appID *int64
		err := tx.QueryRowContext(ctx, `UPDATE integrations SET status = $1, status_reason = $2, updated_at = $3,
			disconnected_at = $3, purge_deadline = $4, purged_at = NULL, purge_attempts = 0, purge_error = ''
			WHERE org_id = $5 AND id = $6 RETURNING oauth_app_id`,
			StatusDisconnected, reason, now, deadline, orgID, id).Scan(&appID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: unable to disconnect integration: %w", err)
		}
		for _, q := range []string{
			`DELETE FROM credentials WHERE org_id = $1 AND integration_id = $2`,
			`DELETE FROM webhook_endpoints WHERE org_id = $1 AND integration_id = $2`,
			`DELETE FROM oauth_states WHERE org_id = $1 AND integration_id = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, orgID, id); err != nil {
				return fmt.Errorf("store: unable to delete the secrets of integration %d: %w", id, err)
			}
		}
		if appID == nil {
			return nil
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_apps WHERE org_id = $1 AND id = $2 AND NOT EXISTS (
			SELECT 1 FROM integrations WHERE org_id = $1 AND oauth_app_id = $2 AND status <> $3)`,
			orgID, *appID, StatusDisconnected)
		if err != nil {
			return fmt.Errorf("store: unable to delete the OAuth application: %w", err)
		}
		n, _ := res.RowsAffected()
		d.OAuthAppDeleted = n > 0
		return nil
	})
	return d, err
}

// FreeDisconnectedAlias renames, inside tx, a disconnected integration of
// org that holds alias, so a new connection may take the alias.
func (s *Store) FreeDisconnectedAlias(ctx context.Context, tx *sql.Tx, orgID int64, alias string) error {
	_, err := tx.ExecContext(ctx, `UPDATE integrations SET alias = alias || ' (disconnected #' || CAST(id AS TEXT) || ')',
		updated_at = $1 WHERE org_id = $2 AND alias = $3 AND status = $4`, s.Now(), orgID, alias, StatusDisconnected)
	if err != nil {
		return fmt.Errorf("store: unable to free the alias of a disconnected integration: %w", err)
	}
	return nil
}
