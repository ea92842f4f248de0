package gitlab

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
	"github.com/labsync/labsync/internal/secret"
)

func TestNew(t *testing.T) {
	base, _ := NormalizeBaseURL("https://gitlab.example.com")
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"no base URL", Options{}, true},
		{"token and token source", Options{BaseURL: base, Token: secret.New("glpat-a"), TokenSource: ts}, true},
		{"token with a line break", Options{BaseURL: base, Token: secret.New("glpat-a\n")}, true},
		{"CA without certificate", Options{BaseURL: base, CAPEM: []byte("nope")}, true},
		{"unauthenticated", Options{BaseURL: base}, false},
		{"personal access token", Options{BaseURL: base, Token: secret.New("glpat-abc")}, false},
		{"oauth", Options{BaseURL: base, TokenSource: ts}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (c.API() == nil || c.HTTP() == nil || c.API().BaseURL().String() != "https://gitlab.example.com/api/v4/") {
				t.Errorf("client not set up: %v", c.API().BaseURL())
			}
		})
	}
}

// headerServer records the auth headers and answers with status.
type headerServer struct {
	status        int
	hits          atomic.Int64
	private, auth atomic.Value
	agent         atomic.Value
}

func (h *headerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.hits.Add(1)
	h.private.Store(r.Header.Get("Private-Token"))
	h.auth.Store(r.Header.Get("Authorization"))
	h.agent.Store(r.Header.Get("User-Agent"))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(h.status)
	w.Write([]byte(`{"version":"17.0.0","revision":"abc"}`))
}

func TestClientAuthAndRetries(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		status      int
		wantPrivate string
		wantAuth    string
	}{
		{"PAT in PRIVATE-TOKEN", Options{Token: secret.New("glpat-clienttest")}, 200, "glpat-clienttest", ""},
		{"OAuth as bearer", Options{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "oauth-access"})}, 200, "", "Bearer oauth-access"},
		{"5xx not retried by client-go", Options{Token: secret.New("glpat-clienttest")}, 502, "glpat-clienttest", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &headerServer{status: tc.status}
			srv := gitlabtest.Serve(t, h)
			base, _ := NormalizeBaseURL(srv.URL)
			tc.opts.BaseURL = base
			tc.opts.Policy = AddressPolicy{AllowLoopback: true}
			tc.opts.Timeout = 5 * time.Second
			tc.opts.UserAgent = "labsync-test/1"
			c, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = c.API().Version.GetVersion()
			if (tc.status >= 400) != (err != nil) {
				t.Fatalf("err = %v", err)
			}
			if h.hits.Load() != 1 {
				t.Errorf("%d requests, want exactly 1", h.hits.Load())
			}
			if h.private.Load() != tc.wantPrivate || h.auth.Load() != tc.wantAuth {
				t.Errorf("headers %q %q", h.private.Load(), h.auth.Load())
			}
			if h.agent.Load() != "labsync-test/1" {
				t.Errorf("user agent %q", h.agent.Load())
			}
		})
	}
}
