package gitlab

import (
	"golang.org/x/time/rate"

	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
}

// Client is labsync's connection to one GitLab: one long-lived HTTP client
// (address policy, TLS trust, read-only guard, connection pool) and the
// client-go API client on top of it. It is safe for concurrent use; build one
// per connection and keep it.
type Client struct {
	base BaseURL
	http *http.Client
	api  *gl.Client
}

// New builds a Client. It fails when the base URL is missing, the CA PEM is
// unusable, both a token and a token source are given, or the token holds
// whitespace. client-go's own retries are off: labsync's sync layer decides
// when to try again (see [APIError.Retryable]).
func New(opts Options) (*Client, error) {
	if opts.BaseURL.IsZero() {
		return nil, errors.New("gitlab: the GitLab base URL is required")
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
		// No proxy: the address policy must judge GitLab's own address, and
		// a proxy would connect on labsync's behalf.
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
		// Pacing is labsync's (internal/sync reads RateLimit-* and
		// Retry-After); client-go's own limiter would cap a client at a
		// fraction of the budget it first sees.
		gl.WithCustomLimiter(rate.NewLimiter(rate.Inf, 0)),
		gl.WithUserAgent(ua),
		gl.WithURLWarningLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab: building the API client: %w", err)
	}
	return &Client{base: opts.BaseURL, http: hc, api: api}, nil
}

// API returns the client-go client. Every request it sends goes through the
// read-only guard.
func (c *Client) API() *gl.Client { return c.api }

// HTTP returns the guarded HTTP client, for raw calls client-go does not
// cover (such as /oauth/token/info). It adds no credentials by itself.
func (c *Client) HTTP() *http.Client { return c.http }

// BaseURL returns the GitLab this client talks to.
func (c *Client) BaseURL() BaseURL { return c.base }
