package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/store"
)

// dataPageSize is how many rows one page of the data browser shows.
const dataPageSize = 50

// dataKinds are the lists of the data browser, in tab order.
var dataKinds = []struct{ Kind, Label string }{
	{"merge_requests", "Merge requests"}, {"issues", "Issues"}, {"pipelines", "Pipelines"}, {"pushes", "Pushes"},
}

// dataRow is one row of any list, in the browser's common columns.
type dataRow struct {
	Project, Ref, Title, State, Author, URL string
	When                                    time.Time
}

type dataView struct {
	Kind, Label  string
	Kinds        []struct{ Kind, Label string }
	Integrations []integrations.View
	Filter       url.Values
	States       []string
	Rows         []dataRow
	NextURL      string
	Error        string
}

// PageTitle is the page's title.
func (v dataView) PageTitle() string { return v.Label }

func (u *UI) dataPage(w http.ResponseWriter, r *http.Request) error {
	v := dataView{Kind: r.PathValue("kind"), Kinds: dataKinds, Filter: r.URL.Query()}
	for _, k := range dataKinds {
		if k.Kind == v.Kind {
			v.Label = k.Label
		}
	}
	if v.Label == "" {
		return errNotFound
	}
	ctx := r.Context()
	s := sessionFrom(ctx)
	if u.Integrations != nil {
		list, err := u.Integrations.List(ctx, s.OrgID)
		if err != nil {
			return err
		}
		v.Integrations = list
	}
	q, msg := dataQuery(r.URL.Query())
	if msg != "" {
		v.Error = msg
		u.render(w, r, http.StatusBadRequest, "data", v)
		return nil
	}
	var last int64
	var err error
	switch v.Kind {
	case "merge_requests":
		v.States = []string{"opened", "merged", "closed", "locked"}
		var xs []store.MergeRequest
		if xs, err = u.st.MergeRequests(ctx, s.OrgID, q); err == nil {
			for _, x := range xs {
				v.Rows = append(v.Rows, dataRow{x.ProjectPath, "!" + itoa(x.IID), x.Title, x.State, x.Author, x.WebURL, x.UpdatedAt})
				last = x.ID
			}
		}
	case "issues":
		v.States = []string{"opened", "closed"}
		var xs []store.Issue
		if xs, err = u.st.Issues(ctx, s.OrgID, q); err == nil {
			for _, x := range xs {
				v.Rows = append(v.Rows, dataRow{x.ProjectPath, "#" + itoa(x.IID), x.Title, x.State, x.Author, x.WebURL, x.UpdatedAt})
				last = x.ID
			}
		}
	case "pipelines":
		v.States = []string{"success", "failed", "running", "pending", "canceled", "skipped", "manual", "created"}
		var xs []store.Pipeline
		if xs, err = u.st.Pipelines(ctx, s.OrgID, q); err == nil {
			for _, x := range xs {
				v.Rows = append(v.Rows, dataRow{x.ProjectPath, x.Ref, shortSHA(x.SHA), x.Status, x.Source, x.WebURL, x.UpdatedAt})
				last = x.ID
			}
		}
	case "pushes":
		var xs []store.Push
		if xs, err = u.st.Pushes(ctx, s.OrgID, q); err == nil {
			for _, x := range xs {
				v.Rows = append(v.Rows, dataRow{x.ProjectPath, x.Ref, x.CommitTitle, x.Action, x.Author, "", x.PushedAt})
				last = x.ID
			}
		}
	}
	if err != nil {
		return err
	}
	if len(v.Rows) == q.Limit {
		next := url.Values{}
		for k, vals := range r.URL.Query() {
			next[k] = vals
		}
		next.Set("cursor", strconv.FormatInt(last, 10))
		v.NextURL = "/data/" + v.Kind + "?" + next.Encode()
	}
	u.render(w, r, http.StatusOK, "data", v)
	return nil
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// dataQuery reads the filters the REST API's data lists take; msg says
// what is wrong with them.
func dataQuery(v url.Values) (store.DataQuery, string) {
	q := store.DataQuery{Limit: dataPageSize, State: strings.TrimSpace(v.Get("state"))}
	for _, f := range []struct {
		name, label string
		dst         *int64
	}{{"integration_id", "GitLab", &q.IntegrationID}, {"project_id", "Project id", &q.ProjectGitLabID}, {"cursor", "Page", &q.AfterID}} {
		if s := strings.TrimSpace(v.Get(f.name)); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return q, f.label + " must be a whole number."
			}
			*f.dst = n
		}
	}
	if s := strings.TrimSpace(v.Get("updated_after")); s != "" {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return q, "Updated since must be a date such as 2026-11-01."
		}
		q.UpdatedAfter = t
	}
	return q, ""
}
