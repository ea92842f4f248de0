package gitlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
)

// What GitLab tells about a project hook's health, per version (checked in
// GitLab's API::Entities::Hook, WebHooks::AutoDisabling and the project
// webhooks API docs):
//
//   - alert_status (executable, temporarily_disabled, disabled) and
//     disabled_until appear on the hook from 15.7, when auto-disabling of
//     failing project hooks became generally available. Before, the hook
//     shows no state at all and a failing hook keeps being called.
//   - The hook itself never carries its last error. From 17.3,
//     GET /projects/:id/hooks/:hook_id/events lists its recent deliveries
//     (trigger, response_status — a code, or "internal error" when no answer
//     came — response_body, execution_duration in seconds). Before 17.3
//     the delivery log is only on the hook's page in GitLab.
//   - POST /projects/:id/hooks/:hook_id/test/:trigger (16.11) makes one
//     delivery of sample data at once, also to a disabled hook, and a
//     successful one re-enables it. 201 when the receiver answered 2xx,
//     otherwise 422 with what went wrong; rate limited from 17.0 (429).

// Hook alert statuses as GitLab names them.
const (
	HookExecutable          = "executable"
	HookTemporarilyDisabled = "temporarily_disabled"
	HookDisabled            = "disabled"
)

// HookState is a project hook's state as GitLab reports it.
type HookState struct {
	ID  int64
	URL string
	// AlertStatus is HookExecutable, HookTemporarilyDisabled or
	// HookDisabled; "" when the GitLab does not report it (before 15.7).
	AlertStatus string
	// DisabledUntil is when a temporarily disabled hook is called again.
	DisabledUntil *time.Time
}

// ProjectHookState reads GET /projects/:id/hooks/:hook_id.
func (c *Client) ProjectHookState(ctx context.Context, projectID, hookID int64) (HookState, error) {
	h, _, err := c.api.Projects.GetProjectHook(projectID, hookID, gl.WithContext(ctx))
	if err != nil {
		return HookState{}, err
	}
	return HookState{ID: h.ID, URL: h.URL, AlertStatus: h.AlertStatus, DisabledUntil: h.DisabledUntil}, nil
}

// HookEvent is one delivery in a hook's log (never its request headers or
// payload, which labsync does not need).
type HookEvent struct {
	ID      int64  `json:"id"`
	Trigger string `json:"trigger"`
	// ResponseStatus is the receiver's HTTP status ("200"), or GitLab's
	// words when no answer came ("internal error").
	ResponseStatus string `json:"response_status"`
	// ResponseBody is the start of what the receiver answered, or the
	// error GitLab met when no answer came.
	ResponseBody string `json:"response_body"`
	// Seconds is how long the delivery took.
	Seconds float64 `json:"execution_duration"`
}

// OK reports whether the receiver answered 2xx.
func (e HookEvent) OK() bool {
	return len(e.ResponseStatus) == 3 && e.ResponseStatus[0] == '2'
}

// ProjectHookEvents reads the newest n deliveries of a hook, newest first
// (GET /projects/:id/hooks/:hook_id/events, 17.3+; older GitLabs answer
// 404).
func (c *Client) ProjectHookEvents(ctx context.Context, projectID, hookID int64, n int) ([]HookEvent, error) {
	q := url.Values{"per_page": {fmt.Sprint(min(max(n, 1), 100))}}
	var buf bytes.Buffer
	if _, err := c.Get(ctx, c.APIURL(fmt.Sprintf("projects/%d/hooks/%d/events", projectID, hookID), q), &buf); err != nil {
		return nil, err
	}
	var out []HookEvent
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("gitlab: unable to read the hook's events: %w", err)
	}
	for i := range out {
		out[i].ResponseBody = shorten(out[i].ResponseBody, 300)
	}
	return out, nil
}

// TestProjectHook asks GitLab to deliver sample data of trigger
// (push_events, …) to a project hook at once (POST
// /projects/:id/hooks/:hook_id/test/:trigger, 16.11+). The read-only guard
// refuses it unless the connection allows labsync to manage its webhooks.
// A nil error means the receiver answered 2xx; GitLab's 422 carries what
// went wrong (ClassifyError's GitLabMessage).
func (c *Client) TestProjectHook(ctx context.Context, projectID, hookID int64, trigger string) error {
	_, err := c.api.Projects.TriggerTestProjectHook(projectID, hookID, gl.ProjectHookEvent(trigger), gl.WithContext(ctx))
	return err
}
