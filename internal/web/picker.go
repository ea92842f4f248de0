package web

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// pickerPageSize is how many projects one page of the picker lists; the
// search runs in the database, so 20,000 projects cost one indexed page.
const pickerPageSize = 50

type pickerProject struct {
	store.Project
	Checked  bool
	ViaGroup bool
}

type groupNode struct {
	store.Group
	Checked, Auto bool
	Children      []groupNode
}

type pickerView struct {
	Integration  store.Integration
	Selection    store.Selection
	Groups       []groupNode
	Projects     []pickerProject
	PageIDs      string
	Search       string
	ShowArchived bool
	OnlySelected bool
	Cursor       string
	NextCursor   string
	Exclusions   string
	Admin        bool
	Error        string
	Discovered   bool
	// Connected is set on the first view after a connect: what labsync
	// connected as, and what the credential's kind means.
	Connected *integrations.View
}

// PageTitle is the page's title.
func (v pickerView) PageTitle() string { return "Choose projects · " + v.Integration.Alias }

func (u *UI) pickerPage(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	if in.Status == store.StatusDisconnected {
		// Nothing is synced any more: its page says what happened.
		http.Redirect(w, r, "/integrations/"+itoa(in.ID), http.StatusSeeOther)
		return nil
	}
	v, err := u.pickerView(r, in)
	if err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "picker", v)
	return nil
}

func (u *UI) pickerView(r *http.Request, in store.Integration) (pickerView, error) {
	ctx := r.Context()
	s := sessionFrom(ctx)
	q := r.URL.Query()
	v := pickerView{Integration: in, Search: strings.TrimSpace(q.Get("q")), ShowArchived: q.Get("archived") == "1",
		OnlySelected: q.Get("selected") == "1", Cursor: q.Get("cursor"), Admin: adminLevel.allows(s.Role)}
	state, err := u.st.SyncStateFor(ctx, s.OrgID, in.ID)
	if err != nil {
		return v, err
	}
	if state.DiscoveredAt == nil && u.Sync != nil && in.Status != store.StatusDisconnected {
		// First visit: list what the credential can see (as the API does).
		if err := u.Sync.Discover(ctx, s.OrgID, in.ID); err != nil {
			u.log.Warn("discovery for the project picker failed", "integration", in.ID, "err", err)
			v.Error = "labsync could not list the projects of this GitLab yet. Open the integration page and run the connection test to see why."
		}
	}
	v.Discovered = v.Error == ""
	if q.Get("notice") == "connected" && u.Integrations != nil {
		iv, err := u.Integrations.View(ctx, s.OrgID, in.ID)
		if err != nil {
			return v, err
		}
		v.Connected = &iv
	}
	if v.Selection, err = u.st.SelectionFor(ctx, s.OrgID, in.ID); err != nil {
		return v, err
	}
	v.Exclusions = strings.Join(v.Selection.Exclusions, "\n")
	groups, err := u.st.Groups(ctx, s.OrgID, in.ID)
	if err != nil {
		return v, err
	}
	v.Groups = groupTree(groups, v.Selection.Groups)
	// One row more than a page says whether a next page exists, so the
	// last page never links to an empty one.
	pq := store.ProjectQuery{Search: v.Search, Limit: pickerPageSize + 1}
	if !v.ShowArchived {
		f := false
		pq.Archived = &f
	}
	if v.OnlySelected {
		t := true
		pq.Selected = &t
	}
	if v.Cursor != "" {
		path, id, ok := decodeCursor(v.Cursor)
		if !ok {
			return v, &problem.Error{Kind: problem.Malformed, Title: "Bad page link", Message: "This page link is not one labsync made."}
		}
		pq.AfterPath, pq.AfterID = path, id
	}
	ps, err := u.st.Projects(ctx, s.OrgID, in.ID, pq)
	if err != nil {
		return v, err
	}
	more := len(ps) > pickerPageSize
	if more {
		ps = ps[:pickerPageSize]
	}
	ids := make([]string, 0, len(ps))
	for _, p := range ps {
		checked := slices.Contains(v.Selection.Projects, p.GitLabID)
		v.Projects = append(v.Projects, pickerProject{Project: p, Checked: checked, ViaGroup: p.Selected && !checked})
		ids = append(ids, itoa(p.GitLabID))
	}
	v.PageIDs = strings.Join(ids, ",")
	if more {
		last := ps[len(ps)-1]
		v.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(last.PathWithNamespace + "\x00" + itoa(last.ID)))
	}
	return v, nil
}

func decodeCursor(c string) (string, int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", 0, false
	}
	path, id, ok := strings.Cut(string(b), "\x00")
	n, err := strconv.ParseInt(id, 10, 64)
	return path, n, ok && err == nil
}

// groupTree nests groups under their parents (store.GroupTree) and marks
// the selected ones.
func groupTree(gs []store.Group, sel []store.GroupSelection) []groupNode {
	chosen := map[int64]store.GroupSelection{}
	for _, s := range sel {
		chosen[s.GitLabID] = s
	}
	var mark func(g store.Group) groupNode
	mark = func(g store.Group) groupNode {
		n := groupNode{Group: g}
		n.Group.Subgroups = nil // the nodes' Children carry them
		if s, ok := chosen[g.GitLabID]; ok {
			n.Checked, n.Auto = true, s.AutoImport
		}
		for _, c := range g.Subgroups {
			n.Children = append(n.Children, mark(c))
		}
		return n
	}
	roots := store.GroupTree(gs)
	out := make([]groupNode, 0, len(roots))
	for _, g := range roots {
		out = append(out, mark(g))
	}
	return out
}

// savePicker applies the form: the projects of the page shown replace
// their previous state, projects on other pages keep theirs; groups,
// exclusions and services are replaced. "Save and sync" starts a sync.
func (u *UI) savePicker(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	if u.Sync == nil || u.Integrations == nil {
		return &problem.Error{Kind: problem.Unavailable, Title: "Sync unavailable", Message: "This server does not run the sync service."}
	}
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return &problem.Error{Kind: problem.Malformed, Title: "Form not accepted", Message: "The form could not be read."}
	}
	page := &syncer.ProjectPage{}
	for _, id := range strings.Split(r.PostForm.Get("page_ids"), ",") {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			page.Shown = append(page.Shown, n)
		}
	}
	for _, id := range r.PostForm["project"] {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			page.Checked = append(page.Checked, n)
		}
	}
	groups := []store.GroupSelection{}
	for _, id := range r.PostForm["group"] {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			groups = append(groups, store.GroupSelection{GitLabID: n, AutoImport: r.PostForm.Get("auto_"+id) == "on"})
		}
	}
	exclusions := []string{}
	for line := range strings.SplitSeq(r.PostForm.Get("exclusions"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			exclusions = append(exclusions, line)
		}
	}
	archived := r.PostForm.Get("include_archived") == "on"
	services := store.Services{MergeRequests: r.PostForm.Get("svc_merge_requests") == "on", Issues: r.PostForm.Get("svc_issues") == "on",
		Pipelines: r.PostForm.Get("svc_pipelines") == "on", Pushes: r.PostForm.Get("svc_pushes") == "on",
		Repository: r.PostForm.Get("svc_repository") == "on", Reviews: r.PostForm.Get("svc_reviews") == "on",
		Jobs: r.PostForm.Get("svc_jobs") == "on", Deployments: r.PostForm.Get("svc_deployments") == "on",
		Releases: r.PostForm.Get("svc_releases") == "on"}
	_, err = u.Integrations.ChangeSelection(ctx, actor(r), in.ID, syncer.SelectionChange{Page: page, Groups: &groups,
		Exclusions: &exclusions, IncludeArchived: &archived, Services: &services})
	var p *problem.Error
	if errors.As(err, &p) && p.Field == "exclusions" {
		v, verr := u.pickerView(r, in)
		if verr != nil {
			return verr
		}
		v.Error = "An exclusion pattern is not valid: " + p.Message
		v.Exclusions = r.PostForm.Get("exclusions")
		u.render(w, r, http.StatusUnprocessableEntity, "picker", v)
		return nil
	}
	if err != nil {
		return err
	}
	if r.PostForm.Get("action") == "sync" {
		return u.startSync(w, r)
	}
	back := url.Values{"notice": {"selection"}}
	for _, k := range []string{"q", "cursor", "archived", "selected"} {
		if val := r.PostForm.Get("view_" + k); val != "" {
			back.Set(k, val)
		}
	}
	http.Redirect(w, r, "/integrations/"+itoa(in.ID)+"/projects?"+back.Encode(), http.StatusSeeOther)
	return nil
}

// startSync queues a full sync of the integration.
func (u *UI) startSync(w http.ResponseWriter, r *http.Request) error {
	in, err := u.integration(r)
	if err != nil {
		return err
	}
	if u.Sync == nil || u.Integrations == nil {
		return &problem.Error{Kind: problem.Unavailable, Title: "Sync unavailable", Message: "This server does not run the sync service."}
	}
	if err := u.Integrations.StartSync(r.Context(), actor(r), in.ID); err != nil {
		return err
	}
	http.Redirect(w, r, "/integrations/"+itoa(in.ID)+"?notice=sync", http.StatusSeeOther)
	return nil
}
