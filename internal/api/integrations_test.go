package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/mirror"
	"github.com/labsync/labsync/internal/repository"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// connectFixture is an API server with the integrations service, a
// debug-level log sink, and every response body kept for the secret scan.
type connectFixture struct {
	st                   *store.Store
	vault                *vault.Vault
	svc                  *integrations.Service
	wh                   *webhook.Service
	sync                 *syncer.Service
	repo                 *repository.Service
	api                  *api.API
	srv                  *httptest.Server
	logs                 *lockedBuffer
	owner, member, other string
	admin                string
	org, memberID        int64

	mu        sync.Mutex
	responses []string
}

func newConnectFixture(t *testing.T) *connectFixture { return newConnectFixtureAt(t, nil) }

// newConnectFixtureAt is newConnectFixture with the store and services on
// clock (nil: the real one).
func newConnectFixtureAt(t *testing.T, clock func() time.Time) *connectFixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	if clock != nil {
		st.SetClock(clock)
	}
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	mint := func(org, user int64) string { return mintToken(t, st, org, user) }
	f := &connectFixture{st: st, logs: &lockedBuffer{}, org: b.Org.ID}
	f.owner = mint(b.Org.ID, b.Owner.ID)
	m, _ := st.CreateUser(ctx, "member@a", "M", "")
	st.AddMember(ctx, b.Org.ID, m.ID, store.RoleMember)
	f.member, f.memberID = mint(b.Org.ID, m.ID), m.ID
	ad, _ := st.CreateUser(ctx, "admin@a", "Ad", "")
	st.AddMember(ctx, b.Org.ID, ad.ID, store.RoleAdmin)
	f.admin = mint(b.Org.ID, ad.ID)
	o, _ := st.CreateUser(ctx, "owner@b", "O", "")
	orgB, _ := st.CreateOrganization(ctx, "B", o.ID)
	f.other = mint(orgB.ID, o.ID)

	kek, _, _ := vault.GenerateKEK()
	f.vault = vault.New(kek, st.OrgKeys())
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	cfg := config.Config{PublicURL: f.srv.URL, AllowLoopbackGitLab: true, LogLevel: "debug"}
	f.svc = integrations.New(st, f.vault, nil, cfg, log, clock)
	f.svc.SetNetworkTimeout(5 * time.Second)
	f.wh = webhook.New(st, f.vault, log, webhook.Options{PublicURL: f.srv.URL})
	f.wh.Start()
	t.Cleanup(f.wh.Stop)
	f.sync = syncer.New(st, syncer.Options{Log: log, Clients: f.svc.Client, PerPage: 5, RetryBase: time.Millisecond})
	f.svc.SetPeers(f.wh, f.sync)
	mirrors, err := mirror.New(mirror.Config{Dir: t.TempDir(), Remote: repository.RemoteFor(f.svc), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mirrors.Close)
	acc := accounts.New(st, log, f.svc, accounts.Options{})
	f.repo = repository.New(st, mirrors, acc, log)
	f.svc.SetMirrors(f.repo)
	f.api = api.New(api.Deps{Store: st, Log: log, Integrations: f.svc, Webhooks: f.wh, Sync: f.sync, Accounts: acc, Repository: f.repo})
	f.api.Register(mux)
	return f
}

func (f *connectFixture) redirectURI() string { return f.srv.URL + integrations.CallbackPath }

// call sends a JSON request and returns the status and decoded body.
func (f *connectFixture) call(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	return f.send(t, req)
}

func (f *connectFixture) send(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 60 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	f.mu.Lock()
	f.responses = append(f.responses, string(raw), res.Header.Get("Location"))
	f.mu.Unlock()
	var out map[string]any
	json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{}
	}
	if loc := res.Header.Get("Location"); loc != "" {
		out["_location"] = loc
	}
	return res.StatusCode, out
}

func startSB(t *testing.T, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func small(cfg sandbox.Config) sandbox.Config {
	cfg.Groups, cfg.Projects, cfg.MRs, cfg.Issues, cfg.Pipelines, cfg.Commits = 1, 3, 1, 1, 1, 1
	return cfg
}

func step(t *testing.T, rep map[string]any, id string) map[string]any {
	t.Helper()
	steps, _ := rep["steps"].([]any)
	for _, s := range steps {
		m := s.(map[string]any)
		if m["id"] == id {
			return m
		}
	}
	t.Fatalf("no step %q in %v", id, rep)
	return nil
}

// TestDiagnosisNamesEachFailure drives POST /api/v1/integrations/gitlab/test
// against the sandbox's TLS variants, a closed port, a stalling listener and
// broken tokens, and checks the step and kind each one is named by.
func TestDiagnosisNamesEachFailure(t *testing.T) {
	f := newConnectFixture(t)
	good := startSB(t, small(sandbox.Config{TLS: sandbox.TLSCA}))
	selfSigned := startSB(t, small(sandbox.Config{TLS: sandbox.TLSSelfSigned}))
	expired := startSB(t, small(sandbox.Config{TLS: sandbox.TLSExpired}))
	wrongHost := startSB(t, small(sandbox.Config{TLS: sandbox.TLSWrongHost}))
	empty := startSB(t, sandbox.Config{TLS: sandbox.TLSCA})

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "https://" + closed.Addr().String()
	closed.Close()
	stall, _ := net.Listen("tcp", "127.0.0.1:0")
	t.Cleanup(func() { stall.Close() })
	var held []net.Conn
	var hmu sync.Mutex
	go func() {
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			hmu.Lock()
			held = append(held, c)
			hmu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hmu.Lock()
		for _, c := range held {
			c.Close()
		}
		hmu.Unlock()
	})

	expiredTok := good.CreateToken(sandbox.TokenSpec{Scopes: []string{"read_api"}})
	good.ExpireToken(expiredTok)
	revokedTok := good.CreateToken(sandbox.TokenSpec{Scopes: []string{"read_api"}})
	good.RevokeToken(revokedTok)
	scopeTok := good.CreateToken(sandbox.TokenSpec{Scopes: []string{"read_user"}})
	ca := string(good.CAPEM())

	cases := []struct {
		name, url, token, ca string
		step, kind, status   string
	}{
		{"self-signed", selfSigned.URL(), "", "", "tls", "tls_self_signed", "fail"},
		{"unknown CA", good.URL(), "", "", "tls", "tls_unknown_authority", "fail"},
		{"expired certificate", expired.URL(), "", string(expired.CAPEM()), "tls", "tls_expired", "fail"},
		{"wrong host", wrongHost.URL(), "", string(wrongHost.CAPEM()), "tls", "tls_host_mismatch", "fail"},
		{"connection refused", closedURL, "", "", "tcp", "connection_refused", "fail"},
		{"timeout", "https://" + stall.Addr().String(), "", "", "tls", "timeout", "fail"},
		{"expired token", good.URL(), expiredTok, ca, "token", "token_expired", "fail"},
		{"revoked token", good.URL(), revokedTok, ca, "token", "token_revoked", "fail"},
		{"missing scope", good.URL(), scopeTok, ca, "token", "insufficient_scope", "fail"},
		{"zero visible projects", empty.URL(), empty.AdminToken(), string(empty.CAPEM()), "projects", "", "warn"},
		{"all good", good.URL(), good.AdminToken(), ca, "projects", "", "pass"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"base_url": c.url, "ca_pem": c.ca, "timeout_seconds": 1}
			if c.token != "" {
				body["token"] = c.token
			}
			code, rep := f.call(t, "POST", "/api/v1/integrations/gitlab/test", f.owner, body)
			if code != 200 {
				t.Fatalf("%d %v", code, rep)
			}
			s := step(t, rep, c.step)
			if s["status"] != c.status || (c.kind != "" && s["kind"] != c.kind) {
				t.Fatalf("step %s: %v", c.step, s)
			}
			if c.status == "fail" && (s["remedy"] == "" || s["seen"] == "") {
				t.Fatalf("a failure without words: %v", s)
			}
		})
	}
	// Members may not probe arbitrary URLs.
	if code, _ := f.call(t, "POST", "/api/v1/integrations/gitlab/test", f.member, map[string]any{"base_url": good.URL()}); code != 403 {
		t.Fatalf("member: %d", code)
	}
}

// TestConnectThroughTheAPIAndScanForSecrets connects by token and by OAuth
// (callback as a browser and as an API client), reads, tests, changes and
// disconnects, all through the API with debug logging, then scans the
// database, the logs and every response for the secrets involved.
func TestConnectThroughTheAPIAndScanForSecrets(t *testing.T) {
	f := newConnectFixture(t)
	sb := startSB(t, small(sandbox.Config{Version: "19.0", TLS: sandbox.TLSCA}))
	ca := string(sb.CAPEM())
	tok := sb.CreateToken(sandbox.TokenSpec{Scopes: []string{"read_api", "read_user", "read_repository"}})
	clientID, clientSecret := sb.RegisterOAuthApp(f.redirectURI(), "read_api", "read_user", "read_repository", "api")
	var secrets []string

	// By token, with a trailing newline as pasted from a file.
	code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/token", f.owner,
		map[string]any{"base_url": sb.URL() + "/api/v4/", "token": tok + "\n", "alias": "by token", "ca_pem": ca})
	if code != 201 {
		t.Fatalf("token connect: %d %v", code, body)
	}
	secrets = append(secrets, tok)
	tokID := int64(body["integration"].(map[string]any)["id"].(float64))
	if notes, _ := json.Marshal(body["notices"]); !strings.Contains(string(notes), "removed") {
		t.Fatalf("trimming not said: %s", notes)
	}
	if got := body["integration"].(map[string]any)["base_url"]; got != sb.URL() {
		t.Fatalf("base URL not normalised: %v", got)
	}

	// The org's OAuth app, then OAuth with a browser callback.
	code, body = f.call(t, "PUT", "/api/v1/oauth-apps", f.owner, map[string]any{"base_url": sb.URL(), "client_id": clientID, "client_secret": clientSecret})
	if code != 200 || body["redirect_uri"] != f.redirectURI() {
		t.Fatalf("save app: %d %v", code, body)
	}
	secrets = append(secrets, clientSecret)
	code, body = f.call(t, "GET", "/api/v1/oauth-apps", f.member, nil)
	if code != 200 || body["redirect_uri"] != f.redirectURI() {
		t.Fatalf("list apps: %d %v", code, body)
	}
	start := func(alias string) (string, string) {
		code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/start", f.owner, map[string]any{"base_url": sb.URL(), "alias": alias, "ca_pem": ca})
		if code != 200 {
			t.Fatalf("start: %d %v", code, body)
		}
		u, _ := url.Parse(body["authorize_url"].(string))
		c, ok := sb.AuthorizeCode(u.Query().Get("client_id"), body["redirect_uri"].(string), "root", u.Query().Get("code_challenge"))
		if !ok {
			t.Fatal("consent refused")
		}
		secrets = append(secrets, c)
		return body["state"].(string), c
	}
	state, c := start("browser")
	req, _ := http.NewRequest("GET", f.redirectURI()+"?"+url.Values{"code": {c}, "state": {state}}.Encode(), nil)
	code, body = f.send(t, req)
	if code != 303 || !strings.HasPrefix(body["_location"].(string), f.srv.URL+"/integrations/") {
		t.Fatalf("browser callback: %d %v", code, body)
	}
	// Replaying it sends the browser to /connect with a clear message.
	code, body = f.send(t, req.Clone(context.Background()))
	if loc, _ := body["_location"].(string); code != 303 || !strings.Contains(loc, "/connect?error=") || !strings.Contains(loc, "already+used") {
		t.Fatalf("replayed callback: %d %v", code, body)
	}
	// A callback without state.
	req2, _ := http.NewRequest("GET", f.redirectURI()+"?code=abc", nil)
	req2.Header.Set("Accept", "application/json")
	if code, body = f.send(t, req2); code != 400 || !strings.Contains(mustJSON(body), "no state") {
		t.Fatalf("no state: %d %v", code, body)
	}

	// OAuth for an API client; another organisation cannot complete it.
	state, c = start("api client")
	if code, body = f.call(t, "POST", "/api/v1/integrations/gitlab/authorize", f.other, map[string]any{"code": c, "state": state}); code != 403 {
		t.Fatalf("foreign state: %d %v", code, body)
	}
	code, body = f.call(t, "POST", "/api/v1/integrations/gitlab/authorize", f.owner, map[string]any{"code": c, "state": state})
	if code != 201 {
		t.Fatalf("authorize: %d %v", code, body)
	}
	oauthID := int64(body["integration"].(map[string]any)["id"].(float64))

	// Reads, by any member; another organisation sees 404.
	code, body = f.call(t, "GET", "/api/v1/integrations", f.member, nil)
	if code != 200 || len(body["integrations"].([]any)) != 3 {
		t.Fatalf("list: %d %v", code, body)
	}
	code, body = f.call(t, "GET", "/api/v1/integrations/"+itoa(oauthID), f.member, nil)
	if code != 200 || body["auth_method"] != "oauth" || body["redirect_uri"] != f.redirectURI() || body["status_text"] != "connected" || body["edition"] == "" {
		t.Fatalf("show: %d %v", code, body)
	}
	for _, p := range []string{"/api/v1/integrations/" + itoa(tokID), "/api/v1/integrations/" + itoa(oauthID)} {
		if code, _ := f.call(t, "GET", p, f.other, nil); code != 404 {
			t.Fatalf("another organisation got %d for %s", code, p)
		}
		if code, _ := f.call(t, "DELETE", p, f.other, nil); code != 404 {
			t.Fatalf("another organisation could delete %s: %d", p, code)
		}
		if code, _ := f.call(t, "PATCH", p, f.member, map[string]any{"alias": "x"}); code != 403 {
			t.Fatalf("a member could change %s: %d", p, code)
		}
	}
	// The saved-integration diagnosis, token and OAuth.
	for _, id := range []int64{tokID, oauthID} {
		code, rep := f.call(t, "POST", "/api/v1/integrations/"+itoa(id)+"/test", f.member, nil)
		if code != 200 || rep["ok"] != true || step(t, rep, "projects")["status"] != "pass" {
			t.Fatalf("saved test %d: %d %v", id, code, rep)
		}
	}
	// A forced refresh, then settings, then disconnect.
	if code, body = f.call(t, "POST", "/api/v1/integrations/"+itoa(oauthID)+"/refresh", f.owner, nil); code != 200 {
		t.Fatalf("refresh: %d %v", code, body)
	}
	if code, body = f.call(t, "PATCH", "/api/v1/integrations/"+itoa(tokID), f.owner, map[string]any{"alias": "renamed"}); code != 200 {
		t.Fatalf("patch: %d %v", code, body)
	}
	// Collect the live OAuth pairs before disconnecting them.
	for _, id := range []int64{oauthID} {
		secrets = append(secrets, openPair(t, f, id)...)
	}
	code, body = f.call(t, "DELETE", "/api/v1/integrations/"+itoa(oauthID), f.owner, nil)
	if code != 200 || body["revoked"] != true {
		t.Fatalf("disconnect: %d %v", code, body)
	}
	code, body = f.call(t, "GET", "/api/v1/audit", f.owner, nil)
	audit := mustJSON(body)
	for _, a := range []string{"integration.connected", "integration.updated", "integration.disconnected", "oauth_app.saved"} {
		if !strings.Contains(audit, a) {
			t.Errorf("audit log lacks %s", a)
		}
	}

	// The scan.
	db := dumpDatabase(t, f.st)
	if !strings.Contains(db, "by token") {
		t.Fatal("the database scan sees nothing; it proves nothing")
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "DEBUG") {
		t.Fatal("no debug lines were logged; the log scan proves nothing")
	}
	f.mu.Lock()
	responses := strings.Join(f.responses, "\n")
	f.mu.Unlock()
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("suspiciously short secret %q", s)
		}
		for where, text := range map[string]string{"database": db, "logs": logs, "responses": responses, "audit": audit} {
			if strings.Contains(text, s) {
				t.Errorf("a secret (%d chars, starts %q) is in the %s", len(s), s[:4], where)
			}
		}
	}
	t.Logf("scanned %d secrets over %d bytes of database, %d of logs, %d of responses", len(secrets), len(db), len(logs), len(responses))
}

// openPair returns the access and refresh token of an OAuth integration.
func openPair(t *testing.T, f *connectFixture, id int64) []string {
	t.Helper()
	c, err := f.st.Credential(context.Background(), f.org, id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.vault.Open(context.Background(), f.org, vault.Binding{Table: "credentials", Row: "integration:" + itoa(id), Field: c.Kind}, c.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		A string `json:"access_token"`
		R string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &p); err != nil || p.A == "" || p.R == "" {
		t.Fatalf("pair: %v", err)
	}
	return []string{p.A, p.R}
}

// dumpDatabase returns what the database holds: the SQLite file and its WAL,
// or on PostgreSQL the text of every row of the tables that hold secrets.
func dumpDatabase(t *testing.T, st *store.Store) string {
	t.Helper()
	if st.Dialect() == store.SQLite {
		var out []byte
		for _, p := range []string{st.Path(), st.Path() + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
		return string(out)
	}
	var out strings.Builder
	for _, table := range []string{"integrations", "credentials", "oauth_apps", "oauth_states", "audit_log"} {
		rows, err := st.DB().Query(`SELECT t::text FROM ` + table + ` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out.WriteString(s + "\n")
		}
		rows.Close()
	}
	return out.String()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestBadInputGetsOneClearMessageAndSavesNothing(t *testing.T) {
	f := newConnectFixture(t)
	sb := startSB(t, small(sandbox.Config{TLS: sandbox.TLSCA}))
	ca := string(sb.CAPEM())
	notGitLab := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><head><title>Corporate sign-on</title></head></html>"))
	}))
	t.Cleanup(notGitLab.Close)
	tok := sb.CreateToken(sandbox.TokenSpec{Scopes: []string{"read_api"}})
	cases := []struct {
		name  string
		body  map[string]any
		field string
		says  string
	}{
		{"no scheme", map[string]any{"base_url": "gitlab.example.com", "token": tok}, "base_url", "https://"},
		{"ssh address", map[string]any{"base_url": "git@gitlab.example.com:group/project.git", "token": tok}, "base_url", "SSH"},
		{"page inside GitLab", map[string]any{"base_url": "https://gitlab.com/group/project/-/merge_requests", "token": tok}, "base_url", "page"},
		{"plain http elsewhere", map[string]any{"base_url": "http://gitlab.example.com", "token": tok}, "base_url", "http"},
		{"cloud metadata", map[string]any{"base_url": "https://169.254.169.254", "token": tok}, "", "metadata"},
		{"not GitLab", map[string]any{"base_url": notGitLab.URL, "token": tok}, "", "Corporate sign-on"},
		{"space inside the token", map[string]any{"base_url": sb.URL(), "token": tok[:6] + " " + tok[6:], "ca_pem": ca}, "token", "spaces"},
		{"application secret instead of a token", map[string]any{"base_url": sb.URL(), "token": "gloas-" + strings.Repeat("a", 64), "ca_pem": ca}, "token", "OAuth application secret"},
		{"deploy token", map[string]any{"base_url": sb.URL(), "token": "gldt-" + strings.Repeat("a", 20), "ca_pem": ca}, "token", "deploy token"},
		{"no token", map[string]any{"base_url": sb.URL(), "ca_pem": ca}, "token", "missing"},
		{"a key as CA", map[string]any{"base_url": sb.URL(), "token": tok, "ca_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, "ca_pem", "private key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/token", f.owner, c.body)
			e, _ := body["error"].(map[string]any)
			if code < 400 || code >= 500 || e == nil {
				t.Fatalf("%d %v", code, body)
			}
			msg := mustJSON(body)
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(c.says)) || e["remedy"] == "" {
				t.Fatalf("message does not say %q or has no remedy: %s", c.says, msg)
			}
			if c.field != "" && e["field"] != c.field {
				t.Fatalf("field %v, want %s", e["field"], c.field)
			}
			if strings.Contains(msg, tok) {
				t.Fatal("the token is echoed")
			}
		})
	}
	// OAuth start without an app, and with a URL that is not GitLab.
	if code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/start", f.owner, map[string]any{"base_url": sb.URL(), "ca_pem": ca}); code != 422 || !strings.Contains(mustJSON(body), "redirect URI") {
		t.Fatalf("start without app: %d %v", code, body)
	}
	if code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/start", f.owner, map[string]any{"base_url": notGitLab.URL, "client_id": "x", "client_secret": "y"}); code != 422 {
		t.Fatalf("start on a non-GitLab: %d %v", code, body)
	}
	// Members may not connect.
	if code, _ := f.call(t, "POST", "/api/v1/integrations/gitlab/token", f.member, map[string]any{"base_url": sb.URL(), "token": tok, "ca_pem": ca}); code != 403 {
		t.Fatalf("member connect: %d", code)
	}
	list, _ := f.st.Integrations(context.Background(), f.org)
	if len(list) != 0 {
		t.Fatalf("refused input saved %d integrations", len(list))
	}
	// The same alias twice is a conflict.
	for i, want := range []int{201, 409} {
		if code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/token", f.owner, map[string]any{"base_url": sb.URL(), "token": tok, "ca_pem": ca, "alias": "same"}); code != want {
			t.Fatalf("attempt %d: %d %v", i, code, body)
		}
	}
}
