package gitlab

import (
	"golang.org/x/time/rate"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/oauth2"

	"github.com/labsync/labsync/internal/secret"
)

// DefaultTimeout bounds one request, including reading its body, when
// [Options.Timeout] is zero.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent is sent when [Options.UserAgent] is empty.
const DefaultUserAgent = "labsync"

// Options configure a [Client].
type Options struct {
	// BaseURL is the GitLab to talk to. Required.
	BaseURL BaseURL
	// Token is a personal, project or group access token, sent in the
	// PRIVATE-TOKEN header. Leave it zero for OAuth or unauthenticated use.
	Token secret.Secret
	// TokenSource supplies OAuth access tokens, sent as a bearer token. It is
	// used instead of Token; setting both is an error.
	TokenSource oauth2.TokenSource
	// CAPEM holds extra CA certificates (PEM) to trust besides the system's.
	CAPEM []byte
	// Policy decides which resolved addresses may be connected to.
	Policy AddressPolicy
	// AllowHookWrites lets the client create, change, test and delete
	// project and group webhooks. Every other write stays refused.
	AllowHookWrites bool
	// Timeout bounds one request; zero means [DefaultTimeout].
	Timeout time.Duration
	// UserAgent is sent with every request; empty means [DefaultUserAgent].
	UserAgent string
	// Proxy, when not nil, is the outbound HTTP proxy to reach GitLab
	// through (see [NewProxy]); nil connects directly. The OAuth calls and
	// hook registration made with this client's HTTP client use it too.
	//
	// Through a proxy, the TCP connection goes to the proxy, so the address
	// policy cannot judge the address GitLab is finally reached at. Instead,
	// before every CONNECT (and before every plain-http request the proxy
	// forwards) labsync resolves GitLab's host name itself and refuses the
	// tunnel unless every address it resolves to is allowed. This guarantees
	// that a GitLab URL whose name labsync resolves to a forbidden address
	// (this machine, a cloud metadata endpoint, a private network when
	// forbidden) is never asked for. It cannot guarantee which address the
	// proxy itself connects to: the proxy resolves the name again, with its
	// own DNS, possibly to another answer. A name labsync cannot resolve is
	// refused, even if the proxy could resolve it.
	Proxy *Proxy
	// Resolver resolves GitLab's host name, for direct connections and for
	// the address-policy check made before a tunnel through Proxy is
	// opened; nil means net.DefaultResolver.
	Resolver Resolver
	// AllowInsecureHTTP must be set to talk to a BaseURL that uses plain
	// http on a host that is not this machine (see [AllowInsecureHTTP]);
	// without it, [New] refuses such a BaseURL.
	AllowInsecureHTTP bool
}

// Client is labsync's connection to one GitLab: one long-lived HTTP client
// (address policy, TLS trust, read-only guard, connection pool) and the
// client-go API client on top of it. It is safe for concurrent use; build one
// per connection and keep it.
type Client struct {
	base  BaseURL
	http  *http.Client
	api   *gl.Client
	proxy *Proxy
}

// New builds a Client. It fails when the base URL is missing, the CA PEM is
// unusable, both a token and a token source are given, or the token holds
// whitespace. client-go's own retries are off: labsync's sync layer decides
// when to try again (see [APIError.Retryable]).
func New(opts Options) (*Client, error) {
	if opts.BaseURL.IsZero() {
		return nil, errors.New("gitlab: the GitLab base URL is required")
	}
	if opts.BaseURL.Insecure() && !opts.AllowInsecureHTTP {
		return nil, fmt.Errorf("gitlab: %w", &URLError{Problem: URLInsecureHTTP, Detail: "https://" + opts.BaseURL.Host() + opts.BaseURL.Path()})
	}
	if !opts.Token.IsZero() && opts.TokenSource != nil {
		return nil, errors.New("gitlab: give either an access token or an OAuth token source, not both")
	}
	if !opts.Token.IsZero() && strings.IndexFunc(opts.Token.Reveal(), unicode.IsSpace) >= 0 {
		return nil, errors.New("gitlab: the access token contains spaces or line breaks; paste it again without them")
	}
	tlsConf, err := TLSConfig(opts.CAPEM)
	if err != nil {
		return nil, fmt.Errorf("gitlab: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}

	dialer := &net.Dialer{
		Timeout:   min(timeout, 15*time.Second),
		KeepAlive: 30 * time.Second,
		Control:   opts.Policy.Control,
	}
	transport := &http.Transport{
		// No proxy unless opts.Proxy says so (see proxyTransport): the
		// environment's proxy variables are read once, into the config.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConf,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    min(timeout, 10*time.Second),
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    16,
		MaxConnsPerHost:        32,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	var res Resolver = net.DefaultResolver
	if opts.Resolver != nil {
		res = opts.Resolver
		transport.DialContext = resolvingDialer(dialer, res)
	}
	if opts.Proxy != nil {
		toProxy := &net.Dialer{Timeout: dialer.Timeout, KeepAlive: dialer.KeepAlive}
		opts.Proxy.proxyTransport(transport, transport.DialContext, toProxy, opts.Policy, res)
	}
	hc := &http.Client{
		Transport: ReadOnly(transport, opts.BaseURL, opts.AllowHookWrites),
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("gitlab: stopped after 5 redirects")
			}
			return nil
		},
	}

	var auth gl.AuthSource = gl.Unauthenticated{}
	switch {
	case opts.TokenSource != nil:
		auth = gl.OAuthTokenSource{TokenSource: opts.TokenSource}
	case !opts.Token.IsZero():
		auth = gl.AccessTokenAuthSource{Token: opts.Token.Reveal()}
	}
	api, err := gl.NewAuthSourceClient(auth,
		gl.WithBaseURL(opts.BaseURL.APIURL()),
		gl.WithHTTPClient(hc),
		gl.WithoutRetries(),
		// Pacing is labsync's (internal/syncer reads RateLimit-* and
		// Retry-After); client-go's own limiter would cap a client at a
		// fraction of the budget it first sees.
		gl.WithCustomLimiter(rate.NewLimiter(rate.Inf, 0)),
		gl.WithUserAgent(ua),
		gl.WithURLWarningLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab: building the API client: %w", err)
	}
	return &Client{base: opts.BaseURL, http: hc, api: api, proxy: opts.Proxy}, nil
}

// Insecure reports whether the client talks plain http to a GitLab that is
// not on this machine (the per-integration opt-in [Options.AllowInsecureHTTP]):
// the token crosses the network unencrypted. API and UI show it.
func (c *Client) Insecure() bool { return c.base.Insecure() }

// Proxy returns the proxy a request to GitLab goes through, as
// scheme://host:port and the variable it came from, or "" when requests go
// directly. It never includes the proxy's credentials.
func (c *Client) Proxy() string {
	u, err := url.Parse(c.base.APIURL())
	if err != nil {
		return ""
	}
	return c.proxy.Describe(u)
}

// API returns the client-go client. Every request it sends goes through the
// read-only guard. It is for tests that check compatibility with client-go:
// other packages use this package's own calls (rest.go), so that it stays
// the only importer of client-go.
func (c *Client) API() *gl.Client { return c.api }

// HTTP returns the guarded HTTP client, for raw calls client-go does not
// cover (such as /oauth/token/info). It adds no credentials by itself.
func (c *Client) HTTP() *http.Client { return c.http }

// BaseURL returns the GitLab this client talks to.
func (c *Client) BaseURL() BaseURL { return c.base }

// resolvingDialer dials host names resolved by res, each address in turn
// through d (whose Control applies the address policy).
func resolvingDialer(d *net.Dialer, res Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return d.DialContext(ctx, network, addr)
		}
		ips, err := res.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		var first error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
}
