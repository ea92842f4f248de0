package integrations_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/oauth2"

	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/vault"
)

const publicURL = "http://127.0.0.1:8787"

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a movable clock for the service.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }
func newClock() *clock                   { return &clock{} }
func ctxT(t *testing.T) context.Context  { return t.Context() }

type env struct {
	st    *store.Store
	vault *vault.Vault
	kek   vault.KEK
	svc   *integrations.Service
	sb    *sandbox.Sandbox
	clock *clock
	logs  *syncBuffer
	who   integrations.Actor
	cfg   config.Config
}

func startSandbox(t *testing.T, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	if cfg.Projects == 0 && cfg.Groups == 0 {
		cfg.Groups, cfg.Projects, cfg.MRs, cfg.Issues, cfg.Pipelines, cfg.Commits = 2, 4, 1, 1, 1, 1
	}
	sb, err := sandbox.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func newEnv(t *testing.T, sbCfg sandbox.Config) *env {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	kek, _, err := vault.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, kek: kek, vault: vault.New(kek, st.OrgKeys()), clock: newClock(), logs: &syncBuffer{},
		who: integrations.Actor{OrgID: b.Org.ID, UserID: b.Owner.ID},
		cfg: config.Config{PublicURL: publicURL, AllowLoopbackGitLab: true}}
	e.svc = e.newService()
	e.sb = startSandbox(t, sbCfg)
	return e
}

func (e *env) newService() *integrations.Service {
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := integrations.New(e.st, e.vault, nil, e.cfg, log, e.clock.now)
	s.SetNetworkTimeout(5 * time.Second)
	return s
}

func (e *env) redirectURI() string { return publicURL + integrations.CallbackPath }

// connectToken connects the sandbox with a new token of root.
func (e *env) connectToken(t *testing.T, alias string, scopes ...string) (integrations.ConnectResult, string) {
	t.Helper()
	tok := e.sb.CreateToken(sandbox.TokenSpec{User: "root", Scopes: scopes})
	res, err := e.svc.ConnectToken(context.Background(), e.who, integrations.TokenInput{
		BaseURL: e.sb.URL(), Token: secret.New(tok), Alias: alias, CAPEM: string(e.sb.CAPEM())})
	if err != nil {
		t.Fatalf("connect by token: %v", describe(err))
	}
	return res, tok
}

func describe(err error) string {
	var ie *problem.Error
	if errors.As(err, &ie) {
		return ie.Code + ": " + ie.Message + " → " + ie.Remedy
	}
	return err.Error()
}

// oauthApp registers an app in the sandbox for labsync's redirect URI.
func (e *env) oauthApp(t *testing.T) (string, string) {
	return e.sb.RegisterOAuthApp(e.redirectURI(), "api", "read_api", "read_user", "read_repository")
}

// consent plays the browser: it approves the authorize URL as user and
// returns the code GitLab would put on the redirect.
func (e *env) consent(t *testing.T, authorizeURL, redirect, user string) string {
	t.Helper()
	u, err := url.Parse(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		t.Fatalf("no PKCE S256 in the authorize URL: %s", authorizeURL)
	}
	code, ok := e.sb.AuthorizeCode(q.Get("client_id"), redirect, user, q.Get("code_challenge"))
	if !ok {
		t.Fatalf("sandbox refused consent for %s", redirect)
	}
	return code
}

func (e *env) connectOAuth(t *testing.T, alias string) (integrations.View, string, string) {
	t.Helper()
	id, sec := e.oauthApp(t)
	start, err := e.svc.StartOAuth(context.Background(), e.who, integrations.StartInput{BaseURL: e.sb.URL(), ClientID: id,
		ClientSecret: secret.New(sec), Alias: alias, CAPEM: string(e.sb.CAPEM())})
	if err != nil {
		t.Fatalf("start: %s", describe(err))
	}
	if start.RedirectURI != e.redirectURI() {
		t.Fatalf("redirect URI %q", start.RedirectURI)
	}
	code := e.consent(t, start.AuthorizeURL, start.RedirectURI, "root")
	v, err := e.svc.CompleteOAuth(context.Background(), integrations.CompleteInput{State: start.State, Code: secret.New(code), Who: e.who})
	if err != nil {
		t.Fatalf("complete: %s", describe(err))
	}
	return v, sec, code
}

func listProjects(ctx context.Context, svc *integrations.Service, who integrations.Actor, id int64) (int, error) {
	c, err := svc.Client(ctx, who.OrgID, id)
	if err != nil {
		return 0, err
	}
	ps, _, err := c.API().Projects.ListProjects(&gl.ListProjectsOptions{Membership: gl.Ptr(true), ListOptions: gl.ListOptions{PerPage: 100}}, gl.WithContext(ctx))
	return len(ps), err
}

// assertNoWrites fails when the sandbox saw any request but reads and the
// OAuth token endpoints.
func assertNoWrites(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	for _, r := range sb.Requests() {
		if r.Method == "GET" || r.Method == "HEAD" {
			continue
		}
		if r.Method == "POST" && (r.Path == "/oauth/token" || r.Path == "/oauth/revoke") {
			continue
		}
		t.Errorf("labsync sent a write to GitLab: %s %s", r.Method, r.Path)
	}
}

func countRequests(sb *sandbox.Sandbox, method, path string) int {
	n := 0
	for _, r := range sb.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

func TestConnectByTokenAcrossVersions(t *testing.T) {
	for _, v := range []string{"12.10", "15.11", "19.0"} {
		t.Run(v, func(t *testing.T) {
			e := newEnv(t, sandbox.Config{Version: v, TLS: sandbox.TLSCA})
			res, _ := e.connectToken(t, "main", "read_api", "read_user", "read_repository")
			iv := res.Integration
			if iv.Status != store.StatusActive || iv.AuthMethod != "token" || !strings.HasPrefix(iv.Version, v) || !iv.CustomCA {
				t.Fatalf("view: %+v", iv)
			}
			if len(iv.Capabilities) == 0 || iv.Account == nil || iv.Account.Username != "root" || iv.Token == nil || iv.Token.Kind != "personal" {
				t.Fatalf("view: %+v token %+v", iv, iv.Token)
			}
			switch v {
			case "12.10":
				if iv.Token.ScopesKnown || iv.Token.ExpiresAt != nil {
					t.Fatalf("12.10 cannot list scopes or expiry: %+v", iv.Token)
				}
			case "19.0":
				if !iv.Token.ScopesKnown || iv.Token.ExpiresAt == nil || iv.Token.DaysLeft == nil || *iv.Token.DaysLeft < 300 {
					t.Fatalf("19.0 token view: %+v", iv.Token)
				}
				if len(iv.MissingScopes) != 1 || iv.MissingScopes[0].Feature != "webhook_registration" || iv.MissingScopes[0].Required {
					t.Fatalf("missing scopes: %+v", iv.MissingScopes)
				}
			}
			n, err := listProjects(ctxT(t), e.svc, e.who, iv.ID)
			if err != nil || n == 0 {
				t.Fatalf("list projects through the client: %d %v", n, err)
			}
			c1, _ := e.svc.Client(ctxT(t), e.who.OrgID, iv.ID)
			c2, _ := e.svc.Client(ctxT(t), e.who.OrgID, iv.ID)
			if c1 != c2 {
				t.Fatal("Client built a new client for unchanged settings")
			}
			// A write through the integration's client is refused before it leaves.
			_, _, err = c1.API().Projects.AddProjectHook(1, &gl.AddProjectHookOptions{URL: gl.Ptr("https://example.com/hook")})
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("hook write not refused: %v", err)
			}
			assertNoWrites(t, e.sb)
		})
	}
}

func TestConnectByOAuthAcrossVersions(t *testing.T) {
	for _, v := range []string{"12.10", "15.11", "19.0"} {
		t.Run(v, func(t *testing.T) {
			e := newEnv(t, sandbox.Config{Version: v, TLS: sandbox.TLSCA})
			iv, _, _ := e.connectOAuth(t, "oauth")
			if iv.AuthMethod != "oauth" || iv.Status != store.StatusActive || iv.RedirectURI != e.redirectURI() || iv.OAuthClientID == "" {
				t.Fatalf("view: %+v", iv)
			}
			if iv.Token == nil || !iv.Token.AutoRefresh || !iv.Token.ScopesKnown || iv.Token.Warning != nil {
				t.Fatalf("token: %+v", iv.Token)
			}
			if n, err := listProjects(ctxT(t), e.svc, e.who, iv.ID); err != nil || n == 0 {
				t.Fatalf("list projects: %d %v", n, err)
			}
			if got := countRequests(e.sb, "GET", "/oauth/token/info"); got != 1 {
				t.Fatalf("token info read %d times", got)
			}
			assertNoWrites(t, e.sb)
		})
	}
}

func TestOAuthStateIsSingleUseBoundAndExpiring(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	id, sec := e.oauthApp(t)
	n := 0
	start := func() integrations.StartResult {
		n++
		r, err := e.svc.StartOAuth(ctx, e.who, integrations.StartInput{BaseURL: e.sb.URL(), ClientID: id, ClientSecret: secret.New(sec),
			CAPEM: string(e.sb.CAPEM()), Alias: fmt.Sprint("alias ", n)})
		if err != nil {
			t.Fatal(describe(err))
		}
		return r
	}
	code := func(err error) string {
		var ie *problem.Error
		if errors.As(err, &ie) {
			return ie.Code
		}
		return "?" + err.Error()
	}
	u2, err := e.st.CreateUser(ctx, "admin2@a", "B", "")
	if err != nil {
		t.Fatal(err)
	}
	e.st.AddMember(ctx, e.who.OrgID, u2.ID, store.RoleAdmin)
	o2, err := e.st.CreateOrganization(ctx, "Other", u2.ID)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("foreign user and organisation", func(t *testing.T) {
		r := start()
		c := e.consent(t, r.AuthorizeURL, r.RedirectURI, "root")
		for _, who := range []integrations.Actor{{OrgID: e.who.OrgID, UserID: u2.ID}, {OrgID: o2.ID, UserID: u2.ID}} {
			_, err := e.svc.CompleteOAuth(ctx, integrations.CompleteInput{State: r.State, Code: secret.New(c), Who: who})
			if code(err) != integrations.CodeStateForeign {
				t.Fatalf("foreign state: %v", err)
			}
		}
		// Its owner can still complete it, once.
		if _, err := e.svc.CompleteOAuth(ctx, integrations.CompleteInput{State: r.State, Code: secret.New(c), Who: e.who}); err != nil {
			t.Fatal(describe(err))
		}
		_, err := e.svc.CompleteOAuth(ctx, integrations.CompleteInput{State: r.State, Code: secret.New(c), Who: e.who})
		if code(err) != integrations.CodeStateUnknown {
			t.Fatalf("replayed state: %v", err)
		}
	})
	t.Run("no state", func(t *testing.T) {
		_, err := e.svc.CompleteOAuth(ctx, integrations.CompleteInput{Code: secret.New("x")})
		if code(err) != integrations.CodeStateMissing {
			t.Fatalf("%v", err)
		}
	})
	t.Run("expired state", func(t *testing.T) {
		r := start()
		e.clock.advance(integrations.StateTTL + time.Minute)
		defer e.clock.advance(-(integrations.StateTTL + time.Minute))
		e.st.SetClock(e.clock.now)
		defer e.st.SetClock(time.Now)
		_, err := e.svc.CompleteOAuth(ctx, integrations.CompleteInput{State: r.State, Code: secret.New("x"), Who: e.who})
		if code(err) != integrations.CodeStateExpired {
			t.Fatalf("%v", err)
		}
	})
	t.Run("code for another redirect URI", func(t *testing.T) {
		other := "http://127.0.0.1:9999/elsewhere"
		id2, sec2 := e.sb.RegisterOAuthApp(e.redirectURI()+"\n"+other, "read_api", "read_user")
		r, err := e.svc.StartOAuth(ctx, e.who, integrations.StartInput{BaseURL: e.sb.URL(), ClientID: id2, ClientSecret: secret.New(sec2),
			CAPEM: string(e.sb.CAPEM()), Alias: "elsewhere"})
		if err != nil {
			t.Fatal(describe(err))
		}
		c := e.consent(t, r.AuthorizeURL, other, "root")
		_, err = e.svc.CompleteOAuth(ctx, integrations.CompleteInput{State: r.State, Code: secret.New(c), Who: e.who})
		if code(err) != integrations.CodeAuthorization || !strings.Contains(err.(*problem.Error).Message, "redirect URI") {
			t.Fatalf("%v", describe(err))
		}
	})
	t.Run("denied on the consent page", func(t *testing.T) {
		r := start()
		_, err := e.svc.CompleteOAuth(ctx, integrations.CompleteInput{State: r.State, Error: "access_denied", Who: e.who})
		if code(err) != integrations.CodeAuthorization || !strings.Contains(err.Error(), "denied") {
			t.Fatalf("%v", err)
		}
	})
	list, _ := e.svc.List(ctx, e.who.OrgID)
	if len(list) != 1 {
		t.Fatalf("refused completions saved something: %d integrations", len(list))
	}
	if l2, _ := e.svc.List(ctx, o2.ID); len(l2) != 0 {
		t.Fatalf("other organisation has %d integrations", len(l2))
	}
}

func TestOAuthRefreshForcedAndByExpiry(t *testing.T) {
	e := newEnv(t, sandbox.Config{Version: "17.11", TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	iv, _, _ := e.connectOAuth(t, "o")
	base := countRequests(e.sb, "POST", "/oauth/token") // the code exchange
	if err := e.svc.Refresh(ctx, e.who.OrgID, iv.ID); err != nil {
		t.Fatal(describe(err))
	}
	if n, err := listProjects(ctx, e.svc, e.who, iv.ID); err != nil || n == 0 {
		t.Fatalf("after forced refresh: %d %v", n, err)
	}
	if got := countRequests(e.sb, "POST", "/oauth/token") - base; got != 1 {
		t.Fatalf("%d refresh grants after a forced refresh", got)
	}
	// Two hours later the access token is due: the client refreshes it first.
	e.clock.advance(2 * time.Hour)
	if n, err := listProjects(ctx, e.svc, e.who, iv.ID); err != nil || n == 0 {
		t.Fatalf("after expiry: %d %v", n, err)
	}
	if got := countRequests(e.sb, "POST", "/oauth/token") - base; got != 2 {
		t.Fatalf("%d refresh grants, want 2", got)
	}
	assertNoWrites(t, e.sb)
}

// TestTwoProcessesRefreshOnce: two services (two "replicas") over the same
// database refresh the same due token at once; GitLab sees one refresh
// grant and both keep working.
func TestTwoProcessesRefreshOnce(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	iv, _, _ := e.connectOAuth(t, "o")
	other := e.st
	if e.st.Dialect() == store.SQLite {
		// A second process has its own connections to the same file.
		var err error
		if other, err = store.Open(ctx, store.Options{SQLitePath: e.st.Path()}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svcs := []*integrations.Service{e.svc, integrations.New(other, vault.New(kekOf(t, e), other.OrgKeys()), nil, e.cfg, log, e.clock.now)}
	before := countRequests(e.sb, "POST", "/oauth/token")
	e.clock.advance(2 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for _, s := range svcs {
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if n, err := listProjects(ctx, s, e.who, iv.ID); err != nil || n == 0 {
					errs <- errors.New(describe(err))
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := countRequests(e.sb, "POST", "/oauth/token") - before; got != 1 {
		t.Fatalf("GitLab saw %d refresh grants, want exactly 1", got)
	}
	// And the rotated pair keeps working for both, including the next refresh.
	e.clock.advance(2 * time.Hour)
	for _, s := range svcs {
		if n, err := listProjects(ctx, s, e.who, iv.ID); err != nil || n == 0 {
			t.Fatalf("after the second refresh: %v", describe(err))
		}
	}
	if got := countRequests(e.sb, "POST", "/oauth/token") - before; got != 2 {
		t.Fatalf("GitLab saw %d refresh grants, want 2", got)
	}
	if v, _ := e.svc.View(ctx, e.who.OrgID, iv.ID); v.Status != store.StatusActive {
		t.Fatalf("status %s: %s", v.Status, v.StatusReason)
	}
}

func kekOf(_ *testing.T, e *env) vault.KEK { return e.kek }

func TestGitLabRefusingTheTokenMarksTheIntegration(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	for _, c := range []struct {
		name, want string
		breakIt    func(string) bool
	}{
		{"revoked", "revoked", e.sb.RevokeToken},
		{"expired", "expired", e.sb.ExpireToken},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, tok := e.connectToken(t, c.name, "read_api")
			id := res.Integration.ID
			if _, err := listProjects(ctx, e.svc, e.who, id); err != nil {
				t.Fatal(err)
			}
			c.breakIt(tok)
			if _, err := listProjects(ctx, e.svc, e.who, id); err == nil {
				t.Fatal("GitLab accepted a broken token")
			}
			v, _ := e.svc.View(ctx, e.who.OrgID, id)
			if v.Status != store.StatusNeedsNewToken || !strings.Contains(v.StatusReason, c.want) || !strings.Contains(v.StatusReason, "GitLab") || v.Remedy == "" {
				t.Fatalf("status %q reason %q remedy %q", v.Status, v.StatusReason, v.Remedy)
			}
			var ie *problem.Error
			if _, err := e.svc.Client(ctx, e.who.OrgID, id); !errors.As(err, &ie) || ie.Code != integrations.CodeUnusable {
				t.Fatalf("client of an integration that needs a new token: %v", err)
			}
			// A new token brings it back.
			fresh := e.sb.CreateToken(sandbox.TokenSpec{User: "root", Scopes: []string{"read_api"}})
			if _, err := e.svc.Update(ctx, e.who, id, integrations.UpdateInput{Token: secret.New(fresh)}); err != nil {
				t.Fatal(describe(err))
			}
			if n, err := listProjects(ctx, e.svc, e.who, id); err != nil || n == 0 {
				t.Fatalf("after a new token: %v", err)
			}
		})
	}
	entries, _ := e.st.AuditLog(ctx, e.who.OrgID, 0, 100)
	n := 0
	for _, a := range entries {
		if a.Action == "integration.token_rejected" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d token_rejected audit entries", n)
	}
}

func TestRefusedRefreshNeedsReauthorization(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	iv, _, _ := e.connectOAuth(t, "o")
	// Someone revokes labsync's grant in GitLab: access and refresh token die.
	p := e.openPair(t, iv.ID)
	e.sb.RevokeToken(p.access)
	if _, err := listProjects(ctx, e.svc, e.who, iv.ID); err == nil {
		t.Fatal("a revoked OAuth token worked")
	}
	v, _ := e.svc.View(ctx, e.who.OrgID, iv.ID)
	if v.Status != store.StatusNeedsReauthorization || !strings.Contains(v.StatusReason, "refused") {
		t.Fatalf("status %q reason %q", v.Status, v.StatusReason)
	}
	entries, _ := e.st.AuditLog(ctx, e.who.OrgID, 0, 100)
	found := false
	for _, a := range entries {
		found = found || a.Action == "integration.token_refresh_failed"
	}
	if !found {
		t.Fatal("no audit entry for the refused refresh")
	}
	// Reauthorising the same integration makes it work again.
	r, err := e.svc.StartOAuth(ctx, e.who, integrations.StartInput{IntegrationID: iv.ID})
	if err != nil {
		t.Fatal(describe(err))
	}
	code := e.consent(t, r.AuthorizeURL, r.RedirectURI, "root")
	if _, err := e.svc.CompleteOAuth(ctx, integrations.CompleteInput{State: r.State, Code: secret.New(code), Who: e.who}); err != nil {
		t.Fatal(describe(err))
	}
	if n, err := listProjects(ctx, e.svc, e.who, iv.ID); err != nil || n == 0 {
		t.Fatalf("after reauthorization: %v", err)
	}
}

type pair struct{ access, refresh string }

func (e *env) openPair(t *testing.T, id int64) pair {
	t.Helper()
	c, err := e.st.Credential(context.Background(), e.who.OrgID, id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.vault.Open(context.Background(), e.who.OrgID, vault.Binding{Table: "credentials", Row: fmt.Sprintf("integration:%d", id), Field: c.Kind}, c.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind == store.CredentialAccessToken {
		return pair{access: string(b)}
	}
	var p struct {
		A string `json:"access_token"`
		R string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return pair{p.A, p.R}
}

func TestExpiryWarningsAt30And7And1Days(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	reg := prometheus.NewRegistry()
	if err := e.svc.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	// Tokens expire at midnight UTC: start the clock at 01:00 UTC so the
	// day-sized steps below land alike whatever hour the test runs.
	now := e.clock.now().UTC()
	e.clock.advance(now.Truncate(24 * time.Hour).Add(25 * time.Hour).Sub(now))
	expires := e.clock.now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 40)
	tok := e.sb.CreateToken(sandbox.TokenSpec{User: "root", Scopes: []string{"read_api"}, ExpiresAt: expires})
	res, err := e.svc.ConnectToken(ctx, e.who, integrations.TokenInput{BaseURL: e.sb.URL(), Token: secret.New(tok), CAPEM: string(e.sb.CAPEM())})
	if err != nil {
		t.Fatal(describe(err))
	}
	id := res.Integration.ID
	gauge := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "labsync_token_days_to_expiry" {
				for _, m := range mf.GetMetric() {
					return m.GetGauge().GetValue()
				}
			}
		}
		return -999
	}
	steps := []struct {
		advance   time.Duration
		warnings  int
		threshold int
	}{
		{0, 0, 0},
		{11 * 24 * time.Hour, 1, 30}, // 29 days left
		{24 * time.Hour, 0, 30},      // 28: already warned
		{22 * 24 * time.Hour, 1, 7},  // 6
		{5 * 24 * time.Hour, 1, 1},   // 1
		{12 * time.Hour, 0, 1},
	}
	for i, s := range steps {
		e.clock.advance(s.advance)
		n, err := e.svc.CheckExpiry(ctx)
		if err != nil || n != s.warnings {
			t.Fatalf("step %d: %d warnings, %v", i, n, err)
		}
		v, _ := e.svc.View(ctx, e.who.OrgID, id)
		d := float64(*v.Token.DaysLeft)
		if gauge() != d {
			t.Fatalf("step %d: gauge %v, days left %v", i, gauge(), d)
		}
		if s.threshold == 0 && v.Token.Warning != nil || s.threshold > 0 && (v.Token.Warning == nil || v.Token.Warning.ThresholdDays != s.threshold) {
			t.Fatalf("step %d: warning %+v", i, v.Token.Warning)
		}
	}
	e.clock.advance(2 * 24 * time.Hour)
	e.svc.CheckExpiry(ctx)
	v, _ := e.svc.View(ctx, e.who.OrgID, id)
	if v.Status != store.StatusNeedsNewToken || !strings.Contains(v.StatusReason, "expired") {
		t.Fatalf("after expiry: %s %s", v.Status, v.StatusReason)
	}
	entries, _ := e.st.AuditLog(ctx, e.who.OrgID, 0, 100)
	var got []string
	for _, a := range entries {
		if a.Action == "integration.token_expiry_warning" {
			got = append(got, string(a.Detail))
		}
	}
	if len(got) != 3 {
		t.Fatalf("audit warnings: %v", got)
	}
}

func TestDisconnectRevokesTheOAuthTokenAtGitLab(t *testing.T) {
	e := newEnv(t, sandbox.Config{TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	iv, _, _ := e.connectOAuth(t, "o")
	p := e.openPair(t, iv.ID)
	e.sb.ResetRequests()
	start := time.Now()
	res, err := e.svc.Disconnect(ctx, e.who, iv.ID)
	if err != nil || !res.Revoked || res.Integration.Status != store.StatusDisconnected {
		t.Fatalf("%+v %v", res, err)
	}
	var revokedAt time.Time
	for _, r := range e.sb.Requests() {
		if r.Method == "POST" && r.Path == "/oauth/revoke" && revokedAt.IsZero() {
			revokedAt = r.Time
		}
	}
	if revokedAt.IsZero() {
		t.Fatal("GitLab saw no revocation")
	}
	t.Logf("DELETE → revocation seen by GitLab after %s", revokedAt.Sub(start))
	// labsync holds no credential any more.
	if _, err := e.st.Credential(ctx, e.who.OrgID, iv.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("credential after disconnect: %v", err)
	}
	if code := bearerStatus(t, e.sb, p.access); code != 401 {
		t.Fatalf("the revoked token still answers %d at GitLab", code)
	}
	if _, err := e.svc.Client(ctx, e.who.OrgID, iv.ID); err == nil {
		t.Fatal("a disconnected integration still has a client")
	}
	// The alias may be reused by a new connection.
	e.connectOAuth(t, "o")
	assertNoWrites(t, e.sb)
}

func TestVersionRecheckAndSettings(t *testing.T) {
	e := newEnv(t, sandbox.Config{Version: "15.11", TLS: sandbox.TLSCA})
	ctx := ctxT(t)
	res, _ := e.connectToken(t, "v", "read_api")
	id := res.Integration.ID
	e.clock.advance(24 * time.Hour)
	if n, err := e.svc.RecheckVersions(ctx); err != nil || n != 1 {
		t.Fatalf("%d %v", n, err)
	}
	v, _ := e.svc.View(ctx, e.who.OrgID, id)
	if v.VersionCheckedAt == nil || !v.VersionCheckedAt.After(*res.Integration.VersionCheckedAt) || v.Edition == "" {
		t.Fatalf("%+v", v)
	}
	// A CA that does not sign GitLab's certificate is refused, nothing changes.
	bad := string(gitlabtest.NewCA(t, "Some Other CA").PEM)
	var ie *problem.Error
	if _, err := e.svc.Update(ctx, e.who, id, integrations.UpdateInput{CAPEM: &bad}); !errors.As(err, &ie) || ie.Reason != string(gitlab.KindTLSUnknownAuthority) {
		t.Fatalf("wrong CA: %v", err)
	}
	// Webhook registration needs api; this token has read_api only.
	yes := true
	if _, err := e.svc.Update(ctx, e.who, id, integrations.UpdateInput{AllowHookRegistration: &yes}); !errors.As(err, &ie) || ie.Code != integrations.CodeNeedsScope {
		t.Fatalf("hooks without api: %v", err)
	}
	name := "renamed"
	r, err := e.svc.Update(ctx, e.who, id, integrations.UpdateInput{Alias: &name})
	if err != nil || r.Integration.Alias != "renamed" || len(r.Changed) != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	if n, err := listProjects(ctx, e.svc, e.who, id); err != nil || n == 0 {
		t.Fatal(err)
	}
}

// bearerStatus calls /api/v4/user at the sandbox with an OAuth token.
func bearerStatus(t *testing.T, sb *sandbox.Sandbox, tok string) int {
	t.Helper()
	base, _ := gitlab.NormalizeBaseURL(sb.URL())
	c, err := gitlab.New(gitlab.Options{BaseURL: base, CAPEM: sb.CAPEM(), Policy: gitlab.AddressPolicy{AllowLoopback: true},
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})})
	if err != nil {
		t.Fatal(err)
	}
	_, resp, _ := c.API().Users.CurrentUser()
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
