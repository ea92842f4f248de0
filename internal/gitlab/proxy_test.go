package gitlab

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
	"github.com/labsync/labsync/internal/secret"
)

// hosts is a Resolver with fixed answers; unknown names do not exist.
type hosts map[string]string

func (h hosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	a, ok := h[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

// proxyRig is a GitLab serving HTTPS for gitlab.example with a certificate
// from its own CA, and a CONNECT proxy on loopback that tunnels to it.
type proxyRig struct {
	ca     *gitlabtest.CA
	gitlab *gitlabtest.GitLab
	addr   string // the GitLab server's real loopback address
	base   BaseURL
	target string // gitlab.example:PORT, as CONNECT asks for it
}

func newProxyRig(t *testing.T) *proxyRig {
	t.Helper()
	ca := gitlabtest.NewCA(t, "company CA")
	gl := &gitlabtest.GitLab{Token: "glpat-proxytest", Version: "17.11.2-ee", Username: "alice"}
	srv := gitlabtest.ServeTLS(t, gl, ca.Leaf(t, gitlabtest.LeafOptions{DNSNames: []string{"gitlab.example"}}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	base, err := NormalizeBaseURL("https://gitlab.example:" + port)
	if err != nil {
		t.Fatal(err)
	}
	return &proxyRig{ca: ca, gitlab: gl, addr: srv.Listener.Addr().String(), base: base, target: "gitlab.example:" + port}
}

func (r *proxyRig) proxy(t *testing.T, p *gitlabtest.ConnectProxy) *gitlabtest.ConnectProxy {
	t.Helper()
	if p.Routes == nil {
		p.Routes = map[string]string{r.target: r.addr}
	}
	return gitlabtest.StartConnectProxy(t, p)
}

func mustProxy(t *testing.T, s ProxySettings) *Proxy {
	t.Helper()
	p, err := NewProxy(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// version asks GitLab for /version through c and returns the status code.
func version(t *testing.T, c *Client) (int, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.BaseURL().APIURL()+"/version", nil)
	req.Header.Set("PRIVATE-TOKEN", "glpat-proxytest")
	resp, err := c.HTTP().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func TestRequestsReachGitLabThroughAConnectProxyWithTLSVerifiedEndToEnd(t *testing.T) {
	r := newProxyRig(t)
	px := r.proxy(t, &gitlabtest.ConnectProxy{})
	// gitlab.example resolves to a public address the default policy
	// allows; the proxy itself is on loopback, which the policy would
	// refuse for GitLab but not for the proxy the operator chose.
	c, err := New(Options{BaseURL: r.base, CAPEM: r.ca.PEM, Resolver: hosts{"gitlab.example": "192.0.2.10"},
		Proxy: mustProxy(t, ProxySettings{HTTPSProxy: "http://" + px.Addr()})})
	if err != nil {
		t.Fatal(err)
	}
	code, err := version(t, c)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /version through the proxy: %d %v", code, err)
	}
	if got := px.Connects(); !slices.Equal(got, []string{r.target}) {
		t.Fatalf("CONNECTs %v, want one to %s", got, r.target)
	}
	if r.gitlab.Requests() != 1 {
		t.Fatalf("GitLab saw %d requests, want 1", r.gitlab.Requests())
	}
	if got, want := c.Proxy(), "http://"+px.Addr()+" (HTTPS_PROXY)"; got != want {
		t.Fatalf("Client.Proxy() = %q, want %q", got, want)
	}

	// Without the company CA the same tunnel fails verification: the proxy
	// does not vouch for GitLab's certificate, labsync checks it itself.
	c2, err := New(Options{BaseURL: r.base, Resolver: hosts{"gitlab.example": "192.0.2.10"},
		Proxy: mustProxy(t, ProxySettings{HTTPSProxy: "http://" + px.Addr()})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = version(t, c2)
	if ae := ClassifyError(err); ae == nil || ae.Kind != KindTLSUnknownAuthority {
		t.Fatalf("without the CA: %v, want %s", err, KindTLSUnknownAuthority)
	}
}

func TestAProxyThatFailsGivesAClearErrorWithARemedy(t *testing.T) {
	r := newProxyRig(t)
	refusing := r.proxy(t, &gitlabtest.ConnectProxy{Refuse: http.StatusForbidden})
	wantsAuth := r.proxy(t, &gitlabtest.ConnectProxy{User: "svc", Password: "right-pass"})
	cases := []struct {
		name      string
		proxyURL  string
		kind      Kind
		status    int
		inMessage []string
		inRemedy  string
	}{
		{"refused CONNECT", "http://" + refusing.Addr(), KindProxyRefused, 403,
			[]string{"http://" + refusing.Addr(), "HTTPS_PROXY", "CONNECT " + r.target, "403 Forbidden"}, "allow CONNECT to " + r.target},
		{"credentials missing", "http://" + wantsAuth.Addr(), KindProxyRefused, 407,
			[]string{"407 Proxy Authentication Required"}, "http://user:password@proxy:3128"},
		{"proxy unreachable", "http://" + gitlabtest.ClosedPort(t), KindProxyUnreachable, 0,
			[]string{"connection refused", "HTTPS_PROXY"}, "that the proxy runs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Options{BaseURL: r.base, CAPEM: r.ca.PEM, Resolver: hosts{"gitlab.example": "192.0.2.10"},
				Proxy: mustProxy(t, ProxySettings{HTTPSProxy: tc.proxyURL})})
			if err != nil {
				t.Fatal(err)
			}
			_, err = version(t, c)
			ae := ClassifyError(err)
			if ae == nil || ae.Kind != tc.kind || ae.Status != tc.status {
				t.Fatalf("error %v classified as %+v, want kind %s status %d", err, ae, tc.kind, tc.status)
			}
			for _, w := range tc.inMessage {
				if !strings.Contains(ae.Error(), w) {
					t.Errorf("message %q does not mention %q", ae.Error(), w)
				}
			}
			if !strings.Contains(ae.Remedy(), tc.inRemedy) {
				t.Errorf("remedy %q does not say %q", ae.Remedy(), tc.inRemedy)
			}
			if r.gitlab.Requests() != 0 {
				t.Errorf("GitLab was reached")
			}
		})
	}
}

func TestProxyCredentialsAreSentAndNeverAppearInErrors(t *testing.T) {
	r := newProxyRig(t)
	px := r.proxy(t, &gitlabtest.ConnectProxy{User: "svc", Password: "right-pass-7Q"})
	res := hosts{"gitlab.example": "192.0.2.10"}

	ok, err := New(Options{BaseURL: r.base, CAPEM: r.ca.PEM, Resolver: res,
		Proxy: mustProxy(t, ProxySettings{GitLabProxy: "http://svc:right-pass-7Q@" + px.Addr()})})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := version(t, ok); err != nil || code != 200 {
		t.Fatalf("with the right credentials: %d %v", code, err)
	}

	const pw = "wr0ng-Pa55word"
	leaks := func(t *testing.T, texts ...string) {
		t.Helper()
		b64 := base64.StdEncoding.EncodeToString([]byte("svc:" + pw))
		for _, s := range texts {
			if strings.Contains(s, pw) || strings.Contains(s, b64) || strings.Contains(s, url.QueryEscape(pw)) {
				t.Errorf("the proxy password leaked into %q", s)
			}
		}
	}
	for _, tc := range []struct{ name, proxyURL string }{
		{"refused with wrong credentials", "http://svc:" + pw + "@" + px.Addr()},
		{"unreachable proxy with credentials", "http://svc:" + pw + "@" + gitlabtest.ClosedPort(t)},
		{"https proxy that speaks plain http", "https://svc:" + pw + "@" + px.Addr()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustProxy(t, ProxySettings{GitLabProxy: tc.proxyURL})
			c, err := New(Options{BaseURL: r.base, CAPEM: r.ca.PEM, Resolver: res, Proxy: p})
			if err != nil {
				t.Fatal(err)
			}
			_, err = version(t, c)
			if err == nil {
				t.Fatal("the request succeeded")
			}
			ae := ClassifyError(err)
			if ae.Kind != KindProxyRefused && ae.Kind != KindProxyUnreachable {
				t.Errorf("classified as %s, want a proxy failure", ae.Kind)
			}
			j, _ := json.Marshal(map[string]any{"proxy": p, "err": ae})
			leaks(t, err.Error(), ae.Error(), ae.Remedy(), ae.Detail, c.Proxy(), p.String(),
				fmt.Sprintf("%v %+v %#v %s", p, p, p, p), string(j))
		})
	}
	t.Run("refused settings", func(t *testing.T) {
		for _, raw := range []string{
			"socks5://svc:" + pw + "@proxy:1080",
			"http://svc:" + pw + "@proxy:99999",
			"http://svc:" + pw + "@proxy:3128/path",
			"http://svc:" + pw + "@[bad",
			"ftp://svc:" + pw + "@proxy",
		} {
			_, err := NewProxy(ProxySettings{HTTPSProxy: raw})
			var ce *ProxyConfigError
			if !errors.As(err, &ce) || ce.Setting != EnvHTTPSProxy {
				t.Errorf("%s: error %v, want a *ProxyConfigError naming HTTPS_PROXY", strings.ReplaceAll(raw, pw, "PW"), err)
				continue
			}
			leaks(t, err.Error())
		}
	})
}

func TestTheAddressPolicyStillJudgesGitLabBehindAProxy(t *testing.T) {
	r := newProxyRig(t)
	px := r.proxy(t, &gitlabtest.ConnectProxy{})
	cases := []struct {
		name    string
		resolve string
		policy  AddressPolicy
		kind    Kind
	}{
		{"a name resolving to this machine", "127.0.0.1", AddressPolicy{}, KindAddressRefused},
		{"a name resolving to a cloud metadata address", "169.254.169.254", AddressPolicy{AllowLoopback: true}, KindAddressRefused},
		{"a name resolving to a private network that is forbidden", "10.1.2.3", AddressPolicy{ForbidPrivate: true}, KindAddressRefused},
		{"a name labsync cannot resolve", "", AddressPolicy{}, KindDNS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := hosts{}
			if tc.resolve != "" {
				res["gitlab.example"] = tc.resolve
			}
			c, err := New(Options{BaseURL: r.base, CAPEM: r.ca.PEM, Policy: tc.policy, Resolver: res,
				Proxy: mustProxy(t, ProxySettings{HTTPSProxy: "http://" + px.Addr()})})
			if err != nil {
				t.Fatal(err)
			}
			_, err = version(t, c)
			ae := ClassifyError(err)
			if ae == nil || ae.Kind != tc.kind {
				t.Fatalf("error %v classified as %+v, want %s", err, ae, tc.kind)
			}
			if !strings.Contains(ae.Error(), "proxy") || ae.Remedy() == "" {
				t.Errorf("message %q / remedy %q: want the proxy named and a remedy", ae.Error(), ae.Remedy())
			}
			if got := px.Connects(); len(got) != 0 {
				t.Fatalf("the proxy was asked for %v", got)
			}
		})
	}
}

func TestNoProxyHostsAreReachedDirectly(t *testing.T) {
	r := newProxyRig(t)
	px := r.proxy(t, &gitlabtest.ConnectProxy{})
	c, err := New(Options{BaseURL: r.base, CAPEM: r.ca.PEM, Policy: AddressPolicy{AllowLoopback: true},
		Resolver: hosts{"gitlab.example": "127.0.0.1"},
		Proxy:    mustProxy(t, ProxySettings{HTTPSProxy: "http://" + px.Addr(), NoProxy: "localhost,.example"})})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := version(t, c); err != nil || code != 200 {
		t.Fatalf("direct request: %d %v", code, err)
	}
	if got := px.Connects(); len(got) != 0 {
		t.Fatalf("a NO_PROXY host went through the proxy: %v", got)
	}
	if c.Proxy() != "" {
		t.Fatalf("Client.Proxy() = %q for a NO_PROXY host", c.Proxy())
	}
	// The direct connection still obeys the address policy.
	strict, err := New(Options{BaseURL: r.base, CAPEM: r.ca.PEM, Resolver: hosts{"gitlab.example": "127.0.0.1"},
		Proxy: mustProxy(t, ProxySettings{HTTPSProxy: "http://" + px.Addr(), NoProxy: "gitlab.example"})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := version(t, strict); ClassifyError(err).Kind != KindAddressRefused {
		t.Fatalf("direct request to loopback without AllowLoopback: %v", err)
	}
}

func TestProxySettingsFollowGoAndLetLabsyncsOwnWin(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	https := &url.URL{Scheme: "https", Host: "gitlab.corp.example"}
	plain := &url.URL{Scheme: "http", Host: "gitlab.corp.example"}
	cases := []struct {
		name                 string
		getenv               func(string) string
		wantHTTPS, wantPlain string // "" = direct
	}{
		{"nothing set", env(), "", ""},
		{"HTTPS_PROXY", env("HTTPS_PROXY", "http://p1:3128"), "http://p1:3128", ""},
		{"lower-case https_proxy", env("https_proxy", "p2:8080"), "http://p2:8080", ""},
		{"upper case wins over lower case", env("HTTPS_PROXY", "http://up:1", "https_proxy", "http://low:2"), "http://up:1", ""},
		{"HTTP_PROXY for http only", env("HTTP_PROXY", "http://p3:3128"), "", "http://p3:3128"},
		{"HTTP_PROXY ignored in a CGI process", env("HTTP_PROXY", "http://p3:3128", "REQUEST_METHOD", "GET"), "", ""},
		{"LABSYNC_GITLAB_PROXY wins", env("HTTPS_PROXY", "http://p1:3128", "LABSYNC_GITLAB_PROXY", "http://mine:3128"), "http://mine:3128", "http://mine:3128"},
		{"LABSYNC_GITLAB_PROXY=none connects directly", env("HTTPS_PROXY", "http://p1:3128", "LABSYNC_GITLAB_PROXY", "none"), "", ""},
		{"NO_PROXY applies to LABSYNC_GITLAB_PROXY too", env("LABSYNC_GITLAB_PROXY", "http://mine:3128", "NO_PROXY", "corp.example"), "", ""},
		{"https proxy URL", env("HTTPS_PROXY", "https://p4"), "https://p4:443", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewProxy(ProxySettingsFromEnv(tc.getenv))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				u    *url.URL
				want string
			}{{https, tc.wantHTTPS}, {plain, tc.wantPlain}} {
				pu, err := p.For(c.u)
				if err != nil {
					t.Fatal(err)
				}
				got := ""
				if pu != nil {
					got = printable(pu)
				}
				if got != c.want {
					t.Errorf("%s goes through %q, want %q", c.u, got, c.want)
				}
			}
		})
	}
}

func TestAClientForAnInsecureHTTPGitLabNeedsTheOptIn(t *testing.T) {
	base, err := NormalizeBaseURL("http://gitlab.corp.example", AllowInsecureHTTP())
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{BaseURL: base, Token: secret.New("glpat-x")})
	var ue *URLError
	if !errors.As(err, &ue) || ue.Problem != URLInsecureHTTP {
		t.Fatalf("without Options.AllowInsecureHTTP: %v", err)
	}
	c, err := New(Options{BaseURL: base, Token: secret.New("glpat-x"), AllowInsecureHTTP: true})
	if err != nil || !c.Insecure() {
		t.Fatalf("with the opt-in: %v, insecure %v", err, c != nil && c.Insecure())
	}
}

// Plain http to a GitLab (with the insecure opt-in) goes through the proxy
// without a CONNECT: the proxy forwards each request, and labsync checks
// GitLab's address before each one.
func TestPlainHTTPThroughAProxyIsCheckedAgainstTheAddressPolicyPerRequest(t *testing.T) {
	gl := &gitlabtest.GitLab{Token: "glpat-proxytest", Version: "17.11.2-ee"}
	srv := gitlabtest.Serve(t, gl)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	target := "gitlab.corp.example:" + port
	px := gitlabtest.StartConnectProxy(t, &gitlabtest.ConnectProxy{Routes: map[string]string{target: srv.Listener.Addr().String()}})
	base, err := NormalizeBaseURL("http://"+target, AllowInsecureHTTP())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		resolve string
		code    int
		kind    Kind
	}{
		{"an allowed address is forwarded", "203.0.113.7", http.StatusOK, ""},
		{"a loopback address is refused before the proxy is asked", "127.0.0.1", 0, KindAddressRefused},
		{"an unresolvable name is refused", "", 0, KindDNS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(px.Forwards())
			res := hosts{}
			if tc.resolve != "" {
				res["gitlab.corp.example"] = tc.resolve
			}
			c, err := New(Options{BaseURL: base, AllowInsecureHTTP: true, Resolver: res,
				Proxy: mustProxy(t, ProxySettings{HTTPProxy: "http://" + px.Addr()})})
			if err != nil {
				t.Fatal(err)
			}
			code, err := version(t, c)
			if tc.kind == "" {
				if err != nil || code != tc.code {
					t.Fatalf("GET /version: %d %v", code, err)
				}
				if got := px.Forwards()[before:]; !slices.Equal(got, []string{target}) {
					t.Fatalf("forwarded %v, want one request to %s", got, target)
				}
				return
			}
			if ae := ClassifyError(err); ae == nil || ae.Kind != tc.kind {
				t.Fatalf("error %v classified as %+v, want %s", err, ae, tc.kind)
			}
			if got := px.Forwards()[before:]; len(got) != 0 {
				t.Fatalf("the proxy was asked to forward %v", got)
			}
		})
	}
}

func TestAProxyIsDescribedByTheVariableItCameFromWithoutCredentials(t *testing.T) {
	p := mustProxy(t, ProxySettings{HTTPSProxy: "http://u:secret-pw@secure.proxy:3128", HTTPProxy: "http://plain.proxy:8080"})
	for _, c := range []struct{ target, want string }{
		{"https://gitlab.corp.example", "http://secure.proxy:3128 (HTTPS_PROXY)"},
		{"http://gitlab.corp.example", "http://plain.proxy:8080 (HTTP_PROXY)"},
	} {
		u, _ := url.Parse(c.target)
		if got := p.Describe(u); got != c.want {
			t.Errorf("Describe(%s) = %q, want %q", c.target, got, c.want)
		}
	}
	if got, want := p.String(), "http://plain.proxy:8080 (HTTP_PROXY), http://secure.proxy:3128 (HTTPS_PROXY)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var none *Proxy
	if u, _ := url.Parse("https://gitlab.com"); none.Describe(u) != "" || none.String() != "direct" {
		t.Errorf("a nil proxy: %q %q", none.Describe(u), none.String())
	}
}
