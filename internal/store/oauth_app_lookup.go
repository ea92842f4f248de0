package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// OAuthAppByID returns one of org's OAuth applications, or ErrNotFound.
func (s *Store) OAuthAppByID(ctx context.Context, orgID, id int64) (OAuthApp, error) {
	var a OAuthApp
	err := s.db.QueryRowContext(ctx, `
		SELECT id, org_id, base_url, client_id, client_secret_enc, created_at, updated_at
		FROM oauth_apps WHERE org_id = $1 AND id = $2`, orgID, id).
		Scan(&a.ID, &a.OrgID, &a.BaseURL, &a.ClientID, &a.ClientSecretSealed, &a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return OAuthApp{}, ErrNotFound
	}
	if err != nil {
		return OAuthApp{}, fmt.Errorf("store: unable to read OAuth application: %w", err)
	}
	return a, nil
}

// OrgOAuthApps lists org's OAuth applications, oldest first.
func (s *Store) OrgOAuthApps(ctx context.Context, orgID int64) ([]OAuthApp, error) {
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT id, org_id, base_url, client_id, client_secret_enc, created_at, updated_at
		FROM oauth_apps WHERE org_id = $1 ORDER BY id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list OAuth applications: %w", err)
	}
	defer rows.Close()
	out := []OAuthApp{}
	for rows.Next() {
		var a OAuthApp
		if err := rows.Scan(&a.ID, &a.OrgID, &a.BaseURL, &a.ClientID, &a.ClientSecretSealed, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list OAuth applications: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
