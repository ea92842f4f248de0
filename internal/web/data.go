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
	// GitLab is the alias of the integration the row comes from.
	GitLab        string
	integrationID int64
	id            int64
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
	// AllGitLabs is set when rows of every integration are shown: the
	// table then says which GitLab each row comes from.
	AllGitLabs bool
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
	var err error
	switch v.Kind {
	case "merge_requests":
		v.States = []string{"opened", "merged", "closed", "locked"}
		var xs []store.MergeRequest
		if xs, err = u.st.MergeRequests(ctx, s.OrgID, q); err == nil {
			for _, x := range xs {
				v.Rows = append(v.Rows, dataRow{Project: x.ProjectPath, Ref: "!" + itoa(x.IID), Title: x.Title, State: x.State,
					Author: x.Author, URL: x.WebURL, When: x.UpdatedAt, integrationID: x.IntegrationID, id: x.ID})
			}
		}
	case "issues":
		v.States = []string{"opened", "closed"}
		var xs []store.Issue
		if xs, err = u.st.Issues(ctx, s.OrgID, q); err == nil {
			for _, x := range xs {
				v.Rows = append(v.Rows, dataRow{Project: x.ProjectPath, Ref: "#" + itoa(x.IID), Title: x.Title, State: x.State,
					Author: x.Author, URL: x.WebURL, When: x.UpdatedAt, integrationID: x.IntegrationID, id: x.ID})
			}
		}
	case "pipelines":
		v.States = []string{"success", "failed", "running", "pending", "canceled", "skipped", "manual", "created"}
		var xs []store.Pipeline
		if xs, err = u.st.Pipelines(ctx, s.OrgID, q); err == nil {
			for _, x := range xs {
				v.Rows = append(v.Rows, dataRow{Project: x.ProjectPath, Ref: x.Ref, Title: shortSHA(x.SHA), State: x.Status,
					Author: x.Source, URL: x.WebURL, When: x.UpdatedAt, integrationID: x.IntegrationID, id: x.ID})
			}
		}
	case "pushes":
		var xs []store.Push
		if xs, err = u.st.Pushes(ctx, s.OrgID, q); err == nil {
			for _, x := range xs {
				v.Rows = append(v.Rows, dataRow{Project: x.ProjectPath, Ref: x.Ref, Title: x.CommitTitle, State: x.Action,
					Author: x.Author, When: x.PushedAt, integrationID: x.IntegrationID, id: x.ID})
			}
		}
	}
	if err != nil {
		return err
	}
	aliases := map[int64]string{}
	for _, in := range v.Integrations {
		aliases[in.ID] = in.Alias
	}
	v.AllGitLabs = q.IntegrationID == 0
	for i := range v.Rows {
		v.Rows[i].GitLab = aliases[v.Rows[i].integrationID]
	}
	if len(v.Rows) == q.Limit {
		last := v.Rows[len(v.Rows)-1]
		next := url.Values{}
		for k, vals := range r.URL.Query() {
			next[k] = vals
		}
		next.Set("cursor", last.When.UTC().Format(time.RFC3339Nano)+"~"+strconv.FormatInt(last.id, 10))
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

// dataQuery reads the page's filters: the GitLab (integration id), the
// project by its path, the state, "updated since" and the cursor, which is
// where the previous page ended (time~row id; rows are newest first). A
// numeric project_id, as the REST API takes, is still understood.
// msg says what is wrong with them.
func dataQuery(v url.Values) (store.DataQuery, string) {
	q := store.DataQuery{Limit: dataPageSize, State: strings.TrimSpace(v.Get("state")), NewestFirst: true,
		ProjectPath: strings.Trim(strings.TrimSpace(v.Get("project")), "/")}
	for _, f := range []struct {
		name, label string
		dst         *int64
	}{{"integration_id", "GitLab", &q.IntegrationID}, {"project_id", "Project id", &q.ProjectGitLabID}} {
		if s := strings.TrimSpace(v.Get(f.name)); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return q, f.label + " must be a whole number."
			}
			*f.dst = n
		}
	}
	if s := strings.TrimSpace(v.Get("cursor")); s != "" {
		at, id, ok := strings.Cut(s, "~")
		t, terr := time.Parse(time.RFC3339Nano, at)
		n, nerr := strconv.ParseInt(id, 10, 64)
		if !ok || terr != nil || nerr != nil || n <= 0 {
			return q, "The page link is not valid; start again from the first page."
		}
		q.Before = &store.DataCursor{At: t, ID: n}
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
