package api

import (
	"net/http"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// errMirrorsUnavailable refuses mirror routes on a server built without the
// repository service.
var errMirrorsUnavailable = &problem.Error{Kind: problem.Unavailable, Code: "mirrors_unavailable",
	Message: "this server does not keep repository mirrors"}

// registerMirrors mounts the repository mirrors' status and fetch-now.
func (a *API) registerMirrors(mux Mux) {
	a.route(mux, "GET /api/v1/integrations/{id}/mirrors", anyMember, a.listMirrors)
	a.route(mux, "POST /api/v1/integrations/{id}/mirrors/{project}/fetch", adminOnly, a.fetchMirror)
}

// listMirrors shows every selected project's mirror: state, size, last
// fetch, lag behind the last push, last error with its remedy, clone URL.
func (a *API) listMirrors(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	if a.Repository == nil {
		return errMirrorsUnavailable
	}
	out, err := a.Repository.Mirrors(r.Context(), caller(r).OrgID, in.ID, a.Integrations.PublicURL())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// fetchMirror fetches one project's mirror now (cloning it if needed) and
// answers its status; a failed fetch is in the status, with its remedy.
func (a *API) fetchMirror(w http.ResponseWriter, r *http.Request) error {
	in, err := a.integration(r)
	if err != nil {
		return err
	}
	if a.Repository == nil {
		return errMirrorsUnavailable
	}
	pid, err := store.ParseID(r.PathValue("project"))
	if err != nil {
		return err
	}
	m, err := a.Repository.FetchNow(r.Context(), caller(r).Actor(), in.ID, pid, a.Integrations.PublicURL())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}
