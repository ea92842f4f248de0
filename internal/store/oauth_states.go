package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// OAuthState is an OAuth authorization in flight: who started it, for which
// GitLab and application, and the sealed PKCE verifier. The state itself is
// never stored, only its SHA-256. The verifier's vault binding is
// (oauth_states, <hex of the state hash>, pkce_verifier).
type OAuthState struct {
	ID                    int64
	StateHash             []byte
	OrgID                 int64
	UserID                int64
	OAuthAppID            int64
	IntegrationID         *int64 // set when reauthorising an existing integration
	BaseURL               string
	RedirectURI           string
	Alias                 string
	Scopes                []string
	CAPEM                 string
	AllowHookRegistration bool
	// AllowInsecureHTTP carries the plain-http opt-in to the integration
	// the authorization creates.
	AllowInsecureHTTP bool
	VerifierSealed    []byte
	ExpiresAt         time.Time
	CreatedAt         time.Time
}

// Errors of ConsumeOAuthState.
var (
	// ErrStateForeign means the state exists but was started by another
	// user or organisation. The state is left alone.
	ErrStateForeign = errors.New("store: the OAuth state belongs to another user or organization")
	// ErrStateExpired means the state existed but had expired; it is deleted.
	ErrStateExpired = errors.New("store: the OAuth state has expired")
)

const oauthStateColumns = `id, state_hash, org_id, user_id, oauth_app_id, integration_id, base_url, redirect_uri, alias,
	scopes, ca_pem, allow_hook_registration, allow_insecure_http, verifier_enc, expires_at, created_at`

func scanOAuthState(row interface{ Scan(...any) error }) (OAuthState, error) {
	var o OAuthState
	var scopes string
	err := row.Scan(&o.ID, &o.StateHash, &o.OrgID, &o.UserID, &o.OAuthAppID, &o.IntegrationID, &o.BaseURL, &o.RedirectURI,
		&o.Alias, &scopes, &o.CAPEM, &o.AllowHookRegistration, &o.AllowInsecureHTTP, &o.VerifierSealed, &o.ExpiresAt, &o.CreatedAt)
	o.Scopes = strings.Fields(scopes)
	return o, err
}

// CreateOAuthState stores an authorization in flight.
func (s *Store) CreateOAuthState(ctx context.Context, o *OAuthState) error {
	o.CreatedAt = s.Now()
	err := s.db.QueryRowContext(ctx, `INSERT INTO oauth_states (state_hash, org_id, user_id, oauth_app_id, integration_id,
			base_url, redirect_uri, alias, scopes, ca_pem, allow_hook_registration, allow_insecure_http, verifier_enc, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
		o.StateHash, o.OrgID, o.UserID, o.OAuthAppID, o.IntegrationID, o.BaseURL, o.RedirectURI, o.Alias,
		strings.Join(o.Scopes, " "), o.CAPEM, o.AllowHookRegistration, o.AllowInsecureHTTP, o.VerifierSealed, o.ExpiresAt, o.CreatedAt).Scan(&o.ID)
	if err != nil {
		return fmt.Errorf("store: unable to save the OAuth state: %w", err)
	}
	return nil
}

// ConsumeOAuthState deletes and returns the state with that hash, in one
// statement, so a state works once even when two requests race. When orgID
// and userID are non-zero the state must have been started by that user in
// that organisation: a foreign state gives ErrStateForeign and stays (its
// owner may still complete it). An unknown or already used state gives
// ErrNotFound; an expired one ErrStateExpired.
func (s *Store) ConsumeOAuthState(ctx context.Context, hash []byte, orgID, userID int64) (OAuthState, error) {
	q := `DELETE FROM oauth_states WHERE state_hash = $1`
	args := []any{hash}
	if orgID != 0 || userID != 0 {
		q += ` AND org_id = $2 AND user_id = $3`
		args = append(args, orgID, userID)
	}
	o, err := scanOAuthState(s.db.QueryRowContext(ctx, q+` RETURNING `+oauthStateColumns, args...))
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		err := s.db.QueryRowContext(ctx, `SELECT 1 FROM oauth_states WHERE state_hash = $1`, hash).Scan(&one)
		if err == nil {
			return OAuthState{}, ErrStateForeign
		}
		return OAuthState{}, ErrNotFound
	}
	if err != nil {
		return OAuthState{}, fmt.Errorf("store: unable to read the OAuth state: %w", err)
	}
	if !s.Now().Before(o.ExpiresAt) {
		return OAuthState{}, ErrStateExpired
	}
	return o, nil
}

// DeleteExpiredOAuthStates removes states that expired before now.
func (s *Store) DeleteExpiredOAuthStates(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at < $1`, s.Now())
	if err != nil {
		return 0, fmt.Errorf("store: unable to delete expired OAuth states: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
