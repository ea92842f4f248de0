package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/web"
)

func TestSignInWithAnOffSiteNextGoesToTheHomePage(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	for _, next := range []string{"/%09/example.com", "/\t/example.com", "/\\example.com", "//example.com"} {
		t.Run(next, func(t *testing.T) {
			b := f.browser(t)
			p := b.get("/signin?next=" + url.QueryEscape(next))
			p = b.post("/signin", url.Values{"csrf_token": {csrfOf(t, p)}, "email": {"owner@a.test"}, "password": {ownerPassword}, "next": {next}})
			if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
				t.Fatalf("next=%q: %d Location %q, want 303 to /", next, p.status, p.header.Get("Location"))
			}
		})
	}
}

func TestTheClientAddressComesFromForwardedHeadersOnlyBehindATrustedProxy(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name, peer string
		header     http.Header
		want       string
	}{
		{"a direct client", "192.0.2.5:4000", nil, "192.0.2.5"},
		{"a direct client that forges X-Forwarded-For", "192.0.2.5:4000",
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "192.0.2.5"},
		{"a direct client that forges Forwarded", "192.0.2.5:4000",
			http.Header{"Forwarded": {"for=198.51.100.1"}}, "192.0.2.5"},
		{"behind the trusted proxy", "10.1.2.3:4000",
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"behind the trusted proxy, a forged hop is left of the real one", "10.1.2.3:4000",
			http.Header{"X-Forwarded-For": {"203.0.113.66, 198.51.100.1"}}, "198.51.100.1"},
		{"two trusted proxies", "10.1.2.3:4000",
			http.Header{"X-Forwarded-For": {"198.51.100.1, 10.9.9.9"}}, "198.51.100.1"},
		{"Forwarded with a quoted IPv6 hop and port", "[fd00::1]:4000",
			http.Header{"Forwarded": {`for="[2001:db8::7]:4711";proto=https`}}, "2001:db8::7"},
		{"the trusted proxy sends no header", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"a garbled hop stops the walk at the proxy", "10.1.2.3:4000",
			http.Header{"X-Forwarded-For": {"not-an-address"}}, "10.1.2.3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/signin", nil)
			r.RemoteAddr = c.peer
			for k, v := range c.header {
				r.Header[k] = v
			}
			if got := web.ClientAddr(r, trusted); got != c.want {
				t.Fatalf("client address %q, want %q", got, c.want)
			}
			if got := web.ClientAddr(r, nil); got != netip.MustParseAddrPort(c.peer).Addr().String() {
				t.Fatalf("with no trusted proxy the address is %q, want the peer", got)
			}
		})
	}
}

// signinFrom signs in with the browser's address set by the trusted
// proxy (X-Forwarded-For) and returns the page.
func (b *browser) signinFrom(addr, email, password string) page {
	b.t.Helper()
	p := b.get("/signin")
	form := url.Values{"csrf_token": {csrfOf(b.t, p)}, "email": {email}, "password": {password}}
	req, _ := http.NewRequest("POST", b.base+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	return b.do(req)
}

func TestBehindATrustedProxyOneClientsFailuresDoNotLockOutAnother(t *testing.T) {
	// The test server's clients connect from loopback: that is the proxy.
	f := newFixture(t, accounts.Options{}, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	attacker, owner := f.browser(t), f.browser(t)
	for i := range accounts.MaxFailuresPerAddress {
		email := "owner@a.test"
		if i >= accounts.MaxFailuresPerPair {
			email = "member@a.test"
		}
		attacker.signinFrom("203.0.113.9", email, "a wrong password")
	}
	if p := attacker.signinFrom("203.0.113.9", "owner@a.test", ownerPassword); p.status != http.StatusTooManyRequests {
		t.Fatalf("the attacker's address is not paused: %d", p.status)
	}
	if p := owner.signinFrom("198.51.100.20", "owner@a.test", ownerPassword); p.status != http.StatusSeeOther {
		t.Fatalf("the owner from their own address got %d, want 303: %.300s", p.status, p.body)
	}
}

func TestWithoutTrustedProxiesAForgedForwardedForDoesNotEscapeThePause(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	for i := range accounts.MaxFailuresPerPair {
		b.signinFrom("203.0.113."+strconv.Itoa(i+1), "owner@a.test", "a wrong password")
	}
	if p := b.signinFrom("198.51.100.77", "owner@a.test", ownerPassword); p.status != http.StatusTooManyRequests {
		t.Fatalf("a forged X-Forwarded-For escaped the pause: %d", p.status)
	}
}
