package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// APIToken is a user's token for the REST API. Only its hash is stored.
type APIToken struct {
	ID         int64      `json:"id"`
	OrgID      int64      `json:"org_id"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// CreateAPIToken stores a token's hash; the caller shows the token once.
func (s *Store) CreateAPIToken(ctx context.Context, orgID, userID int64, name, prefix string, hash []byte) (APIToken, error) {
	return s.CreateExpiringAPIToken(ctx, orgID, userID, name, prefix, hash, nil)
}

// CreateExpiringAPIToken stores a token's hash with an optional expiry.
func (s *Store) CreateExpiringAPIToken(ctx context.Context, orgID, userID int64, name, prefix string, hash []byte, expiresAt *time.Time) (APIToken, error) {
	t := APIToken{OrgID: orgID, UserID: userID, Name: name, Prefix: prefix, CreatedAt: s.Now(), ExpiresAt: expiresAt}
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO api_tokens (org_id, user_id, name, prefix, token_hash, created_at, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		orgID, userID, name, prefix, hash, t.CreatedAt, expiresAt).Scan(&t.ID)
	if err != nil {
		return APIToken{}, fmt.Errorf("store: unable to create API token: %w", err)
	}
	return t, nil
}

// APITokenByHash returns the live token with that hash, or ErrNotFound
// (also for a revoked or expired token, for one whose user left the
// organisation, and for one of an organisation being deleted).
func (s *Store) APITokenByHash(ctx context.Context, hash []byte) (APIToken, Role, error) {
	var t APIToken
	var r Role
	err := s.rdb.QueryRowContext(ctx, `
		SELECT t.id, t.org_id, t.user_id, t.name, t.prefix, t.created_at, t.last_used_at, m.role
		FROM api_tokens t
		JOIN memberships m ON m.org_id = t.org_id AND m.user_id = t.user_id
		JOIN organizations o ON o.id = t.org_id AND o.deleting_at IS NULL
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)`, hash, s.Now()).
		Scan(&t.ID, &t.OrgID, &t.UserID, &t.Name, &t.Prefix, &t.CreatedAt, &t.LastUsedAt, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, "", ErrNotFound
	}
	if err != nil {
		return APIToken{}, "", fmt.Errorf("store: unable to read API token: %w", err)
	}
	return t, r, nil
}

// TouchAPIToken records that a token was used.
func (s *Store) TouchAPIToken(ctx context.Context, orgID, id int64) error {
	_, err := s.db.ExecContext(ctx,
		`UPDATE api_tokens SET last_used_at = $1 WHERE org_id = $2 AND id = $3`, s.Now(), orgID, id)
	if err != nil {
		return fmt.Errorf("store: unable to record API token use: %w", err)
	}
	return nil
}

// RevokeAPIToken revokes one of org's tokens, or returns ErrNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, orgID, id int64) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE api_tokens SET revoked_at = $1 WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL`,
		s.Now(), orgID, id)
	if err != nil {
		return fmt.Errorf("store: unable to revoke API token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// APITokens lists org's tokens, newest first: every token when userID is
// 0, else that user's. Revoked tokens are listed too, marked as such.
func (s *Store) APITokens(ctx context.Context, orgID, userID int64) ([]APIToken, error) {
	q := `SELECT id, org_id, user_id, name, prefix, created_at, last_used_at, expires_at, revoked_at
		FROM api_tokens WHERE org_id = $1`
	args := []any{orgID}
	if userID != 0 {
		q += ` AND user_id = $2`
		args = append(args, userID)
	}
	rows, err := s.rdb.QueryContext(ctx, q+` ORDER BY id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list API tokens: %w", err)
	}
	defer rows.Close()
	out := []APIToken{}
	for rows.Next() {
		var t APIToken
		if err := rows.Scan(&t.ID, &t.OrgID, &t.UserID, &t.Name, &t.Prefix, &t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt, &t.RevokedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list API tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// APITokenOwner returns the user holding org's token id, or ErrNotFound.
func (s *Store) APITokenOwner(ctx context.Context, orgID, id int64) (int64, error) {
	var user int64
	err := s.rdb.QueryRowContext(ctx, `SELECT user_id FROM api_tokens WHERE org_id = $1 AND id = $2`, orgID, id).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: unable to read API token: %w", err)
	}
	return user, nil
}
