package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Credential kinds: one row per integration holds either an access token or
// an OAuth token pair. The ciphertext is sealed by the vault with the
// binding (credentials, integration:<id>, <kind>).
const (
	CredentialAccessToken = "access_token"
	CredentialOAuth       = "oauth"
)

// Credential is an integration's sealed secret and what is known about it
// in clear: the token kind, its scopes and its expiry. For OAuth, ExpiresAt
// is the access token's.
type Credential struct {
	ID            int64
	OrgID         int64
	IntegrationID int64
	Kind          string
	Ciphertext    []byte
	TokenKind     string
	Scopes        []string
	ExpiresAt     *time.Time
	UpdatedAt     time.Time
	// ExpiryWarnedDays is the smallest expiry warning threshold already
	// written to the audit log (30, 7, 1), 0 for none.
	ExpiryWarnedDays int
	// RefreshLockUntil is set while a replica holds the refresh lease.
	RefreshLockUntil *time.Time
}

const credentialColumns = `id, org_id, integration_id, kind, ciphertext, token_kind, scopes, expires_at, updated_at,
	expiry_warned_days, refresh_lock_until`

func scanCredential(row interface{ Scan(...any) error }) (Credential, error) {
	var c Credential
	var scopes string
	err := row.Scan(&c.ID, &c.OrgID, &c.IntegrationID, &c.Kind, &c.Ciphertext, &c.TokenKind, &scopes, &c.ExpiresAt,
		&c.UpdatedAt, &c.ExpiryWarnedDays, &c.RefreshLockUntil)
	c.Scopes = strings.Fields(scopes)
	return c, err
}

// SaveCredential creates or replaces, inside tx, the credential of kind for
// c.IntegrationID, resetting expiry warnings and any refresh lease. The
// integration must belong to c.OrgID.
func (s *Store) SaveCredential(ctx context.Context, tx *sql.Tx, c *Credential) error {
	now := s.Now()
	c.UpdatedAt = now
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM integrations WHERE org_id = $1 AND id = $2`, c.OrgID, c.IntegrationID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return fmt.Errorf("store: unable to save credential: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE org_id = $1 AND integration_id = $2`, c.OrgID, c.IntegrationID); err != nil {
		return fmt.Errorf("store: unable to replace credential: %w", err)
	}
	err := tx.QueryRowContext(ctx, `INSERT INTO credentials (org_id, integration_id, kind, ciphertext, token_kind, scopes,
			expires_at, updated_at, expiry_warned_days, refresh_lock_owner)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, '') RETURNING id`,
		c.OrgID, c.IntegrationID, c.Kind, c.Ciphertext, c.TokenKind, strings.Join(c.Scopes, " "), c.ExpiresAt, now).Scan(&c.ID)
	if err != nil {
		return fmt.Errorf("store: unable to save credential: %w", err)
	}
	return nil
}

// Credential returns the credential of org's integration, or ErrNotFound.
// It reads from the write pool so a pair saved a moment ago by another
// goroutine or replica is seen.
func (s *Store) Credential(ctx context.Context, orgID, integrationID int64) (Credential, error) {
	c, err := scanCredential(s.db.QueryRowContext(ctx,
		`SELECT `+credentialColumns+` FROM credentials WHERE org_id = $1 AND integration_id = $2`, orgID, integrationID))
	if errors.Is(err, sql.ErrNoRows) {
		return Credential{}, ErrNotFound
	}
	if err != nil {
		return Credential{}, fmt.Errorf("store: unable to read credential: %w", err)
	}
	return c, nil
}

// Credentials returns the credentials of every organisation whose
// integration is in one of the given statuses, for background checks.
// Callers keep each credential's work scoped to its OrgID.
func (s *Store) Credentials(ctx context.Context, kind string) ([]Credential, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT c.id, c.org_id, c.integration_id, c.kind, c.ciphertext, c.token_kind,
			c.scopes, c.expires_at, c.updated_at, c.expiry_warned_days, c.refresh_lock_until
		FROM credentials c JOIN integrations i ON i.id = c.integration_id AND i.org_id = c.org_id
		WHERE c.kind = $1 AND i.status <> $2 ORDER BY c.id`, kind, StatusDisconnected)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list credentials: %w", err)
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("store: unable to list credentials: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetExpiryWarned records the smallest expiry threshold warned about.
func (s *Store) SetExpiryWarned(ctx context.Context, orgID, credentialID int64, days int) error {
	_, err := s.db.ExecContext(ctx, `UPDATE credentials SET expiry_warned_days = $1 WHERE org_id = $2 AND id = $3`,
		days, orgID, credentialID)
	if err != nil {
		return fmt.Errorf("store: unable to record the expiry warning: %w", err)
	}
	return nil
}

// ClaimRefresh takes the refresh lease on org's credential for owner until
// the given time, if no other owner holds a lease that is unexpired at now.
// It reports whether the lease is owner's now. The conditional UPDATE is the
// lock: of several replicas asking at once, exactly one sees a row change.
func (s *Store) ClaimRefresh(ctx context.Context, orgID, credentialID int64, owner string, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE credentials SET refresh_lock_until = $1, refresh_lock_owner = $2
		WHERE org_id = $3 AND id = $4 AND (refresh_lock_until IS NULL OR refresh_lock_until < $5 OR refresh_lock_owner = $2)`,
		until, owner, orgID, credentialID, now)
	if err != nil {
		return false, fmt.Errorf("store: unable to claim the refresh lease: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseRefresh gives up owner's refresh lease without changing the token.
func (s *Store) ReleaseRefresh(ctx context.Context, orgID, credentialID int64, owner string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE credentials SET refresh_lock_until = NULL, refresh_lock_owner = ''
		WHERE org_id = $1 AND id = $2 AND refresh_lock_owner = $3`, orgID, credentialID, owner)
	if err != nil {
		return fmt.Errorf("store: unable to release the refresh lease: %w", err)
	}
	return nil
}

// SaveRefreshed stores a rotated token pair and, in the same statement,
// releases owner's refresh lease. The pair is saved even if the lease
// expired meanwhile: GitLab has already spent the old refresh token, so the
// new pair is the only one that works. ErrNotFound when the credential was
// deleted meanwhile (the integration was disconnected).
func (s *Store) SaveRefreshed(ctx context.Context, orgID, credentialID int64, owner string, ciphertext []byte, scopes []string, expiresAt *time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE credentials SET ciphertext = $1, scopes = $2, expires_at = $3, updated_at = $4,
			refresh_lock_until = CASE WHEN refresh_lock_owner = $5 THEN NULL ELSE refresh_lock_until END,
			refresh_lock_owner = CASE WHEN refresh_lock_owner = $5 THEN '' ELSE refresh_lock_owner END
		WHERE org_id = $6 AND id = $7`,
		ciphertext, strings.Join(scopes, " "), expiresAt, s.Now(), owner, orgID, credentialID)
	if err != nil {
		return fmt.Errorf("store: unable to save the refreshed token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
