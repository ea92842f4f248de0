package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// dataQuery reads the filters every data list takes: integration_id,
// project_id (GitLab's), state, updated_after (RFC 3339), cursor, limit.
func dataQuery(r *http.Request) (store.DataQuery, error) {
	v := r.URL.Query()
	var q store.DataQuery
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"integration_id", &q.IntegrationID}, {"project_id", &q.ProjectGitLabID}, {"cursor", &q.AfterID}} {
		if s := v.Get(f.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return q, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: f.name, Message: f.name + " must be a positive integer"}
			}
			*f.dst = n
		}
	}
	q.State = v.Get("state")
	if s := v.Get("updated_after"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "updated_after",
				Message: "updated_after must be an RFC 3339 time such as 2025-01-31T12:00:00Z"}
		}
		q.UpdatedAfter = t
	}
	n, err := intParam(r, "limit")
	if err != nil {
		return q, err
	}
	q.Limit = n
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 100
	}
	return q, nil
}

// listData serves one of the data lists: {"items": [...], "next_cursor"}
// where next_cursor is empty on the last page; query reads the request's
// filters (dataQuery, or a list's own superset of it).
func listData[T any](w http.ResponseWriter, r *http.Request, query func(*http.Request) (store.DataQuery, error),
	list func(context.Context, int64, store.DataQuery) ([]T, error), id func(T) int64) error {
	q, err := query(r)
	if err != nil {
		return err
	}
	items, err := list(r.Context(), caller(r).OrgID, q)
	if err != nil {
		return err
	}
	page := itemsAnswer[T]{Items: items}
	if len(items) == q.Limit {
		page.NextCursor = strconv.FormatInt(id(items[len(items)-1]), 10)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (a *API) listMergeRequests(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, dataQuery, a.store.MergeRequests, func(m store.MergeRequest) int64 { return m.ID })
}

func (a *API) listIssues(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, dataQuery, a.store.Issues, func(i store.Issue) int64 { return i.ID })
}

func (a *API) listPipelines(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, dataQuery, a.store.Pipelines, func(p store.Pipeline) int64 { return p.ID })
}

func (a *API) listPushes(w http.ResponseWriter, r *http.Request) error {
	return listData(w, r, dataQuery, a.store.Pushes, func(p store.Push) int64 { return p.ID })
}
