package integrations

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/oauth2"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
)

// Actor is who acts: a user within an organisation.
type Actor struct {
	OrgID  int64
	UserID int64
}

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

// bareHTTP is a guarded HTTP client for base without credentials: the
// OAuth token, revoke and token-info calls add their own.
func (s *Service) bareHTTP(base gitlab.BaseURL, caPEM string) (*http.Client, error) {
	c, err := gitlab.New(gitlab.Options{BaseURL: base, CAPEM: []byte(caPEM), Policy: s.policy, Timeout: s.netTimeout, UserAgent: "labsync"})
	if err != nil {
		return nil, invalid("ca_pem", "Give the PEM of the CA that signed GitLab's certificate.", "%v", err)
	}
	return c.HTTP(), nil
}

func oauthConfig(base gitlab.BaseURL, clientID, clientSecret, redirect string, scopes []string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: base.URL("/oauth/authorize"), TokenURL: base.URL("/oauth/token"), AuthStyle: oauth2.AuthStyleInParams},
	}
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

// DefaultScopes are what labsync asks for: enough for everything except
// webhook registration, which needs api.
var DefaultScopes = []string{"read_api", "read_user", "read_repository"}

// StartInput begins an OAuth connection.
type StartInput struct {
	BaseURL string `json:"base_url"`
	// ClientID and ClientSecret register (or replace) the organisation's
	// application for this GitLab; leave both empty to use the saved one.
	ClientID     string        `json:"client_id,omitempty"`
	ClientSecret secret.Secret `json:"client_secret,omitzero"`
	Alias        string        `json:"alias,omitempty"`
	CAPEM        string        `json:"ca_pem,omitempty"`
	// AllowHookRegistration asks for the api scope too, so labsync may
	// register its own webhooks.
	AllowHookRegistration bool `json:"allow_hook_registration,omitempty"`
	// IntegrationID reauthorises an existing OAuth integration instead of
	// creating one; its URL, CA, alias and opt-in are kept.
	IntegrationID int64 `json:"integration_id,omitempty"`
}

// StartResult is where to send the user.
type StartResult struct {
	AuthorizeURL   string    `json:"authorize_url"`
	State          string    `json:"state"`
	StateExpiresAt time.Time `json:"state_expires_at"`
	RedirectURI    string    `json:"redirect_uri"`
	Scopes         []string  `json:"scopes"`
	ClientID       string    `json:"client_id"`
	BaseURL        string    `json:"base_url"`
	Alias          string    `json:"alias"`
}

// StartOAuth checks the way to GitLab, settles the OAuth application and
// returns the authorize URL with a fresh state (single use, bound to the
// actor's user and organisation, valid StateTTL) and a PKCE S256 challenge.
func (s *Service) StartOAuth(ctx context.Context, who Actor, in StartInput) (StartResult, error) {
	var existing *store.Integration
	if in.IntegrationID != 0 {
		i, err := s.st.Integration(ctx, who.OrgID, in.IntegrationID)
		if err != nil {
			return StartResult{}, err
		}
		if i.AuthMethod != store.AuthMethodOAuth {
			return StartResult{}, invalid("integration_id", "Give the integration a new access token with PATCH instead.",
				"integration %q is connected with an access token, not OAuth", i.Alias)
		}
		if i.Status == store.StatusDisconnected {
			return StartResult{}, invalid("integration_id", "Connect again without integration_id.", "integration %q is disconnected", i.Alias)
		}
		existing = &i
		in.BaseURL, in.CAPEM, in.Alias, in.AllowHookRegistration = i.BaseURL, i.CAPEM, i.Alias, i.AllowHookRegistration
	}
	base, err := normalizeURL(in.BaseURL)
	if err != nil {
		return StartResult{}, err
	}
	if err := checkCA(in.CAPEM); err != nil {
		return StartResult{}, err
	}
	alias, err := s.checkAlias(ctx, who.OrgID, in.Alias, base, existing)
	if err != nil {
		return StartResult{}, err
	}
	// The way to GitLab (address policy, DNS, TCP, TLS, API) before the user
	// is sent there: a wrong URL or CA is reported here, not after consent.
	if rep := diagnose.Run(ctx, diagnose.Input{URL: base.String(), CAPEM: []byte(in.CAPEM), Policy: s.policy, Timeout: s.netTimeout}); !rep.OK {
		return StartResult{}, checkFailed(rep, "GitLab cannot be reached")
	}
	app, err := s.resolveApp(ctx, who, base, in.ClientID, in.ClientSecret)
	if err != nil {
		return StartResult{}, err
	}
	scopes := slices.Clone(DefaultScopes)
	if in.AllowHookRegistration {
		scopes = append(scopes, "api")
	}
	state, verifier := randomToken(32), oauth2.GenerateVerifier()
	hash := sha256.Sum256([]byte(state))
	sealed, err := s.vault.Seal(ctx, who.OrgID, stateBinding(hash[:]), []byte(verifier))
	if err != nil {
		return StartResult{}, err
	}
	st := &store.OAuthState{StateHash: hash[:], OrgID: who.OrgID, UserID: who.UserID, OAuthAppID: app.ID,
		BaseURL: base.String(), RedirectURI: s.RedirectURI(), Alias: alias, Scopes: scopes, CAPEM: in.CAPEM,
		AllowHookRegistration: in.AllowHookRegistration, VerifierSealed: sealed, ExpiresAt: s.clock().Add(StateTTL)}
	if existing != nil {
		st.IntegrationID = &existing.ID
	}
	if err := s.st.CreateOAuthState(ctx, st); err != nil {
		return StartResult{}, err
	}
	conf := oauthConfig(base, app.ClientID, "", s.RedirectURI(), scopes)
	return StartResult{
		AuthorizeURL: conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)),
		State:        state, StateExpiresAt: st.ExpiresAt, RedirectURI: s.RedirectURI(), Scopes: scopes,
		ClientID: app.ClientID, BaseURL: base.String(), Alias: alias,
	}, nil
}

func stateBinding(hash []byte) vault.Binding {
	return vault.Binding{Table: "oauth_states", Row: hex.EncodeToString(hash), Field: "pkce_verifier"}
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// resolveApp saves the application given, or finds the organisation's.
func (s *Service) resolveApp(ctx context.Context, who Actor, base gitlab.BaseURL, clientID string, clientSecret secret.Secret) (store.OAuthApp, error) {
	clientID = strings.TrimSpace(clientID)
	if clientID == "" && clientSecret.IsZero() {
		app, err := s.st.OAuthAppFor(ctx, who.OrgID, base.String())
		if errors.Is(err, store.ErrNotFound) {
			return app, &problem.Error{Kind: problem.Invalid, Code: CodeNoOAuthApp, Field: "client_id",
				Message: fmt.Sprintf("your organisation has no OAuth application registered for %s", base),
				Remedy: fmt.Sprintf("Create an application in GitLab (Admin Area → Applications, or User settings → Applications) with the redirect URI %s, confidential, the scopes %s, and give its Application ID and Secret here (or register it once with PUT /api/v1/oauth-apps).",
					s.RedirectURI(), strings.Join(DefaultScopes, ", "))}
		}
		return app, err
	}
	return s.SaveOAuthApp(ctx, who, OAuthAppInput{BaseURL: base.String(), ClientID: clientID, ClientSecret: clientSecret})
}

// OAuthAppInput registers an organisation's GitLab OAuth application.
type OAuthAppInput struct {
	BaseURL      string        `json:"base_url"`
	ClientID     string        `json:"client_id"`
	ClientSecret secret.Secret `json:"client_secret"`
}

// SaveOAuthApp creates or replaces the organisation's application for a
// GitLab; the secret is sealed and never shown again.
func (s *Service) SaveOAuthApp(ctx context.Context, who Actor, in OAuthAppInput) (store.OAuthApp, error) {
	base, err := normalizeURL(in.BaseURL)
	if err != nil {
		return store.OAuthApp{}, err
	}
	id := strings.TrimSpace(in.ClientID)
	sec := strings.TrimSpace(in.ClientSecret.Reveal())
	switch {
	case id == "":
		return store.OAuthApp{}, invalid("client_id", "Copy the Application ID from GitLab's application page.", "the application id (client_id) is missing")
	case sec == "":
		return store.OAuthApp{}, invalid("client_secret", "Copy the Secret from GitLab's application page; GitLab shows it once, renew it there if it is lost.", "the application secret (client_secret) is missing")
	case strings.ContainsFunc(id, isSpace) || strings.ContainsFunc(sec, isSpace):
		return store.OAuthApp{}, invalid("client_secret", "Paste the id and secret again, each as one word.", "the application id or secret contains spaces or line breaks")
	case strings.HasPrefix(sec, "glpat-"):
		return store.OAuthApp{}, invalid("client_secret", "Connect with POST /api/v1/integrations/gitlab/token to use an access token, or paste the application's Secret here.", "this is a personal access token, not an OAuth application secret")
	}
	sealed, err := s.vault.Seal(ctx, who.OrgID, appSecretBinding(base.String()), []byte(sec))
	if err != nil {
		return store.OAuthApp{}, err
	}
	app, err := s.st.SaveOAuthApp(ctx, who.OrgID, base.String(), id, sealed)
	if err != nil {
		return app, err
	}
	s.audit(ctx, who.OrgID, &who.UserID, "user", "oauth_app.saved", 0, map[string]any{"base_url": base.String(), "client_id": id, "oauth_app_id": app.ID})
	return app, nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// CompleteInput finishes an OAuth connection: what GitLab put on the
// redirect, and who is completing it (zero for the browser callback, which
// the state alone authenticates).
type CompleteInput struct {
	State            string
	Code             secret.Secret
	Error            string
	ErrorDescription string
	Who              Actor
}

// CompleteOAuth consumes the state (once), exchanges the code with the PKCE
// verifier, reads /oauth/token/info, /user and the version, and saves the
// integration and its sealed token pair in one transaction. Nothing is saved
// when any step fails.
func (s *Service) CompleteOAuth(ctx context.Context, in CompleteInput) (View, error) {
	if strings.TrimSpace(in.State) == "" {
		return View{}, &problem.Error{Kind: problem.Malformed, Code: CodeStateMissing, Field: "state",
			Message: "the OAuth callback carries no state, so labsync cannot tell which connection it completes",
			Remedy:  "Start the connection again from labsync; do not open the GitLab authorization page from a bookmark or another tool."}
	}
	hash := sha256.Sum256([]byte(strings.TrimSpace(in.State)))
	st, err := s.st.ConsumeOAuthState(ctx, hash[:], in.Who.OrgID, in.Who.UserID)
	switch {
	case errors.Is(err, store.ErrStateForeign):
		return View{}, &problem.Error{Kind: problem.Forbidden, Code: CodeStateForeign, Field: "state",
			Message: "this authorization was started by another user or organisation; it cannot be completed by you",
			Remedy:  "Start the connection yourself from labsync."}
	case errors.Is(err, store.ErrStateExpired):
		return View{}, &problem.Error{Kind: problem.Malformed, Code: CodeStateExpired, Field: "state",
			Message: fmt.Sprintf("this authorization expired (it must be completed within %d minutes)", int(StateTTL.Minutes())),
			Remedy:  "Start the connection again."}
	case errors.Is(err, store.ErrNotFound):
		return View{}, &problem.Error{Kind: problem.Malformed, Code: CodeStateUnknown, Field: "state",
			Message: "this authorization is unknown or was already used (each one works once)",
			Remedy:  "Start the connection again; if you reloaded the page, the connection may already exist — check the list of integrations."}
	case err != nil:
		return View{}, err
	}
	if in.Error != "" {
		msg := "GitLab did not authorize labsync"
		switch in.Error {
		case "access_denied":
			msg += ": the authorization was denied on GitLab's consent page"
		case "invalid_scope":
			msg += fmt.Sprintf(": the application in GitLab does not allow the scopes labsync asks for (%s)", strings.Join(st.Scopes, ", "))
		default:
			msg += ": " + in.Error
		}
		if in.ErrorDescription != "" {
			msg += fmt.Sprintf(" (GitLab: %q)", shorten(in.ErrorDescription, 200))
		}
		return View{}, &problem.Error{Kind: problem.Malformed, Code: CodeAuthorization, Message: msg,
			Remedy: fmt.Sprintf("Start again and approve the request; the application must allow the scopes %s.", strings.Join(st.Scopes, ", "))}
	}
	if in.Code.IsZero() {
		return View{}, &problem.Error{Kind: problem.Malformed, Code: CodeAuthorization, Field: "code",
			Message: "the OAuth callback carries no authorization code", Remedy: "Start the connection again."}
	}
	base, err := gitlab.NormalizeBaseURL(st.BaseURL)
	if err != nil {
		return View{}, err
	}
	app, err := s.st.OAuthAppByID(ctx, st.OrgID, st.OAuthAppID)
	if err != nil {
		return View{}, err
	}
	sec, err := s.vault.Open(ctx, st.OrgID, appSecretBinding(app.BaseURL), app.ClientSecretSealed)
	if err != nil {
		return View{}, err
	}
	verifier, err := s.vault.Open(ctx, st.OrgID, stateBinding(st.StateHash), st.VerifierSealed)
	if err != nil {
		return View{}, err
	}
	hc, err := s.bareHTTP(base, st.CAPEM)
	if err != nil {
		return View{}, err
	}
	conf := oauthConfig(base, app.ClientID, string(sec), st.RedirectURI, st.Scopes)
	octx := context.WithValue(ctx, oauth2.HTTPClient, hc)
	tok, err := conf.Exchange(octx, strings.TrimSpace(in.Code.Reveal()), oauth2.VerifierOption(string(verifier)))
	if err != nil {
		if refused, why := oauthRefused(err); refused {
			return View{}, &problem.Error{Kind: problem.Malformed, Code: CodeAuthorization,
				Message: "GitLab refused the authorization code: " + why,
				Remedy:  fmt.Sprintf("Check that the application registered in GitLab has exactly the redirect URI %s and that its id and secret are the ones labsync holds, then start again (codes work once and expire after 10 minutes).", st.RedirectURI)}
		}
		return View{}, fromAPIError(gitlab.ClassifyError(err), "exchanging the authorization code failed")
	}
	pair := tokenPair{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: s.expiry(tok)}
	revoke := func() { s.revokeAt(context.WithoutCancel(ctx), hc, base, app.ClientID, string(sec), pair) }

	scopes, err := tokenInfoScopes(ctx, hc, base, pair.AccessToken)
	if err != nil {
		revoke()
		return View{}, err
	}
	if len(scopes) == 0 {
		if sc, ok := tok.Extra("scope").(string); ok {
			scopes = strings.Fields(sc)
		}
	}
	if !hasAny(scopes, "read_api", "api") {
		revoke()
		return View{}, &problem.Error{Kind: problem.Invalid, Code: CodeNeedsScope,
			Message: fmt.Sprintf("GitLab granted the scopes %s, without read_api (or api), which labsync needs to read projects, merge requests, issues and pipelines", strings.Join(scopes, ", ")),
			Remedy:  "Edit the application in GitLab to allow read_api, read_user and read_repository, then start again."}
	}
	api, err := gitlab.New(gitlab.Options{BaseURL: base, CAPEM: []byte(st.CAPEM), Policy: s.policy, Timeout: s.netTimeout,
		TokenSource: oauth2.StaticTokenSource(pair.token()), UserAgent: "labsync"})
	if err != nil {
		revoke()
		return View{}, err
	}
	u, _, err := api.API().Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		revoke()
		return View{}, fromAPIError(gitlab.ClassifyError(err), "reading the account of the new token failed")
	}
	ver, err := s.inspect(ctx, api)
	if err != nil {
		revoke()
		return View{}, fromAPIError(gitlab.ClassifyError(err), "reading GitLab's version failed")
	}
	var exp *time.Time
	if !pair.Expiry.IsZero() {
		exp = &pair.Expiry
	}
	uid := u.ID
	kind := userTokenKind(u.Username, u.Bot)
	if kind == "" {
		kind = "oauth"
	}
	if err := s.warmKey(ctx, st.OrgID); err != nil {
		return View{}, err
	}
	var id int64
	err = s.st.InTx(ctx, func(tx *sql.Tx) error {
		if st.IntegrationID != nil {
			id = *st.IntegrationID
			if err := s.st.SetIntegrationAccount(ctx, tx, st.OrgID, id, u.Username, &uid); err != nil {
				return err
			}
		} else {
			if err := s.st.FreeDisconnectedAlias(ctx, tx, st.OrgID, st.Alias); err != nil {
				return err
			}
			appID := app.ID
			i := &store.Integration{OrgID: st.OrgID, Alias: st.Alias, BaseURL: base.String(), AuthMethod: store.AuthMethodOAuth,
				OAuthAppID: &appID, Status: store.StatusActive, CAPEM: st.CAPEM, AllowHookRegistration: st.AllowHookRegistration,
				GitLabUsername: u.Username, GitLabUserID: &uid, CreatedBy: &st.UserID,
				GitLabVersion: ver.Version, GitLabRevision: ver.Revision, GitLabEnterprise: ver.Enterprise,
				Capabilities: ver.Capabilities, VersionCheckedAt: &ver.CheckedAt}
			if err := s.st.CreateIntegration(ctx, tx, i); err != nil {
				return err
			}
			id = i.ID
		}
		sealed, err := s.sealPair(ctx, st.OrgID, id, pair)
		if err != nil {
			return err
		}
		return s.st.SaveCredential(ctx, tx, &store.Credential{OrgID: st.OrgID, IntegrationID: id, Kind: store.CredentialOAuth,
			Ciphertext: sealed, TokenKind: kind, Scopes: scopes, ExpiresAt: exp})
	})
	if err != nil {
		revoke()
		if errors.Is(err, store.ErrConflict) {
			return View{}, &problem.Error{Kind: problem.Conflict, Code: "conflict", Field: "alias",
				Message: fmt.Sprintf("an integration named %q already exists in this organisation", st.Alias), Remedy: "Start again with another alias."}
		}
		return View{}, err
	}
	if st.IntegrationID != nil {
		_ = s.st.SetIntegrationVersion(ctx, st.OrgID, id, ver)
	}
	s.forget(id)
	action := "integration.connected"
	if st.IntegrationID != nil {
		action = "integration.reauthorized"
	}
	s.audit(ctx, st.OrgID, &st.UserID, "user", action, id, map[string]any{"auth_method": "oauth", "base_url": base.String(),
		"alias": st.Alias, "gitlab_user": u.Username, "scopes": scopes})
	s.log.Info("GitLab connected with OAuth", "integration", id, "base_url", base.String(), "gitlab_user", u.Username)
	return s.View(ctx, st.OrgID, id)
}

// tokenInfoScopes reads the scopes of an OAuth access token from
// /oauth/token/info.
func tokenInfoScopes(ctx context.Context, hc *http.Client, base gitlab.BaseURL, access string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.URL("/oauth/token/info"), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fromAPIError(gitlab.ClassifyError(err), "reading /oauth/token/info failed")
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if ae := gitlab.Classify(resp, body); ae != nil {
		return nil, fromAPIError(ae, "reading /oauth/token/info failed")
	}
	var info struct {
		Scope  json.RawMessage `json:"scope"`
		Scopes []string        `json:"scopes"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, &problem.Error{Kind: problem.Upstream, Code: CodeGitLabUnreachable, Reason: string(gitlab.KindUnexpected),
			Message: "GitLab's /oauth/token/info did not answer with JSON", Remedy: "Check that the URL points at GitLab itself."}
	}
	if len(info.Scopes) > 0 {
		return info.Scopes, nil
	}
	var list []string
	if json.Unmarshal(info.Scope, &list) == nil {
		return list, nil
	}
	var one string
	if json.Unmarshal(info.Scope, &one) == nil {
		return strings.Fields(one), nil
	}
	return nil, nil
}

// revokeAt revokes a pair at GitLab (refresh token, then access token); it
// reports the first failure.
func (s *Service) revokeAt(ctx context.Context, hc *http.Client, base gitlab.BaseURL, clientID, clientSecret string, p tokenPair) error {
	ctx, cancel := context.WithTimeout(ctx, s.netTimeout)
	defer cancel()
	var first error
	for _, t := range []struct{ v, hint string }{{p.RefreshToken, "refresh_token"}, {p.AccessToken, "access_token"}} {
		if t.v == "" {
			continue
		}
		form := url.Values{"token": {t.v}, "token_type_hint": {t.hint}, "client_id": {clientID}, "client_secret": {clientSecret}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.URL("/oauth/revoke"), strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			if first == nil {
				first = fromAPIError(gitlab.ClassifyError(err), "revoking the OAuth token failed")
			}
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if ae := gitlab.Classify(resp, body); ae != nil && first == nil {
			first = fromAPIError(ae, "GitLab refused to revoke the OAuth token")
		}
	}
	return first
}

func hasAny(have []string, want ...string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

func shorten(s string, n int) string {
	r := []rune(strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}
