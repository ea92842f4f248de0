package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// TestDeliveryListsFilterPageAndStayInTheirOrganization stores jobs,
// deployments, notes and approvals for one organisation and reads them
// through their lists: filters, cursor pages, the openapi document, and
// another organisation's token seeing nothing.
func TestDeliveryListsFilterPageAndStayInTheirOrganization(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	org := b.Org.ID
	in := &store.Integration{OrgID: org, Alias: "gl", BaseURL: "https://gitlab.test", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertDiscoveredProjects(ctx, org, in.ID, []store.Project{{GitLabID: 7, NamespacePath: "g", Name: "p",
		PathWithNamespace: "g/p", WebURL: "https://gitlab.test/g/p", Visibility: "private"}}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var jobs []store.Job
	for i := range 5 {
		at := base.Add(time.Duration(i) * time.Minute)
		pl := int64(80 + i%2)
		jobs = append(jobs, store.Job{ProjectGitLabID: 7, GitLabID: int64(900 + i), PipelineGitLabID: &pl, Name: fmt.Sprint("job", i),
			Status: "success", CreatedAt: &at})
	}
	must := func(_ store.UpsertResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.UpsertJobs(ctx, nil, org, in.ID, store.SourceSync, jobs))
	must(st.UpsertDeployments(ctx, nil, org, in.ID, store.SourceSync, []store.Deployment{
		{ProjectGitLabID: 7, GitLabID: 70, EnvironmentName: "production", EnvironmentTier: "production", Status: "success", UpdatedAt: base},
		{ProjectGitLabID: 7, GitLabID: 71, EnvironmentName: "review/x", EnvironmentTier: "development", Status: "success", UpdatedAt: base}}))
	iid := int64(3)
	must(st.UpsertNotes(ctx, nil, org, in.ID, store.SourceSync, []store.Note{
		{ProjectGitLabID: 7, GitLabID: 501, NoteableType: "MergeRequest", NoteableIID: &iid, Author: "ana", Body: "ok", UpdatedAt: base}}))
	must(st.UpsertApprovals(ctx, nil, org, in.ID, store.SourceSync, []store.Approval{
		{ProjectGitLabID: 7, MergeRequestIID: 3, UserGitLabID: 42, Username: "ana", ApprovedAt: &base, Source: store.ApprovalFromEvent}}))

	u, _ := st.CreateUser(ctx, "owner@b", "O", "")
	orgB, _ := st.CreateOrganization(ctx, "B", u.ID)
	owner, other := mintToken(t, st, org, b.Owner.ID), mintToken(t, st, orgB.ID, u.ID)
	mux := http.NewServeMux()
	api.New(api.Deps{Store: st, Log: slog.New(slog.DiscardHandler)}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	get := func(path, token string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if out != nil {
			if err := json.NewDecoder(res.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
		return res.StatusCode
	}
	type page struct {
		Items      []map[string]any `json:"items"`
		NextCursor string           `json:"next_cursor"`
	}

	t.Run("jobs walk in pages of two", func(t *testing.T) {
		var seen []any
		cursor := ""
		for range 5 {
			var p page
			if code := get("/api/v1/jobs?limit=2&cursor="+cursor, owner, &p); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			for _, it := range p.Items {
				seen = append(seen, it["id"])
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if len(seen) != 5 {
			t.Fatalf("walked %v", seen)
		}
	})
	for _, c := range []struct {
		name, path string
		want       int
	}{
		{"jobs of one pipeline", "/api/v1/jobs?pipeline_id=81", 2},
		{"production deployments", "/api/v1/deployments?tier=production", 1},
		{"deployments to an environment", "/api/v1/deployments?environment=review/x", 1},
		{"notes of a merge request", "/api/v1/notes?project_id=7&merge_request_iid=3", 1},
		{"notes of another merge request", "/api/v1/notes?project_id=7&merge_request_iid=4", 0},
		{"approvals", "/api/v1/approvals?project_id=7&merge_request_iid=3", 1},
		{"releases, none", "/api/v1/releases", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p page
			if code := get(c.path, owner, &p); code != http.StatusOK || len(p.Items) != c.want {
				t.Fatalf("status %d, %d items, want %d: %+v", code, len(p.Items), c.want, p.Items)
			}
		})
	}
	t.Run("a merge request iid without its project is refused", func(t *testing.T) {
		if code := get("/api/v1/notes?merge_request_iid=3", owner, nil); code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", code)
		}
	})
	t.Run("another organization sees nothing", func(t *testing.T) {
		for _, path := range []string{"/api/v1/jobs", "/api/v1/deployments", "/api/v1/notes?project_id=7&merge_request_iid=3", "/api/v1/approvals"} {
			var p page
			if code := get(path, other, &p); code != http.StatusOK || len(p.Items) != 0 {
				t.Fatalf("%s: status %d, items %+v", path, code, p.Items)
			}
		}
	})
	t.Run("the openapi document lists and describes them", func(t *testing.T) {
		var doc struct {
			Paths map[string]map[string]struct {
				Summary string `json:"summary"`
			} `json:"paths"`
		}
		get("/api/v1/openapi.json", owner, &doc)
		for _, p := range []string{"/api/v1/notes", "/api/v1/approvals", "/api/v1/jobs", "/api/v1/deployments", "/api/v1/environments",
			"/api/v1/releases", "/api/v1/tags", "/api/v1/people"} {
			if doc.Paths[p]["get"].Summary == "" {
				t.Errorf("%s is not documented", p)
			}
		}
	})
}
