package integrations

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// LocalNetworkSetting is the GitLab admin setting that lets webhooks reach
// loopback and private addresses (Admin > Settings > Network > Outbound
// requests). It is off by default since GitLab 10.6.
const LocalNetworkSetting = "Allow requests to the local network from webhooks and integrations"

// Webhook health states of one hook.
const (
	HookStateOK                  = "executable"
	HookStateTemporarilyDisabled = gitlab.HookTemporarilyDisabled
	HookStateDisabled            = gitlab.HookDisabled
	HookStateFailing             = "failing"     // executable, but its newest delivery failed
	HookStateMissing             = "missing"     // GitLab no longer has it
	HookStateURLChanged          = "url_changed" // it points elsewhere than labsync's webhook URL
	HookStateUnreadable          = "unreadable"  // GitLab refused to show it
	HookStateUnknown             = "no_state"    // the GitLab reports no state (before 15.7)
)

// WebhookHealth says why webhooks of an integration might not arrive, from
// what labsync received, its public URL and, for the hooks labsync
// registered, what GitLab reports of each.
type WebhookHealth struct {
	IntegrationID int64 `json:"integration_id"`
	// Status is ok, warning or failing.
	Status  string `json:"status"`
	Summary string `json:"summary"`
	// Issued is false until a webhook URL and secret were issued.
	Issued bool   `json:"issued"`
	URL    string `json:"url,omitempty"`
	// PublicURL is LABSYNC_PUBLIC_URL, which GitLab must reach.
	PublicURL string `json:"public_url"`
	// LastDeliveryAt is when labsync last received an authentic delivery.
	LastDeliveryAt *time.Time `json:"last_delivery_at,omitempty"`
	// HookRegistration is the user's opt-in to labsync managing its hooks
	// at GitLab; only then are hooks read from GitLab and a test delivery
	// offered.
	HookRegistration bool `json:"hook_registration_allowed"`
	// CanTest says a test delivery can be asked of GitLab (the opt-in, a
	// registered hook and GitLab 16.11 or later).
	CanTest bool `json:"can_test"`
	// GitLabVersion is the version the state was read from, as stored.
	GitLabVersion string `json:"gitlab_version,omitempty"`
	// Findings are what is wrong or worth knowing, each with what to do.
	Findings []WebhookFinding `json:"findings"`
	// Hooks are the hooks labsync registered, as GitLab reports them.
	Hooks []HookHealth `json:"hooks"`
	// GitLabChecked is true when the hooks were read from GitLab (false
	// for WebhookHealthSummary, and without the hook opt-in).
	GitLabChecked bool `json:"gitlab_checked"`
}

// WebhookFinding is one reason webhooks may not arrive.
type WebhookFinding struct {
	// Code is stable: local_network, loopback_public_url, not_issued,
	// never_received, quiet, hooks_disabled, hooks_failing, hooks_missing,
	// not_registered, no_hook_state, no_event_log.
	Code     string `json:"code"`
	Severity string `json:"severity"` // failing, warning or info
	Message  string `json:"message"`
	Remedy   string `json:"remedy,omitempty"`
}

// HookHealth is one registered hook's state at GitLab.
type HookHealth struct {
	ProjectID int64  `json:"project_id"`
	Path      string `json:"path_with_namespace,omitempty"`
	HookID    int64  `json:"hook_id"`
	// State is executable, temporarily_disabled, disabled, failing,
	// missing, url_changed, unreadable or no_state.
	State string `json:"state"`
	// AlertStatus is GitLab's own word (15.7+), empty before.
	AlertStatus   string     `json:"alert_status,omitempty"`
	DisabledUntil *time.Time `json:"disabled_until,omitempty"`
	// Deliveries and Failures count the recent deliveries GitLab lists
	// (17.3+); LastError is the newest failure's status and answer.
	Deliveries int    `json:"recent_deliveries"`
	Failures   int    `json:"recent_failures"`
	LastError  string `json:"last_error,omitempty"`
	// EventsKnown is false when the GitLab has no delivery log API (before
	// 17.3) or refused it.
	EventsKnown bool   `json:"events_known"`
	Remedy      string `json:"remedy,omitempty"`
}

// quietAfter is how long without a delivery counts as quiet for an
// integration that received some before.
const quietAfter = 24 * time.Hour

// hookEventsRead is how many recent deliveries of each hook are read.
const hookEventsRead = 20

// WebhookHealth reads why webhooks of who's integration id might not
// arrive. It reads GitLab (GET only) for the hooks labsync registered when
// the user allowed hook registration; otherwise it says what it can from
// labsync's side.
func (s *Service) WebhookHealth(ctx context.Context, who Actor, id int64) (WebhookHealth, error) {
	return s.webhookHealth(ctx, who, id, true)
}

// WebhookHealthSummary is WebhookHealth without asking GitLab: what
// labsync knows on its own side (issued, last delivery, public URL, the
// opt-in), cheap enough for every view of a page.
func (s *Service) WebhookHealthSummary(ctx context.Context, who Actor, id int64) (WebhookHealth, error) {
	return s.webhookHealth(ctx, who, id, false)
}

func (s *Service) webhookHealth(ctx context.Context, who Actor, id int64, readGitLab bool) (WebhookHealth, error) {
	in, err := s.st.Integration(ctx, who.OrgID, id)
	if err != nil {
		return WebhookHealth{}, err
	}
	h := WebhookHealth{IntegrationID: id, PublicURL: s.PublicURL(), LastDeliveryAt: in.WebhookLastReceivedAt,
		HookRegistration: in.AllowHookRegistration, GitLabVersion: in.GitLabVersion, Findings: []WebhookFinding{}, Hooks: []HookHealth{}}
	e, err := s.st.WebhookEndpointFor(ctx, who.OrgID, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.add("not_issued", "failing", "No webhook URL and secret have been issued for this integration, so GitLab has nowhere to send events.",
			"Issue the webhook (integration page, or POST /api/v1/integrations/{id}/webhook) and add it in GitLab, or allow labsync to register it.")
	case err != nil:
		return WebhookHealth{}, err
	default:
		h.Issued = true
		if s.webhooks != nil {
			h.URL = s.webhooks.URLFor(e.HookID)
		}
	}
	if f, ok := PublicURLFinding(ctx, s.PublicURL()); ok {
		h.Findings = append(h.Findings, f)
	}
	now := s.clock()
	switch {
	case h.Issued && in.WebhookLastReceivedAt == nil:
		h.add("never_received", "warning", "labsync has not received any delivery for this integration yet.",
			"Make a change in a selected project (or use the test delivery) and check the hook's recent events in GitLab (Settings > Webhooks > Edit): a timeout there means a firewall or proxy drops GitLab's requests before they reach labsync.")
	case h.Issued && now.Sub(*in.WebhookLastReceivedAt) > quietAfter:
		h.add("quiet", "warning", fmt.Sprintf("The last delivery arrived %s ago.", now.Sub(*in.WebhookLastReceivedAt).Round(time.Minute)),
			"If the projects were busy since, check the hook in GitLab: it may be disabled after failing, or a firewall may drop GitLab's requests. labsync polls meanwhile, so no data is lost.")
	}
	if !in.AllowHookRegistration {
		h.add("not_registered", "info", "labsync does not read or test hooks at GitLab for this integration: you have not allowed it to manage webhooks.",
			"Check the hook yourself in GitLab (project Settings > Webhooks): a disabled hook shows a banner there, and its recent events show each error. Or allow hook registration to let labsync check and test it.")
		h.finish()
		return h, nil
	}
	if readGitLab {
		if err := s.readHooks(ctx, who, in, &h); err != nil {
			return WebhookHealth{}, err
		}
		h.GitLabChecked = true
	} else if regs, err := s.st.HookRegistrations(ctx, who.OrgID, id); err != nil {
		return WebhookHealth{}, err
	} else {
		ver, verr := gitlab.ParseVersion(in.GitLabVersion)
		h.CanTest = h.Issued && len(regs) > 0 && (verr != nil || ver.AtLeast(16, 11))
	}
	h.finish()
	return h, nil
}

func (h *WebhookHealth) add(code, severity, msg, remedy string) {
	h.Findings = append(h.Findings, WebhookFinding{Code: code, Severity: severity, Message: msg, Remedy: remedy})
}

// finish sets Status and Summary from the findings.
func (h *WebhookHealth) finish() {
	h.Status = "ok"
	for _, f := range h.Findings {
		switch {
		case f.Severity == "failing":
			h.Status = "failing"
		case f.Severity == "warning" && h.Status == "ok":
			h.Status = "warning"
		}
	}
	switch h.Status {
	case "ok":
		h.Summary = "Nothing stops GitLab's webhooks from reaching labsync."
	default:
		h.Summary = h.Findings[0].Message
		for _, f := range h.Findings {
			if f.Severity == h.Status {
				h.Summary = f.Message
				break
			}
		}
	}
}

// readHooks reads every hook labsync registered from GitLab.
func (s *Service) readHooks(ctx context.Context, who Actor, in store.Integration, h *WebhookHealth) error {
	regs, err := s.st.HookRegistrations(ctx, who.OrgID, in.ID)
	if err != nil {
		return err
	}
	if len(regs) == 0 {
		h.add("not_registered", "warning", "You allowed labsync to register its webhook, but no hook is registered yet.",
			"Register the webhook (integration page, or POST /api/v1/integrations/{id}/webhook/register) once projects are selected.")
		return nil
	}
	c, err := s.Client(ctx, who.OrgID, in.ID)
	if err != nil {
		return err
	}
	paths := map[int64]string{}
	if ps, err := s.st.AllProjects(ctx, who.OrgID, in.ID); err == nil {
		for _, p := range ps {
			paths[p.GitLabID] = p.PathWithNamespace
		}
	}
	ver, verr := gitlab.ParseVersion(in.GitLabVersion)
	withState := verr != nil || ver.AtLeast(15, 7)
	withEvents := verr != nil || ver.AtLeast(17, 3)
	h.CanTest = h.Issued && (verr != nil || ver.AtLeast(16, 11))
	var disabled, failing, missing []string
	for _, r := range regs {
		hh := HookHealth{ProjectID: r.ProjectGitLabID, Path: paths[r.ProjectGitLabID], HookID: r.GitLabHookID}
		name := cmp.Or(hh.Path, fmt.Sprintf("project %d", hh.ProjectID))
		st, err := c.ProjectHookState(ctx, r.ProjectGitLabID, r.GitLabHookID)
		if err != nil {
			ae := gitlab.ClassifyError(err)
			if ae != nil && ae.Status == http.StatusNotFound {
				hh.State, hh.Remedy = HookStateMissing, "Register the webhook again: GitLab no longer has this hook (it was removed, or the project was deleted or moved)."
				missing = append(missing, name)
			} else {
				hh.State = HookStateUnreadable
				if ae != nil {
					hh.LastError, hh.Remedy = ae.Error(), ae.Remedy()
				} else {
					hh.LastError = err.Error()
				}
			}
			h.Hooks = append(h.Hooks, hh)
			continue
		}
		hh.AlertStatus, hh.DisabledUntil = st.AlertStatus, st.DisabledUntil
		switch st.AlertStatus {
		case gitlab.HookTemporarilyDisabled:
			hh.State = HookStateTemporarilyDisabled
		case gitlab.HookDisabled:
			hh.State = HookStateDisabled
		case gitlab.HookExecutable:
			hh.State = HookStateOK
		default:
			hh.State = HookStateUnknown
		}
		if withEvents {
			evs, err := c.ProjectHookEvents(ctx, r.ProjectGitLabID, r.GitLabHookID, hookEventsRead)
			if err == nil {
				hh.EventsKnown, hh.Deliveries = true, len(evs)
				for _, ev := range evs {
					if !ev.OK() {
						hh.Failures++
						if hh.LastError == "" {
							hh.LastError = describeHookEvent(ev)
						}
					}
				}
				if len(evs) > 0 && !evs[0].OK() && hh.State == HookStateOK {
					hh.State = HookStateFailing
				}
			}
		}
		if h.URL != "" && st.URL != "" && st.URL != h.URL {
			hh.State, hh.Remedy = HookStateURLChanged, "The hook points at "+st.URL+", not at labsync's webhook URL: register the webhook again."
		}
		if hh.Remedy == "" {
			hh.Remedy = hookRemedy(hh, h.CanTest)
		}
		switch hh.State {
		case HookStateTemporarilyDisabled, HookStateDisabled:
			disabled = append(disabled, name)
		case HookStateFailing, HookStateURLChanged:
			failing = append(failing, name)
		}
		h.Hooks = append(h.Hooks, hh)
	}
	if len(disabled) > 0 {
		h.add("hooks_disabled", "failing", fmt.Sprintf("GitLab has disabled labsync's webhook in %s after failed deliveries: GitLab does not call it until it is re-enabled.", strings.Join(disabled, ", ")),
			"Fix what made the deliveries fail (see each hook's last error), then send a test delivery: a successful one re-enables the hook.")
	}
	if len(failing) > 0 {
		h.add("hooks_failing", "failing", fmt.Sprintf("The newest delivery failed, or the hook points elsewhere, in %s.", strings.Join(failing, ", ")),
			"See each hook's last error and remedy below.")
	}
	if len(missing) > 0 {
		h.add("hooks_missing", "failing", fmt.Sprintf("GitLab no longer has labsync's webhook in %s.", strings.Join(missing, ", ")),
			"Register the webhook again.")
	}
	if !withState {
		h.add("no_hook_state", "info", fmt.Sprintf("GitLab %s does not report whether a hook is disabled (15.7 added it).", in.GitLabVersion),
			"Check the hooks' recent events in GitLab (project Settings > Webhooks > Edit).")
	} else if !withEvents {
		h.add("no_event_log", "info", fmt.Sprintf("GitLab %s does not list a hook's deliveries through the API (17.3 added it), so the last error is not shown here.", in.GitLabVersion),
			"See the hook's recent events in GitLab (project Settings > Webhooks > Edit).")
	}
	return nil
}

// describeHookEvent says what went wrong with one delivery.
func describeHookEvent(ev gitlab.HookEvent) string {
	body := strings.TrimSpace(ev.ResponseBody)
	status := ev.ResponseStatus
	if n := len(status); n == 3 && status[0] >= '1' && status[0] <= '5' {
		if body == "" {
			return fmt.Sprintf("labsync (or a proxy in front of it) answered %s to a %s delivery", status, ev.Trigger)
		}
		return fmt.Sprintf("labsync (or a proxy in front of it) answered %s to a %s delivery: %s", status, ev.Trigger, body)
	}
	if body == "" {
		body = status
	}
	return fmt.Sprintf("GitLab could not deliver a %s event: %s", ev.Trigger, body)
}

// hookRemedy says what to do about one hook's state.
func hookRemedy(hh HookHealth, canTest bool) string {
	test := ""
	if canTest {
		test = " Then send a test delivery: a successful one re-enables the hook at once."
	}
	errText := strings.ToLower(hh.LastError)
	cause := ""
	switch {
	case strings.Contains(errText, "blocked") || strings.Contains(errText, "local network"):
		cause = "GitLab refused to call labsync's address: an administrator must allow it (" + LocalNetworkSetting + ", or add labsync's host to the allowlist), or labsync must have a public address."
	case strings.Contains(errText, "execution expired") || strings.Contains(errText, "timeout") || strings.Contains(errText, "timed out"):
		cause = "GitLab's requests time out: a firewall or proxy between GitLab and labsync drops them, or LABSYNC_PUBLIC_URL is not reachable from GitLab."
	case strings.Contains(errText, "ssl") || strings.Contains(errText, "certificate"):
		cause = "GitLab does not trust labsync's TLS certificate: give labsync a certificate GitLab's machines trust."
	case strings.Contains(errText, "answered 401") || strings.Contains(errText, "answered 403"):
		cause = "labsync refused the delivery's token: the webhook secret in GitLab is not the current one; register the webhook again."
	case strings.Contains(errText, "answered 404"):
		cause = "The webhook URL is unknown to labsync (re-issued or disconnected): register the webhook again."
	case strings.Contains(errText, "answered 5"):
		cause = "labsync or a proxy in front of it failed: see labsync's log at that time."
	}
	switch hh.State {
	case HookStateTemporarilyDisabled:
		until := ""
		if hh.DisabledUntil != nil {
			until = " until " + hh.DisabledUntil.UTC().Format(time.RFC3339)
		}
		return strings.TrimSpace("GitLab paused this hook" + until + " after failed deliveries. " + cause + test)
	case HookStateDisabled:
		return strings.TrimSpace("GitLab disabled this hook after repeated failures; it stays off until re-enabled. " + cause + test)
	case HookStateFailing:
		return strings.TrimSpace(cause + test)
	}
	return ""
}

// PublicURLFinding reports when LABSYNC_PUBLIC_URL is an address GitLab's
// webhooks cannot reach by default: a loopback, private or link-local
// address (literal, or what its host name resolves to). GitLab refuses to
// call such addresses unless an administrator allows requests to the
// local network (10.6+), and a loopback address is GitLab's own machine.
func PublicURLFinding(ctx context.Context, publicURL string) (WebhookFinding, bool) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Hostname() == "" {
		return WebhookFinding{}, false
	}
	host := u.Hostname()
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		ips = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		var ok bool
		if ips, ok = publicHosts.lookup(ctx, host); !ok {
			return WebhookFinding{}, false
		}
	}
	loopback, local := false, false
	for _, ip := range ips {
		switch {
		case ip.IsLoopback() || ip.IsUnspecified():
			loopback = true
		case ip.IsPrivate() || ip.IsLinkLocalUnicast() || sharedAddressSpace.Contains(ip):
			local = true
		}
	}
	switch {
	case loopback:
		return WebhookFinding{Code: "loopback_public_url", Severity: "warning",
			Message: fmt.Sprintf("labsync's public URL (%s) is a loopback address: GitLab can reach it only when it runs on this same machine, and by default GitLab refuses to call local addresses at all.", publicURL),
			Remedy:  "Set LABSYNC_PUBLIC_URL to an address GitLab can reach. If GitLab does run on this machine, an administrator must turn on \"" + LocalNetworkSetting + "\" (Admin > Settings > Network > Outbound requests)."}, true
	case local:
		return WebhookFinding{Code: "local_network", Severity: "warning",
			Message: fmt.Sprintf("labsync's public URL (%s) is a private network address: by default GitLab (10.6 and later) refuses to send webhooks to it.", publicURL),
			Remedy:  "An administrator of the GitLab must turn on \"" + LocalNetworkSetting + "\" (Admin > Settings > Network > Outbound requests) or add labsync's host to its allowlist; on GitLab.com, give labsync a public address."}, true
	}
	return WebhookFinding{}, false
}

// publicHosts remembers what the public URL's host resolved to for ten
// minutes, so that a page view or a health check costs no DNS lookup; a
// failed lookup is not remembered.
var publicHosts = &hostCache{ttl: 10 * time.Minute, entries: map[string]hostEntry{}}

type hostEntry struct {
	ips []net.IP
	at  time.Time
}

type hostCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]hostEntry
}

// lookup returns host's addresses, asking DNS (for at most 2 s) when the
// remembered answer is missing or older than the cache's ttl.
func (c *hostCache) lookup(ctx context.Context, host string) ([]net.IP, bool) {
	c.mu.Lock()
	e, ok := c.entries[host]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.ips, true
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	addrs, err := net.DefaultResolver.LookupIPAddr(rctx, host)
	cancel()
	if err != nil {
		return nil, false
	}
	ips := make([]net.IP, 0, len(addrs))
	for _, a := range addrs {
		ips = append(ips, a.IP)
	}
	c.mu.Lock()
	if len(c.entries) > 64 { // one public URL per process; never grows
		clear(c.entries)
	}
	c.entries[host] = hostEntry{ips: ips, at: time.Now()}
	c.mu.Unlock()
	return ips, true
}

// sharedAddressSpace is 100.64.0.0/10 (RFC 6598), which GitLab's URL
// blocker also counts as local.
var sharedAddressSpace = func() *net.IPNet { _, n, _ := net.ParseCIDR("100.64.0.0/10"); return n }()

// WebhookTestResult is what GitLab's test delivery of one hook gave.
type WebhookTestResult struct {
	ProjectID int64  `json:"project_id"`
	Path      string `json:"path_with_namespace,omitempty"`
	HookID    int64  `json:"hook_id"`
	Trigger   string `json:"trigger"`
	// Delivered is true when labsync answered GitLab's delivery with 2xx
	// (GitLab then re-enables a disabled hook).
	Delivered bool `json:"delivered"`
	// Message is GitLab's answer when the delivery failed.
	Message string `json:"message,omitempty"`
	Remedy  string `json:"remedy,omitempty"`
}

// Test delivery triggers labsync offers (those a project usually can give
// sample data for).
var testTriggers = map[string]bool{"push_events": true, "merge_requests_events": true, "issues_events": true, "pipeline_events": true, "tag_push_events": true}

// TestWebhookDelivery asks GitLab to send one test delivery (trigger,
// push_events when empty) through the hook labsync registered in the
// project projectID (0: the first registered) of who's integration id.
// Only where the user allowed hook registration; otherwise a Conflict of
// code hook_registration_off and nothing is sent. The attempt and its
// outcome are audited as webhook.test_delivery.
func (s *Service) TestWebhookDelivery(ctx context.Context, who Actor, id, projectID int64, trigger string) (WebhookTestResult, error) {
	in, err := s.st.Integration(ctx, who.OrgID, id)
	if err != nil {
		return WebhookTestResult{}, err
	}
	if !in.AllowHookRegistration {
		return WebhookTestResult{}, &problem.Error{Kind: problem.Conflict, Code: CodeHookRegistrationOff,
			Message: "labsync asks GitLab for a test delivery only where you allowed it to manage webhooks",
			Remedy:  "Use the Test button of the hook in GitLab (project Settings > Webhooks), or allow hook registration for this integration."}
	}
	if trigger == "" {
		trigger = "push_events"
	}
	if !testTriggers[trigger] {
		return WebhookTestResult{}, &problem.Error{Kind: problem.Invalid, Code: "invalid", Field: "trigger",
			Message: fmt.Sprintf("unknown trigger %q", trigger), Remedy: "Use push_events, tag_push_events, merge_requests_events, issues_events or pipeline_events."}
	}
	regs, err := s.st.HookRegistrations(ctx, who.OrgID, id)
	if err != nil {
		return WebhookTestResult{}, err
	}
	var reg *store.HookRegistration
	for i := range regs {
		if projectID == 0 || regs[i].ProjectGitLabID == projectID {
			reg = &regs[i]
			break
		}
	}
	if reg == nil {
		return WebhookTestResult{}, &problem.Error{Kind: problem.NotFound, Code: "not_found", Field: "project_id",
			Message: "labsync has not registered a webhook in that project", Remedy: "Register the webhook first, then test it."}
	}
	c, err := s.Client(ctx, who.OrgID, id)
	if err != nil {
		return WebhookTestResult{}, err
	}
	res := WebhookTestResult{ProjectID: reg.ProjectGitLabID, HookID: reg.GitLabHookID, Trigger: trigger}
	if p, err := s.st.ProjectByGitLabID(ctx, who.OrgID, id, reg.ProjectGitLabID); err == nil {
		res.Path = p.PathWithNamespace
	}
	terr := c.TestProjectHook(ctx, reg.ProjectGitLabID, reg.GitLabHookID, trigger)
	if terr == nil {
		res.Delivered = true
	} else {
		ae := gitlab.ClassifyError(terr)
		if ae == nil {
			return WebhookTestResult{}, terr
		}
		switch {
		case ae.Status == http.StatusUnprocessableEntity:
			res.Message = cmp.Or(ae.GitLabMessage, ae.Error())
			res.Remedy = hookRemedy(HookHealth{State: HookStateFailing, LastError: res.Message}, false)
			if strings.HasPrefix(res.Message, "Ensure the project has") {
				res.Remedy = "The project has nothing to build this test from; try another trigger (push_events needs one commit)."
			}
		case ae.Status == http.StatusNotFound:
			res.Message = "GitLab has no test delivery API here (it came with 16.11), or the hook is gone"
			res.Remedy = "Use the Test button of the hook in GitLab (project Settings > Webhooks), or register the webhook again if it is gone."
		case ae.Status == http.StatusTooManyRequests:
			res.Message = "GitLab limits test deliveries (a few per minute)"
			res.Remedy = "Wait a minute and try again."
		default:
			res.Message, res.Remedy = ae.Error(), ae.Remedy()
		}
	}
	detail := map[string]any{"project_id": res.ProjectID, "hook_id": res.HookID, "trigger": trigger, "delivered": res.Delivered}
	if who.Via != "" {
		detail["via"] = who.Via
	}
	b, _ := json.Marshal(detail)
	uid := who.UserID
	if err := s.st.Audit(ctx, store.AuditEntry{OrgID: who.OrgID, ActorUserID: &uid, Actor: "user", Action: "webhook.test_delivery",
		Target: fmt.Sprintf("integration:%d", id), Detail: b}); err != nil {
		return res, fmt.Errorf("integrations: unable to record the test delivery of integration %d: %w", id, err)
	}
	return res, nil
}
