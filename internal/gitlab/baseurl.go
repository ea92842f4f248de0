package gitlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// BaseURL is the address of a GitLab instance in one canonical form: scheme
// http or https, lower-case host, no default port, no trailing slash, no
// /api/v4 suffix, and the subpath kept when GitLab is served below one
// (https://git.example.com/gitlab). The zero BaseURL is empty; obtain others
// from [NormalizeBaseURL].
type BaseURL struct {
	scheme string // "http" or "https"
	host   string // host[:port], lower-case, default port dropped
	path   string // "" or "/sub/path", no trailing slash
	// loopback: the host is a loopback literal, or a name (localhost,
	// *.localhost) that resolved only to loopback addresses when the URL
	// was normalised.
	loopback bool
}

// URLProblem names why a URL is not accepted as a GitLab address.
type URLProblem string

// The reasons [NormalizeBaseURL] refuses a URL.
const (
	URLEmpty             URLProblem = "empty"
	URLMissingScheme     URLProblem = "missing_scheme"
	URLSSHAddress        URLProblem = "ssh_address"
	URLUnsupportedScheme URLProblem = "unsupported_scheme"
	URLInsecureHTTP      URLProblem = "insecure_http"
	URLHTTPGitLabCom     URLProblem = "http_gitlab_com"
	URLUserInfo          URLProblem = "userinfo"
	URLQuery             URLProblem = "query"
	URLFragment          URLProblem = "fragment"
	URLNoHost            URLProblem = "no_host"
	URLBadPort           URLProblem = "bad_port"
	URLPagePath          URLProblem = "page_path"
	URLMalformed         URLProblem = "malformed"
)

// URLError says why a GitLab address was refused. Its message never repeats a
// user name or password that was part of the URL.
type URLError struct {
	Problem URLProblem
	// Detail is a short, safe fragment of the input that helps the user see
	// the mistake (the scheme, the port, a suggested URL); it may be empty.
	Detail string
}

func (e *URLError) Error() string {
	switch e.Problem {
	case URLEmpty:
		return "the GitLab URL is empty"
	case URLMissingScheme:
		return "the GitLab URL has no scheme (https://)"
	case URLSSHAddress:
		return "the GitLab URL is an SSH clone address, not the address of the GitLab web server"
	case URLUnsupportedScheme:
		return fmt.Sprintf("the GitLab URL uses the scheme %q; only https (and http on this machine) are supported", e.Detail)
	case URLInsecureHTTP:
		return "the GitLab URL uses plain http for a host that is not this machine, and the connection has not opted in to insecure http"
	case URLHTTPGitLabCom:
		return "the GitLab URL uses plain http for GitLab.com, which labsync reaches only over https"
	case URLUserInfo:
		return "the GitLab URL contains a user name or password"
	case URLQuery:
		return "the GitLab URL contains a query string (?…)"
	case URLFragment:
		return "the GitLab URL contains a fragment (#…)"
	case URLNoHost:
		return "the GitLab URL has no host name"
	case URLBadPort:
		return fmt.Sprintf("the GitLab URL has an invalid port %q", e.Detail)
	case URLPagePath:
		return "the GitLab URL points at a page inside GitLab rather than at GitLab itself"
	default:
		return "the GitLab URL cannot be parsed"
	}
}

// Remedy says what to change so the URL is accepted.
func (e *URLError) Remedy() string {
	switch e.Problem {
	case URLEmpty:
		return "Enter the address you open GitLab with in a browser, for example https://gitlab.example.com."
	case URLMissingScheme:
		if e.Detail != "" {
			return fmt.Sprintf("Add https:// in front: %s.", e.Detail)
		}
		return "Add https:// in front of the host name."
	case URLSSHAddress:
		if e.Detail != "" {
			return fmt.Sprintf("Use the web address of the GitLab server, probably %s.", e.Detail)
		}
		return "Use the web address of the GitLab server, for example https://gitlab.example.com."
	case URLUnsupportedScheme:
		return "Use an https:// address, for example https://gitlab.example.com."
	case URLInsecureHTTP:
		const optIn = " Only if this self-managed GitLab serves no https at all, on a network you trust, turn on the connection's insecure-http opt-in: the token then crosses the network unencrypted with every request."
		if e.Detail != "" {
			return fmt.Sprintf("Use https: %s. labsync sends the access token with every request and does not send it unencrypted over a network by default.", e.Detail) + optIn
		}
		return "Use https. labsync sends the access token with every request and does not send it unencrypted over a network by default." + optIn
	case URLHTTPGitLabCom:
		return "Use https://gitlab.com."
	case URLUserInfo:
		return "Remove the user name and password from the URL (the part before @); give the access token in its own field instead."
	case URLQuery, URLFragment:
		return "Remove everything from ? or # on; the URL should be only the GitLab's address, for example https://gitlab.example.com."
	case URLNoHost:
		return "Write the host name after https://, for example https://gitlab.example.com."
	case URLBadPort:
		return "Use a port number between 1 and 65535, or leave the port out for the default (443 for https)."
	case URLPagePath:
		if e.Detail != "" {
			return fmt.Sprintf("Use the address of the GitLab itself: %s.", e.Detail)
		}
		return "Use the address of the GitLab itself, without a group, project or page path."
	default:
		return "Enter the address you open GitLab with in a browser, for example https://gitlab.example.com."
	}
}

// URLOption changes what [NormalizeBaseURL] accepts.
type URLOption func(*urlOptions)

type urlOptions struct {
	allowInsecureHTTP bool
	// lookup resolves a host name; nil is the system resolver.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// withLookup makes [NormalizeBaseURL] resolve names with lookup (tests).
func withLookup(lookup func(ctx context.Context, host string) ([]netip.Addr, error)) URLOption {
	return func(o *urlOptions) { o.lookup = lookup }
}

// AllowInsecureHTTP lets [NormalizeBaseURL] accept plain http to a host that
// is not this machine: a self-managed GitLab that serves no https, on a
// network the organisation trusts. It is a per-integration opt-in; the
// resulting BaseURL reports [BaseURL.Insecure], so API and UI can show that
// the token travels unencrypted. It never allows http for GitLab.com.
func AllowInsecureHTTP() URLOption {
	return func(o *urlOptions) { o.allowInsecureHTTP = true }
}

// NormalizeBaseURL checks raw as the address of a GitLab instance and returns
// it in canonical form. It accepts http and https only, and http only when the
// host is this machine (localhost, *.localhost, 127.0.0.0/8, ::1) or, for
// other hosts except GitLab.com, with the [AllowInsecureHTTP] option. A
// trailing slash and an /api/v4 suffix are removed, a subpath is kept, the
// host is lower-cased and the scheme's default port dropped. A URL with a
// user name, password, query string or fragment is refused. Every refusal is
// a *URLError.
func NormalizeBaseURL(raw string, opts ...URLOption) (BaseURL, error) {
	var o urlOptions
	for _, opt := range opts {
		opt(&o)
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return BaseURL{}, &URLError{Problem: URLEmpty}
	}
	if !strings.Contains(s, "://") {
		// git@gitlab.example.com:group/project.git
		if at := strings.Index(s, "@"); at > 0 && !strings.ContainsAny(s[:at], "/:") {
			host, _, _ := strings.Cut(s[at+1:], ":")
			if host != "" && !strings.ContainsAny(host, "/?#@ ") {
				return BaseURL{}, &URLError{Problem: URLSSHAddress, Detail: "https://" + strings.ToLower(host)}
			}
			return BaseURL{}, &URLError{Problem: URLSSHAddress}
		}
		if strings.ContainsAny(s, "@ ") {
			return BaseURL{}, &URLError{Problem: URLMissingScheme}
		}
		return BaseURL{}, &URLError{Problem: URLMissingScheme, Detail: "https://" + strings.TrimRight(s, "/")}
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password: keep
		// them out of the message.
		if strings.Contains(s, "@") {
			return BaseURL{}, &URLError{Problem: URLUserInfo}
		}
		return BaseURL{}, &URLError{Problem: URLMalformed}
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "http", "https":
	case "ssh", "git":
		d := ""
		if h := u.Hostname(); h != "" {
			d = "https://" + strings.ToLower(h)
		}
		return BaseURL{}, &URLError{Problem: URLSSHAddress, Detail: d}
	default:
		return BaseURL{}, &URLError{Problem: URLUnsupportedScheme, Detail: scheme}
	}
	if u.User != nil {
		return BaseURL{}, &URLError{Problem: URLUserInfo}
	}
	if u.RawQuery != "" || u.ForceQuery {
		return BaseURL{}, &URLError{Problem: URLQuery}
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return BaseURL{}, &URLError{Problem: URLFragment}
	}
	if u.Opaque != "" {
		return BaseURL{}, &URLError{Problem: URLMalformed}
	}
	hostname := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if hostname == "" {
		return BaseURL{}, &URLError{Problem: URLNoHost}
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return BaseURL{}, &URLError{Problem: URLBadPort, Detail: port}
		}
		port = strconv.Itoa(n)
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = ""
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return BaseURL{}, &URLError{Problem: URLBadPort}
	}
	host := hostname
	if strings.Contains(hostname, ":") { // IPv6 literal
		host = "[" + hostname + "]"
	}
	if port != "" {
		host = net.JoinHostPort(hostname, port)
	}

	p, err := basePath(u)
	if err != nil {
		return BaseURL{}, err
	}
	b := BaseURL{scheme: scheme, host: host, path: p, loopback: isLoopbackHost(hostname, o.lookup)}
	if p != "" && b.IsGitLabCom() {
		return BaseURL{}, &URLError{Problem: URLPagePath, Detail: "https://gitlab.com"}
	}
	if scheme == "http" && isGitLabComHost(hostname) {
		return BaseURL{}, &URLError{Problem: URLHTTPGitLabCom, Detail: "https://gitlab.com"}
	}
	if scheme == "http" && !b.loopback && !o.allowInsecureHTTP {
		return BaseURL{}, &URLError{Problem: URLInsecureHTTP, Detail: "https://" + host + p}
	}
	return b, nil
}

// basePath returns the cleaned subpath of u with /api/v4 and trailing slashes
// removed, or a *URLError when the path is clearly a page inside GitLab.
func basePath(u *url.URL) (string, error) {
	if strings.Contains(strings.ToLower(u.EscapedPath()), "%2f") {
		return "", &URLError{Problem: URLMalformed}
	}
	p := u.Path
	if p == "" || p == "/" {
		return "", nil
	}
	p = path.Clean("/" + p)
	for _, suffix := range []string{"/api/v4", "/api"} {
		if p == suffix {
			return "", nil
		}
		p = strings.TrimSuffix(p, suffix)
	}
	if p == "/" {
		return "", nil
	}
	site := u.Scheme + "://" + u.Host
	// /group/project/-/merge_requests, /users/sign_in, /explore, /dashboard
	if strings.Contains(p+"/", "/-/") {
		return "", &URLError{Problem: URLPagePath, Detail: strings.ToLower(site)}
	}
	for _, page := range []string{"/users/sign_in", "/users/sign_up", "/explore", "/dashboard", "/admin", "/profile", "/oauth/authorize"} {
		if i := strings.Index(p, page); i >= 0 && (len(p) == i+len(page) || p[i+len(page)] == '/') {
			return "", &URLError{Problem: URLPagePath, Detail: strings.ToLower(site) + p[:i]}
		}
	}
	if strings.HasSuffix(p, ".git") {
		return "", &URLError{Problem: URLPagePath, Detail: strings.ToLower(site)}
	}
	return p, nil
}

// isLoopbackHost reports whether hostname (without port or brackets) is this
// machine: an address in 127.0.0.0/8 or ::1, or the name localhost or a
// name under .localhost that resolves to loopback addresses only. RFC 6761
// reserves those names for loopback, but /etc/hosts or a DNS server may
// map one elsewhere, where plain http would cross the network; a name that
// does not resolve is not this machine either.
func isLoopbackHost(hostname string, lookup func(ctx context.Context, host string) ([]netip.Addr, error)) bool {
	if a, err := netip.ParseAddr(hostname); err == nil {
		return a.Unmap().IsLoopback()
	}
	if hostname != "localhost" && !strings.HasSuffix(hostname, ".localhost") {
		return false
	}
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, hostname)
	if err != nil || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return false
		}
	}
	return true
}

// String returns the canonical URL, for example https://git.example.com/gitlab.
func (b BaseURL) String() string {
	if b.IsZero() {
		return ""
	}
	return b.scheme + "://" + b.host + b.path
}

// MarshalText returns the canonical URL.
func (b BaseURL) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText normalises text with [NormalizeBaseURL], without the
// [AllowInsecureHTTP] opt-in.
func (b *BaseURL) UnmarshalText(text []byte) error {
	n, err := NormalizeBaseURL(string(text))
	if err != nil {
		return err
	}
	*b = n
	return nil
}

// IsZero reports whether b is the empty BaseURL.
func (b BaseURL) IsZero() bool { return b.host == "" }

// Scheme returns "https" or "http".
func (b BaseURL) Scheme() string { return b.scheme }

// Host returns the host and, when it is not the scheme's default, the port.
func (b BaseURL) Host() string { return b.host }

// Hostname returns the host without port or IPv6 brackets.
func (b BaseURL) Hostname() string {
	u := url.URL{Host: b.host}
	return u.Hostname()
}

// Port returns the port to connect to, the scheme's default when none was given.
func (b BaseURL) Port() string {
	u := url.URL{Host: b.host}
	if p := u.Port(); p != "" {
		return p
	}
	if b.scheme == "http" {
		return "80"
	}
	return "443"
}

// Path returns the subpath GitLab is served below ("" at the root).
func (b BaseURL) Path() string { return b.path }

// APIURL returns the REST API root, for example https://git.example.com/api/v4.
func (b BaseURL) APIURL() string { return b.String() + "/api/v4" }

// URL returns the canonical URL followed by p, which should start with "/".
func (b BaseURL) URL(p string) string { return b.String() + p }

// isGitLabComHost reports whether hostname is GitLab.com or one of its
// subdomains, which GitLab Inc. serves over https only.
func isGitLabComHost(hostname string) bool {
	return hostname == "gitlab.com" || strings.HasSuffix(hostname, ".gitlab.com")
}

// Insecure reports whether b uses plain http to a host that is not this
// machine, which [NormalizeBaseURL] accepts only with [AllowInsecureHTTP].
func (b BaseURL) Insecure() bool { return b.scheme == "http" && !b.IsLoopback() }

// IsGitLabCom reports whether b is GitLab.com.
func (b BaseURL) IsGitLabCom() bool { return b.host == "gitlab.com" || b.host == "www.gitlab.com" }

// IsLoopback reports whether b's host is this machine: a loopback
// address, or a localhost name that resolved to loopback addresses only
// when [NormalizeBaseURL] made b.
func (b BaseURL) IsLoopback() bool { return b.loopback }
