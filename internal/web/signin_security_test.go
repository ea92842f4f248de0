package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
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
