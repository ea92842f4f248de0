package gitlabtest

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// GitLab's own answers, as its API guard renders them.
const (
	BodyUnauthorized = `{"message":"401 Unauthorized"}`
	BodyExpired      = `{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}`
	BodyRevoked      = `{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}`
	BodyForbidden    = `{"message":"403 Forbidden"}`
	BodyNotFound     = `{"message":"404 Not Found"}`
)

// InsufficientScopeBody is GitLab's 403 answer for a token without one of scopes.
func InsufficientScopeBody(scopes ...string) string {
	b, _ := json.Marshal(map[string]string{
		"error":             "insufficient_scope",
		"error_description": "The request requires higher privileges than provided by the access token.",
		"scope":             strings.Join(scopes, " "),
	})
	return string(b)
}

// GitLab imitates the parts of GitLab's REST API v4 that the connection
// check reads: /version, /metadata, /personal_access_tokens/self, /user and
// /projects, with GitLab's status codes and bodies. Configure it before
// serving; it is safe for concurrent requests.
type GitLab struct {
	// Token is the access token GitLab knows (PRIVATE-TOKEN or Bearer).
	Token string
	// TokenState is "" (usable), "expired" or "revoked".
	TokenState string
	// Scopes of the token; nil means read_api.
	Scopes []string
	// ExpiresAt is the token's expiry date (YYYY-MM-DD), "" for none.
	ExpiresAt string
	// Version is what /version reports, for example "17.11.2-ee".
	Version string
	// Username, Admin and Bot describe the token's account.
	Username   string
	Admin, Bot bool
	// Projects counts projects where the account is Reporter or above,
	// GuestProjects those where it is only Guest, PublicProjects those it
	// sees without being a member.
	Projects, GuestProjects, PublicProjects int

	requests atomic.Int64
	mu       sync.Mutex
	seen     []string
}

// Requests returns how many requests reached the server.
func (g *GitLab) Requests() int64 { return g.requests.Load() }

// Seen returns "METHOD path" of every request received, in order.
func (g *GitLab) Seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.seen)
}

func (g *GitLab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	g.mu.Lock()
	g.seen = append(g.seen, r.Method+" "+r.URL.EscapedPath())
	g.mu.Unlock()

	p, ok := strings.CutPrefix(r.URL.Path, "/api/v4")
	if !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<!DOCTYPE html><html><head><title>The page you're looking for could not be found (404)</title></head></html>")
		return
	}
	tok := r.Header.Get("Private-Token")
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = b
	}
	if tok == "" || tok != g.Token {
		writeJSON(w, http.StatusUnauthorized, BodyUnauthorized)
		return
	}
	switch g.TokenState {
	case "expired":
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token", error_description="Token is expired. You can either do re-authorization or token refresh."`)
		writeJSON(w, http.StatusUnauthorized, BodyExpired)
		return
	case "revoked":
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token", error_description="Token was revoked. You have to re-authorize from the user."`)
		writeJSON(w, http.StatusUnauthorized, BodyRevoked)
		return
	}
	scopes := g.Scopes
	if scopes == nil {
		scopes = []string{"read_api"}
	}
	has := func(want ...string) bool {
		for _, s := range want {
			if slices.Contains(scopes, s) {
				return true
			}
		}
		return false
	}
	needs := func(want ...string) bool {
		if has(want...) {
			return true
		}
		writeJSON(w, http.StatusForbidden, InsufficientScopeBody(want...))
		return false
	}
	major, minor := g.version()
	at := func(ma, mi int) bool { return major > ma || (major == ma && minor >= mi) }
	switch {
	case p == "/version" && r.Method == http.MethodGet:
		if needs("api", "read_api", "read_user") {
			writeJSON(w, http.StatusOK, fmt.Sprintf(`{"version":%q,"revision":"6f4a5b2c1d3"}`, g.Version))
		}
	case p == "/metadata" && r.Method == http.MethodGet && at(15, 2):
		if needs("api", "read_api", "read_user") {
			writeJSON(w, http.StatusOK, fmt.Sprintf(`{"version":%q,"revision":"6f4a5b2c1d3","kas":{"enabled":false},"enterprise":%t}`, g.Version, strings.HasSuffix(g.Version, "-ee")))
		}
	case p == "/personal_access_tokens/self" && r.Method == http.MethodGet && at(15, 5):
		exp := "null"
		if g.ExpiresAt != "" {
			exp = strconv.Quote(g.ExpiresAt)
		}
		sc, _ := json.Marshal(scopes)
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":42,"name":"labsync","revoked":false,"created_at":"2025-01-02T03:04:05.000Z","description":"","scopes":%s,"user_id":7,"last_used_at":null,"active":true,"expires_at":%s}`, sc, exp))
	case p == "/user" && r.Method == http.MethodGet:
		if needs("api", "read_api", "read_user") {
			admin := ""
			if g.Admin {
				admin = `,"is_admin":true`
			}
			writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":7,"username":%q,"name":"Lab Sync","state":"active","bot":%t%s}`, g.username(), g.Bot, admin))
		}
	case p == "/projects" && r.Method == http.MethodGet:
		if !needs("api", "read_api") {
			return
		}
		q := r.URL.Query()
		n := g.PublicProjects + g.Projects + g.GuestProjects
		if q.Get("membership") == "true" {
			n = g.Projects + g.GuestProjects
			if lvl, _ := strconv.Atoi(q.Get("min_access_level")); lvl >= 20 {
				n = g.Projects
			}
		}
		w.Header().Set("X-Total", strconv.Itoa(n))
		w.Header().Set("X-Per-Page", q.Get("per_page"))
		if n == 0 {
			writeJSON(w, http.StatusOK, `[]`)
			return
		}
		writeJSON(w, http.StatusOK, `[{"id":1,"name":"api","path_with_namespace":"platform/api"}]`)
	default:
		writeJSON(w, http.StatusNotFound, BodyNotFound)
	}
}

func (g *GitLab) username() string {
	if g.Username == "" {
		return "labsync-bot"
	}
	return g.Username
}

func (g *GitLab) version() (int, int) {
	parts := strings.SplitN(strings.SplitN(g.Version, "-", 2)[0], ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	ma, _ := strconv.Atoi(parts[0])
	mi, _ := strconv.Atoi(parts[1])
	return ma, mi
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// Serve starts h over plain HTTP on 127.0.0.1; it stops when the test ends.
func Serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// ServeTLS starts h over HTTPS on 127.0.0.1 with cert; it stops when the
// test ends.
func ServeTLS(t testing.TB, h http.Handler, cert tls.Certificate) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point of some tests
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// ClosedPort returns a 127.0.0.1 address where nothing listens.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Silent listens on 127.0.0.1, accepts connections and never answers; it
// stops when the test ends. It returns its address.
func Silent(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
