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
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
)

// bareHTTP is a guarded HTTP client for base without credentials: the
// OAuth token, revoke and token-info calls add their own.
func (s *Service) bareHTTP(base gitlab.BaseURL, caPEM string) (*http.Client, error) {
	opts := s.clientOptions(base, caPEM)
	opts.Timeout = s.netTimeout
	c, err := gitlab.New(opts)
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
	// AllowInsecureHTTP opts in to plain http, as in TokenInput.
	AllowInsecureHTTP bool `json:"allow_insecure_http,omitempty"`
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
		in.AllowInsecureHTTP = i.AllowInsecureHTTP
	}
	base, err := normalizeURL(in.BaseURL, in.AllowInsecureHTTP)
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
	if rep := diagnose.Run(ctx, s.diagnoseInput(base, in.CAPEM, secret.Secret{})); !rep.OK {
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
		AllowHookRegistration: in.AllowHookRegistration, AllowInsecureHTTP: in.AllowInsecureHTTP, VerifierSealed: sealed, ExpiresAt: s.clock().Add(StateTTL)}
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
// when any step fails, and a token already granted is then revoked.
func (s *Service) CompleteOAuth(ctx context.Context, in CompleteInput) (View, error) {
	st, err := s.consumeState(ctx, in)
	if err != nil {
		return View{}, err
	}
	if in.Error != "" {
		return View{}, authorizationRefused(in, st)
	}
	if in.Code.IsZero() {
		return View{}, &problem.Error{Kind: problem.Malformed, Code: CodeAuthorization, Field: "code",
			Message: "the OAuth callback carries no authorization code", Remedy: "Start the connection again."}
	}
	x, err := s.exchangeCode(ctx, st, in.Code)
	if err != nil {
		return View{}, err
	}
	g, err := s.checkGrant(ctx, st, x)
	if err != nil {
		x.revoke()
		return View{}, err
	}
	if err := s.warmKey(ctx, st.OrgID); err != nil {
		return View{}, err
	}
	id, err := s.saveOAuthIntegration(ctx, st, x, g)
	if err != nil {
		x.revoke()
		if errors.Is(err, store.ErrConflict) {
			return View{}, &problem.Error{Kind: problem.Conflict, Code: "conflict", Field: "alias",
				Message: fmt.Sprintf("an integration named %q already exists in this organisation", st.Alias), Remedy: "Start again with another alias."}
		}
		return View{}, err
	}
	if st.IntegrationID != nil {
		_ = s.st.SetIntegrationVersion(ctx, st.OrgID, id, g.version)
	}
	s.forget(id)
	action := "integration.connected"
	if st.IntegrationID != nil {
		action = "integration.reauthorized"
	}
	s.audit(ctx, st.OrgID, &st.UserID, "user", action, id, map[string]any{"auth_method": "oauth", "base_url": x.base.String(),
		"alias": st.Alias, "gitlab_user": g.user.Username, "scopes": g.scopes})
	s.log.Info("GitLab connected with OAuth", "integration", id, "base_url", x.base.String(), "gitlab_user", g.user.Username)
	return s.View(ctx, st.OrgID, id)
}

// consumeState finds and deletes the pending authorization in.State names;
// it must have been started by in.Who when the callback is authenticated.
func (s *Service) consumeState(ctx context.Context, in CompleteInput) (store.OAuthState, error) {
	if strings.TrimSpace(in.State) == "" {
		return store.OAuthState{}, &problem.Error{Kind: problem.Malformed, Code: CodeStateMissing, Field: "state",
			Message: "the OAuth callback carries no state, so labsync cannot tell which connection it completes",
			Remedy:  "Start the connection again from labsync; do not open the GitLab authorization page from a bookmark or another tool."}
	}
	hash := sha256.Sum256([]byte(strings.TrimSpace(in.State)))
	st, err := s.st.ConsumeOAuthState(ctx, hash[:], in.Who.OrgID, in.Who.UserID)
	switch {
	case errors.Is(err, store.ErrStateForeign):
		return st, &problem.Error{Kind: problem.Forbidden, Code: CodeStateForeign, Field: "state",
			Message: "this authorization was started by another user or organisation; it cannot be completed by you",
			Remedy:  "Start the connection yourself from labsync."}
	case errors.Is(err, store.ErrStateExpired):
		return st, &problem.Error{Kind: problem.Malformed, Code: CodeStateExpired, Field: "state",
			Message: fmt.Sprintf("this authorization expired (it must be completed within %d minutes)", int(StateTTL.Minutes())),
			Remedy:  "Start the connection again."}
	case errors.Is(err, store.ErrNotFound):
		return st, &problem.Error{Kind: problem.Malformed, Code: CodeStateUnknown, Field: "state",
			Message: "this authorization is unknown or was already used (each one works once)",
			Remedy:  "Start the connection again; if you reloaded the page, the connection may already exist — check the list of integrations."}
	}
	return st, err
}

// authorizationRefused words the error GitLab put on the callback.
func authorizationRefused(in CompleteInput, st store.OAuthState) error {
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
	return &problem.Error{Kind: problem.Malformed, Code: CodeAuthorization, Message: msg,
		Remedy: fmt.Sprintf("Start again and approve the request; the application must allow the scopes %s.", strings.Join(st.Scopes, ", "))}
}

// exchanged is a token pair GitLab granted for an authorization code, with
// what revoking it needs.
type exchanged struct {
	base   gitlab.BaseURL
	hc     *http.Client
	app    store.OAuthApp
	pair   tokenPair
	extra  *oauth2.Token
	revoke func()
}

// exchangeCode trades the authorization code for a token pair with the
// state's PKCE verifier and the organisation's application.
func (s *Service) exchangeCode(ctx context.Context, st store.OAuthState, code secret.Secret) (exchanged, error) {
	base, err := storedURL(st.BaseURL, st.AllowInsecureHTTP)
	if err != nil {
		return exchanged{}, err
	}
	app, err := s.st.OAuthAppByID(ctx, st.OrgID, st.OAuthAppID)
	if err != nil {
		return exchanged{}, err
	}
	sec, err := s.vault.Open(ctx, st.OrgID, appSecretBinding(app.BaseURL), app.ClientSecretSealed)
	if err != nil {
		return exchanged{}, err
	}
	verifier, err := s.vault.Open(ctx, st.OrgID, stateBinding(st.StateHash), st.VerifierSealed)
	if err != nil {
		return exchanged{}, err
	}
	hc, err := s.bareHTTP(base, st.CAPEM)
	if err != nil {
		return exchanged{}, err
	}
	conf := oauthConfig(base, app.ClientID, string(sec), st.RedirectURI, st.Scopes)
	octx := context.WithValue(ctx, oauth2.HTTPClient, hc)
	tok, err := conf.Exchange(octx, strings.TrimSpace(code.Reveal()), oauth2.VerifierOption(string(verifier)))
	if err != nil {
		if refused, why := oauthRefused(err); refused {
			return exchanged{}, &problem.Error{Kind: problem.Malformed, Code: CodeAuthorization,
				Message: "GitLab refused the authorization code: " + why,
				Remedy:  fmt.Sprintf("Check that the application registered in GitLab has exactly the redirect URI %s and that its id and secret are the ones labsync holds, then start again (codes work once and expire after 10 minutes).", st.RedirectURI)}
		}
		return exchanged{}, fromAPIError(gitlab.ClassifyError(err), "exchanging the authorization code failed")
	}
	x := exchanged{base: base, hc: hc, app: app, extra: tok,
		pair: tokenPair{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: s.expiry(tok)}}
	x.revoke = func() { s.revokeAt(context.WithoutCancel(ctx), hc, base, app.ClientID, string(sec), x.pair) }
	return x, nil
}

// grant is what the new token may do and whom it acts as.
type grant struct {
	scopes  []string
	user    gitlab.User
	version store.IntegrationVersion
	kind    string
}

// checkGrant reads the scopes, the account and GitLab's version with the
// new token; without read_api (or api) it refuses.
func (s *Service) checkGrant(ctx context.Context, st store.OAuthState, x exchanged) (grant, error) {
	scopes, err := tokenInfoScopes(ctx, x.hc, x.base, x.pair.AccessToken)
	if err != nil {
		return grant{}, err
	}
	if len(scopes) == 0 {
		if sc, ok := x.extra.Extra("scope").(string); ok {
			scopes = strings.Fields(sc)
		}
	}
	if !hasAny(scopes, "read_api", "api") {
		return grant{}, &problem.Error{Kind: problem.Invalid, Code: CodeNeedsScope,
			Message: fmt.Sprintf("GitLab granted the scopes %s, without read_api (or api), which labsync needs to read projects, merge requests, issues and pipelines", strings.Join(scopes, ", ")),
			Remedy:  "Edit the application in GitLab to allow read_api, read_user and read_repository, then start again."}
	}
	opts := s.clientOptions(x.base, st.CAPEM)
	opts.Timeout, opts.TokenSource = s.netTimeout, oauth2.StaticTokenSource(x.pair.token())
	api, err := gitlab.New(opts)
	if err != nil {
		return grant{}, err
	}
	u, err := api.CurrentUser(ctx)
	if err != nil {
		return grant{}, fromAPIError(gitlab.ClassifyError(err), "reading the account of the new token failed")
	}
	ver, err := s.inspect(ctx, api)
	if err != nil {
		return grant{}, fromAPIError(gitlab.ClassifyError(err), "reading GitLab's version failed")
	}
	// An OAuth token acts for the person who consented, whatever their
	// account: its kind is oauth.
	return grant{scopes: scopes, user: u, version: ver, kind: gitlab.TokenOAuth}, nil
}

// saveOAuthIntegration creates the integration (or, on reauthorization,
// updates its account) and saves its sealed token pair, in one transaction.
func (s *Service) saveOAuthIntegration(ctx context.Context, st store.OAuthState, x exchanged, g grant) (int64, error) {
	var exp *time.Time
	if !x.pair.Expiry.IsZero() {
		exp = &x.pair.Expiry
	}
	uid := g.user.ID
	var id int64
	err := s.st.InTx(ctx, func(tx *sql.Tx) error {
		if st.IntegrationID != nil {
			id = *st.IntegrationID
			if err := s.st.SetIntegrationAccount(ctx, tx, st.OrgID, id, g.user.Username, &uid); err != nil {
				return err
			}
		} else {
			if err := s.st.FreeDisconnectedAlias(ctx, tx, st.OrgID, st.Alias); err != nil {
				return err
			}
			appID := x.app.ID
			ver := g.version
			i := &store.Integration{OrgID: st.OrgID, Alias: st.Alias, BaseURL: x.base.String(), AuthMethod: store.AuthMethodOAuth,
				OAuthAppID: &appID, Status: store.StatusActive, CAPEM: st.CAPEM, AllowHookRegistration: st.AllowHookRegistration,
				AllowInsecureHTTP: st.AllowInsecureHTTP, GitLabUsername: g.user.Username, GitLabUserID: &uid, CreatedBy: &st.UserID,
				GitLabVersion: ver.Version, GitLabRevision: ver.Revision, GitLabEnterprise: ver.Enterprise,
				Capabilities: ver.Capabilities, VersionCheckedAt: &ver.CheckedAt}
			if err := s.st.CreateIntegration(ctx, tx, i); err != nil {
				return err
			}
			id = i.ID
		}
		sealed, err := s.sealPair(ctx, st.OrgID, id, x.pair)
		if err != nil {
			return err
		}
		return s.st.SaveCredential(ctx, tx, &store.Credential{OrgID: st.OrgID, IntegrationID: id, Kind: store.CredentialOAuth,
			Ciphertext: sealed, TokenKind: g.kind, Scopes: g.scopes, ExpiresAt: exp})
	})
	return id, err
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
