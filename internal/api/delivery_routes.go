package api

import (
	"net/http"
	"strconv"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// registerDelivery mounts the review and delivery data lists (issue 20):
// the same filters, cursor pages, organisation scoping and JSON form as
// GET /api/v1/pipelines, plus the filters each resource has of its own.
func (a *API) registerDelivery(mux Mux) {
	a.route(mux, "GET /api/v1/notes", anyMember, a.listNotes)
	a.route(mux, "GET /api/v1/approvals", anyMember, a.listApprovals)
	a.route(mux, "GET /api/v1/jobs", anyMember, a.listJobs)
	a.route(mux, "GET /api/v1/deployments", anyMember, a.listDeployments)
	a.route(mux, "GET /api/v1/environments", anyMember, a.listEnvironments)
	a.route(mux, "GET /api/v1/releases", anyMember, a.listReleases)
	a.route(mux, "GET /api/v1/tags", anyMember, a.listTags)
	a.route(mux, "GET /api/v1/people", anyMember, a.listPeople)
}

// deliverySummaries document the routes above in the OpenAPI document.
var deliverySummaries = map[string]string{
	"GET /api/v1/notes":        "Ingested notes (comments and system notes; ?merge_request_iid= with project_id)",
	"GET /api/v1/approvals":    "Ingested merge request approvals (?merge_request_iid= with project_id)",
	"GET /api/v1/jobs":         "Ingested pipeline jobs (?state= is the status, ?pipeline_id=)",
	"GET /api/v1/deployments":  "Ingested deployments (?state= is the status, ?environment=, ?tier=)",
	"GET /api/v1/environments": "Ingested environments (?state=, ?environment= is the name, ?tier=)",
	"GET /api/v1/releases":     "Ingested releases",
	"GET /api/v1/tags":         "Ingested tags",
	"GET /api/v1/people":       "People seen in any payload: id, username, bot or not",
}

func init() {
	for k, v := range deliverySummaries {
		summaries[k] = v
	}
}

// deliveryQuery reads dataQuery's filters and those of the delivery lists:
// merge_request_iid, pipeline_id, environment, tier.
func deliveryQuery(r *http.Request) (store.DataQuery, error) {
	q, err := dataQuery(r)
	if err != nil {
		return q, err
	}
	v := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"merge_request_iid", &q.MergeRequestIID}, {"pipeline_id", &q.PipelineGitLabID}} {
		if s := v.Get(f.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return q, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: f.name, Message: f.name + " must be a positive integer"}
			}
			*f.dst = n
		}
	}
	if q.MergeRequestIID != 0 && q.ProjectGitLabID == 0 {
		return q, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "merge_request_iid",
			Message: "merge_request_iid names a merge request within a project: give project_id too"}
	}
	q.Environment, q.Tier = v.Get("environment"), v.Get("tier")
	return q, nil
}

func (a *API) listNotes(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, deliveryQuery, a.store.Notes, func(x store.Note) int64 { return x.ID })
}

func (a *API) listApprovals(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, deliveryQuery, a.store.Approvals, func(x store.Approval) int64 { return x.ID })
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, deliveryQuery, a.store.Jobs, func(x store.Job) int64 { return x.ID })
}

func (a *API) listDeployments(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, deliveryQuery, a.store.Deployments, func(x store.Deployment) int64 { return x.ID })
}

func (a *API) listEnvironments(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, deliveryQuery, a.store.Environments, func(x store.Environment) int64 { return x.ID })
}

func (a *API) listReleases(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, deliveryQuery, a.store.Releases, func(x store.Release) int64 { return x.ID })
}

func (a *API) listTags(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, deliveryQuery, a.store.Tags, func(x store.Tag) int64 { return x.ID })
}

func (a *API) listPeople(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, deliveryQuery, a.store.People, func(x store.Person) int64 { return x.ID })
}
