package sandbox

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Since GitLab 10.6 webhooks may not reach the local network unless an
// administrator ticks "Allow requests to the local network from webhooks
// and integrations" (Admin > Settings > Network > Outbound requests,
// allow_local_requests_from_web_hooks_and_services): Gitlab::UrlBlocker then
// refuses loopback addresses ("Requests to localhost are not allowed") and
// private, link-local and unspecified ones ("Requests to the local network
// are not allowed"), both when a hook is saved and when it is called.
//
// The sandbox allows them by default (its receivers are on loopback, as if
// the administrator ticked the box); Config.BlockLocalWebhooks or
// SetAllowLocalWebhooks(false) gives GitLab's default. Host names other than
// localhost are not resolved and count as public.

// localURLProblem says why GitLab would block u, or "" when it would not.
func localURLProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "Requests to localhost are not allowed"
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return ""
	case ip.IsLoopback():
		return "Requests to localhost are not allowed"
	case ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified():
		return "Requests to the local network are not allowed"
	}
	return ""
}

// SetAllowLocalWebhooks sets the allow_local_requests_from_web_hooks_and_services
// setting: false blocks hooks to loopback and private addresses as GitLab
// does by default; it takes effect for the next save and delivery.
func (s *Sandbox) SetAllowLocalWebhooks(allow bool) { s.blockLocalHooks.Store(!allow) }

// AllowLocalWebhooks reports the setting.
func (s *Sandbox) AllowLocalWebhooks() bool { return !s.blockLocalHooks.Load() }

// blockedHookURL is the 422 GitLab answers when a hook's URL is blocked.
func (s *Sandbox) blockedHookURL(raw string) error {
	if !s.blockLocalHooks.Load() || !s.ver.atLeast(10, 6) {
		return nil
	}
	if why := localURLProblem(raw); why != "" {
		return &apiError{status: http.StatusUnprocessableEntity, body: map[string]any{"message": map[string][]string{"url": {"is blocked: " + why}}}}
	}
	return nil
}
