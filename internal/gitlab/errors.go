package gitlab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"mime"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
)

// Kind says what went wrong talking to GitLab, in terms a remedy can be
// chosen from. The string values are stable: the API and the diagnosis
// report them.
type Kind string

// Kinds of GitLab answers.
const (
	KindTokenExpired      Kind = "token_expired"
	KindTokenRevoked      Kind = "token_revoked"
	KindTokenInvalid      Kind = "token_invalid"
	KindInsufficientScope Kind = "insufficient_scope"
	KindForbidden         Kind = "forbidden"
	KindNotFound          Kind = "not_found"
	KindRateLimited       Kind = "rate_limited"
	KindServerError       Kind = "server_error"
	KindUnexpected        Kind = "unexpected_response"
)

// Kinds of failures before GitLab could answer.
const (
	KindDNS                 Kind = "dns"
	KindRefused             Kind = "connection_refused"
	KindTimeout             Kind = "timeout"
	KindTLSUnknownAuthority Kind = "tls_unknown_authority"
	KindTLSSelfSigned       Kind = "tls_self_signed"
	KindTLSExpired          Kind = "tls_expired"
	KindTLSHostMismatch     Kind = "tls_host_mismatch"
	KindTLSOther            Kind = "tls_failed"
	KindAddressRefused      Kind = "address_refused"
	KindWriteRefused        Kind = "write_refused"
	KindNetwork             Kind = "network"
	KindProxyUnreachable    Kind = "proxy_unreachable"
	KindProxyRefused        Kind = "proxy_refused"
	KindCanceled            Kind = "canceled"
)

// APIError is a GitLab answer or a transport failure, classified. Its Error
// is a plain sentence that never contains a token; [APIError.Remedy] says what
// to do about it.
type APIError struct {
	// Status is the HTTP status GitLab answered with, 0 when none arrived.
	Status int  `json:"status,omitempty"`
	Kind   Kind `json:"kind"`
	// GitLabMessage is GitLab's own explanation (error_description or
	// message), shortened; empty when GitLab gave none.
	GitLabMessage string `json:"gitlab_message,omitempty"`
	// RequiredScopes lists the scopes GitLab said the request needs
	// (insufficient_scope only).
	RequiredScopes []string `json:"required_scopes,omitempty"`
	// RetryAfter is how long GitLab asked to wait (rate limits, 503).
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Detail is a short fact about a transport failure: the host name that
	// did not resolve, the address that refused, the TLS problem.
	Detail string `json:"detail,omitempty"`
	// Err is the underlying transport error, if any.
	Err error `json:"-"`
}

func (e *APIError) Unwrap() error { return e.Err }

func (e *APIError) Error() string {
	var s string
	switch e.Kind {
	case KindTokenExpired:
		s = "GitLab refused the access token: it has expired"
	case KindTokenRevoked:
		s = "GitLab refused the access token: it has been revoked"
	case KindTokenInvalid:
		s = "GitLab did not accept the access token: it is unknown, mistyped or belongs to another GitLab"
	case KindInsufficientScope:
		s = "the access token lacks a scope this request needs"
		if len(e.RequiredScopes) > 0 {
			s += " (GitLab asks for " + strings.Join(e.RequiredScopes, " or ") + ")"
		}
	case KindForbidden:
		s = "GitLab refused the request (403 Forbidden)"
	case KindNotFound:
		s = "GitLab answered 404 Not Found: the resource does not exist or the token's account cannot see it"
	case KindRateLimited:
		s = "GitLab is rate limiting labsync (429 Too Many Requests)"
		if e.RetryAfter > 0 {
			s += fmt.Sprintf("; it asks to wait %s", e.RetryAfter)
		}
	case KindServerError:
		s = fmt.Sprintf("GitLab answered with a server error (%d %s)", e.Status, http.StatusText(e.Status))
	case KindUnexpected:
		s = fmt.Sprintf("GitLab answered %d %s", e.Status, http.StatusText(e.Status))
	case KindDNS:
		s = "the GitLab host name could not be resolved"
	case KindRefused:
		s = "the GitLab server refused the connection: nothing is listening on that address and port"
	case KindTimeout:
		s = "the GitLab server did not answer in time"
	case KindTLSUnknownAuthority:
		s = "the GitLab server's certificate is signed by an authority labsync does not trust"
	case KindTLSSelfSigned:
		s = "the GitLab server presents a self-signed certificate"
	case KindTLSExpired:
		s = "the GitLab server's certificate is expired or not yet valid"
	case KindTLSHostMismatch:
		s = "the GitLab server's certificate is not valid for this host name"
	case KindTLSOther:
		s = "the TLS connection to the GitLab server failed"
	case KindAddressRefused:
		s = "labsync's address policy refused to connect to the GitLab server"
	case KindWriteRefused:
		s = "labsync refused to send a request that would change GitLab"
	case KindCanceled:
		s = "the request was canceled"
	case KindProxyUnreachable:
		s = "the proxy labsync reaches GitLab through could not be reached"
	case KindProxyRefused:
		s = "the proxy labsync reaches GitLab through refused to open a tunnel to GitLab"
	default:
		s = "the connection to the GitLab server failed"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	} else if e.GitLabMessage != "" && e.Kind != KindTokenExpired && e.Kind != KindTokenRevoked {
		s += fmt.Sprintf(" (GitLab says: %q)", e.GitLabMessage)
	}
	return s
}

// Remedy says, in words a platform engineer can act on, what to do.
func (e *APIError) Remedy() string {
	switch e.Kind {
	case KindTokenExpired:
		return "Create a new access token in GitLab (User settings → Access tokens) with the read_api scope and a later expiry date, then update the connection. For an OAuth connection, reconnect."
	case KindTokenRevoked:
		return "Someone revoked this token in GitLab. Create a new access token with the read_api scope and update the connection; for an OAuth connection, reconnect."
	case KindTokenInvalid:
		return "Copy the token again from GitLab, whole and without spaces, and check that it was created on this GitLab (not on gitlab.com or another instance). If the account was blocked or deleted, use a token of an active account."
	case KindInsufficientScope:
		return "Create a token with the read_api scope (api if labsync should register webhooks) and update the connection; the scopes of an existing token cannot be changed."
	case KindForbidden:
		return "The token's account may not do this. Give it at least the Reporter role on the groups or projects labsync should read (Maintainer for project webhooks, Owner for group webhooks)."
	case KindNotFound:
		return "Check that the project or group exists and that the token's account is a member of it with at least the Reporter role."
	case KindRateLimited:
		return "labsync waits and retries on its own. If this persists, ask the GitLab administrator to raise the API rate limit for this account, or lower labsync's sync concurrency."
	case KindServerError:
		return "GitLab or a proxy in front of it had a problem; labsync retries on its own. If it persists, check GitLab's health (gitlab-ctl status, /-/readiness) with its administrator."
	case KindUnexpected:
		return "Check that the URL points at GitLab itself and not at a proxy or sign-on portal in front of it."
	case KindDNS:
		if pe := proxyErr(e.Err); pe != nil {
			return pe.Remedy()
		}
		return "Check the spelling of the host name and that it resolves from where labsync runs (nslookup or dig on that machine or inside its container); internal names need the company DNS."
	case KindProxyUnreachable, KindProxyRefused:
		if pe := proxyErr(e.Err); pe != nil {
			return pe.Remedy()
		}
		return "Check the proxy settings (" + EnvGitLabProxy + ", HTTPS_PROXY, NO_PROXY)."
	case KindRefused:
		return "Check the port (443 for https unless GitLab uses another), that GitLab is running, and that no firewall actively rejects connections from labsync's host."
	case KindTimeout:
		return "Allow outbound HTTPS (TCP 443, or GitLab's port) from where labsync runs to GitLab in firewalls, security groups and network policies; a GitLab on an internal network needs a route or VPN from labsync's network."
	case KindTLSUnknownAuthority:
		return "Add the certificate of the CA that signed GitLab's certificate (PEM) to the connection's CA field, or to labsync doctor with --ca-file. labsync never turns certificate verification off."
	case KindTLSSelfSigned:
		return "Best: give GitLab a certificate from your organisation's CA or a public one. Otherwise add this very certificate (PEM) as the connection's CA (doctor: --ca-file)."
	case KindTLSExpired:
		return "Renew the certificate on the GitLab server (or on the proxy that terminates TLS in front of it); if the dates look right, check the clocks of both machines."
	case KindTLSHostMismatch:
		return "Use a host name the certificate covers in the connection URL, or have the certificate reissued with this host name among its subject alternative names."
	case KindTLSOther:
		return "Check that the port speaks HTTPS and that GitLab (or its proxy) supports TLS 1.2 or newer."
	case KindAddressRefused:
		var are *AddressRefusedError
		if errors.As(e.Err, &are) {
			return are.Remedy()
		}
		return "Check the GitLab host name and its DNS record."
	case KindWriteRefused:
		var wre *WriteRefusedError
		if errors.As(e.Err, &wre) {
			return wre.Remedy()
		}
		return (&WriteRefusedError{}).Remedy()
	case KindCanceled:
		return "Try again."
	default:
		return "Check that GitLab is reachable from where labsync runs, and try again."
	}
}

// Retryable reports whether trying the same request again later may succeed.
func (e *APIError) Retryable() bool {
	switch e.Kind {
	case KindRateLimited, KindServerError, KindTimeout, KindNetwork, KindProxyUnreachable:
		return true
	case KindProxyRefused:
		// 502, 503, 504: the proxy could not reach GitLab this time.
		return e.Status >= 500
	case KindDNS:
		var de *net.DNSError
		return errors.As(e.Err, &de) && !de.IsNotFound
	}
	return false
}

// IsTokenProblem reports whether the error means the credential itself must
// be replaced (expired, revoked, invalid or missing scope).
func (e *APIError) IsTokenProblem() bool {
	switch e.Kind {
	case KindTokenExpired, KindTokenRevoked, KindTokenInvalid, KindInsufficientScope:
		return true
	}
	return false
}

// Classify turns an HTTP answer from GitLab into an *APIError. It returns nil
// for answers below 400. body is the (possibly partial) response body; resp's
// own body is not read.
func Classify(resp *http.Response, body []byte) *APIError {
	if resp == nil || resp.StatusCode < 400 {
		return nil
	}
	e := &APIError{Status: resp.StatusCode}
	var m struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
		Scope       json.RawMessage `json:"scope"`
		Message     json.RawMessage `json:"message"`
	}
	isJSON := json.Unmarshal(body, &m) == nil
	errCode := rawString(m.Error)
	if isJSON {
		switch {
		case m.Description != "":
			e.GitLabMessage = m.Description
		case len(m.Message) > 0:
			e.GitLabMessage = flattenMessage(m.Message)
		default:
			e.GitLabMessage = errCode
		}
	} else if title := HTMLTitle(resp.Header.Get("Content-Type"), body); title != "" {
		e.GitLabMessage = title
	}
	e.GitLabMessage = shorten(e.GitLabMessage, 300)
	wwwAuth := resp.Header.Get("WWW-Authenticate")
	lowerDesc := strings.ToLower(m.Description + " " + wwwAuth)

	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
		switch {
		case strings.Contains(lowerDesc, "expired"):
			e.Kind = KindTokenExpired
		case strings.Contains(lowerDesc, "revoked"):
			e.Kind = KindTokenRevoked
		default:
			e.Kind = KindTokenInvalid
		}
	case s == http.StatusForbidden:
		if errCode == "insufficient_scope" || strings.Contains(wwwAuth, "insufficient_scope") {
			e.Kind = KindInsufficientScope
			e.RequiredScopes = scopes(m.Scope)
			if len(e.RequiredScopes) == 0 {
				e.RequiredScopes = headerScopes(wwwAuth)
			}
		} else {
			e.Kind = KindForbidden
		}
	case s == http.StatusNotFound:
		e.Kind = KindNotFound
	case s == http.StatusTooManyRequests:
		e.Kind = KindRateLimited
		e.RetryAfter = retryAfter(resp.Header, time.Now())
	case s >= 500:
		e.Kind = KindServerError
		e.RetryAfter = retryAfter(resp.Header, time.Now())
	default:
		e.Kind = KindUnexpected
	}
	return e
}

// ClassifyError turns any error from talking to GitLab — a client-go
// *ErrorResponse, a guard or policy refusal, a DNS, connection, timeout or
// TLS failure — into an *APIError. It returns nil for a nil error.
func ClassifyError(err error) *APIError {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var er *gl.ErrorResponse
	if errors.As(err, &er) {
		if er.Response != nil {
			if c := Classify(er.Response, er.Body); c != nil {
				return c
			}
		}
		hdr := http.Header{}
		if er.Response != nil {
			hdr = er.Response.Header
		}
		return Classify(&http.Response{StatusCode: er.StatusCode, Header: hdr}, er.Body)
	}
	e := &APIError{Kind: KindNetwork, Err: err}
	var wre *WriteRefusedError
	var are *AddressRefusedError
	var pe *ProxyError
	var oe *net.OpError
	var dnsErr *net.DNSError
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rhe tls.RecordHeaderError
	var timeout interface{ Timeout() bool }
	switch {
	case errors.As(err, &wre):
		e.Kind = KindWriteRefused
		e.Detail = wre.Method + " " + wre.Path
	case errors.As(err, &are):
		e.Kind = KindAddressRefused
		e.Detail = are.Error()
		if errors.As(err, &pe) {
			e.Detail += " (checked before asking the proxy " + pe.Proxy + " for a tunnel)"
		}
	case errors.Is(err, context.Canceled):
		e.Kind = KindCanceled
	case errors.As(err, &pe) && pe.Stage == ProxyUnreachable:
		e.Kind = KindProxyUnreachable
		e.Detail = fmt.Sprintf("%s (%s): %s", pe.Proxy, pe.Setting, netErrorText(pe.Err))
	case errors.As(err, &pe) && pe.Stage == ProxyConnectRefused:
		e.Kind = KindProxyRefused
		e.Status = pe.StatusCode
		e.Detail = fmt.Sprintf("%s (%s) answered CONNECT %s with %s", pe.Proxy, pe.Setting, pe.Target, pe.Status)
	case errors.As(err, &pe) && pe.Stage == ProxyTargetUnresolved:
		e.Kind = KindDNS
		e.Detail = pe.Error()
	case errors.As(err, &oe) && oe.Op == "proxyconnect":
		// net/http's own failures on the way to the proxy: the TLS
		// handshake with an https proxy, a proxy that hangs up.
		e.Kind = KindProxyUnreachable
		e.Detail = "the connection to the proxy failed: " + netErrorText(oe.Err)
	case errors.As(err, &dnsErr):
		e.Kind = KindDNS
		if dnsErr.IsNotFound {
			e.Detail = fmt.Sprintf("%s does not exist (NXDOMAIN)", dnsErr.Name)
		} else {
			e.Detail = fmt.Sprintf("the DNS server gave no usable answer for %s", dnsErr.Name)
		}
	case errors.As(err, &he):
		e.Kind = KindTLSHostMismatch
		e.Detail = fmt.Sprintf("it covers %s, not %s", CertNames(he.Certificate), he.Host)
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			e.Kind = KindTLSExpired
			if ci.Cert != nil {
				e.Detail = fmt.Sprintf("valid from %s until %s", ci.Cert.NotBefore.UTC().Format(time.DateOnly), ci.Cert.NotAfter.UTC().Format(time.DateOnly))
			}
		default:
			e.Kind = KindTLSOther
			e.Detail = "the certificate chain is not valid for a server"
		}
	case errors.As(err, &ua):
		// ua.Cert is where the chain stopped, which is the server's own
		// self-signed root when it sends one: ask the question of the
		// server's leaf certificate instead.
		e.Kind = KindTLSUnknownAuthority
		leaf := PresentedCertificate(err)
		if IsSelfSigned(leaf) {
			e.Kind = KindTLSSelfSigned
		} else if leaf != nil {
			e.Detail = "issued by " + leaf.Issuer.String()
		}
	case errors.As(err, &cve):
		e.Kind = KindTLSOther
	case errors.As(err, &rhe):
		e.Kind = KindTLSOther
		e.Detail = "the server did not answer with TLS; the port may speak plain HTTP"
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Kind = KindRefused
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &timeout) && timeout.Timeout()):
		e.Kind = KindTimeout
	}
	return e
}

// proxyErr returns the *ProxyError in err's chain, or nil.
func proxyErr(err error) *ProxyError {
	var pe *ProxyError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// CertNames lists the DNS names and IP addresses a certificate covers, for
// messages. It falls back to the subject's common name.
func CertNames(c *x509.Certificate) string {
	if c == nil {
		return "no names"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName+" (common name only)")
	}
	if len(names) == 0 {
		return "no names"
	}
	return strings.Join(names, ", ")
}

func rawString(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	return ""
}

// flattenMessage renders GitLab's "message", which is a string, a list, or
// an object of field → list of problems.
func flattenMessage(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	var list []any
	if json.Unmarshal(r, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, v := range list {
			parts = append(parts, fmt.Sprint(v))
		}
		return strings.Join(parts, "; ")
	}
	var obj map[string]any
	if json.Unmarshal(r, &obj) == nil {
		parts := make([]string, 0, len(obj))
		for k, v := range obj {
			parts = append(parts, fmt.Sprintf("%s %v", k, v))
		}
		slices.Sort(parts)
		return strings.Join(parts, "; ")
	}
	return ""
}

func scopes(r json.RawMessage) []string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return strings.Fields(s)
	}
	var list []string
	if json.Unmarshal(r, &list) == nil {
		return list
	}
	return nil
}

var scopeParam = regexp.MustCompile(`scope="([^"]*)"`)

func headerScopes(h string) []string {
	if m := scopeParam.FindStringSubmatch(h); m != nil {
		return strings.Fields(m[1])
	}
	return nil
}

// retryAfter reads Retry-After (seconds or an HTTP date), falling back to
// GitLab's RateLimit-Reset (a Unix time).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now).Round(time.Second)
		}
	}
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			if d := time.Unix(n, 0).Sub(now); d > 0 {
				return d.Round(time.Second)
			}
		}
	}
	return 0
}

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// HTMLTitle returns the <title> of an HTML body, shortened, or "" when the
// content type is not HTML or there is no title.
func HTMLTitle(contentType string, body []byte) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "text/html" && mt != "application/xhtml+xml" {
		return ""
	}
	m := titleRE.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return shorten(strings.Join(strings.Fields(html.UnescapeString(string(m[1]))), " "), 120)
}

// shorten cuts s to at most n runes and drops control characters.
func shorten(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
