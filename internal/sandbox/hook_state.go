package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Webhook auto-disabling, as GitLab's WebHooks::AutoDisabling does it:
//
//   - 13.12 brought it behind web_hooks_disable_failed (off by default);
//     15.7 made it generally available for project hooks; from 15.10 it
//     sits behind the ops flag auto_disabling_web_hooks, on at GitLab.com and
//     off on self-managed (Config.AutoDisableHooks turns the flag on there).
//   - Before 17.11: a hook that failed four consecutive times is disabled.
//     A 4xx answer counts through fail! and, past the threshold, disables
//     the hook until someone re-enables it (alert_status "disabled",
//     disabled_until null); a 5xx answer or a failed connection counts
//     through backoff! and disables it temporarily for 1 minute, doubling
//     with every further failure up to a day ("temporarily_disabled",
//     disabled_until set).
//   - From 17.11 (merge request 166329): every kind of failure backs off;
//     after the 4th consecutive failure the hook is temporarily disabled
//     for 1 minute × 2^(failures−3), at most a day, and the 40th
//     consecutive failure disables it for good.
//   - A 2xx answer re-enables it (enable!), and so does a successful test
//     delivery (POST /projects/:id/hooks/:hook_id/test/:trigger, 16.11+).
//
// A disabled hook is not called at all: its events are skipped as GitLab's
// executable scope skips them.
const (
	hookFailureThreshold   = 3  // TEMPORARILY_DISABLED_FAILURE_THRESHOLD / FAILURE_THRESHOLD
	hookPermanentThreshold = 39 // PERMANENTLY_DISABLED_FAILURE_THRESHOLD (17.11+)
	hookMaxFailures        = 100
	hookInitialBackoff     = time.Minute
	hookMaxBackoff         = 24 * time.Hour
	hookEventsKept         = 100 // GitLab keeps web hook logs for 7 days; the sandbox the last 100 per hook
)

// hookState is a hook's failure bookkeeping (recent_failures,
// disabled_until, backoff_count).
type hookState struct {
	recentFailures int
	disabledUntil  time.Time // zero: none
	backoffCount   int       // before 17.11
	events         []hookEvent
	nextEventID    int64
	testCalls      []time.Time // test endpoint calls, for its rate limit
}

// hookEvent is one WebHookLog: what GET /projects/:id/hooks/:hook_id/events
// (17.3+) lists.
type hookEvent struct {
	id              int64
	url             string
	trigger         string // push_hooks, merge_request_hooks, …
	requestHeaders  http.Header
	requestData     []byte
	responseHeaders http.Header
	responseBody    string
	status          string // "200", or "internal error" when no answer came
	duration        time.Duration
	created         time.Time
}

// autoDisabling reports whether the version and profile disable failing hooks.
func (s *Sandbox) autoDisabling() bool {
	switch {
	case !s.ver.atLeast(15, 7):
		return false
	case !s.ver.atLeast(15, 10):
		return true
	default:
		return s.dotcom || s.cfg.AutoDisableHooks
	}
}

// hookTemporarilyDisabled and hookPermanentlyDisabled follow the version's
// rules; s.mu must be held.
func (s *Sandbox) hookTemporarilyDisabled(h *hook, now time.Time) bool {
	if !s.autoDisabling() || h.state.disabledUntil.IsZero() || h.state.disabledUntil.Before(now) {
		return false
	}
	if s.ver.atLeast(17, 11) {
		return h.state.recentFailures > hookFailureThreshold && h.state.recentFailures <= hookPermanentThreshold
	}
	return h.state.recentFailures > hookFailureThreshold
}

func (s *Sandbox) hookPermanentlyDisabled(h *hook) bool {
	if !s.autoDisabling() {
		return false
	}
	if s.ver.atLeast(17, 11) {
		return h.state.recentFailures > hookPermanentThreshold
	}
	return h.state.recentFailures > hookFailureThreshold && h.state.disabledUntil.IsZero()
}

// hookExecutable reports whether GitLab would call the hook now.
func (s *Sandbox) hookExecutable(h *hook, now time.Time) bool {
	return !s.hookTemporarilyDisabled(h, now) && !s.hookPermanentlyDisabled(h)
}

// alertStatus is WebHook#alert_status.
func (s *Sandbox) alertStatus(h *hook, now time.Time) string {
	switch {
	case s.hookTemporarilyDisabled(h, now):
		return "temporarily_disabled"
	case s.hookPermanentlyDisabled(h):
		return "disabled"
	}
	return "executable"
}

// recordHookResult updates the hook's failure count after a delivery
// (status 0: no answer, err set); s.mu must be held.
func (s *Sandbox) recordHookResult(h *hook, status int, now time.Time) {
	st := &h.state
	if status >= 200 && status < 300 {
		st.recentFailures, st.disabledUntil, st.backoffCount = 0, time.Time{}, 0
		return
	}
	if !s.autoDisabling() {
		return
	}
	if s.ver.atLeast(17, 11) {
		// backoff!: only while executable.
		if !s.hookExecutable(h, now) {
			return
		}
		st.recentFailures = min(st.recentFailures+1, hookPermanentThreshold+1)
		if st.recentFailures > hookFailureThreshold {
			d := hookInitialBackoff << min(st.recentFailures-hookFailureThreshold, 20)
			st.disabledUntil = now.Add(min(max(d, hookInitialBackoff), hookMaxBackoff))
		}
		return
	}
	if status >= 400 && status < 500 {
		// fail!: past the threshold the hook stays disabled.
		st.recentFailures = min(st.recentFailures+1, hookMaxFailures)
		st.disabledUntil = time.Time{}
		return
	}
	// backoff!
	st.recentFailures = min(st.recentFailures+1, hookMaxFailures)
	if st.recentFailures > hookFailureThreshold {
		d := hookInitialBackoff << min(st.backoffCount, 20)
		st.disabledUntil = now.Add(min(d, hookMaxBackoff))
		st.backoffCount++
	}
}

// hookTriggerNames maps a delivery's X-Gitlab-Event to WebHookLog's trigger
// name, as the events listing shows it.
var hookTriggerNames = map[string]string{
	"Push Hook": "push_hooks", "Tag Push Hook": "tag_push_hooks", "Issue Hook": "issue_hooks",
	"Confidential Issue Hook": "confidential_issue_hooks", "Merge Request Hook": "merge_request_hooks",
	"Pipeline Hook": "pipeline_hooks", "Note Hook": "note_hooks", "Job Hook": "job_hooks",
	"Wiki Page Hook": "wiki_page_hooks", "Release Hook": "release_hooks",
}

// sendHook performs one delivery (or its injected failure) without holding
// s.mu and returns what happened.
func (s *Sandbox) sendHook(ctx context.Context, d delivery, rec *Delivery) (respHeader http.Header, respBody string) {
	if s.blockLocalHooks.Load() && s.ver.atLeast(10, 6) {
		if why := localURLProblem(d.h.url); why != "" {
			// Gitlab::HTTP refuses the call: no request leaves GitLab.
			rec.Error = "URL is blocked: " + why
			return nil, rec.Error
		}
	}
	f := s.faults.Load()
	if f.FailWebhooksStatus != 0 && (len(f.FailWebhooksOf) == 0 || containsInt64(f.FailWebhooksOf, d.h.p.id)) {
		if f.FailWebhooksStatus < 0 {
			// What a firewall that drops GitLab's POSTs looks like from
			// GitLab: the request times out.
			rec.Error = "execution expired"
			return nil, rec.Error
		}
		rec.Status = f.FailWebhooksStatus
		return http.Header{"Content-Type": {"text/plain"}}, http.StatusText(f.FailWebhooksStatus)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.h.url, bytes.NewReader(d.body))
	if err == nil {
		req.Header = rec.Header.Clone()
		var resp *http.Response
		if resp, err = s.hookHTTP.Load().Do(req); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			rec.Status = resp.StatusCode
			return resp.Header.Clone(), string(b)
		}
	}
	rec.Error = err.Error()
	return nil, rec.Error
}

func containsInt64(xs []int64, x int64) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// logHookEvent records the delivery in the hook's events and updates its
// failure state; s.mu must be held.
func (s *Sandbox) logHookEvent(d delivery, rec Delivery, respHeader http.Header, respBody string, took time.Duration) {
	h := d.h
	now := s.clock()
	s.recordHookResult(h, rec.Status, now)
	st := &h.state
	st.nextEventID++
	status := "internal error"
	if rec.Status != 0 {
		status = strconv.Itoa(rec.Status)
	}
	reqH := rec.Header.Clone()
	if reqH.Get("X-Gitlab-Token") != "" {
		reqH.Set("X-Gitlab-Token", "[REDACTED]")
	}
	st.events = append(st.events, hookEvent{id: st.nextEventID, url: rec.URL, trigger: hookTriggerNames[d.event], requestHeaders: reqH,
		requestData: d.body, responseHeaders: respHeader, responseBody: respBody, status: status, duration: took, created: now})
	if len(st.events) > hookEventsKept {
		st.events = st.events[len(st.events)-hookEventsKept:]
	}
}

func flatHeader(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}

// listHookEvents is GET /projects/:id/hooks/:hook_id/events (17.3+): the
// hook's recent deliveries, newest first, with status filtering by code or
// by successful, client_failure and server_failure.
func (s *Sandbox) listHookEvents(c *call) (any, error) {
	p, err := c.maintainerProject()
	if err != nil {
		return nil, err
	}
	h, err := c.hook(p)
	if err != nil {
		return nil, err
	}
	filter := c.q("status")
	keep := func(e hookEvent) bool {
		code, _ := strconv.Atoi(e.status)
		switch filter {
		case "":
			return true
		case "successful":
			return code >= 200 && code < 300
		case "client_failure":
			return code >= 400 && code < 500
		case "server_failure":
			return code >= 500 && code < 600
		}
		return filter == e.status
	}
	if n, err := strconv.Atoi(filter); filter != "" && filter != "successful" && filter != "client_failure" && filter != "server_failure" && (err != nil || n < 100 || n > 599) {
		return nil, grapeErr(http.StatusBadRequest, "status does not have a valid value")
	}
	var evs []hookEvent
	for i := len(h.state.events) - 1; i >= 0; i-- {
		if keep(h.state.events[i]) {
			evs = append(evs, h.state.events[i])
		}
	}
	return paginate(c, evs, func(e hookEvent) any {
		var data any
		_ = json.Unmarshal(e.requestData, &data)
		return map[string]any{"id": e.id, "url": e.url, "trigger": e.trigger, "request_headers": flatHeader(e.requestHeaders),
			"request_data": data, "response_headers": flatHeader(e.responseHeaders), "response_body": e.responseBody,
			"execution_duration": e.duration.Seconds(), "response_status": e.status}
	}), nil
}

// afterUnlock is a handler result that serveAPI runs after releasing s.mu,
// for handlers that make outgoing requests (a test delivery).
type afterUnlock func() (any, error)

// testHookTriggers are the triggers the test endpoint accepts, with what the
// project must hold (TestHooks::ProjectService's messages) for those the
// sandbox can build a payload for; the others always answer 422.
var testHookTriggers = []string{"push_events", "tag_push_events", "issues_events", "confidential_issues_events",
	"note_events", "merge_requests_events", "job_events", "pipeline_events", "wiki_page_events", "releases_events",
	"emoji_events", "resource_access_token_events"}

// testHook is POST /projects/:id/hooks/:hook_id/test/:trigger (16.11+): one
// delivery of sample data from the project, made at once, whether or not
// the hook is disabled; 201 {"message":"201 Created"} when the receiver
// answered 2xx, else 422 with what went wrong. Rate limits: 3 per minute
// per hook in 17.0, 5 per minute per project and user from 17.1 (429).
func (s *Sandbox) testHook(c *call) (any, error) {
	p, err := c.maintainerProject()
	if err != nil {
		return nil, err
	}
	h, err := c.hook(p)
	if err != nil {
		return nil, err
	}
	trigger := c.r.PathValue("trigger")
	if !containsString(testHookTriggers, trigger) {
		return nil, grapeErr(http.StatusBadRequest, "trigger does not have a valid value")
	}
	now := s.clock()
	if s.ver.atLeast(17, 0) {
		limit, window := 3, time.Minute
		calls := &h.state.testCalls
		if s.ver.atLeast(17, 1) {
			limit = 5
			calls = p.testCallsOf(c.user.id)
		}
		kept := (*calls)[:0]
		for _, t := range *calls {
			if now.Sub(t) < window {
				kept = append(kept, t)
			}
		}
		*calls = kept
		if len(kept) >= limit {
			return nil, msgErr(http.StatusTooManyRequests, "This endpoint has been requested too many times. Try again later.")
		}
		*calls = append(*calls, now)
	}
	var event string
	var payload any
	switch trigger {
	case "push_events":
		// The newest commits of the default branch, as
		// Gitlab::DataBuilder::Push.build_sample does.
		if len(p.commits) == 0 {
			return nil, msgErr(http.StatusUnprocessableEntity, "Ensure the project has at least one commit.")
		}
		cs := p.commits[max(len(p.commits)-3, 0):]
		before := zeroSHA(p.sha256)
		if cs[0].parent != "" {
			before = cs[0].parent
		}
		event, payload = "Push Hook", s.pushHook(p, p.defBranch, before, cs)
	case "issues_events", "confidential_issues_events":
		if len(p.issues) == 0 {
			return nil, msgErr(http.StatusUnprocessableEntity, "Ensure the project has issues.")
		}
		event, payload = "Issue Hook", s.issueHook(p.issues[len(p.issues)-1], "open", map[string]any{})
	case "merge_requests_events":
		if len(p.mrs) == 0 {
			return nil, msgErr(http.StatusUnprocessableEntity, "Ensure the project has merge requests.")
		}
		event, payload = "Merge Request Hook", s.mrHook(p.mrs[len(p.mrs)-1], "open", map[string]any{})
	case "pipeline_events":
		if len(p.pipelines) == 0 {
			return nil, msgErr(http.StatusUnprocessableEntity, "Ensure the project has CI pipelines.")
		}
		pl := p.pipelines[len(p.pipelines)-1]
		var head *commit
		for _, x := range p.commits {
			if x.sha == pl.sha {
				head = x
			}
		}
		event, payload = "Pipeline Hook", s.pipelineHook(pl, head)
	default:
		if ev, pl, ok := s.deliveryTestPayload(p, trigger); ok { // delivery_hooks.go
			event, payload = ev, pl
			break
		}
		msg := map[string]string{"tag_push_events": "Ensure the project has tags.", "note_events": "Ensure the project has notes.",
			"job_events": "Ensure the project has CI jobs.", "wiki_page_events": "Ensure the wiki is enabled and has pages.",
			"releases_events": "Ensure the project has releases.", "emoji_events": "Ensure the project has notes.",
			"resource_access_token_events": "Ensure the project has access tokens."}[trigger]
		return nil, msgErr(http.StatusUnprocessableEntity, msg)
	}
	body, _ := json.Marshal(payload)
	d := delivery{h: h, event: event, body: body, eventUUID: newUUID(), idemKey: newUUID()}
	return afterUnlock(func() (any, error) {
		rec := s.deliverNow(c.r.Context(), d)
		if rec.Status >= 200 && rec.Status < 300 {
			return withStatus{http.StatusCreated, map[string]string{"message": "201 Created"}}, nil
		}
		msg := rec.Error
		if msg == "" {
			msg = fmt.Sprintf("%d %s", rec.Status, http.StatusText(rec.Status))
		}
		return nil, msgErr(http.StatusUnprocessableEntity, msg)
	}), nil
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// testCallsOf is the project's test endpoint calls by one user (17.1+).
func (p *project) testCallsOf(uid int64) *[]time.Time {
	if p.hookTests == nil {
		p.hookTests = map[int64]*[]time.Time{}
	}
	if p.hookTests[uid] == nil {
		p.hookTests[uid] = new([]time.Time)
	}
	return p.hookTests[uid]
}
