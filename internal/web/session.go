package web

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/accounts"
)

// csrfField is the form field that carries the CSRF token.
const csrfField = "csrf_token"

type sessionKey struct{}

func withSession(ctx context.Context, s *accounts.Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

func sessionFrom(ctx context.Context) *accounts.Session {
	s, _ := ctx.Value(sessionKey{}).(*accounts.Session)
	return s
}

// session resolves the request's cookie to a live session; nil when there
// is none.
func (u *UI) session(r *http.Request) (*accounts.Session, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	}
	c, err := r.Cookie(accounts.CookieName)
	if err != nil {
		return nil, nil
	}
	return u.Accounts.LookupSession(r.Context(), c.Value)
}

func (u *UI) cookie(value string, exp time.Time) *http.Cookie {
	c := &http.Cookie{Name: accounts.CookieName, Value: value, Path: "/", HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = exp
	}
	return c
}

// clientIP is the address sign-in throttles by: the connection's peer,
// unless the peer is a trusted proxy (LABSYNC_TRUSTED_PROXIES), in which
// case the forwarded headers are walked from the nearest hop back and the
// first address that is no trusted proxy is the client. Headers from any
// other peer are ignored, so a client cannot choose its own address.
func (u *UI) clientIP(r *http.Request) string {
	return ClientAddr(r, u.Config.TrustedProxies)
}

// ClientAddr is clientIP for a request and a list of trusted proxies. The
// Forwarded header (RFC 7239) is read when present, else X-Forwarded-For.
func ClientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := forwardedFor(r.Header)
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			// An obfuscated or garbled hop: the last address we know is
			// the client as far as the trusted chain can tell.
			break
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client.String()
}

func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(strings.Trim(remote, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor lists the client-side hops the proxies appended, oldest
// first: the for= parameters of Forwarded, else X-Forwarded-For.
func forwardedFor(h http.Header) []string {
	var hops []string
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		for _, line := range fw {
			for _, elem := range strings.Split(line, ",") {
				found := ""
				for _, pair := range strings.Split(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if ok && strings.EqualFold(k, "for") {
						found = strings.Trim(v, `"`)
					}
				}
				hops = append(hops, found)
			}
		}
		return hops
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, f := range strings.Split(line, ",") {
			hops = append(hops, strings.TrimSpace(f))
		}
	}
	return hops
}

// parseHop reads "192.0.2.1", "192.0.2.1:80", "[2001:db8::1]:80" or "2001:db8::1".
func parseHop(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
