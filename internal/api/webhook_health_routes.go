package api

import (
	"net/http"
)

// registerWebhookHealth mounts why-webhooks-don't-arrive: the health read
// (GitLab's state of each hook labsync registered) and GitLab's own test
// delivery, which only integrations that allow hook registration offer.
func (a *API) registerWebhookHealth(mux Mux) {
	if a.Integrations == nil {
		return
	}
	a.route(mux, "GET /api/v1/integrations/{id}/webhook/health", anyMember, a.webhookHealth)
	a.route(mux, "POST /api/v1/integrations/{id}/webhook/test", adminOnly, a.webhookTest)
}

func (a *API) webhookHealth(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	h, err := a.Integrations.WebhookHealth(r.Context(), caller(r).Actor(), in.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// webhookTestRequest is the body of POST …/webhook/test; both fields are
// optional.
type webhookTestRequest struct {
	// ProjectID is the GitLab id of the project whose hook to test; 0 for
	// the first registered.
	ProjectID int64 `json:"project_id,omitempty"`
	// Trigger is push_events (default), tag_push_events,
	// merge_requests_events, issues_events or pipeline_events.
	Trigger string `json:"trigger,omitempty"`
}

func (a *API) webhookTest(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	var req webhookTestRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	res, err := a.Integrations.TestWebhookDelivery(r.Context(), caller(r).Actor(), in.ID, req.ProjectID, req.Trigger)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
