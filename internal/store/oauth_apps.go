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

const oauthAppColumns = `id, org_id, base_url, client_id, client_secret_enc, created_at, updated_at`

func scanOAuthApp(row interface{ Scan(...any) error }) (OAuthApp, error) {
	var a OAuthApp
	err := row.Scan(&a.ID, &a.OrgID, &a.BaseURL, &a.ClientID, &a.ClientSecretSealed, &a.CreatedAt, &a.UpdatedAt)
	return a, err
}

// oneOAuthApp reads one application from q, or ErrNotFound.
func oneOAuthApp(ctx context.Context, q *sql.DB, where string, args ...any) (OAuthApp, error) {
	a, err := scanOAuthApp(q.QueryRowContext(ctx, `SELECT `+oauthAppColumns+` FROM oauth_apps `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return OAuthApp{}, ErrNotFound
	}
	if err != nil {
		return OAuthApp{}, fmt.Errorf("store: unable to read OAuth application: %w", err)
	}
	return a, nil
}

func (s *Store) listOAuthApps(ctx context.Context, where string, args ...any) ([]OAuthApp, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+oauthAppColumns+` FROM oauth_apps `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list OAuth applications: %w", err)
	}
	defer rows.Close()
	out := []OAuthApp{}
	for rows.Next() {
		a, err := scanOAuthApp(rows)
		if err != nil {
			return nil, fmt.Errorf("store: unable to list OAuth applications: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// OAuthAppFor returns org's application for baseURL, or ErrNotFound.
func (s *Store) OAuthAppFor(ctx context.Context, orgID int64, baseURL string) (OAuthApp, error) {
	return oneOAuthApp(ctx, s.rdb, `WHERE org_id = $1 AND base_url = $2`, orgID, baseURL)
}

// OAuthAppByID returns one of org's OAuth applications, or ErrNotFound.
// It reads the write pool, so an application saved a moment ago is seen.
func (s *Store) OAuthAppByID(ctx context.Context, orgID, id int64) (OAuthApp, error) {
	return oneOAuthApp(ctx, s.db, `WHERE org_id = $1 AND id = $2`, orgID, id)
}

// OrgOAuthApps lists org's OAuth applications, oldest first.
func (s *Store) OrgOAuthApps(ctx context.Context, orgID int64) ([]OAuthApp, error) {
	return s.listOAuthApps(ctx, `WHERE org_id = $1 ORDER BY id`, orgID)
}

// OAuthApps returns every application of every organisation, for key
// rotation checks and operations; never for API responses.
func (s *Store) OAuthApps(ctx context.Context) ([]OAuthApp, error) {
	return s.listOAuthApps(ctx, `ORDER BY id`)
}
