package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
)

// credentialsView is what templates/credentials.html shows: the way to give
// a token integration a new GitLab access token, and to store the signing
// token given to the webhook in GitLab 19.0. Neither secret is ever sent back.
type credentialsView struct {
	V integrations.View
	// Webhook says whether a webhook is issued, and Signed whether a
	// signing token is stored for it.
	Webhook, Signed bool
	Done            string
	Notices         []string
	Error           *problem.Error
	// ErrorFor is the form the error belongs to: "token" or "signing".
	ErrorFor string
	Report   *diagnose.Report
}

// PageTitle is the page's title.
func (v credentialsView) PageTitle() string { return "Credentials of " + v.V.Alias }

// credentialsDone are the fixed messages ?done= may show.
var credentialsDone = map[string]string{
	"token":          "The new access token passed the connection check and replaced the old one.",
	"signing":        "The signing token was saved: deliveries must now carry a valid signature.",
	"signing_remove": "The signing token was removed: deliveries are checked by the webhook secret alone.",
}

func (u *UI) credentialsView(r *http.Request) (credentialsView, error) {
	if u.Integrations == nil {
		return credentialsView{}, errNotFound
	}
	i, err := u.integration(r)
	if err != nil {
		return credentialsView{}, err
	}
	v := credentialsView{}
	if v.V, err = u.Integrations.View(r.Context(), i.OrgID, i.ID); err != nil {
		return credentialsView{}, err
	}
	e, err := u.st.WebhookEndpointFor(r.Context(), i.OrgID, i.ID)
	switch {
	case err == nil:
		v.Webhook, v.Signed = true, e.SigningSealed != nil
	case !errors.Is(err, store.ErrNotFound):
		return credentialsView{}, err
	}
	return v, nil
}

// credentialsFlash is the flash slot of integration id's credentials page.
func credentialsFlash(id int64) string { return "credentials:" + itoa(id) }

func (u *UI) credentialsPage(w http.ResponseWriter, r *http.Request) error {
	v, err := u.credentialsView(r)
	if err != nil {
		return err
	}
	v.Done = credentialsDone[r.URL.Query().Get("done")]
	v.Notices, _ = u.flash.take(sessionFrom(r.Context()), credentialsFlash(v.V.ID)).([]string)
	u.render(w, r, http.StatusOK, "credentials", v)
	return nil
}

// replaceToken gives a token integration a new access token through the
// integrations service's update, which runs the whole connection check
// first and saves nothing when it fails; the page then shows the diagnosis.
func (u *UI) replaceToken(w http.ResponseWriter, r *http.Request) error {
	v, err := u.credentialsView(r)
	if err != nil {
		return err
	}
	tok := secret.New(strings.TrimSpace(r.PostFormValue("token")))
	if tok.IsZero() {
		return u.credentialsFailed(w, r, v, "token", &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "token",
			Message: "Paste the new GitLab access token.", Remedy: "Create it in GitLab (with at least read_api and read_user), then paste it here."})
	}
	res, err := u.Integrations.Update(r.Context(), actor(r), v.V.ID, integrations.UpdateInput{Token: tok})
	if err != nil {
		return u.credentialsFailed(w, r, v, "token", err)
	}
	if len(res.Notices) > 0 {
		// What the check noticed (another GitLab account, …) waits for the
		// redirected GET like a secret would: a reload neither re-sends
		// the token nor shows the notices again.
		u.flash.put(sessionFrom(r.Context()), credentialsFlash(v.V.ID), res.Notices)
	}
	http.Redirect(w, r, "/integrations/"+itoa(v.V.ID)+"/credentials?done=token", http.StatusSeeOther)
	return nil
}

// setSigning stores the signing token the user gave the webhook in GitLab,
// or removes it when "remove" is sent. GitLab takes it on the hook's form
// and in the hooks API (signing_token, whsec_<base64 of 32 bytes>) and never
// returns it (gitlab-org/gitlab merge requests 230944 and 231325, behind the
// webhook_signing_token feature flag; 19.0 in labsync's sandbox profiles).
func (u *UI) setSigning(w http.ResponseWriter, r *http.Request) error {
	v, err := u.credentialsView(r)
	if err != nil {
		return err
	}
	tok, done := secret.New(strings.TrimSpace(r.PostFormValue("signing_token"))), "signing"
	if r.PostFormValue("remove") != "" {
		tok, done = secret.New(""), "signing_remove"
	} else if tok.IsZero() {
		return u.credentialsFailed(w, r, v, "signing", &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "signing_token",
			Message: "Paste the signing token the webhook has in GitLab (it starts with whsec_)."})
	}
	if err := u.Integrations.SetWebhookSigning(r.Context(), actor(r), v.V.ID, tok); err != nil {
		return u.credentialsFailed(w, r, v, "signing", err)
	}
	http.Redirect(w, r, "/integrations/"+itoa(v.V.ID)+"/credentials?done="+done, http.StatusSeeOther)
	return nil
}

// credentialsFailed shows the page again with what went wrong and, when
// the service ran it, the diagnosis; the secret fields stay empty.
func (u *UI) credentialsFailed(w http.ResponseWriter, r *http.Request, v credentialsView, form string, err error) error {
	var p *problem.Error
	if !errors.As(err, &p) {
		if p, _ = userProblem(err); p == nil {
			return err
		}
	}
	if p.Kind == problem.Internal {
		return err
	}
	v.Error, v.ErrorFor = p, form
	v.Report, _ = p.Diagnosis.(*diagnose.Report)
	u.render(w, r, statusOf(p.Kind), "credentials", v)
	return nil
}

// credentialsIndexView lists the organisation's integrations with what
// their credentials need: the way to each one's credentials page.
type credentialsIndexView struct {
	Integrations []integrations.View
}

// PageTitle is the page's title.
func (credentialsIndexView) PageTitle() string { return "Credentials" }

func (u *UI) credentialsIndex(w http.ResponseWriter, r *http.Request) error {
	var v credentialsIndexView
	if u.Integrations != nil {
		list, err := u.Integrations.List(r.Context(), sessionFrom(r.Context()).OrgID)
		if err != nil {
			return err
		}
		v.Integrations = list
	}
	u.render(w, r, http.StatusOK, "credentials_index", v)
	return nil
}
