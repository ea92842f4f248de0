package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
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
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/web"
	"github.com/labsync/labsync/internal/webhook"
)

// fixture is a labsync server (API + UI, no job runner) with two
// organisations: A with an owner and a member, B with an owner and an
// integration.
type fixture struct {
	st     *store.Store
	srv    *httptest.Server
	deps   api.Deps
	org    int64
	owner  store.User
	member store.User
	orgB   int64
	integB int64
	integA int64
	clock  *testClock
}

const ownerPassword = "correct horse battery"

// testClock is a settable clock for the store.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var hashOnce = sync.OnceValue(func() string {
	h, err := accounts.HashPassword(ownerPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// uiDeps are the UI's share of the API's dependencies.
func uiDeps(d api.Deps, cfg config.Config) web.Deps {
	return web.Deps{Store: d.Store, Log: d.Log, Config: cfg, Accounts: d.Accounts, Webhooks: d.Webhooks,
		Integrations: d.Integrations, Sync: d.Sync, Repository: d.Repository}
}

// newFixture builds the UI and API over a fresh store; trusted are the
// reverse proxies whose forwarded headers the UI believes (none by default).
func newFixture(t testing.TB, opts accounts.Options, trusted ...netip.Prefix) *fixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	clock := &testClock{t: time.Now().UTC()}
	st.SetClock(clock.Now)
	f := &fixture{st: st, clock: clock}
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a.test", hashOnce())
	if err != nil {
		t.Fatal(err)
	}
	f.org, f.owner = b.Org.ID, b.Owner
	if err := st.SetUserPassword(ctx, b.Owner.ID, hashOnce()); err != nil {
		t.Fatal(err)
	}
	if f.member, err = st.CreateUser(ctx, "member@a.test", "M", ""); err != nil {
		t.Fatal(err)
	}
	st.AddMember(ctx, f.org, f.member.ID, store.RoleMember)
	if err := st.SetUserPassword(ctx, f.member.ID, hashOnce()); err != nil {
		t.Fatal(err)
	}
	ob, _ := st.CreateUser(ctx, "owner@b.test", "OB", "")
	orgB, err := st.CreateOrganization(ctx, "B", ob.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.orgB = orgB.ID
	ib := &store.Integration{OrgID: orgB.ID, Alias: "b-gitlab", BaseURL: "https://gitlab.b.test", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, ib); err != nil {
		t.Fatal(err)
	}
	f.integB = ib.ID
	ia := &store.Integration{OrgID: f.org, Alias: "a-gitlab", BaseURL: "https://gitlab.a.test", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, ia); err != nil {
		t.Fatal(err)
	}
	f.integA = ia.ID

	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	log := slog.New(slog.DiscardHandler)
	kek, _, _ := vault.GenerateKEK()
	vlt := vault.New(kek, st.OrgKeys())
	cfg := config.Config{PublicURL: f.srv.URL, AllowLoopbackGitLab: true, TrustedProxies: trusted}
	f.deps = api.Deps{Store: st, Log: log}
	f.deps.Integrations = integrations.New(st, vlt, nil, cfg, log, nil)
	f.deps.Integrations.SetNetworkTimeout(5 * time.Second)
	f.deps.Webhooks = webhook.New(st, vlt, log, webhook.Options{PublicURL: f.srv.URL})
	f.deps.Sync = syncer.New(st, syncer.Options{Log: log, Clients: f.deps.Integrations.Client})
	f.deps.Integrations.SetPeers(f.deps.Webhooks, f.deps.Sync)
	f.deps.Accounts = accounts.New(st, log, f.deps.Integrations, opts)
	mirrors, err := mirror.New(mirror.Config{Dir: t.TempDir(), Remote: repository.RemoteFor(f.deps.Integrations), Logger: log,
		Debounce: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mirrors.Close)
	f.deps.Repository = repository.New(st, mirrors, f.deps.Accounts, log)
	f.deps.Integrations.SetMirrors(f.deps.Repository)
	api.New(f.deps, f.deps.Accounts.SessionAuthenticator()).Register(mux)
	web.New(uiDeps(f.deps, cfg)).Register(mux)
	return f
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
}

func (f *fixture) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: f.srv.URL, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(raw)}
}

func (b *browser) get(path string) page {
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t testing.TB, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (%d): %.300s", p.status, p.body)
	}
	return m[1]
}

// signin signs in through the form and returns the answer.
func (b *browser) signin(email, password string) page {
	b.t.Helper()
	p := b.get("/signin")
	return b.post("/signin", url.Values{"csrf_token": {csrfOf(b.t, p)}, "email": {email}, "password": {password}})
}

// mustSignin signs in and fails the test unless it worked.
func (b *browser) mustSignin(email string) {
	b.t.Helper()
	if p := b.signin(email, ownerPassword); p.status != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d %.400s", email, p.status, p.body)
	}
}
