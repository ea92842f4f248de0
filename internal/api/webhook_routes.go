package api

import (
	"errors"
	"net/http"

	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
)

// registerWebhooks mounts the webhook receiver and the webhook settings routes.
func (a *API) registerWebhooks(mux Mux) {
	if a.Webhooks == nil {
		return
	}
	// The receiver authenticates by the hook's own secret, not an API token.
	mux.Handle("POST /api/v1/webhooks/gitlab/{hook_id}", a.Webhooks)
	a.route(mux, "GET /api/v1/integrations/{id}/webhook", anyMember, a.webhookShow)
	a.route(mux, "POST /api/v1/integrations/{id}/webhook", adminOnly, a.webhookIssue)
	a.route(mux, "PUT /api/v1/integrations/{id}/webhook/signing", adminOnly, a.webhookSigning)
	a.route(mux, "POST /api/v1/integrations/{id}/webhook/register", adminOnly, a.webhookRegister)
}

// webhookRegister registers labsync's webhook in every selected project at
// GitLab, for users who opted in (allow_hook_registration) with a token
// that has the api scope; everyone else adds the webhook in GitLab.
func (a *API) webhookRegister(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	if a.Integrations == nil {
		return errors.New("api: integrations service not configured")
	}
	res, err := a.Integrations.RegisterWebhooks(r.Context(), caller(r).Actor(), in.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": res})
	return nil
}

// webhookEvents are the triggers to tick in GitLab's webhook form.
var webhookEvents = []map[string]string{
	{"event": "push_events", "label": "Push events", "why": "pushes and commits"},
	{"event": "tag_push_events", "label": "Tag push events", "why": "tags"},
	{"event": "merge_requests_events", "label": "Merge request events", "why": "merge requests"},
	{"event": "issues_events", "label": "Issues events", "why": "issues"},
	{"event": "confidential_issues_events", "label": "Confidential issues events", "why": "confidential issues"},
	{"event": "pipeline_events", "label": "Pipeline events", "why": "pipelines"},
	{"event": "note_events", "label": "Comments", "why": "merge request and issue comments (reviews)"},
	{"event": "confidential_note_events", "label": "Confidential comments", "why": "internal comments (reviews)"},
	{"event": "job_events", "label": "Job events", "why": "pipeline jobs"},
	{"event": "deployment_events", "label": "Deployment events", "why": "deployments (GitLab 13.5+)"},
	{"event": "releases_events", "label": "Releases events", "why": "releases"},
}

type webhookView struct {
	IntegrationID int64  `json:"integration_id"`
	Issued        bool   `json:"issued"`
	URL           string `json:"url,omitempty"`
	IssuedAt      any    `json:"issued_at,omitempty"`
	Signing       bool   `json:"signing_token_set"`
	Health        any    `json:"health"`
	// Poller says how often the integration is polled and why: every
	// minute while webhooks are quiet, every 15 minutes while they deliver.
	Poller       any                 `json:"poller,omitempty"`
	Inbox        map[string]int64    `json:"inbox"`
	Events       []map[string]string `json:"events_to_enable"`
	Instructions string              `json:"instructions"`
	// Secret and SigningToken appear only in the answer that issued them.
	Secret       *string `json:"secret,omitempty"`
	SigningToken *string `json:"signing_token,omitempty"`
}

func (a *API) webhookView(r *http.Request, in store.Integration) (webhookView, error) {
	p := caller(r)
	v := webhookView{IntegrationID: in.ID, Events: webhookEvents, Health: a.Webhooks.HealthOf(in.WebhookLastReceivedAt)}
	e, err := a.store.WebhookEndpointFor(r.Context(), p.OrgID, in.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		v.Instructions = "No webhook yet: POST to this URL (owner or admin) to issue its URL and secret."
	case err != nil:
		return v, err
	default:
		v.Issued, v.URL, v.IssuedAt, v.Signing = true, a.Webhooks.URLFor(e.HookID), e.IssuedAt, len(e.SigningSealed) > 0
		v.Instructions = "In GitLab, open each project's (or group's) Settings > Webhooks, paste the URL and the secret token " +
			"shown when it was issued, tick the events listed, keep SSL verification on, and save. Lost the secret? Issue a new one: the old one stops working at once."
	}
	if v.Inbox, err = a.store.InboxCounts(r.Context(), p.OrgID, in.ID); err != nil {
		return v, err
	}
	if a.Sync != nil {
		plan, err := a.Sync.PollPlanFor(r.Context(), in)
		if err != nil {
			return v, err
		}
		v.Poller = plan
	}
	return v, nil
}

func (a *API) webhookShow(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	v, err := a.webhookView(r, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) webhookIssue(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	var req struct {
		Signing bool `json:"signing"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	if a.Integrations == nil {
		return errors.New("api: integrations service not configured")
	}
	is, err := a.Integrations.IssueWebhook(r.Context(), caller(r).Actor(), in.ID, req.Signing)
	if err != nil {
		return err
	}
	in.WebhookHookID = &is.HookID
	v, err := a.webhookView(r, in)
	if err != nil {
		return err
	}
	s := is.Secret.Reveal()
	v.Secret = &s
	if !is.SigningToken.IsZero() {
		st := is.SigningToken.Reveal()
		v.SigningToken = &st
	}
	v.Instructions = "Copy the secret now: it is shown only this once. " + v.Instructions
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (a *API) webhookSigning(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	var req struct {
		SigningToken secret.Secret `json:"signing_token"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if a.Integrations == nil {
		return errors.New("api: integrations service not configured")
	}
	if err := a.Integrations.SetWebhookSigning(r.Context(), caller(r).Actor(), in.ID, req.SigningToken); err != nil {
		return err
	}
	v, err := a.webhookView(r, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
