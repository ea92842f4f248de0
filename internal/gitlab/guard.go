package gitlab

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// WriteRefusedError reports a request the read-only guard did not send.
type WriteRefusedError struct {
	Method string
	// Path is the escaped path of the refused request, without query string.
	Path string
	// OtherHost is true when the request was refused because it went to a
	// host other than the connection's GitLab.
	OtherHost bool
	// HookWrite is true when the request would have changed a webhook and
	// the connection does not allow labsync to manage webhooks.
	HookWrite bool
}

func (e *WriteRefusedError) Error() string {
	switch {
	case e.OtherHost:
		return fmt.Sprintf("labsync refused to send %s %s: it goes to a host other than the connection's GitLab", e.Method, e.Path)
	case e.HookWrite:
		return fmt.Sprintf("labsync refused to send %s %s: this connection does not allow labsync to manage webhooks", e.Method, e.Path)
	default:
		return fmt.Sprintf("labsync refused to send %s %s: labsync only reads from GitLab", e.Method, e.Path)
	}
}

// Remedy says what to do about the refusal.
func (e *WriteRefusedError) Remedy() string {
	switch {
	case e.OtherHost:
		return "GitLab or a proxy in front of it redirected labsync to another address. Use the final GitLab address as the connection URL."
	case e.HookWrite:
		return "Allow webhook management for this connection, or create the webhook in GitLab yourself with the URL and secret labsync shows."
	default:
		return "labsync never changes anything on GitLab apart from OAuth token exchange and, when allowed, its own webhooks. If you see this during normal use, please report it as a bug."
	}
}

// ReadOnly wraps next so that only reads reach GitLab. It passes GET and HEAD
// requests to base's host and refuses everything else with a
// *WriteRefusedError, without sending it, except:
//
//   - POST {base}/oauth/token and POST {base}/oauth/revoke;
//   - when allowHookWrites is set, POST, PUT and DELETE on
//     {base}/api/v4/projects/:id/hooks[/:hook_id] and
//     {base}/api/v4/groups/:id/hooks[/:hook_id], and POST
//     .../hooks/:hook_id/test/:trigger.
//
// Paths are matched on the exact path that would go on the wire: dot
// segments, empty segments, encoded slashes outside a project or group path,
// and backslashes are refused. A request for any other scheme or host than
// base's is refused whatever its method, which also stops redirects that leave
// the GitLab.
func ReadOnly(next http.RoundTripper, base BaseURL, allowHookWrites bool) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &readOnly{next: next, base: base, hooks: allowHookWrites}
}

type readOnly struct {
	next  http.RoundTripper
	base  BaseURL
	hooks bool
}

func (g *readOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.check(req); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return g.next.RoundTrip(req)
}

func (g *readOnly) check(req *http.Request) error {
	u := req.URL
	p := u.EscapedPath()
	if u.Opaque != "" {
		p = u.Opaque
	}
	if !g.sameOrigin(u) {
		return &WriteRefusedError{Method: req.Method, Path: p, OtherHost: true}
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		return nil
	}
	refused := &WriteRefusedError{Method: req.Method, Path: p}
	if u.Opaque != "" {
		return refused
	}
	rel, ok := strings.CutPrefix(p, g.base.Path()+"/")
	if !ok || strings.ContainsAny(rel, `\`) {
		return refused
	}
	segs := strings.Split(rel, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return refused
		}
	}
	if req.Method == http.MethodPost && len(segs) == 2 && segs[0] == "oauth" && (segs[1] == "token" || segs[1] == "revoke") {
		return nil
	}
	if !isHookPath(req.Method, segs) {
		return refused
	}
	if !g.hooks {
		refused.HookWrite = true
		return refused
	}
	return nil
}

// isHookPath reports whether method on the path segments (below the base
// path) is one of the webhook writes the guard can allow.
func isHookPath(method string, segs []string) bool {
	if len(segs) < 5 || segs[0] != "api" || segs[1] != "v4" || segs[4] != "hooks" {
		return false
	}
	if segs[2] != "projects" && segs[2] != "groups" {
		return false
	}
	if !validNamespaceID(segs[3]) {
		return false
	}
	switch len(segs) {
	case 5: // .../hooks
		return method == http.MethodPost
	case 6: // .../hooks/:hook_id
		return isDecimal(segs[5]) && (method == http.MethodPut || method == http.MethodDelete)
	case 8: // .../hooks/:hook_id/test/:trigger
		return isDecimal(segs[5]) && segs[6] == "test" && triggerName.MatchString(segs[7]) && method == http.MethodPost
	}
	return false
}

var (
	triggerName   = regexp.MustCompile(`^[a-z_]{1,64}$`)
	namespacePart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// validNamespaceID accepts a numeric id or a URL-encoded full path
// (group%2Fsubgroup%2Fproject) whose parts are plain names.
func validNamespaceID(seg string) bool {
	if isDecimal(seg) {
		return true
	}
	// Only %2F may be encoded; anything else encoded is a trick.
	if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(seg, "%2F", ""), "%2f", ""), "%") {
		return false
	}
	dec, err := url.PathUnescape(seg)
	if err != nil {
		return false
	}
	for _, part := range strings.Split(dec, "/") {
		if part == "." || part == ".." || !namespacePart.MatchString(part) {
			return false
		}
	}
	return true
}

func isDecimal(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil && s[0] != '+'
}

func (g *readOnly) sameOrigin(u *url.URL) bool {
	if u.User != nil || !strings.EqualFold(u.Scheme, g.base.Scheme()) {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && !(port == "443" && g.base.Scheme() == "https") && !(port == "80" && g.base.Scheme() == "http") {
		host += ":" + port
	}
	return host == g.base.Host()
}
