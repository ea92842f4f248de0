package gitlab

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// The environment variables an outbound proxy for GitLab traffic is read
// from. EnvGitLabProxy is labsync's own and wins over the standard ones.
const (
	EnvGitLabProxy = "LABSYNC_GITLAB_PROXY"
	EnvHTTPSProxy  = "HTTPS_PROXY"
	EnvHTTPProxy   = "HTTP_PROXY"
	EnvNoProxy     = "NO_PROXY"
)

// ProxyNone is the value of LABSYNC_GITLAB_PROXY that makes labsync connect
// to GitLab directly even when HTTPS_PROXY or HTTP_PROXY is set.
const ProxyNone = "none"

// ProxySettings are the raw proxy settings of a process. They may hold proxy
// credentials (http://user:password@proxy:3128): never print them; build a
// [Proxy], whose every printed form leaves the credentials out.
type ProxySettings struct {
	// GitLabProxy is LABSYNC_GITLAB_PROXY: a proxy URL used for all GitLab
	// traffic instead of HTTPS_PROXY and HTTP_PROXY, or "none" to connect
	// directly whatever they say. Empty leaves the standard variables in charge.
	GitLabProxy string
	// HTTPSProxy, HTTPProxy and NoProxy are the standard variables, read as
	// Go's httpproxy.FromEnvironment reads them.
	HTTPSProxy, HTTPProxy, NoProxy string
	// CGI is true when REQUEST_METHOD is set: as in Go, HTTP_PROXY is then
	// ignored, because in a CGI process it can be set by a client's request
	// header (httpoxy).
	CGI bool
}

// ProxySettingsFromEnv reads the standard proxy variables (upper case first,
// then lower case, as Go's httpproxy.FromEnvironment does) and
// LABSYNC_GITLAB_PROXY through getenv.
func ProxySettingsFromEnv(getenv func(string) string) ProxySettings {
	either := func(upper string) string {
		if v := getenv(upper); v != "" {
			return v
		}
		return getenv(strings.ToLower(upper))
	}
	return ProxySettings{
		GitLabProxy: getenv(EnvGitLabProxy),
		HTTPSProxy:  either(EnvHTTPSProxy),
		HTTPProxy:   either(EnvHTTPProxy),
		NoProxy:     either(EnvNoProxy),
		CGI:         getenv("REQUEST_METHOD") != "",
	}
}

// Proxy is the outbound HTTP proxy through which labsync reaches GitLab, and
// the rules (NO_PROXY) for when it does not use it. HTTPS to GitLab goes
// through a CONNECT tunnel: TLS runs end to end between labsync and GitLab,
// so the install's CA and the verification of GitLab's certificate still
// apply, and the proxy sees only the host name and port. Before each tunnel
// the GitLab host name is resolved by labsync and checked against the
// [AddressPolicy] (see [Options.Proxy] for what that can and cannot
// guarantee).
//
// A Proxy never prints its credentials: String, GoString, LogValue-like uses
// and every error it produces name the proxy as scheme://host:port only. A
// nil *Proxy means "connect directly".
type Proxy struct {
	source string // which variable the proxy URLs came from
	fn     func(*url.URL) (*url.URL, error)
	// addrs maps the lower-case host:port of every configured proxy to its
	// printable form and the variable it came from.
	addrs map[string]proxyEntry
	// secrets are texts that must not appear in any message: the proxy
	// passwords and their Basic authorization values.
	secrets []string
}

type proxyEntry struct{ shown, setting string }

// ProxyConfigError says why a proxy setting is not usable. Its message names
// the variable and never repeats a user name or password.
type ProxyConfigError struct {
	// Setting is the variable at fault, e.g. HTTPS_PROXY.
	Setting string
	// Problem says what is wrong, in a sentence fragment.
	Problem string
}

func (e *ProxyConfigError) Error() string {
	return fmt.Sprintf("%s %s", e.Setting, e.Problem)
}

// NewProxy checks s and returns the proxy it describes, or nil (connect
// directly) when no proxy is set or LABSYNC_GITLAB_PROXY is "none". Proxy
// URLs may omit the scheme (proxy:3128 means http://proxy:3128, as in Go);
// only http and https proxies are accepted, because only through an HTTP
// CONNECT can labsync check GitLab's address before the tunnel opens. Every
// refusal is a *ProxyConfigError.
func NewProxy(s ProxySettings) (*Proxy, error) {
	gp := strings.TrimSpace(s.GitLabProxy)
	var cfg httpproxy.Config
	p := &Proxy{addrs: map[string]proxyEntry{}}
	switch {
	case strings.EqualFold(gp, ProxyNone):
		return nil, nil
	case gp != "":
		u, err := parseProxyURL(EnvGitLabProxy, gp)
		if err != nil {
			return nil, err
		}
		p.add(u, EnvGitLabProxy)
		cfg = httpproxy.Config{HTTPProxy: u.String(), HTTPSProxy: u.String(), NoProxy: s.NoProxy}
		p.source = EnvGitLabProxy
	default:
		httpsP, httpP := strings.TrimSpace(s.HTTPSProxy), strings.TrimSpace(s.HTTPProxy)
		if s.CGI {
			httpP = ""
		}
		if httpsP == "" && httpP == "" {
			return nil, nil
		}
		var sources []string
		if httpsP != "" {
			u, err := parseProxyURL(EnvHTTPSProxy, httpsP)
			if err != nil {
				return nil, err
			}
			p.add(u, EnvHTTPSProxy)
			cfg.HTTPSProxy = u.String()
			sources = append(sources, EnvHTTPSProxy)
		}
		if httpP != "" {
			u, err := parseProxyURL(EnvHTTPProxy, httpP)
			if err != nil {
				return nil, err
			}
			p.add(u, EnvHTTPProxy)
			cfg.HTTPProxy = u.String()
			sources = append(sources, EnvHTTPProxy)
		}
		cfg.NoProxy = s.NoProxy
		p.source = strings.Join(sources, " and ")
	}
	fn := cfg.ProxyFunc()
	p.fn = func(u *url.URL) (*url.URL, error) {
		pu, err := fn(u)
		if err != nil {
			// httpproxy quotes the proxy URL, password included; the URLs
			// were checked above, so this does not happen, but never pass
			// its text on.
			return nil, &ProxyConfigError{Setting: p.source, Problem: "is not a usable proxy URL"}
		}
		return pu, nil
	}
	return p, nil
}

// parseProxyURL checks one proxy URL the way Go's httpproxy reads it and
// returns it with an explicit scheme.
func parseProxyURL(setting, raw string) (*url.URL, error) {
	bad := func(problem string) error { return &ProxyConfigError{Setting: setting, Problem: problem} }
	if !strings.Contains(raw, "://") {
		// proxy.corp:3128 means http://proxy.corp:3128, as in Go.
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the input, password included.
		return nil, bad("is not a valid URL; write it as http://proxy.example.com:3128")
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "socks5", "socks5h":
		return nil, bad("names a SOCKS proxy; labsync reaches GitLab only through HTTP proxies (CONNECT), where it can check GitLab's address before the tunnel opens")
	default:
		return nil, bad(fmt.Sprintf("uses the scheme %q; use http:// or https://", u.Scheme))
	}
	if u.Hostname() == "" {
		return nil, bad("has no host name; write it as http://proxy.example.com:3128")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, bad(fmt.Sprintf("has an invalid port %q", port))
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, bad("has an empty port")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, bad("has a path, query or fragment; a proxy URL is only scheme://[user:password@]host:port")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Path = ""
	return u, nil
}

// add records a proxy URL's address and its credentials (to be kept out of
// every message).
func (p *Proxy) add(u *url.URL, setting string) {
	key := strings.ToLower(proxyAddr(u))
	if e, ok := p.addrs[key]; ok {
		setting = e.setting + " and " + setting
	}
	p.addrs[key] = proxyEntry{printable(u), setting}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			p.secrets = append(p.secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
		p.secrets = append(p.secrets, base64.StdEncoding.EncodeToString([]byte(u.User.String())))
		if pw, ok := u.User.Password(); ok {
			p.secrets = append(p.secrets, base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw)))
		}
	}
}

// proxyAddr is the host:port net/http dials for proxy URL u (its
// canonicalAddr): the port defaults to 80 for http and 443 for https.
func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// printable is u as scheme://host:port, without credentials.
func printable(u *url.URL) string {
	return u.Scheme + "://" + proxyAddr(u)
}

// For returns the proxy a request to target goes through, or nil when it
// goes directly (no proxy for its scheme, NO_PROXY matches, or the host is
// this machine, as in Go). It is safe on a nil *Proxy.
func (p *Proxy) For(target *url.URL) (*url.URL, error) {
	if p == nil {
		return nil, nil
	}
	return p.fn(target)
}

// Describe returns the proxy a request to target goes through as
// scheme://host:port followed by the variable it came from, or "" when the
// request goes directly. It never includes credentials.
func (p *Proxy) Describe(target *url.URL) string {
	pu, err := p.For(target)
	if err != nil || pu == nil {
		return ""
	}
	return printable(pu) + " (" + p.settingOf(pu) + ")"
}

// settingOf names the variable proxy URL pu came from.
func (p *Proxy) settingOf(pu *url.URL) string {
	if e, ok := p.addrs[strings.ToLower(proxyAddr(pu))]; ok {
		return e.setting
	}
	return p.source
}

// Source names the variable (or variables) the proxy was read from.
func (p *Proxy) Source() string {
	if p == nil {
		return ""
	}
	return p.source
}

// String describes the proxy without credentials.
func (p *Proxy) String() string {
	if p == nil {
		return "direct"
	}
	var parts []string
	for _, e := range p.addrs {
		parts = append(parts, e.shown+" ("+e.setting+")")
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// GoString is String, so that %#v does not print the credentials either.
func (p *Proxy) GoString() string { return p.String() }

// MarshalText is String, so that JSON and structured logs leave the
// credentials out.
func (p *Proxy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// redact removes the proxy's credentials from s.
func (p *Proxy) redact(s string) string {
	if p == nil {
		return s
	}
	for _, v := range p.secrets {
		if len(v) >= 3 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// isProxyAddr reports whether addr (host:port, as net/http dials it) is one
// of the configured proxies, and its printable form.
func (p *Proxy) isProxyAddr(addr string) (proxyEntry, bool) {
	e, ok := p.addrs[strings.ToLower(addr)]
	return e, ok
}

// ProxyStage names where a connection through a proxy failed.
type ProxyStage string

// The stages of a connection through a proxy that can fail.
const (
	// ProxyUnreachable: labsync could not open a connection to the proxy.
	ProxyUnreachable ProxyStage = "proxy_unreachable"
	// ProxyConnectRefused: the proxy answered the CONNECT with a status
	// other than 200.
	ProxyConnectRefused ProxyStage = "proxy_connect_refused"
	// ProxyTargetUnresolved: labsync could not resolve the GitLab host name
	// to check it against the address policy, so it opened no tunnel.
	ProxyTargetUnresolved ProxyStage = "proxy_target_unresolved"
	// ProxyTargetRefused: the address policy refused an address of the
	// GitLab host, so labsync opened no tunnel.
	ProxyTargetRefused ProxyStage = "proxy_target_refused"
)

// ProxyError reports a failure on the way to GitLab through a proxy. Its
// message and remedy name the proxy as scheme://host:port and never contain
// its credentials.
type ProxyError struct {
	Stage ProxyStage
	// Proxy is the proxy as scheme://host:port; Setting the variable it
	// came from.
	Proxy, Setting string
	// Target is GitLab's host:port (or host).
	Target string
	// StatusCode and Status are the proxy's answer to CONNECT
	// (ProxyConnectRefused only), e.g. 407 and "407 Proxy Authentication Required".
	StatusCode int
	Status     string
	// Err is the underlying error: the dial error, the DNS error or the
	// *AddressRefusedError.
	Err error
}

func (e *ProxyError) Unwrap() error { return e.Err }

func (e *ProxyError) Error() string {
	switch e.Stage {
	case ProxyUnreachable:
		return fmt.Sprintf("the proxy %s (%s) could not be reached: %s", e.Proxy, e.Setting, netErrorText(e.Err))
	case ProxyConnectRefused:
		return fmt.Sprintf("the proxy %s (%s) refused to open a tunnel to %s: it answered CONNECT with %s", e.Proxy, e.Setting, e.Target, e.Status)
	case ProxyTargetUnresolved:
		return fmt.Sprintf("labsync could not resolve %s to check it against its address policy before connecting through the proxy %s: %s", e.Target, e.Proxy, netErrorText(e.Err))
	default:
		return fmt.Sprintf("labsync did not ask the proxy %s for a tunnel to %s: %v", e.Proxy, e.Target, e.Err)
	}
}

// Remedy says what to do about the failure.
func (e *ProxyError) Remedy() string {
	switch e.Stage {
	case ProxyUnreachable:
		return fmt.Sprintf("Check the proxy's host name and port in %s, that the proxy runs, and that labsync's host may connect to it; if GitLab is reachable without the proxy, add its host to NO_PROXY or set %s=%s.", e.Setting, EnvGitLabProxy, ProxyNone)
	case ProxyConnectRefused:
		switch e.StatusCode {
		case http.StatusProxyAuthRequired:
			return fmt.Sprintf("The proxy wants credentials: put them in the proxy URL in %s (http://user:password@proxy:3128) — in the environment, never on the command line.", e.Setting)
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return fmt.Sprintf("The proxy could not reach %s itself: check that GitLab is up and that the proxy may connect to it (its DNS, firewall and allow-lists).", e.Target)
		default:
			return fmt.Sprintf("Ask the proxy's administrators to allow CONNECT to %s for labsync's host; if GitLab is reachable without the proxy, add its host to NO_PROXY.", e.Target)
		}
	case ProxyTargetUnresolved:
		return "labsync resolves GitLab's host name itself, even when it connects through a proxy, so that its address policy still applies: make the name resolvable from where labsync runs (its DNS servers, /etc/hosts), or use an address it can resolve."
	default:
		var are *AddressRefusedError
		if errors.As(e.Err, &are) {
			return are.Remedy()
		}
		return "Check the GitLab host name and its DNS record."
	}
}

func netErrorText(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return de.Name + " does not exist (NXDOMAIN)"
		}
		return de.Err
	}
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// checkProxiedTarget resolves GitLab's host and checks every address
// against policy before labsync asks the proxy for a tunnel to it. Every
// address must be allowed, because the proxy picks which one it connects to.
func checkProxiedTarget(ctx context.Context, policy AddressPolicy, res Resolver, proxy, setting, target string) error {
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	fail := func(stage ProxyStage, err error) error {
		return &ProxyError{Stage: stage, Proxy: proxy, Setting: setting, Target: target, Err: err}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := policy.Check(ip); err != nil {
			return fail(ProxyTargetRefused, err)
		}
		return nil
	}
	ips, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fail(ProxyTargetUnresolved, err)
	}
	if len(ips) == 0 {
		return fail(ProxyTargetUnresolved, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true})
	}
	for _, ip := range ips {
		if err := policy.Check(ip); err != nil {
			return fail(ProxyTargetRefused, err)
		}
	}
	return nil
}

// proxyTransport makes t reach GitLab through p: requests choose the proxy by
// p's rules; the proxy itself is dialed without the address policy (the
// operator chose it), every other address with direct; before a CONNECT the
// GitLab host is resolved with res and checked against policy; a CONNECT
// answered with anything but 200 becomes a *ProxyError.
func (p *Proxy) proxyTransport(t *http.Transport, direct func(ctx context.Context, network, addr string) (net.Conn, error), toProxy *net.Dialer, policy AddressPolicy, res Resolver) {
	t.Proxy = func(req *http.Request) (*url.URL, error) {
		pu, err := p.For(req.URL)
		if err != nil || pu == nil {
			return nil, err
		}
		if req.URL.Scheme == "http" {
			// Plain http is forwarded by the proxy without a CONNECT: check
			// GitLab's address here, per request.
			if err := checkProxiedTarget(req.Context(), policy, res, printable(pu), p.settingOf(pu), req.URL.Host); err != nil {
				return nil, err
			}
		}
		return pu, nil
	}
	t.GetProxyConnectHeader = func(ctx context.Context, pu *url.URL, target string) (http.Header, error) {
		return nil, checkProxiedTarget(ctx, policy, res, printable(pu), p.settingOf(pu), target)
	}
	t.OnProxyConnectResponse = func(_ context.Context, pu *url.URL, req *http.Request, resp *http.Response) error {
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		status := p.redact(resp.Status)
		if len(status) > 120 {
			status = status[:120]
		}
		return &ProxyError{Stage: ProxyConnectRefused, Proxy: printable(pu), Setting: p.settingOf(pu), Target: req.Host,
			StatusCode: resp.StatusCode, Status: status}
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		// The operator chose the proxy, so the GitLab address policy does
		// not judge it (a proxy on this machine or a private network is
		// normal). Should GitLab's own URL name the proxy's address and be
		// exempt from the proxy by NO_PROXY, it is dialed as the proxy too.
		if e, ok := p.isProxyAddr(addr); ok {
			c, err := toProxy.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &ProxyError{Stage: ProxyUnreachable, Proxy: e.shown, Setting: e.setting, Err: err}
			}
			return c, nil
		}
		return direct(ctx, network, addr)
	}
}

// Redact removes the proxy's credentials from s, for texts that may echo
// them (a proxy's own error page). It is safe on a nil *Proxy.
func (p *Proxy) Redact(s string) string { return p.redact(s) }

// Tunnel opens a CONNECT tunnel through the proxy that serves gitlabURL to
// target (GitLab's host:port), for the step-by-step diagnosis: it returns
// the open tunnel, over which the caller speaks TLS to GitLab itself, and
// the proxy as scheme://host:port. The proxy is dialed with d; an https
// proxy's own certificate is verified against the system roots and caPEM.
// Failures are a *ProxyError (ProxyUnreachable or ProxyConnectRefused). It
// does not check GitLab's address: the caller checks it against the address
// policy first, as [Options.Proxy] describes. It fails when no proxy serves
// gitlabURL.
func (p *Proxy) Tunnel(ctx context.Context, d *net.Dialer, gitlabURL *url.URL, target string, caPEM []byte) (net.Conn, string, error) {
	pu, err := p.For(gitlabURL)
	if err != nil {
		return nil, "", err
	}
	if pu == nil {
		return nil, "", errors.New("gitlab: no proxy serves " + gitlabURL.Redacted())
	}
	shown := printable(pu)
	unreachable := func(err error) error {
		return &ProxyError{Stage: ProxyUnreachable, Proxy: shown, Setting: p.settingOf(pu), Target: target, Err: err}
	}
	c, err := d.DialContext(ctx, "tcp", proxyAddr(pu))
	if err != nil {
		return nil, shown, unreachable(err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	if pu.Scheme == "https" {
		conf, err := TLSConfig(caPEM)
		if err != nil {
			c.Close()
			return nil, shown, unreachable(err)
		}
		conf.ServerName = pu.Hostname()
		tc := tls.Client(c, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, shown, unreachable(err)
		}
		c = tc
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	if pu.User != nil {
		pw, _ := pu.User.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(pu.User.Username()+":"+pw)))
	}
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, shown, unreachable(err)
	}
	// The proxy sends nothing after its answer until the client speaks, so
	// the buffered reader holds no bytes of the tunnel.
	resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(c, 64<<10)), req)
	if err != nil {
		c.Close()
		return nil, shown, unreachable(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		status := p.redact(resp.Status)
		if len(status) > 120 {
			status = status[:120]
		}
		return nil, shown, &ProxyError{Stage: ProxyConnectRefused, Proxy: shown, Setting: p.settingOf(pu), Target: target,
			StatusCode: resp.StatusCode, Status: status}
	}
	c.SetDeadline(time.Time{})
	return c, shown, nil
}
