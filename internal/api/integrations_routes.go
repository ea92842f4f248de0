package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
)

// registerIntegrations mounts connect, OAuth, diagnosis and integration routes.
func (a *API) registerIntegrations(mux Mux) {
	if a.Integrations == nil {
		return
	}
	a.route(mux, "POST /api/v1/integrations/gitlab/token", adminOnly, a.connectToken)
	a.route(mux, "POST /api/v1/integrations/gitlab/start", adminOnly, a.oauthStart)
	a.route(mux, "POST /api/v1/integrations/gitlab/authorize", adminOnly, a.oauthAuthorize)
	a.public(mux, "GET "+integrations.CallbackPath, a.oauthCallback)
	a.route(mux, "POST /api/v1/integrations/gitlab/test", adminOnly, a.testConnection)
	a.route(mux, "GET /api/v1/integrations", anyMember, a.listIntegrations)
	a.route(mux, "GET /api/v1/integrations/{id}", anyMember, a.showIntegration)
	a.route(mux, "PATCH /api/v1/integrations/{id}", adminOnly, a.updateIntegration)
	a.route(mux, "DELETE /api/v1/integrations/{id}", adminOnly, a.disconnectIntegration)
	a.route(mux, "POST /api/v1/integrations/{id}/test", anyMember, a.testIntegration)
	a.route(mux, "POST /api/v1/integrations/{id}/refresh", adminOnly, a.refreshIntegration)
	a.route(mux, "GET /api/v1/oauth-apps", anyMember, a.listOAuthApps)
	a.route(mux, "PUT /api/v1/oauth-apps", adminOnly, a.saveOAuthApp)
}

func actor(r *http.Request) integrations.Actor { return caller(r).Actor() }

func (a *API) connectToken(w http.ResponseWriter, r *http.Request) error {
	var in integrations.TokenInput
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := a.Integrations.ConnectToken(r.Context(), actor(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (a *API) oauthStart(w http.ResponseWriter, r *http.Request) error {
	var in integrations.StartInput
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := a.Integrations.StartOAuth(r.Context(), actor(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) oauthAuthorize(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code  secret.Secret `json:"code"`
		State string        `json:"state"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := a.Integrations.CompleteOAuth(r.Context(), integrations.CompleteInput{State: in.State, Code: in.Code, Who: actor(r)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"integration": v})
	return nil
}

// oauthCallback is where GitLab sends the browser back. The state alone
// names the user and organisation; a caller that is signed in (API token,
// later the UI session) must be the one who started it. Browsers are sent on
// to /integrations/{id} or /connect?error=…; Accept: application/json gets
// JSON instead.
func (a *API) oauthCallback(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	in := integrations.CompleteInput{State: q.Get("state"), Code: secret.New(q.Get("code")),
		Error: q.Get("error"), ErrorDescription: q.Get("error_description")}
	if r.Header.Get("Authorization") != "" {
		p, err := a.authenticate(r)
		if err != nil {
			return err
		}
		in.Who = integrations.Actor{OrgID: p.OrgID, UserID: p.UserID}
	}
	wantJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	v, err := a.Integrations.CompleteOAuth(r.Context(), in)
	if err != nil {
		if wantJSON {
			return err
		}
		msg := "the connection could not be completed; the server log has the details"
		var ie *problem.Error
		switch {
		case errors.As(err, &ie):
			msg = ie.Message
			if ie.Remedy != "" {
				msg += ". " + ie.Remedy
			}
		case errors.Is(err, store.ErrNotFound):
			msg = "the connection could not be completed: something it refers to no longer exists"
		default:
			a.log.Error("OAuth callback failed", "err", err)
		}
		http.Redirect(w, r, a.Integrations.PublicURL()+"/connect?error="+url.QueryEscape(msg), http.StatusSeeOther)
		return nil
	}
	if wantJSON {
		writeJSON(w, http.StatusCreated, map[string]any{"integration": v})
		return nil
	}
	http.Redirect(w, r, fmt.Sprintf("%s/integrations/%d", a.Integrations.PublicURL(), v.ID), http.StatusSeeOther)
	return nil
}

func (a *API) testConnection(w http.ResponseWriter, r *http.Request) error {
	var in integrations.TestInput
	if err := decode(r, &in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.Integrations.Test(r.Context(), in))
	return nil
}

func (a *API) listIntegrations(w http.ResponseWriter, r *http.Request) error {
	list, err := a.Integrations.List(r.Context(), caller(r).OrgID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"integrations": list})
	return nil
}

func (a *API) showIntegration(w http.ResponseWriter, r *http.Request) error {
	id, err := store.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := a.Integrations.View(r.Context(), caller(r).OrgID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) updateIntegration(w http.ResponseWriter, r *http.Request) error {
	id, err := store.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	var in integrations.UpdateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := a.Integrations.Update(r.Context(), actor(r), id, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) disconnectIntegration(w http.ResponseWriter, r *http.Request) error {
	id, err := store.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	res, err := a.Integrations.Disconnect(r.Context(), actor(r), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) testIntegration(w http.ResponseWriter, r *http.Request) error {
	id, err := store.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	rep, err := a.Integrations.TestSaved(r.Context(), caller(r).OrgID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (a *API) refreshIntegration(w http.ResponseWriter, r *http.Request) error {
	id, err := store.ParseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	p := caller(r)
	if _, err := a.Integrations.View(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	if err := a.Integrations.Refresh(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	v, err := a.Integrations.View(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"integration": v})
	return nil
}

func (a *API) listOAuthApps(w http.ResponseWriter, r *http.Request) error {
	apps, err := a.Integrations.OAuthApps(r.Context(), caller(r).OrgID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"redirect_uri": a.Integrations.RedirectURI(),
		"scopes":       integrations.DefaultScopes,
		"scopes_note":  "Add api only if labsync should register its own webhooks.",
		"apps":         apps,
	})
	return nil
}

func (a *API) saveOAuthApp(w http.ResponseWriter, r *http.Request) error {
	var in integrations.OAuthAppInput
	if err := decode(r, &in); err != nil {
		return err
	}
	app, err := a.Integrations.SaveOAuthApp(r.Context(), actor(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": integrations.AppView(app), "redirect_uri": a.Integrations.RedirectURI()})
	return nil
}
