package integrations

// OAuth tokens after the connection: the sealed token pair, the token
// source every GitLab client of an OAuth integration uses, refreshing (one
// replica at a time, each rotated refresh token saved before it is used)
// and falling back to "needs reauthorization".

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
	"golang.org/x/oauth2"
)

// tokenPair is what an OAuth credential seals.
type tokenPair struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

func (p tokenPair) token() *oauth2.Token {
	return &oauth2.Token{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: "Bearer", Expiry: p.Expiry}
}

// fresh reports whether the access token is usable until at least at.
func (p tokenPair) fresh(at time.Time) bool {
	return p.AccessToken != "" && (p.Expiry.IsZero() || p.Expiry.After(at))
}

func (s *Service) sealPair(ctx context.Context, orgID, integrationID int64, p tokenPair) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return s.vault.Seal(ctx, orgID, credentialBinding(integrationID, store.CredentialOAuth), b)
}

func (s *Service) openPair(ctx context.Context, orgID, integrationID int64, c store.Credential) (tokenPair, error) {
	var p tokenPair
	b, err := s.vault.Open(ctx, orgID, credentialBinding(integrationID, store.CredentialOAuth), c.Ciphertext)
	if err != nil {
		return p, fmt.Errorf("integrations: unable to open the OAuth credential of integration %d: %w", integrationID, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("integrations: the OAuth credential of integration %d is malformed", integrationID)
	}
	return p, nil
}

// oauthSource is the oauth2.TokenSource of an integration's client: it
// hands out the access token kept in memory while it is fresh and asks
// freshToken (database first, GitLab if needed) otherwise.
type oauthSource struct {
	s             *Service
	orgID         int64
	integrationID int64

	mu  sync.Mutex
	tok *oauth2.Token
}

// Token returns an access token valid for at least RefreshBefore.
func (o *oauthSource) Token() (*oauth2.Token, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tok != nil && (o.tok.Expiry.IsZero() || o.tok.Expiry.After(o.s.clock().Add(RefreshBefore))) {
		t := *o.tok
		return &t, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout+10*time.Second)
	defer cancel()
	p, err := o.s.freshToken(ctx, o.orgID, o.integrationID, "")
	if err != nil {
		return nil, err
	}
	o.tok = p.token()
	t := *o.tok
	return &t, nil
}

func (o *oauthSource) drop() {
	o.mu.Lock()
	o.tok = nil
	o.mu.Unlock()
}

// Refresh makes org's OAuth integration trade its refresh token for a new
// pair now, even if its access token is still fresh (operators and tests
// use it). The new pair is saved before it is returned.
func (s *Service) Refresh(ctx context.Context, orgID, integrationID int64) error {
	cred, err := s.st.Credential(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	if cred.Kind != store.CredentialOAuth {
		return invalid("", "", "integration %d is not connected with OAuth; only OAuth tokens are refreshed", integrationID)
	}
	p, err := s.openPair(ctx, orgID, integrationID, cred)
	if err != nil {
		return err
	}
	_, err = s.freshToken(ctx, orgID, integrationID, p.AccessToken)
	if err == nil {
		s.forgetToken(integrationID)
	}
	return err
}

func (s *Service) forgetToken(integrationID int64) {
	s.mu.Lock()
	c := s.clients[integrationID]
	s.mu.Unlock()
	if c != nil && c.oauth != nil {
		c.oauth.drop()
	}
}

// freshToken returns a usable token pair of org's OAuth integration. It
// reads the stored pair and returns it while it stays fresh for
// RefreshBefore and is not the rejected access token. Otherwise it takes the
// credential's refresh lease in the database — one holder across every
// replica — reads the pair again (another replica may have refreshed it a
// moment ago), spends the refresh token at GitLab, and saves the new pair in
// the same statement that releases the lease, before anything uses it. A
// refresh GitLab refuses marks the integration "needs reauthorization" with
// the reason.
func (s *Service) freshToken(ctx context.Context, orgID, integrationID int64, rejected string) (tokenPair, error) {
	wait := 50 * time.Millisecond
	for {
		cred, err := s.st.Credential(ctx, orgID, integrationID)
		if errors.Is(err, store.ErrNotFound) {
			return tokenPair{}, &problem.Error{Kind: problem.Conflict, Code: CodeUnusable,
				Message: "the integration has no credential any more (it was disconnected)", Remedy: "Connect it again."}
		}
		if err != nil {
			return tokenPair{}, err
		}
		p, err := s.openPair(ctx, orgID, integrationID, cred)
		if err != nil {
			return tokenPair{}, err
		}
		if p.fresh(s.clock().Add(RefreshBefore)) && (rejected == "" || p.AccessToken != rejected) {
			return p, nil
		}
		// Each claim has its own owner, so goroutines of this process queue
		// on the lease like other replicas do.
		owner := s.owner + "/" + randomToken(6)
		now := s.clock()
		ok, err := s.st.ClaimRefresh(ctx, orgID, cred.ID, owner, now, now.Add(refreshLease))
		if err != nil {
			return tokenPair{}, err
		}
		if !ok {
			// Another replica (or goroutine) is refreshing: wait for its pair.
			select {
			case <-ctx.Done():
				return tokenPair{}, fmt.Errorf("integrations: waiting for another refresh of integration %d: %w", integrationID, ctx.Err())
			case <-time.After(wait):
			}
			wait = min(wait*2, time.Second)
			continue
		}
		return s.refreshLeased(ctx, orgID, integrationID, owner, rejected)
	}
}

// refreshLeased runs with the refresh lease held and always gives it up.
func (s *Service) refreshLeased(ctx context.Context, orgID, integrationID int64, owner, rejected string) (tokenPair, error) {
	// Neither the caller's cancellation nor its deadline may interrupt a
	// refresh half-way: GitLab would have spent the old refresh token and
	// the new pair would be lost.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	cred, err := s.st.Credential(ctx, orgID, integrationID)
	if err != nil {
		return tokenPair{}, err
	}
	release := func() { _ = s.st.ReleaseRefresh(ctx, orgID, cred.ID, owner) }
	p, err := s.openPair(ctx, orgID, integrationID, cred)
	if err != nil {
		release()
		return tokenPair{}, err
	}
	if p.fresh(s.clock().Add(RefreshBefore)) && (rejected == "" || p.AccessToken != rejected) {
		release()
		return p, nil
	}
	i, err := s.st.Integration(ctx, orgID, integrationID)
	if err != nil {
		release()
		return tokenPair{}, err
	}
	conf, hc, err := s.oauthConfigFor(ctx, i)
	if err != nil {
		release()
		return tokenPair{}, err
	}
	if p.RefreshToken == "" {
		release()
		return tokenPair{}, s.reauthorize(ctx, i, "GitLab issued no refresh token, so the expired access token cannot be renewed")
	}
	tok, err := conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc), &oauth2.Token{RefreshToken: p.RefreshToken}).Token()
	if err != nil {
		release()
		if refused, why := oauthRefused(err); refused {
			return tokenPair{}, s.reauthorize(ctx, i, "GitLab refused to renew the OAuth token: "+why)
		}
		ae := gitlab.ClassifyError(err)
		s.log.Warn("OAuth token refresh failed; will retry", "integration", integrationID, "kind", string(ae.Kind))
		return tokenPair{}, fromAPIError(ae, "renewing the OAuth token failed")
	}
	np := tokenPair{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: s.expiry(tok)}
	sealed, err := s.sealPair(ctx, orgID, integrationID, np)
	if err != nil {
		release()
		return tokenPair{}, err
	}
	var exp *time.Time
	if !np.Expiry.IsZero() {
		exp = &np.Expiry
	}
	scopes := cred.Scopes
	if sc, ok := tok.Extra("scope").(string); ok && sc != "" {
		scopes = strings.Fields(sc)
	}
	if err := s.st.SaveRefreshed(ctx, orgID, cred.ID, owner, sealed, scopes, exp); err != nil {
		return tokenPair{}, err
	}
	s.log.Debug("OAuth token refreshed", "integration", integrationID, "expires_at", np.Expiry)
	return np, nil
}

// expiry is when tok expires on the service's clock: GitLab's expires_in
// counted from now, or none when GitLab gave no lifetime (before 15.0).
func (s *Service) expiry(tok *oauth2.Token) time.Time {
	var secs float64
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		secs = v
	case json.Number:
		secs, _ = v.Float64()
	case string:
		fmt.Sscan(v, &secs)
	}
	if secs <= 0 {
		if tok.Expiry.IsZero() {
			return time.Time{}
		}
		return tok.Expiry.UTC()
	}
	return s.clock().Add(time.Duration(secs) * time.Second)
}

// reauthorize marks an OAuth integration "needs reauthorization", audits
// the refusal and returns the error callers see.
func (s *Service) reauthorize(ctx context.Context, i store.Integration, reason string) error {
	changed, err := s.st.SetIntegrationStatusIf(ctx, i.OrgID, i.ID, store.StatusNeedsReauthorization, reason,
		store.StatusActive, store.StatusUnreachable)
	if err == nil && changed {
		s.log.Warn("OAuth refresh refused; the integration needs reauthorization", "integration", i.ID)
		s.audit(ctx, i.OrgID, nil, "system", "integration.token_refresh_failed", i.ID, map[string]any{"reason": reason})
	}
	s.forget(i.ID)
	return &problem.Error{Kind: problem.Conflict, Code: CodeUnusable, Message: fmt.Sprintf("integration %q needs reauthorization: %s", i.Alias, reason),
		Remedy: "Reconnect it with OAuth (POST /api/v1/integrations/gitlab/start with integration_id, or `labsync connect oauth --reauthorize ID`)."}
}

// oauthRefused reports whether GitLab answered a token request with a
// refusal (as opposed to a network or server failure), and why in words.
func oauthRefused(err error) (bool, string) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false, ""
	}
	desc := re.ErrorDescription
	switch re.ErrorCode {
	case "invalid_grant":
		return true, withGitLab("the grant is invalid, expired, revoked, already used, or was issued for another redirect URI or application", desc)
	case "invalid_client", "unauthorized_client":
		return true, withGitLab("the application id or secret is not accepted (the application may have been deleted or its secret renewed)", desc)
	case "":
	default:
		return true, withGitLab(re.ErrorCode, desc)
	}
	if re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		return true, fmt.Sprintf("GitLab answered %d %s", re.Response.StatusCode, http.StatusText(re.Response.StatusCode))
	}
	return false, ""
}

func withGitLab(s, desc string) string {
	if desc != "" {
		return fmt.Sprintf("%s (GitLab: %q)", s, desc)
	}
	return s
}

// oauthConfigFor builds the OAuth configuration of an integration from its
// organisation's application.
func (s *Service) oauthConfigFor(ctx context.Context, i store.Integration) (*oauth2.Config, *http.Client, error) {
	base, err := gitlab.NormalizeBaseURL(i.BaseURL)
	if err != nil {
		return nil, nil, err
	}
	if i.OAuthAppID == nil {
		return nil, nil, s.reauthorize(ctx, i, "the organisation's OAuth application for this GitLab was removed")
	}
	app, err := s.st.OAuthAppByID(ctx, i.OrgID, *i.OAuthAppID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, s.reauthorize(ctx, i, "the organisation's OAuth application for this GitLab was removed")
	}
	if err != nil {
		return nil, nil, err
	}
	sec, err := s.vault.Open(ctx, i.OrgID, appSecretBinding(app.BaseURL), app.ClientSecretSealed)
	if err != nil {
		return nil, nil, fmt.Errorf("integrations: unable to open the OAuth application secret: %w", err)
	}
	hc, err := s.bareHTTP(base, i.CAPEM)
	if err != nil {
		return nil, nil, err
	}
	return oauthConfig(base, app.ClientID, string(sec), s.RedirectURI(), nil), hc, nil
}
