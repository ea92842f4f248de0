// Package integrations connects an organisation's GitLab instances to
// labsync: by access token or by OAuth2 (authorization code with PKCE), with
// the diagnosis before anything is saved, the credentials sealed by the
// vault, the GitLab version and capabilities recorded, token expiry
// warnings, OAuth refresh that spends each single-use refresh token exactly
// once across replicas, settings and disconnection.
//
// It owns the use-cases on an integration and their audit entries,
// whichever face (API, UI, command line) they come through: changing the
// selection and starting a sync (through the sync service), issuing and
// registering webhooks and removing them on disconnect (through the webhook
// service); both are given by [Service.SetPeers]. Refusals the user can act
// on are *problem.Error values; it never chooses an HTTP status.
//
// Other features reach GitLab only through [Service.Client], which returns
// the integration's one long-lived, read-only guarded client, and report a
// credential GitLab refused with [Service.MarkTokenProblem].
//
// This package must never log, return or store in clear a token, refresh
// token, client secret, authorization code or PKCE verifier; never switch
// TLS verification off; never send a write to GitLab other than the OAuth
// token and revoke calls and the webhook registration an integration opted
// in to; and never read or change another organisation's rows (another
// organisation's integration is "not found").
package integrations

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

// CallbackPath is where GitLab sends the browser back after consent; the
// redirect URI to register in GitLab is LABSYNC_PUBLIC_URL followed by it.
const CallbackPath = "/api/v1/connectors/gitlab/callback"

// Durations of the OAuth machinery.
const (
	// StateTTL is how long a started authorization may be completed.
	StateTTL = 10 * time.Minute
	// RefreshBefore is how long before its expiry an access token is refreshed.
	RefreshBefore = 5 * time.Minute
	// refreshLease bounds how long one replica may hold the refresh lease;
	// it is well above the time one refresh request may take.
	refreshLease = 2 * time.Minute
	// refreshTimeout bounds one refresh at GitLab plus saving the result.
	refreshTimeout = 45 * time.Second
)

// Service connects and manages integrations. It is safe for concurrent use;
// build one per process with New.
type Service struct {
	st     *store.Store
	vault  *vault.Vault
	runner *jobs.Runner
	cfg    config.Config
	log    *slog.Logger
	now    func() time.Time
	policy gitlab.AddressPolicy
	// owner names this instance in refresh leases.
	owner string
	// netTimeout bounds each request to GitLab made while connecting.
	netTimeout time.Duration

	mu      sync.Mutex
	clients map[int64]*cachedClient

	daysToExpiry *prometheus.GaugeVec
	// webhooks and sync are the services the integration use-cases call
	// (SetPeers); nil until set.
	webhooks *webhook.Service
	sync     *syncer.Service
	// mirrors deletes repository mirrors (SetMirrors); nil keeps none.
	mirrors MirrorRemover
}

type cachedClient struct {
	fingerprint string
	client      *gitlab.Client
	oauth       *oauthSource
}

// New returns the service. runner may be nil (no background jobs, as in
// CLI commands and some tests); clock may be nil for time.Now. The address
// policy comes from cfg (LABSYNC_ALLOW_LOOPBACK_GITLAB,
// LABSYNC_FORBID_PRIVATE_GITLAB).
func New(st *store.Store, vlt *vault.Vault, runner *jobs.Runner, cfg config.Config, log *slog.Logger, clock func() time.Time) *Service {
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 8)
	rand.Read(b)
	return &Service{
		st: st, vault: vlt, runner: runner, cfg: cfg, log: log, now: clock,
		policy:     gitlab.AddressPolicy{AllowLoopback: cfg.AllowLoopbackGitLab, ForbidPrivate: cfg.ForbidPrivateGitLab},
		owner:      "labsync-" + hex.EncodeToString(b),
		netTimeout: 15 * time.Second,
		clients:    map[int64]*cachedClient{},
		daysToExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "labsync_token_days_to_expiry",
			Help: "Days until an integration's access token expires (negative once expired), by integration id.",
		}, []string{"integration"}),
	}
}

// SetNetworkTimeout changes how long each request to GitLab may take while
// connecting and diagnosing (default 15 s).
func (s *Service) SetNetworkTimeout(d time.Duration) {
	if d > 0 {
		s.netTimeout = d
	}
}

// RegisterMetrics adds the service's metrics to reg.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(s.daysToExpiry)
}

// RedirectURI is the OAuth redirect URI to register in GitLab, built from
// LABSYNC_PUBLIC_URL.
func (s *Service) RedirectURI() string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + CallbackPath
}

// PublicURL is LABSYNC_PUBLIC_URL without a trailing slash.
func (s *Service) PublicURL() string { return strings.TrimRight(s.cfg.PublicURL, "/") }

func (s *Service) clock() time.Time { return s.now().UTC() }

func credentialBinding(integrationID int64, kind string) vault.Binding {
	return vault.Binding{Table: "credentials", Row: fmt.Sprintf("integration:%d", integrationID), Field: kind}
}

func appSecretBinding(baseURL string) vault.Binding {
	return vault.Binding{Table: "oauth_apps", Row: baseURL, Field: "client_secret"}
}

// Client returns the long-lived GitLab client of org's integration. The
// same client is returned on every call until the integration's
// credentials, CA or webhook opt-in change; it is safe for concurrent use.
// Its transport refuses every write except OAuth token calls and, when the
// integration opted in, webhook registration; an OAuth client refreshes its
// access token before expiry. A 401 from GitLab (expired, revoked or
// unknown token) marks the integration at once ("needs a new token" or
// "needs reauthorization", with GitLab's reason).
//
// It fails with store.ErrNotFound when org has no such integration, and
// with an *Error of code integration_unusable when the integration is
// disconnected or waits for a new token or reauthorization.
func (s *Service) Client(ctx context.Context, orgID, integrationID int64) (*gitlab.Client, error) {
	i, err := s.st.Integration(ctx, orgID, integrationID)
	if err != nil {
		return nil, err
	}
	if err := usable(i); err != nil {
		return nil, err
	}
	cred, err := s.st.Credential(ctx, orgID, integrationID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &problem.Error{Kind: problem.Conflict, Code: CodeUnusable,
			Message: fmt.Sprintf("integration %q has no credential", i.Alias), Remedy: "Connect it again."}
	}
	if err != nil {
		return nil, err
	}
	fp := fingerprint(i, cred)
	s.mu.Lock()
	if c := s.clients[integrationID]; c != nil && c.fingerprint == fp {
		s.mu.Unlock()
		return c.client, nil
	}
	s.mu.Unlock()

	c, err := s.buildClient(ctx, i, cred)
	if err != nil {
		return nil, err
	}
	c.fingerprint = fp
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.clients[integrationID]; old != nil && old.fingerprint == fp {
		return old.client, nil
	}
	s.clients[integrationID] = c
	return c.client, nil
}

// fingerprint changes whenever the client must be rebuilt: another
// credential (a new token or reauthorization gives a new row), another CA,
// another webhook or plain-http opt-in.
func fingerprint(i store.Integration, c store.Credential) string {
	h := sha256.Sum256([]byte(i.CAPEM))
	return fmt.Sprintf("%s|%x|%t|%t|%d|%s", i.BaseURL, h[:8], i.AllowHookRegistration, i.AllowInsecureHTTP, c.ID, i.AuthMethod)
}

func (s *Service) forget(integrationID int64) {
	s.mu.Lock()
	delete(s.clients, integrationID)
	s.mu.Unlock()
}

func usable(i store.Integration) error {
	switch i.Status {
	case store.StatusNeedsNewToken, store.StatusNeedsReauthorization, store.StatusDisconnected:
		e := &problem.Error{Kind: problem.Conflict, Code: CodeUnusable,
			Message: fmt.Sprintf("integration %q cannot be used: %s", i.Alias, statusWords(i.Status))}
		if i.StatusReason != "" {
			e.Message += " — " + i.StatusReason
		}
		e.Remedy = statusRemedy(i)
		return e
	}
	return nil
}

func (s *Service) buildClient(ctx context.Context, i store.Integration, cred store.Credential) (*cachedClient, error) {
	base, err := storedURL(i.BaseURL, i.AllowInsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("integrations: stored base URL of integration %d: %w", i.ID, err)
	}
	opts := s.clientOptions(base, i.CAPEM)
	opts.AllowHookWrites = i.AllowHookRegistration
	out := &cachedClient{}
	switch cred.Kind {
	case store.CredentialAccessToken:
		pt, err := s.vault.Open(ctx, i.OrgID, credentialBinding(i.ID, cred.Kind), cred.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("integrations: unable to open the credential of integration %d: %w", i.ID, err)
		}
		opts.Token = secret.New(string(pt))
	case store.CredentialOAuth:
		out.oauth = &oauthSource{s: s, orgID: i.OrgID, integrationID: i.ID}
		opts.TokenSource = out.oauth
	default:
		return nil, fmt.Errorf("integrations: integration %d has a credential of unknown kind %q", i.ID, cred.Kind)
	}
	c, err := gitlab.New(opts)
	if err != nil {
		return nil, fmt.Errorf("integrations: unable to build the GitLab client of integration %d: %w", i.ID, err)
	}
	hc := c.HTTP()
	hc.Transport = &watch{next: hc.Transport, s: s, orgID: i.OrgID, integrationID: i.ID, oauth: out.oauth}
	out.client = c
	return out, nil
}

// watch notices GitLab refusing the credential (401) on any request of an
// integration's client and acts on it at once: an access token is marked
// "needs a new token"; an OAuth token is refreshed, and the integration is
// marked "needs reauthorization" if GitLab refuses the refresh too.
type watch struct {
	next          http.RoundTripper
	s             *Service
	orgID         int64
	integrationID int64
	oauth         *oauthSource
}

func (w *watch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ae := gitlab.Classify(resp, body)
	if ae == nil || !ae.IsTokenProblem() {
		return resp, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), refreshTimeout)
	defer cancel()
	if w.oauth != nil {
		rejected, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		// A refresh that GitLab refuses marks the integration itself.
		if _, err := w.s.freshToken(ctx, w.orgID, w.integrationID, rejected); err != nil {
			w.s.log.Debug("OAuth token refused by GitLab and not refreshed", "integration", w.integrationID, "kind", string(ae.Kind))
		}
		w.oauth.drop()
		return resp, nil
	}
	w.s.tokenRejected(ctx, w.orgID, w.integrationID, store.AuthMethodToken, ae)
	return resp, nil
}

// MarkTokenProblem tells the service that GitLab refused the credential of
// org's integration with err (as returned by a call through Client). When
// err is a 401 — expired, revoked or unknown token — the integration is
// marked at once: "needs a new token" for an access token, and for OAuth a
// refresh is tried first and "needs reauthorization" follows if GitLab
// refuses it. The status reason quotes GitLab's words. It reports whether
// the integration is now unusable. Other errors are ignored. Clients from
// Client already do this on their own; calling it again is harmless.
func (s *Service) MarkTokenProblem(ctx context.Context, orgID, integrationID int64, err error) bool {
	var own *problem.Error
	if errors.As(err, &own) {
		return own.Code == CodeUnusable
	}
	ae := gitlab.ClassifyError(err)
	if ae == nil || ae.Status != http.StatusUnauthorized {
		return false
	}
	i, ierr := s.st.Integration(ctx, orgID, integrationID)
	if ierr != nil {
		return false
	}
	if i.AuthMethod == store.AuthMethodOAuth {
		cred, cerr := s.st.Credential(ctx, orgID, integrationID)
		if cerr != nil {
			return true
		}
		pair, perr := s.openPair(ctx, orgID, integrationID, cred)
		if perr != nil {
			return false
		}
		if _, ferr := s.freshToken(ctx, orgID, integrationID, pair.AccessToken); ferr != nil {
			return isUnusable(ferr)
		}
		s.forget(integrationID)
		return false
	}
	s.tokenRejected(ctx, orgID, integrationID, i.AuthMethod, ae)
	return true
}

// tokenRejected marks an access-token integration "needs a new token" with
// GitLab's reason, once, and audits it.
func (s *Service) tokenRejected(ctx context.Context, orgID, integrationID int64, method string, ae *gitlab.APIError) {
	reason := rejectionReason(ae)
	status := store.StatusNeedsNewToken
	if method == store.AuthMethodOAuth {
		status = store.StatusNeedsReauthorization
	}
	changed, err := s.st.SetIntegrationStatusIf(ctx, orgID, integrationID, status, reason, store.StatusActive, store.StatusUnreachable)
	s.forget(integrationID)
	if err != nil {
		s.log.Warn("unable to record that GitLab refused a token", "integration", integrationID, "err", err)
		return
	}
	if changed {
		s.log.Warn("GitLab refused the integration's token", "integration", integrationID, "kind", string(ae.Kind))
		s.audit(ctx, orgID, nil, "system", "integration.token_rejected", integrationID, map[string]any{"kind": ae.Kind, "reason": reason, "status": status})
	}
}

// rejectionReason says in words why GitLab refused a token.
func rejectionReason(ae *gitlab.APIError) string {
	var r string
	switch ae.Kind {
	case gitlab.KindTokenExpired:
		r = "GitLab says the token has expired"
	case gitlab.KindTokenRevoked:
		r = "GitLab says the token has been revoked"
	case gitlab.KindTokenInvalid:
		r = "GitLab no longer accepts the token (unknown token, or its account was blocked or deleted)"
	default:
		r = ae.Error()
	}
	if ae.GitLabMessage != "" {
		r += fmt.Sprintf(" (GitLab: %q)", ae.GitLabMessage)
	}
	return r
}

// warmKey loads (or creates) the organisation's data key before a
// transaction that seals inside it: on SQLite the write pool is one
// connection, which the open transaction holds, so the vault must not need
// the database while it is open.
func (s *Service) warmKey(ctx context.Context, orgID int64) error {
	_, err := s.vault.Seal(ctx, orgID, vault.Binding{Table: "credentials", Row: "warm-up", Field: "none"}, nil)
	return err
}

// Actor is who acts: a user within an organisation.
type Actor struct {
	OrgID  int64
	UserID int64
	// Via names the door the use-case came through ("api", "ui"), for
	// the audit entry; empty when it does not matter.
	Via string
}

// storedURL parses an integration's stored base URL again, with the
// plain-http opt-in when the integration holds it.
func storedURL(raw string, insecure bool) (gitlab.BaseURL, error) {
	if insecure {
		return gitlab.NormalizeBaseURL(raw, gitlab.AllowInsecureHTTP())
	}
	return gitlab.NormalizeBaseURL(raw)
}

// clientOptions are what every GitLab client of base shares: its CA, the
// address policy, the outbound proxy (LABSYNC_GITLAB_PROXY or the standard
// proxy variables) and the plain-http opt-in base was parsed with.
func (s *Service) clientOptions(base gitlab.BaseURL, caPEM string) gitlab.Options {
	return gitlab.Options{BaseURL: base, CAPEM: []byte(caPEM), Policy: s.policy, Proxy: s.cfg.GitLabProxy,
		AllowInsecureHTTP: base.Insecure(), UserAgent: "labsync"}
}

// diagnoseInput is the diagnosis of base with the service's address
// policy, proxy and network timeout, and the plain-http opt-in base was
// parsed with.
func (s *Service) diagnoseInput(base gitlab.BaseURL, caPEM string, tok secret.Secret) diagnose.Input {
	return diagnose.Input{URL: base.String(), Token: tok, CAPEM: []byte(caPEM), Policy: s.policy, Proxy: s.cfg.GitLabProxy,
		AllowInsecureHTTP: base.Insecure(), Timeout: s.netTimeout}
}
