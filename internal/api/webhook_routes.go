package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/webhook"
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
	in, err := a.integrationFor(r)
	if err != nil {
		return err
	}
	if !in.AllowHookRegistration {
		return &problem.Error{Kind: problem.Conflict, Code: "hook_registration_off",
			Message: "labsync does not write to GitLab unless you allow it to register webhooks",
			Remedy:  "PATCH the integration with {\"allow_hook_registration\": true} (needs a token with the api scope), or add the webhook in GitLab yourself with the URL and secret shown here"}
	}
	if a.Integrations == nil {
		return errors.New("api: integrations service not configured")
	}
	p := caller(r)
	c, err := a.Integrations.Client(r.Context(), p.OrgID, in.ID)
	if err != nil {
		return err
	}
	res, err := a.Webhooks.Register(r.Context(), c, p.OrgID, in.ID)
	if err != nil {
		return err
	}
	if err := a.store.Audit(r.Context(), store.AuditEntry{OrgID: p.OrgID, ActorUserID: &p.UserID, Actor: "user",
		Action: "webhook.registered", Target: "integration:" + itoa(in.ID)}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": res})
	return nil
}

// removeRegisteredHooks removes the project hooks labsync registered,
// before a disconnect revokes the credential it needs for that. Failures
// are reported (with what to remove by hand), not fatal to the disconnect;
// without a usable client each hook is reported that way.
func removeRegisteredHooks(ctx context.Context, st *store.Store, wh *webhook.Service, c *gitlab.Client, clientErr error, orgID, id int64) (any, error) {
	regs, err := st.HookRegistrations(ctx, orgID, id)
	if err != nil || len(regs) == 0 {
		return nil, err
	}
	if clientErr != nil {
		out := make([]webhook.ProjectHookResult, len(regs))
		for i, g := range regs {
			out[i] = webhook.ProjectHookResult{ProjectID: g.ProjectGitLabID, HookID: g.GitLabHookID, Status: "failed",
				Error: "no usable credential to remove it", Remedy: "Remove the webhook in GitLab yourself (Settings > Webhooks of the project)."}
		}
		return out, nil
	}
	return wh.Unregister(ctx, c, orgID, id)
}

// webhookEvents are the triggers to tick in GitLab's webhook form.
var webhookEvents = []map[string]string{
	{"event": "push_events", "label": "Push events", "why": "pushes and commits"},
	{"event": "tag_push_events", "label": "Tag push events", "why": "tags"},
	{"event": "merge_requests_events", "label": "Merge request events", "why": "merge requests"},
	{"event": "issues_events", "label": "Issues events", "why": "issues"},
	{"event": "confidential_issues_events", "label": "Confidential issues events", "why": "confidential issues"},
	{"event": "pipeline_events", "label": "Pipeline events", "why": "pipelines"},
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

func (a *API) integrationFor(r *http.Request) (store.Integration, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Integration{}, err
	}
	return a.store.Integration(r.Context(), caller(r).OrgID, id)
}

func (a *API) webhookShow(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integrationFor(r)
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
	in, err := a.integrationFor(r)
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
	p := caller(r)
	is, err := a.Webhooks.Issue(r.Context(), p.OrgID, in.ID, req.Signing)
	if err != nil {
		return err
	}
	if err := a.store.Audit(r.Context(), store.AuditEntry{OrgID: p.OrgID, ActorUserID: &p.UserID, Actor: "user",
		Action: "webhook.issued", Target: "integration:" + itoa(in.ID)}); err != nil {
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
	in, err := a.integrationFor(r)
	if err != nil {
		return err
	}
	var req struct {
		SigningToken secret.Secret `json:"signing_token"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	p := caller(r)
	if err := a.Webhooks.SetSigningToken(r.Context(), p.OrgID, in.ID, req.SigningToken); err != nil {
		return err
	}
	if err := a.store.Audit(r.Context(), store.AuditEntry{OrgID: p.OrgID, ActorUserID: &p.UserID, Actor: "user",
		Action: "webhook.signing_token_set", Target: "integration:" + itoa(in.ID)}); err != nil {
		return err
	}
	v, err := a.webhookView(r, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
