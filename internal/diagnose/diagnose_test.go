package diagnose

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
	"github.com/labsync/labsync/internal/secret"
)

const token = "glpat-Zq3diagnoseTestToken9"

// want is the expected outcome of some steps: status and, optionally, kind.
type want map[string]struct {
	status Status
	kind   gitlab.Kind
}

func w(pairs ...any) want {
	m := want{}
	for i := 0; i < len(pairs); i += 2 {
		v := pairs[i+1]
		switch v := v.(type) {
		case Status:
			m[pairs[i].(string)] = struct {
				status Status
				kind   gitlab.Kind
			}{v, ""}
		case [2]any:
			m[pairs[i].(string)] = struct {
				status Status
				kind   gitlab.Kind
			}{v[0].(Status), v[1].(gitlab.Kind)}
		}
	}
	return m
}

func k(s Status, kind gitlab.Kind) [2]any { return [2]any{s, kind} }

func healthy() *gitlabtest.GitLab {
	return &gitlabtest.GitLab{Token: token, Version: "17.11.2-ee", Scopes: []string{"read_api"},
		ExpiresAt: time.Now().AddDate(0, 6, 0).Format(time.DateOnly), Username: "sync-bot", Projects: 12}
}

func TestRun(t *testing.T) {
	ca := gitlabtest.NewCA(t, "Corp Test CA")
	selfCert, _ := gitlabtest.SelfSigned(t, gitlabtest.LeafOptions{})
	loopback := gitlab.AddressPolicy{AllowLoopback: true}

	tests := []struct {
		name    string
		url     func(t *testing.T) string
		token   string
		ca      []byte
		policy  *gitlab.AddressPolicy
		timeout time.Duration
		ok      bool
		want    want
		seen    map[string]string // step → text Seen must contain
	}{
		{
			name: "healthy", token: token, ok: true,
			url: func(t *testing.T) string { return gitlabtest.Serve(t, healthy()).URL + "/api/v4/" },
			want: w(StepURL, Pass, StepDNS, Pass, StepTCP, Pass, StepTLS, Skip, StepHTTP, Pass, StepVersion, Pass,
				StepToken, Pass, StepIdentity, Pass, StepProjects, Pass),
			seen: map[string]string{StepVersion: "17.11.2 Enterprise Edition", StepToken: "read_api", StepIdentity: "@sync-bot", StepProjects: "12 projects"},
		},
		{
			name: "bad url", token: token,
			url:  func(*testing.T) string { return "gitlab.example.com" },
			want: w(StepURL, Fail, StepDNS, Skip, StepProjects, Skip),
			seen: map[string]string{StepURL: "no scheme"},
		},
		{
			name: "connection refused", token: token,
			url:  func(t *testing.T) string { return "http://" + gitlabtest.ClosedPort(t) },
			want: w(StepDNS, Pass, StepTCP, k(Fail, gitlab.KindRefused), StepTLS, Skip, StepHTTP, Skip, StepToken, Skip),
		},
		{
			name: "timeout", token: token, timeout: 300 * time.Millisecond,
			url:  func(t *testing.T) string { return "http://" + gitlabtest.Silent(t) },
			want: w(StepTCP, Pass, StepHTTP, k(Fail, gitlab.KindTimeout), StepVersion, Skip),
		},
		{
			name: "loopback refused by policy", token: token, policy: &gitlab.AddressPolicy{},
			url:  func(t *testing.T) string { return gitlabtest.Serve(t, healthy()).URL },
			want: w(StepDNS, k(Fail, gitlab.KindAddressRefused), StepTCP, Skip),
			seen: map[string]string{StepDNS: "loopback"},
		},
		{
			name: "not gitlab: html page", token: token,
			url: func(t *testing.T) string {
				return gitlabtest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					io.WriteString(w, "<html><head><title>Sign in - Corp SSO</title></head><body>login</body></html>")
				})).URL
			},
			want: w(StepTCP, Pass, StepHTTP, k(Fail, gitlab.KindUnexpected), StepVersion, Skip),
			seen: map[string]string{StepHTTP: "Sign in - Corp SSO"},
		},
		{
			name: "not gitlab: redirect to a portal", token: token,
			url: func(t *testing.T) string {
				return gitlabtest.Serve(t, http.RedirectHandler("https://sso.corp.example/login?state=xyz", http.StatusFound)).URL
			},
			want: w(StepHTTP, k(Fail, gitlab.KindUnexpected)),
			seen: map[string]string{StepHTTP: "https://sso.corp.example/login"},
		},
		{
			name: "wrong path: 404 page", token: token,
			url:  func(t *testing.T) string { return gitlabtest.Serve(t, http.NotFoundHandler()).URL + "/gitlab" },
			want: w(StepHTTP, k(Fail, gitlab.KindNotFound)),
		},
		{
			name: "no token", token: "", ok: true,
			url:  func(t *testing.T) string { return gitlabtest.Serve(t, healthy()).URL },
			want: w(StepHTTP, Pass, StepVersion, Skip, StepToken, Skip, StepIdentity, Skip, StepProjects, Skip),
		},
		{
			name: "expired token", token: token,
			url: func(t *testing.T) string {
				g := healthy()
				g.TokenState = "expired"
				return gitlabtest.Serve(t, g).URL
			},
			want: w(StepHTTP, Pass, StepVersion, Skip, StepToken, k(Fail, gitlab.KindTokenExpired), StepIdentity, Skip, StepProjects, Skip),
			seen: map[string]string{StepToken: "expired"},
		},
		{
			name: "revoked token", token: token,
			url: func(t *testing.T) string {
				g := healthy()
				g.TokenState = "revoked"
				return gitlabtest.Serve(t, g).URL
			},
			want: w(StepToken, k(Fail, gitlab.KindTokenRevoked), StepProjects, Skip),
			seen: map[string]string{StepToken: "revoked"},
		},
		{
			name: "unknown token", token: "glpat-somethingElseEntirely1",
			url:  func(t *testing.T) string { return gitlabtest.Serve(t, healthy()).URL },
			want: w(StepToken, k(Fail, gitlab.KindTokenInvalid)),
		},
		{
			name: "missing scope: read_repository only", token: token,
			url: func(t *testing.T) string {
				g := healthy()
				g.Scopes = []string{"read_repository"}
				return gitlabtest.Serve(t, g).URL
			},
			want: w(StepVersion, Skip, StepToken, k(Fail, gitlab.KindInsufficientScope), StepProjects, Skip),
		},
		{
			name: "missing scope: read_user only", token: token,
			url: func(t *testing.T) string {
				g := healthy()
				g.Scopes = []string{"read_user"}
				return gitlabtest.Serve(t, g).URL
			},
			want: w(StepVersion, Pass, StepToken, k(Fail, gitlab.KindInsufficientScope), StepProjects, Skip),
			seen: map[string]string{StepToken: "read_api"},
		},
		{
			name: "zero visible projects", token: token, ok: true,
			url: func(t *testing.T) string {
				g := healthy()
				g.Projects, g.GuestProjects, g.PublicProjects = 0, 3, 40
				return gitlabtest.Serve(t, g).URL
			},
			want: w(StepToken, Pass, StepIdentity, Pass, StepProjects, Warn),
			seen: map[string]string{StepProjects: "Guest"},
		},
		{
			name: "token expiring soon", token: token, ok: true,
			url: func(t *testing.T) string {
				g := healthy()
				g.ExpiresAt = time.Now().AddDate(0, 0, 10).Format(time.DateOnly)
				return gitlabtest.Serve(t, g).URL
			},
			want: w(StepToken, Warn, StepProjects, Pass),
			seen: map[string]string{StepToken: "expires in"},
		},
		{
			name: "whitespace around the token trimmed", token: "  " + token + "\r\n", ok: true,
			url:  func(t *testing.T) string { return gitlabtest.Serve(t, healthy()).URL },
			want: w(StepToken, Warn, StepProjects, Pass),
			seen: map[string]string{StepToken: "removed"},
		},
		{
			name: "runner token named", token: "glrt-2CR8_eVxiioB1QmzPZwa",
			url:  func(t *testing.T) string { return gitlabtest.Serve(t, healthy()).URL },
			want: w(StepVersion, Skip, StepToken, k(Fail, gitlab.KindTokenInvalid), StepIdentity, Skip),
			seen: map[string]string{StepToken: "runner authentication token"},
		},
		{
			name: "deploy token named", token: "gldt-abcdefghijklmnopqrst",
			url:  func(t *testing.T) string { return gitlabtest.Serve(t, healthy()).URL },
			want: w(StepToken, k(Fail, gitlab.KindTokenInvalid)),
			seen: map[string]string{StepToken: "deploy token"},
		},
		{
			name: "feed token named", token: "glft-abcdefghijklmnopqrst",
			url:  func(t *testing.T) string { return gitlabtest.Serve(t, healthy()).URL },
			want: w(StepToken, k(Fail, gitlab.KindTokenInvalid)),
			seen: map[string]string{StepToken: "feed token"},
		},
		{
			name: "old gitlab 13: degraded, token probed via /user", token: token, ok: true,
			url: func(t *testing.T) string {
				g := healthy()
				g.Version = "13.12.15-ee"
				return gitlabtest.Serve(t, g).URL
			},
			want: w(StepVersion, Warn, StepToken, Pass, StepIdentity, Pass, StepProjects, Pass),
			seen: map[string]string{StepVersion: "Older than 14", StepToken: "before 15.5"},
		},
		{
			name: "gitlab below the floor", token: token,
			url: func(t *testing.T) string {
				g := healthy()
				g.Version = "8.17.4"
				return gitlabtest.Serve(t, g).URL
			},
			want: w(StepVersion, Fail, StepToken, Skip),
		},
		{
			name: "tls: CA added passes", token: token, ok: true, ca: ca.PEM,
			url: func(t *testing.T) string {
				return gitlabtest.ServeTLS(t, healthy(), ca.Leaf(t, gitlabtest.LeafOptions{})).URL
			},
			want: w(StepTLS, Pass, StepHTTP, Pass, StepProjects, Pass),
			seen: map[string]string{StepTLS: "Trusted through the CA certificate given"},
		},
		{
			name: "tls: unknown authority", token: token,
			url: func(t *testing.T) string {
				return gitlabtest.ServeTLS(t, healthy(), ca.Leaf(t, gitlabtest.LeafOptions{})).URL
			},
			want: w(StepTLS, k(Fail, gitlab.KindTLSUnknownAuthority), StepHTTP, Skip),
			seen: map[string]string{StepTLS: "Corp Test CA"},
		},
		{
			name: "tls: self-signed", token: token,
			url:  func(t *testing.T) string { return gitlabtest.ServeTLS(t, healthy(), selfCert).URL },
			want: w(StepTLS, k(Fail, gitlab.KindTLSSelfSigned)),
			seen: map[string]string{StepTLS: "self-signed"},
		},
		{
			name: "tls: expired", token: token, ca: ca.PEM,
			url: func(t *testing.T) string {
				return gitlabtest.ServeTLS(t, healthy(), ca.Leaf(t, gitlabtest.LeafOptions{
					NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})).URL
			},
			want: w(StepTLS, k(Fail, gitlab.KindTLSExpired)),
			seen: map[string]string{StepTLS: "expired on 2021-01-01"},
		},
		{
			name: "tls: wrong host", token: token, ca: ca.PEM,
			url: func(t *testing.T) string {
				return gitlabtest.ServeTLS(t, healthy(), ca.Leaf(t, gitlabtest.LeafOptions{DNSNames: []string{"gitlab.corp.example"}})).URL
			},
			want: w(StepTLS, k(Fail, gitlab.KindTLSHostMismatch)),
			seen: map[string]string{StepTLS: "gitlab.corp.example"},
		},
		{
			name: "tls: plain http on an https url", token: token,
			url: func(t *testing.T) string {
				return strings.Replace(gitlabtest.Serve(t, healthy()).URL, "http://", "https://", 1)
			},
			want: w(StepTLS, k(Fail, gitlab.KindTLSOther)),
			seen: map[string]string{StepTLS: "plain HTTP"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policy := loopback
			if tc.policy != nil {
				policy = *tc.policy
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			var streamed []Step
			var text bytes.Buffer
			in := Input{URL: tc.url(t), Token: secret.New(tc.token), CAPEM: tc.ca, Policy: policy, Timeout: timeout,
				OnStep: func(s Step) {
					streamed = append(streamed, s)
					WriteStep(&text, s)
				}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rep := Run(ctx, in)
			t.Log("\n" + text.String())
			checkReport(t, rep, streamed)
			if rep.OK != tc.ok {
				t.Errorf("OK = %v, want %v", rep.OK, tc.ok)
			}
			for id, wnt := range tc.want {
				s, _ := rep.Step(id)
				if s.Status != wnt.status || (wnt.kind != "" && s.Kind != wnt.kind) {
					t.Errorf("step %s: %s/%s, want %s/%s — %s | %s", id, s.Status, s.Kind, wnt.status, wnt.kind, s.Seen, s.Remedy)
				}
			}
			for id, sub := range tc.seen {
				s, _ := rep.Step(id)
				if !strings.Contains(s.Seen, sub) {
					t.Errorf("step %s: Seen %q does not contain %q", id, s.Seen, sub)
				}
			}
			js, _ := json.Marshal(rep)
			if tc.token != "" && (strings.Contains(string(js), strings.TrimSpace(tc.token)) || strings.Contains(text.String(), strings.TrimSpace(tc.token))) {
				t.Errorf("the token appears in the report or the text output")
			}
		})
	}
}

// checkReport checks the shape every report has: all steps, in order, the
// same as streamed, a reason on every skip and a remedy on every failure.
func checkReport(t *testing.T, rep Report, streamed []Step) {
	t.Helper()
	if len(rep.Steps) != len(stepTitles) || len(streamed) != len(rep.Steps) {
		t.Fatalf("%d steps, %d streamed", len(rep.Steps), len(streamed))
	}
	for i, s := range rep.Steps {
		if s.ID != stepTitles[i].id || s.Title == "" || streamed[i].ID != s.ID || streamed[i].Status != s.Status {
			t.Errorf("step %d: %+v", i, s)
		}
		switch s.Status {
		case Pass, Warn, Fail, Skip:
		default:
			t.Errorf("step %s: status %q", s.ID, s.Status)
		}
		if s.Seen == "" {
			t.Errorf("step %s (%s) says nothing", s.ID, s.Status)
		}
		if (s.Status == Fail || s.Status == Warn) && s.Remedy == "" {
			t.Errorf("step %s (%s) has no remedy: %s", s.ID, s.Status, s.Seen)
		}
	}
}

type fakeResolver struct {
	addrs []netip.Addr
	err   error
}

func (f fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return f.addrs, f.err
}

func TestDNSStep(t *testing.T) {
	tests := []struct {
		name   string
		res    fakeResolver
		policy gitlab.AddressPolicy
		status Status
		kind   gitlab.Kind
		seen   string
	}{
		{"nxdomain", fakeResolver{err: &net.DNSError{Err: "no such host", Name: "gitlab.corp.example", IsNotFound: true}}, gitlab.AddressPolicy{}, Fail, gitlab.KindDNS, "NXDOMAIN"},
		{"temporary failure", fakeResolver{err: &net.DNSError{Err: "server misbehaving", Name: "gitlab.corp.example", IsTemporary: true}}, gitlab.AddressPolicy{}, Fail, gitlab.KindDNS, "temporarily"},
		{"dns timeout", fakeResolver{err: &net.DNSError{Err: "i/o timeout", Name: "gitlab.corp.example", IsTimeout: true}}, gitlab.AddressPolicy{}, Fail, gitlab.KindDNS, "No DNS answer"},
		{"metadata address", fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("169.254.169.254")}}, gitlab.AddressPolicy{AllowLoopback: true}, Fail, gitlab.KindAddressRefused, "metadata"},
		{"private forbidden", fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("10.0.0.8")}}, gitlab.AddressPolicy{ForbidPrivate: true}, Fail, gitlab.KindAddressRefused, gitlab.EnvForbidPrivate},
		{"private allowed", fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("10.0.0.8")}}, gitlab.AddressPolicy{}, Pass, "", "10.0.0.8"},
		{"one of two refused", fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("10.0.0.8"), netip.MustParseAddr("203.0.113.9")}}, gitlab.AddressPolicy{ForbidPrivate: true}, Warn, gitlab.KindAddressRefused, "203.0.113.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &runner{in: Input{Policy: tc.policy, Timeout: time.Second}, res: tc.res}
			r.base, _ = gitlab.NormalizeBaseURL("https://gitlab.corp.example")
			s := r.checkDNS(context.Background())
			if s.Status != tc.status || s.Kind != tc.kind {
				t.Errorf("%s/%s, want %s/%s: %s", s.Status, s.Kind, tc.status, tc.kind, s.Seen)
			}
			if !strings.Contains(s.Seen+s.Remedy, tc.seen) {
				t.Errorf("%q does not mention %q", s.Seen+" "+s.Remedy, tc.seen)
			}
			if s.Status != Pass && s.Remedy == "" {
				t.Error("no remedy")
			}
		})
	}
	t.Run("later steps skipped after nxdomain", func(t *testing.T) {
		rep := run(context.Background(), Input{URL: "https://gitlab.corp.example", Token: secret.New(token), Timeout: time.Second},
			fakeResolver{err: &net.DNSError{Err: "no such host", Name: "gitlab.corp.example", IsNotFound: true}})
		for _, s := range rep.Steps[2:] {
			if s.Status != Skip {
				t.Errorf("%s: %s", s.ID, s.Status)
			}
		}
		if rep.OK {
			t.Error("OK")
		}
	})
}

// TestTokenEchoRedacted makes sure that a proxy which echoes request headers
// into its error page cannot get the token into the report.
func TestTokenEchoRedacted(t *testing.T) {
	srv := gitlabtest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		tok := r.Header.Get("Private-Token")
		if tok == "" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, gitlabtest.BodyUnauthorized)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"403 Forbidden - request with `+tok+` denied by policy"}`)
	}))
	var text bytes.Buffer
	rep := Run(context.Background(), Input{URL: srv.URL, Token: secret.New(token), Policy: gitlab.AddressPolicy{AllowLoopback: true},
		Timeout: 5 * time.Second, OnStep: func(s Step) { WriteStep(&text, s) }})
	js, _ := json.Marshal(rep)
	if strings.Contains(string(js), token) || strings.Contains(text.String(), token) {
		t.Fatalf("token leaked: %s", js)
	}
	if s, _ := rep.Step(StepToken); s.Kind != gitlab.KindForbidden || !strings.Contains(s.Seen, secret.Redacted) {
		t.Errorf("token step %s/%s: %s", s.Status, s.Kind, s.Seen)
	}
}
