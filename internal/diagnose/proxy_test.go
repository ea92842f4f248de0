package diagnose

import (
	"bytes"
	"context"
	"encoding/json"
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

// The diagnosis through a company proxy says the proxy was used and, when
// something fails, which part: reaching the proxy, the proxy's answer to
// CONNECT, or TLS through the tunnel.
func TestDiagnosisThroughAProxySaysWhichPartFailed(t *testing.T) {
	ca := gitlabtest.NewCA(t, "Corp Test CA")
	srv := gitlabtest.ServeTLS(t, healthy(), ca.Leaf(t, gitlabtest.LeafOptions{DNSNames: []string{"gitlab.corp.example"}}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	target := "gitlab.corp.example:" + port
	gitlabURL := "https://" + target
	routes := map[string]string{target: srv.Listener.Addr().String()}
	// gitlab.corp.example is a public address for labsync's resolver; only
	// the proxy knows the way to the test server on loopback.
	public := fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("203.0.113.7")}}
	const pw = "Pr0xyPassw0rd"

	open := gitlabtest.StartConnectProxy(t, &gitlabtest.ConnectProxy{Routes: routes, User: "svc", Password: pw})
	refusing := gitlabtest.StartConnectProxy(t, &gitlabtest.ConnectProxy{Routes: routes, Refuse: http.StatusForbidden})

	tests := []struct {
		name     string
		proxyURL string
		ca       []byte
		res      fakeResolver
		ok       bool
		want     want
		seen     map[string]string
	}{
		{
			name: "healthy through the proxy", proxyURL: "http://svc:" + pw + "@" + open.Addr(), ca: ca.PEM, res: public, ok: true,
			want: w(StepURL, Pass, StepDNS, Pass, StepTCP, Pass, StepTLS, Pass, StepHTTP, Pass, StepVersion, Pass, StepToken, Pass),
			seen: map[string]string{StepURL: "through the proxy http://" + open.Addr() + " (LABSYNC_GITLAB_PROXY)",
				StepTCP: "opened a tunnel to " + target, StepTLS: "Through the proxy's tunnel"},
		},
		{
			name: "proxy unreachable", proxyURL: "http://svc:" + pw + "@" + gitlabtest.ClosedPort(t), ca: ca.PEM, res: public,
			want: w(StepURL, Pass, StepDNS, Pass, StepTCP, k(Fail, gitlab.KindProxyUnreachable), StepTLS, Skip),
			seen: map[string]string{StepTCP: "could not be reached"},
		},
		{
			name: "proxy refuses CONNECT", proxyURL: "http://" + refusing.Addr(), ca: ca.PEM, res: public,
			want: w(StepTCP, k(Fail, gitlab.KindProxyRefused), StepTLS, Skip),
			seen: map[string]string{StepTCP: "403 Forbidden"},
		},
		{
			name: "proxy wants credentials", proxyURL: "http://svc:wrong-" + pw + "@" + open.Addr(), ca: ca.PEM, res: public,
			want: w(StepTCP, k(Fail, gitlab.KindProxyRefused)),
			seen: map[string]string{StepTCP: "407 Proxy Authentication Required"},
		},
		{
			name: "TLS through the proxy without the CA", proxyURL: "http://svc:" + pw + "@" + open.Addr(), res: public,
			want: w(StepTCP, Pass, StepTLS, k(Fail, gitlab.KindTLSUnknownAuthority), StepHTTP, Skip),
			seen: map[string]string{StepTLS: "TLS through the proxy http://" + open.Addr()},
		},
		{
			name: "GitLab's name resolves to this machine", proxyURL: "http://svc:" + pw + "@" + open.Addr(), ca: ca.PEM,
			res:  fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
			want: w(StepDNS, k(Fail, gitlab.KindAddressRefused), StepTCP, Skip),
			seen: map[string]string{StepDNS: "before it asks the proxy for a tunnel"},
		},
		{
			name: "one of GitLab's addresses is refused", proxyURL: "http://svc:" + pw + "@" + open.Addr(), ca: ca.PEM,
			res:  fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("169.254.169.254")}},
			want: w(StepDNS, k(Fail, gitlab.KindAddressRefused), StepTCP, Skip),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			px, err := gitlab.NewProxy(gitlab.ProxySettings{GitLabProxy: tc.proxyURL})
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			rep := run(context.Background(), Input{URL: gitlabURL, Token: secret.New(token), CAPEM: tc.ca, Proxy: px,
				Timeout: 5 * time.Second, OnStep: func(s Step) { WriteStep(&text, s) }}, tc.res)
			if rep.OK != tc.ok {
				t.Errorf("OK = %v, want %v", rep.OK, tc.ok)
			}
			if want := "http://" + strings.TrimPrefix(tc.proxyURL[strings.LastIndex(tc.proxyURL, "@")+1:], "http://") + " (LABSYNC_GITLAB_PROXY)"; rep.Proxy != want {
				t.Errorf("report proxy %q, want %q", rep.Proxy, want)
			}
			for id, wnt := range tc.want {
				s, _ := rep.Step(id)
				if s.Status != wnt.status || (wnt.kind != "" && s.Kind != wnt.kind) {
					t.Errorf("step %s: %s/%s, want %s/%s: %s | %s", id, s.Status, s.Kind, wnt.status, wnt.kind, s.Seen, s.Remedy)
				}
				if s.Status == Fail && s.Remedy == "" {
					t.Errorf("step %s failed without a remedy", id)
				}
			}
			for id, sub := range tc.seen {
				if s, _ := rep.Step(id); !strings.Contains(s.Seen, sub) {
					t.Errorf("step %s says %q, want it to mention %q", id, s.Seen, sub)
				}
			}
			js, _ := json.Marshal(rep)
			if strings.Contains(string(js), pw) || strings.Contains(text.String(), pw) {
				t.Errorf("the proxy password is in the report:\n%s", text.String())
			}
		})
	}
}

func TestInsecureHTTPIsAcceptedOnlyWithTheOptInAndReportedAsInsecure(t *testing.T) {
	for _, optIn := range []bool{false, true} {
		rep := run(context.Background(), Input{URL: "http://gitlab.corp.example", AllowInsecureHTTP: optIn, Timeout: time.Second},
			fakeResolver{err: &net.DNSError{Err: "no such host", Name: "gitlab.corp.example", IsNotFound: true}})
		s, _ := rep.Step(StepURL)
		switch {
		case !optIn && (s.Status != Fail || !strings.Contains(s.Remedy, "insecure-http opt-in") || rep.Insecure):
			t.Errorf("without the opt-in: %s %q %q insecure=%v", s.Status, s.Seen, s.Remedy, rep.Insecure)
		case optIn && (s.Status != Warn || !strings.Contains(s.Seen, "unencrypted") || !rep.Insecure):
			t.Errorf("with the opt-in: %s %q insecure=%v", s.Status, s.Seen, rep.Insecure)
		}
	}
}
