package web_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/web"
)

func TestSignInSetsAStrictCookie(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	p := b.signin("owner@a.test", ownerPassword)
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", p.status)
	}
	res := &http.Response{Header: p.header}
	var c *http.Cookie
	for _, x := range res.Cookies() {
		if x.Name == accounts.CookieName {
			c = x
		}
	}
	if c == nil {
		t.Fatalf("no session cookie: %v", p.header["Set-Cookie"])
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie flags: HttpOnly=%v SameSite=%v Path=%q Secure=%v (want true, Lax, /, false on http)", c.HttpOnly, c.SameSite, c.Path, c.Secure)
	}
	// Only the hash of the token is stored.
	var n int
	h := sha256.Sum256([]byte(c.Value))
	if err := f.st.DB().QueryRow(`SELECT COUNT(*) FROM sessions WHERE id_hash = $1`, h[:]).Scan(&n); err != nil || n != 1 {
		t.Fatalf("session row by hash: %d %v", n, err)
	}
	if err := f.st.DB().QueryRow(`SELECT COUNT(*) FROM sessions WHERE id_hash = $1`, []byte(c.Value)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the raw token is stored: %d %v", n, err)
	}
	if got := b.get("/connectors"); got.status != 200 || !strings.Contains(got.body, "Connectors") {
		t.Fatalf("connectors: %d", got.status)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options"} {
		if b.get("/connectors").header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if csp := b.get("/signin").header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP: %q", csp)
	}
}

func TestCookieIsSecureBehindHTTPS(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a.test", hashOnce())
	if err != nil {
		t.Fatal(err)
	}
	st.SetUserPassword(ctx, b.Owner.ID, hashOnce())
	mux := http.NewServeMux()
	web.New(web.Deps{Store: st, Config: config.Config{PublicURL: "https://labsync.example.com"}, Accounts: accounts.New(st, nil, nil, accounts.Options{})}).Register(mux)
	get := httptest.NewRecorder()
	mux.ServeHTTP(get, httptest.NewRequest("GET", "/signin", nil))
	tok := csrfOf(t, page{body: get.Body.String()})
	form := url.Values{"csrf_token": {tok}, "email": {"owner@a.test"}, "password": {ownerPassword}}
	req := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range get.Result().Cookies() {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == accounts.CookieName {
			if !c.Secure || !c.HttpOnly {
				t.Fatalf("cookie behind https: Secure=%v HttpOnly=%v", c.Secure, c.HttpOnly)
			}
			return
		}
	}
	t.Fatalf("no session cookie (%d)", rec.Code)
}

func TestFormWithoutCSRFTokenChangesNothing(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	ctx := context.Background()
	before, _ := f.st.UserPasswordHash(ctx, f.owner.ID)

	form := url.Values{"current_password": {ownerPassword}, "new_password": {"a brand new password"}, "confirm_password": {"a brand new password"}}
	if p := b.post("/account/password", form); p.status != http.StatusForbidden {
		t.Fatalf("password change without CSRF token: %d", p.status)
	}
	form.Set("csrf_token", "forged")
	if p := b.post("/account/password", form); p.status != http.StatusForbidden {
		t.Fatalf("password change with a forged token: %d", p.status)
	}
	if after, _ := f.st.UserPasswordHash(ctx, f.owner.ID); after != before {
		t.Fatal("the password changed without a valid CSRF token")
	}
	if p := b.post("/integrations/"+strconv.FormatInt(f.integA, 10)+"/disconnect", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("disconnect without CSRF token: %d", p.status)
	}
	if in, _ := f.st.Integration(ctx, f.org, f.integA); in.Status != store.StatusActive {
		t.Fatalf("integration is %s after a refused disconnect", in.Status)
	}
	// Sign-out without token is refused too: the session lives on.
	b.post("/signout", url.Values{})
	if p := b.get("/connectors"); p.status != 200 {
		t.Fatalf("signed out by a forged form: %d", p.status)
	}

	// The REST API accepts the session cookie, but unsafe methods need the header.
	csrf := csrfOf(t, b.get("/connectors"))
	req, _ := http.NewRequest("DELETE", f.srv.URL+"/api/v1/integrations/"+strconv.FormatInt(f.integA, 10), nil)
	if p := b.do(req); p.status != http.StatusForbidden {
		t.Fatalf("API DELETE with the cookie but no X-CSRF-Token: %d %s", p.status, p.body)
	}
	if in, _ := f.st.Integration(ctx, f.org, f.integA); in.Status != store.StatusActive {
		t.Fatalf("integration is %s after a refused API disconnect", in.Status)
	}
	if p := b.get("/api/v1/me"); p.status != 200 || !strings.Contains(p.body, `"owner"`) {
		t.Fatalf("API GET with the session: %d %s", p.status, p.body)
	}
	req, _ = http.NewRequest("PATCH", f.srv.URL+"/api/v1/integrations/"+strconv.FormatInt(f.integA, 10), strings.NewReader(`{"alias":"renamed"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(accounts.CSRFHeader, csrf)
	if p := b.do(req); p.status != 200 {
		t.Fatalf("API PATCH with the session and X-CSRF-Token: %d %s", p.status, p.body)
	}
}

func TestSignInIsThrottledAfterFailures(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	for i := range accounts.MaxFailuresPerPair {
		if p := b.signin("owner@a.test", "wrong password "+strconv.Itoa(i)); p.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, p.status)
		}
	}
	p := b.signin("owner@a.test", ownerPassword)
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("after %d failures the right password got %d, want 429", accounts.MaxFailuresPerPair, p.status)
	}
	if ra, err := strconv.Atoi(p.header.Get("Retry-After")); err != nil || ra <= 0 || ra > int(accounts.FailureWindow.Seconds()) {
		t.Errorf("Retry-After %q", p.header.Get("Retry-After"))
	}
	if !strings.Contains(p.body, "Too many failed sign-ins") {
		t.Errorf("429 page does not say why: %.500s", p.body)
	}
	// Another replica sees the same failures: they live in the database.
	var n int
	f.st.DB().QueryRow(`SELECT COUNT(*) FROM signin_attempts WHERE account = 'owner@a.test'`).Scan(&n)
	if n != accounts.MaxFailuresPerPair {
		t.Errorf("%d failures stored", n)
	}
	entries, _ := f.st.AuditLog(context.Background(), f.org, 0, 100)
	failed := 0
	for _, e := range entries {
		if e.Action == "user.sign_in_failed" {
			failed++
		}
		if strings.Contains(string(e.Detail), "wrong password") || strings.Contains(string(e.Detail), ownerPassword) {
			t.Fatalf("a password reached the audit log: %s", e.Detail)
		}
	}
	if failed != accounts.MaxFailuresPerPair {
		t.Errorf("%d failed sign-ins audited", failed)
	}
	// Once the window has passed, the right password works and clears the count.
	f.clock.Add(accounts.FailureWindow + time.Second)
	if p := b.signin("owner@a.test", ownerPassword); p.status != http.StatusSeeOther {
		t.Fatalf("after the window: %d", p.status)
	}
	f.st.DB().QueryRow(`SELECT COUNT(*) FROM signin_attempts WHERE account = 'owner@a.test'`).Scan(&n)
	if n != 0 {
		t.Errorf("a success left %d failures", n)
	}
	entries, _ = f.st.AuditLog(context.Background(), f.org, 0, 1)
	if len(entries) == 0 || entries[0].Action != "user.signed_in" {
		t.Errorf("sign-in not audited: %+v", entries)
	}
}

func TestSessionsExpire(t *testing.T) {
	f := newFixture(t, accounts.Options{IdleTimeout: time.Hour, MaxAge: 3 * time.Hour})
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	f.clock.Add(50 * time.Minute)
	if p := b.get("/connectors"); p.status != 200 {
		t.Fatalf("within the idle timeout: %d", p.status)
	}
	f.clock.Add(50 * time.Minute) // used 50 minutes ago: still live
	if p := b.get("/connectors"); p.status != 200 {
		t.Fatalf("used recently: %d", p.status)
	}
	f.clock.Add(61 * time.Minute) // idle for over an hour
	if p := b.get("/connectors"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin") {
		t.Fatalf("after the idle timeout: %d %s", p.status, p.header.Get("Location"))
	}
	// Absolute expiry, however busy the session is.
	b2 := f.browser(t)
	b2.mustSignin("owner@a.test")
	for range 4 {
		f.clock.Add(50 * time.Minute)
		b2.get("/connectors")
	}
	if p := b2.get("/connectors"); p.status != http.StatusSeeOther {
		t.Fatalf("after the absolute lifetime: %d", p.status)
	}
}

func TestMemberCannotReachAdminActions(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("member@a.test")
	id := strconv.FormatInt(f.integA, 10)
	csrf := csrfOf(t, b.get("/integrations/"+id))
	for _, path := range []string{"/connect", "/integrations/" + id + "/disconnect"} {
		if p := b.get(path); p.status != http.StatusForbidden {
			t.Errorf("member GET %s: %d", path, p.status)
		}
	}
	for _, path := range []string{"/integrations/" + id + "/disconnect", "/integrations/" + id + "/sync", "/integrations/" + id + "/webhook", "/connect/token"} {
		if p := b.post(path, url.Values{"csrf_token": {csrf}}); p.status != http.StatusForbidden {
			t.Errorf("member POST %s: %d", path, p.status)
		}
	}
	if in, _ := f.st.Integration(context.Background(), f.org, f.integA); in.Status != store.StatusActive {
		t.Fatalf("a member disconnected the integration")
	}
	if p := b.get("/connectors"); p.status != 200 || strings.Contains(p.body, `id="install-gitlab"`) {
		t.Errorf("a member sees Install: %d", p.status)
	}
}

func TestAnotherOrganisationsIntegrationIsNotFound(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	id := strconv.FormatInt(f.integB, 10)
	csrf := csrfOf(t, b.get("/connectors"))
	for _, path := range []string{"/integrations/" + id, "/integrations/" + id + "/projects", "/integrations/" + id + "/disconnect", "/integrations/" + id + "/progress"} {
		if p := b.get(path); p.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, p.status)
		}
	}
	if p := b.post("/integrations/"+id+"/disconnect", url.Values{"csrf_token": {csrf}}); p.status != http.StatusNotFound {
		t.Errorf("POST disconnect: %d", p.status)
	}
	if in, _ := f.st.Integration(context.Background(), f.orgB, f.integB); in.Status != store.StatusActive {
		t.Fatalf("organisation A disconnected B's integration")
	}
	if p := b.get("/connectors"); strings.Contains(p.body, "b-gitlab") {
		t.Errorf("B's integration listed for A")
	}
}

func TestFirstSignInAsksForANewPassword(t *testing.T) {
	st := storetest.Open(t)
	ctx := context.Background()
	one, _ := accounts.RandomPassword()
	h, _ := accounts.HashPassword(one)
	bs, _, err := st.BootstrapIfEmpty(ctx, "Default", "owner@localhost", h)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	web.New(web.Deps{Store: st, Config: config.Config{PublicURL: srv.URL}, Accounts: accounts.New(st, nil, nil, accounts.Options{})}).Register(mux)
	f := &fixture{srv: srv}
	b := f.browser(t)
	if p := b.signin("owner@localhost", one); p.status != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", p.status)
	}
	p := b.get("/connectors")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/account/password" {
		t.Fatalf("first run does not ask for a new password: %d %s", p.status, p.header.Get("Location"))
	}
	pp := b.get("/account/password")
	if !strings.Contains(pp.body, "one-time password") {
		t.Fatalf("the password page does not explain: %.300s", pp.body)
	}
	form := url.Values{"csrf_token": {csrfOf(t, pp)}, "current_password": {one}, "new_password": {"short"}, "confirm_password": {"short"}}
	if p := b.post("/account/password", form); p.status != http.StatusUnprocessableEntity {
		t.Fatalf("short password: %d", p.status)
	}
	form.Set("new_password", "my own long password")
	form.Set("confirm_password", "my own long password")
	if p := b.post("/account/password", form); p.status != http.StatusSeeOther {
		t.Fatalf("change: %d %.300s", p.status, p.body)
	}
	if p := b.get("/connectors"); p.status != 200 {
		t.Fatalf("after the change: %d", p.status)
	}
	hash, _ := st.UserPasswordHash(ctx, bs.Owner.ID)
	if accounts.VerifyPassword(hash, "my own long password") != nil {
		t.Fatal("the new password does not verify")
	}
}
