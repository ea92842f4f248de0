package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OAuthApp is an organisation's GitLab OAuth application, shared by all its
// members. The client secret is stored sealed; its vault binding is
// (oauth_apps, base URL, client_secret).
type OAuthApp struct {
	ID                 int64     `json:"id"`
	OrgID              int64     `json:"org_id"`
	BaseURL            string    `json:"base_url"`
	ClientID           string    `json:"client_id"`
	ClientSecretSealed []byte    `json:"-"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// SaveOAuthApp creates or replaces org's application for baseURL.
func (s *Store) SaveOAuthApp(ctx context.Context, orgID int64, baseURL, clientID string, sealedSecret []byte) (OAuthApp, error) {
	now := s.Now()
	a := OAuthApp{OrgID: orgID, BaseURL: baseURL, ClientID: clientID, ClientSecretSealed: sealedSecret, CreatedAt: now, UpdatedAt: now}
	err := s.db.QueryRowContext(ctx, `
		INSERT INTO oauth_apps (org_id, base_url, client_id, client_secret_enc, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)
		ON CONFLICT (org_id, base_url) DO UPDATE
		SET client_id = excluded.client_id, client_secret_enc = excluded.client_secret_enc, updated_at = excluded.updated_at
		RETURNING id, created_at`,
		orgID, baseURL, clientID, sealedSecret, now).Scan(&a.ID, &a.CreatedAt)
	if err != nil {
		return OAuthApp{}, fmt.Errorf("store: unable to save OAuth application: %w", err)
	}
	return a, nil
}

// OAuthAppFor returns org's application for baseURL, or ErrNotFound.
func (s *Store) OAuthAppFor(ctx context.Context, orgID int64, baseURL string) (OAuthApp, error) {
	var a OAuthApp
	err := s.rdb.QueryRowContext(ctx, `
		SELECT id, org_id, base_url, client_id, client_secret_enc, created_at, updated_at
		FROM oauth_apps WHERE org_id = $1 AND base_url = $2`, orgID, baseURL).
		Scan(&a.ID, &a.OrgID, &a.BaseURL, &a.ClientID, &a.ClientSecretSealed, &a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return OAuthApp{}, ErrNotFound
	}
	if err != nil {
		return OAuthApp{}, fmt.Errorf("store: unable to read OAuth application: %w", err)
	}
	return a, nil
}

// OAuthApps returns every application of every organisation, for key
// rotation checks and operations; never for API responses.
func (s *Store) OAuthApps(ctx context.Context) ([]OAuthApp, error) {
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT id, org_id, base_url, client_id, client_secret_enc, created_at, updated_at
		FROM oauth_apps ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list OAuth applications: %w", err)
	}
	defer rows.Close()
	var out []OAuthApp
	for rows.Next() {
		var a OAuthApp
		if err := rows.Scan(&a.ID, &a.OrgID, &a.BaseURL, &a.ClientID, &a.ClientSecretSealed, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list OAuth applications: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
