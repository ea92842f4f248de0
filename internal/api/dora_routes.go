package api

import (
	"net/http"
	"time"

	"github.com/labsync/labsync/internal/dora"
)

// DoraResponse is the answer of GET /api/v1/metrics/dora: the four DORA
// series of one integration (and project) and tier over a range, with the
// rows behind each point when explain=true. docs/dora.md defines them.
type DoraResponse = dora.Report

// registerDora mounts the DORA metrics.
func (a *API) registerDora(mux Mux) {
	a.route(mux, "GET /api/v1/metrics/dora", anyMember, a.doraMetrics)
}

// doraMetrics answers the four series for integration_id, project_id,
// environment_tier, from, to, interval and explain; a refused parameter is
// a problem naming its field.
func (a *API) doraMetrics(w http.ResponseWriter, r *http.Request) error {
	q, err := dora.ParseQuery(r.URL.Query(), time.Now())
	if err != nil {
		return err
	}
	var out *DoraResponse
	if out, err = dora.New(a.store).Report(r.Context(), caller(r).OrgID, q); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
