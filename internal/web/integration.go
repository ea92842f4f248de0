package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/repository"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/webhook"
)

type webhookInfo struct {
	Issued   bool
	URL      string
	IssuedAt any
	Health   webhook.Health
	Inbox    map[string]int64
	// Secret is set only in the one GET the issuing POST redirects to;
	// SecretGone says a secret was issued but can no longer be shown
	// (a reload, or a restart in between).
	Secret     string
	SecretGone bool
	// CanRegister says the integration allows labsync to add its webhook
	// to GitLab itself; Registered is what the last request for it did,
	// shown once on the page that request redirected to.
	CanRegister bool
	Registered  []webhook.ProjectHookResult
}

type integrationView struct {
	V        integrations.View
	Progress *syncer.Report
	Poll     *syncer.PollPlan
	Webhook  *webhookInfo
	Counts   store.DataCounts
	Admin    bool
	Problems []projectProblem
	// CIDisabled lists the projects whose pipelines are skipped because
	// CI/CD is disabled in GitLab: shown as such, not as problems.
	CIDisabled []string
	// Projects is every selected or gone project with how fresh its data
	// is, and why a gone one is no longer synced.
	Projects   []syncer.ProjectFreshness
	Disconnect bool
	// Settings is the settings form: the values shown (what was sent,
	// after a refusal), the refusal, and what the last save did.
	Settings       integrations.Settings
	SettingsError  *problem.Error
	SettingsNotice string
	// Mirrors are the repository mirrors; nil when this server keeps none.
	Mirrors *repository.MirrorList
	// PublicURL is labsync's address, for the credential-helper line.
	PublicURL string
	// State is the one page state every section follows (connected,
	// attention, disconnected); Ended says what happened once disconnected.
	State string
	Ended *endedView
	// Bars are the sync bars, their units named.
	Bars []syncBar
	// Hooks is why webhooks might not arrive (webhook_health.go).
	Hooks *webhookHealthView
}

// PageTitle is the page's title.
func (v integrationView) PageTitle() string { return v.V.Alias }

// projectProblem is a project's resource that could not be synced, in words.
type projectProblem struct {
	Path, Resource, Words string
}

func (u *UI) integrationPage(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	s := sessionFrom(r.Context())
	// A new integration has nothing selected yet: the OAuth callback and
	// the token form land here, so go on to the project picker.
	if in.Status != store.StatusDisconnected && adminLevel.allows(s.Role) {
		sel, err := u.st.SelectionFor(r.Context(), s.OrgID, in.ID)
		if err != nil {
			return err
		}
		if sel.UpdatedAt.IsZero() {
			http.Redirect(w, r, "/integrations/"+itoa(in.ID)+"/projects?notice=connected", http.StatusSeeOther)
			return nil
		}
	}
	v, err := u.integrationView(r, in)
	if err != nil {
		return err
	}
	page := flashPage(in.ID)
	switch f := u.flash.take(s, page).(type) {
	case webhookFlash:
		if v.Webhook != nil {
			v.Webhook.Secret = f.secret
		}
	case nil:
		if v.Webhook != nil && r.URL.Query().Get("notice") == "webhook" {
			v.Webhook.SecretGone = true
		}
	case registeredFlash:
		if v.Webhook != nil {
			v.Webhook.Registered = f
		}
	case integrations.DisconnectResult:
		if v.Ended != nil {
			v.Ended.Hooks = f.Hooks
		}
	}
	u.render(w, r, http.StatusOK, "integration", v)
	return nil
}

// flashPage names the integration page for the flashes waiting for it: the
// webhook secret just issued, what a disconnect just did.
func flashPage(id int64) string { return "integration:" + itoa(id) }

// webhookFlash carries a webhook secret just issued to the one GET of the
// integration page that shows it.
type webhookFlash struct{ secret string }

func (u *UI) integrationView(r *http.Request, in store.Integration) (integrationView, error) {
	ctx := r.Context()
	s := sessionFrom(ctx)
	iv, err := u.Integrations.View(ctx, s.OrgID, in.ID)
	if err != nil {
		return integrationView{}, err
	}
	v := integrationView{V: iv, Admin: adminLevel.allows(s.Role), Settings: iv.Settings, State: pageState(iv.Status)}
	if v.Counts, err = u.st.CountData(ctx, s.OrgID, in.ID); err != nil {
		return v, err
	}
	if v.State == stateDisconnected {
		// Nothing runs for it any more: the page says what happened and
		// shows no sync, webhook, poller or mirror that would claim activity.
		v.Ended, err = u.ended(ctx, s.OrgID, iv, v.Counts)
		return v, err
	}
	if u.Sync != nil {
		rep, err := u.Sync.Progress(ctx, s.OrgID, in.ID, true)
		if err != nil {
			return v, err
		}
		v.Progress = &rep
		v.Bars = syncBars(rep)
		v.Problems, v.CIDisabled = problems(rep)
		if v.Projects, err = u.Sync.ProjectFreshness(ctx, s.OrgID, in.ID); err != nil {
			return v, err
		}
		plan, err := u.Sync.PollPlanFor(ctx, in)
		if err != nil {
			return v, err
		}
		v.Poll = &plan
	}
	if u.Webhooks != nil {
		wi := &webhookInfo{Health: u.Webhooks.HealthOf(in.WebhookLastReceivedAt), CanRegister: in.AllowHookRegistration && u.Integrations != nil}
		e, err := u.st.WebhookEndpointFor(ctx, s.OrgID, in.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return v, err
		default:
			wi.Issued, wi.URL, wi.IssuedAt = true, u.Webhooks.URLFor(e.HookID), e.IssuedAt
		}
		if wi.Inbox, err = u.st.InboxCounts(ctx, s.OrgID, in.ID); err != nil {
			return v, err
		}
		v.Webhook = wi
	}
	if v.Hooks, err = u.webhookHealthFor(r, in, r.URL.Query().Get("hooks") == "check"); err != nil {
		return v, err
	}
	if u.Repository != nil {
		ml, err := u.Repository.Mirrors(ctx, s.OrgID, in.ID, u.Integrations.PublicURL())
		if err != nil {
			return v, err
		}
		v.Mirrors = &ml
		v.PublicURL = u.Integrations.PublicURL()
	}
	return v, nil
}

// problems lists, in words, the project resources that stopped on an
// error, and apart from them the projects whose pipelines are skipped
// because CI/CD is disabled (an explanation, not a problem).
func problems(rep syncer.Report) (out []projectProblem, ciDisabled []string) {
	for _, p := range rep.Projects {
		for _, res := range p.Resources {
			if res.Status == store.ProgressCIDisabled {
				ciDisabled = append(ciDisabled, p.Path)
				continue
			}
			if res.LastError == "" && res.Status != store.ProgressForbidden && res.Status != store.ProgressNotFound && res.Status != store.ProgressFailed {
				continue
			}
			out = append(out, projectProblem{Path: p.Path, Resource: resourceWords(res.Resource), Words: problemWords(res.Progress)})
		}
	}
	return out, ciDisabled
}

func problemWords(p store.Progress) string {
	switch p.Status {
	case store.ProgressForbidden:
		if p.Resource == "pipelines" {
			return "GitLab refused to list pipelines (403): CI/CD is probably disabled in this project, or the account may not see pipelines. " + p.LastError
		}
		return "GitLab refused access (403): the account lacks permission here. " + p.LastError
	case store.ProgressNotFound:
		return "GitLab answered 404: the project is gone or the account can no longer see it."
	}
	if p.LastError != "" {
		return p.LastError
	}
	return "failed"
}

// issueWebhook issues (or re-issues) the webhook URL and secret and
// redirects to the integration page (Post/Redirect/Get): the secret waits
// in memory for that one GET, so a reload neither shows it again nor issues
// another.
func (u *UI) issueWebhook(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	if u.Webhooks == nil || u.Integrations == nil {
		return errNotFound
	}
	is, err := u.Integrations.IssueWebhook(r.Context(), actor(r), in.ID, false)
	if err != nil {
		return err
	}
	u.flash.put(sessionFrom(r.Context()), flashPage(in.ID), webhookFlash{secret: is.Secret.Reveal()})
	http.Redirect(w, r, "/integrations/"+itoa(in.ID)+"?notice=webhook#hook-h", http.StatusSeeOther)
	return nil
}

// registerWebhooks adds labsync's webhook to every selected project in
// GitLab: the one write to GitLab labsync makes besides OAuth, and only for
// an integration connected with hook registration allowed. What GitLab did
// for each project is shown on the integration page.
func (u *UI) registerWebhooks(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	if u.Webhooks == nil || u.Integrations == nil {
		return errNotFound
	}
	res, err := u.Integrations.RegisterWebhooks(r.Context(), actor(r), in.ID)
	var p *problem.Error
	switch {
	case errors.Is(err, webhook.ErrNotIssued):
		return &problem.Error{Kind: problem.Conflict, Title: "No webhook yet",
			Message: "labsync registers the webhook URL and secret it issued, and none is issued yet.",
			Remedy:  "Create the webhook URL and secret first, then register."}
	case errors.As(err, &p) && p.Code == integrations.CodeHookRegistrationOff:
		return &problem.Error{Kind: problem.Conflict, Title: "Webhook registration is off",
			Message: "labsync writes to GitLab only when you allowed it to register its webhooks, and this integration was connected without that.",
			Remedy:  "Add the webhook in GitLab yourself with the URL and secret on the integration page, or connect again with \"Let labsync register its webhooks\" ticked (the token needs the api scope)."}
	case errors.As(err, &p):
		// The integration cannot be used (needs a new token, GitLab
		// unreachable): the page says so under its own headline.
		return p.WithTitle("GitLab cannot be reached with this integration")
	case err != nil:
		return err
	}
	// What GitLab did waits for the page the POST redirects to, so a
	// reload does not register again.
	u.flash.put(sessionFrom(r.Context()), flashPage(in.ID), registeredFlash(res))
	http.Redirect(w, r, "/integrations/"+itoa(in.ID)+"#hook-h", http.StatusSeeOther)
	return nil
}

// registeredFlash carries what registering the webhook did to the next
// view of the integration page.
type registeredFlash []webhook.ProjectHookResult

// saveSettings changes the integration's sync settings from the settings
// form: request concurrency, history start, keep lost projects' data. A
// refused value shows the page again (422) with the message next to its
// field and the values as sent.
func (u *UI) saveSettings(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	if u.Integrations == nil {
		return errNotFound
	}
	form := integrations.Settings{HistorySince: strings.TrimSpace(r.PostFormValue("history_since")),
		KeepLostProjectData: r.PostFormValue("keep_lost_project_data") == "on"}
	up := integrations.UpdateInput{HistorySince: &form.HistorySince, KeepLostProjectData: &form.KeepLostProjectData}
	var refused *problem.Error
	if c := strings.TrimSpace(r.PostFormValue("request_concurrency")); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil {
			refused = &problem.Error{Kind: problem.Invalid, Code: "invalid", Field: "request_concurrency",
				Message: fmt.Sprintf("%q is not a whole number", c), Remedy: "Give a whole number, or 0 for the default."}
		}
		form.RequestConcurrency = n
	}
	up.RequestConcurrency = &form.RequestConcurrency
	var res integrations.UpdateResult
	if refused == nil {
		res, err = u.Integrations.Update(r.Context(), actor(r), in.ID, up)
		if err != nil && !errors.As(err, &refused) {
			return err
		}
		if refused != nil && refused.Kind != problem.Invalid {
			return err
		}
	}
	v, err := u.integrationView(r, in)
	if err != nil {
		return err
	}
	if refused != nil {
		v.Settings, v.SettingsError = form, refused
		u.render(w, r, http.StatusUnprocessableEntity, "integration", v)
		return nil
	}
	v.SettingsNotice = "Nothing changed: the settings already had these values."
	if len(res.Changed) > 0 {
		v.SettingsNotice = "Saved: " + strings.ReplaceAll(strings.Join(res.Changed, ", "), "_", " ") + "."
	}
	u.render(w, r, http.StatusOK, "integration", v)
	return nil
}
