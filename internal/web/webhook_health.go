package web

import (
	"errors"
	"net/http"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// webhookHealthView is what templates/partial_webhook_health.html shows on
// the integration page: why webhooks may not arrive. Every view shows
// labsync's side (issued, last delivery, public URL, the opt-in); GitLab's
// state of each registered hook is read only when asked (?hooks=check, or
// after a test delivery), since it costs a request per hook.
type webhookHealthView struct {
	H integrations.WebhookHealth
	// Err is why the health could not be read (GitLab unreachable, the
	// credential refused), with its remedy.
	Err *problem.Error
	// Test is the outcome of the test delivery just asked for.
	Test *integrations.WebhookTestResult
}

// webhookHealthFor builds the partial's data; readGitLab asks GitLab for
// each registered hook's state. A failure to read is shown in the partial,
// never as a failed page.
func (u *UI) webhookHealthFor(r *http.Request, in store.Integration, readGitLab bool) (*webhookHealthView, error) {
	if u.Integrations == nil {
		return nil, nil
	}
	read := u.Integrations.WebhookHealthSummary
	if readGitLab && in.AllowHookRegistration && in.Status != store.StatusDisconnected {
		read = u.Integrations.WebhookHealth
	}
	h, err := read(r.Context(), actor(r), in.ID)
	var p *problem.Error
	switch {
	case errors.As(err, &p):
		return &webhookHealthView{H: h, Err: p}, nil
	case err != nil:
		return nil, err
	}
	return &webhookHealthView{H: h}, nil
}

// testWebhook asks GitLab for a test delivery through labsync's hook in
// one project (owners and admins, integrations that allow hook
// registration), then shows the integration page with the outcome and
// the hooks' state read afresh.
func (u *UI) testWebhook(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	if u.Integrations == nil {
		return errNotFound
	}
	var project int64
	if raw := r.PostFormValue("project_id"); raw != "" {
		if project, err = store.ParseID(raw); err != nil {
			return err
		}
	}
	res, err := u.Integrations.TestWebhookDelivery(r.Context(), actor(r), in.ID, project, r.PostFormValue("trigger"))
	var p *problem.Error
	switch {
	case errors.As(err, &p) && p.Code == integrations.CodeHookRegistrationOff:
		return p.WithTitle("labsync does not test webhooks for this integration")
	case errors.As(err, &p):
		return p.WithTitle("The test delivery could not be asked for")
	case err != nil:
		return err
	}
	v, err := u.integrationView(r, in)
	if err != nil {
		return err
	}
	if v.Hooks, err = u.webhookHealthFor(r, in, true); err != nil {
		return err
	}
	if v.Hooks != nil {
		v.Hooks.Test = &res
	}
	u.render(w, r, http.StatusOK, "integration", v)
	return nil
}
