package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
)

func TestIntegrationSettingsAreChangedThroughPATCHWithFieldErrors(t *testing.T) {
	f := newSyncFixture(t, "17.11")
	path := fmt.Sprintf("/api/v1/integrations/%d", f.integ)
	cases := []struct {
		name, body, field string
	}{
		{"a concurrency above the maximum", `{"request_concurrency": 65}`, "request_concurrency"},
		{"a negative concurrency", `{"request_concurrency": -2}`, "request_concurrency"},
		{"a history start that is not a date", `{"history_since": "last year"}`, "history_since"},
		{"the plain-http opt-in on an https URL", `{"allow_insecure_http": true}`, "allow_insecure_http"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body map[string]any
			if code := f.call(t, "PATCH", path, f.owner, c.body, &body); code != 422 {
				t.Fatalf("PATCH %s: %d %v, want 422", c.body, code, body)
			}
			e, _ := body["error"].(map[string]any)
			if e["field"] != c.field || e["remedy"] == "" {
				t.Fatalf("error %v, want field %s with a remedy", e, c.field)
			}
		})
	}
	var res struct {
		Integration struct {
			Insecure bool `json:"insecure"`
			Settings struct {
				RequestConcurrency  int    `json:"request_concurrency"`
				HistorySince        string `json:"history_since"`
				KeepLostProjectData bool   `json:"keep_lost_project_data"`
			} `json:"settings"`
		} `json:"integration"`
		Changed []string `json:"changed"`
	}
	body := `{"request_concurrency": 2, "history_since": "2025-01-15", "keep_lost_project_data": true}`
	if code := f.call(t, "PATCH", path, f.owner, body, &res); code != 200 {
		t.Fatalf("PATCH: %d", code)
	}
	s := res.Integration.Settings
	if s.RequestConcurrency != 2 || s.HistorySince != "2025-01-15" || !s.KeepLostProjectData || len(res.Changed) != 3 || res.Integration.Insecure {
		t.Fatalf("PATCH answered %+v", res)
	}
	var shown map[string]any
	if code := f.call(t, "GET", path, f.owner, "", &shown); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	if st := shown["settings"].(map[string]any); st["request_concurrency"] != 2.0 || st["history_since"] != "2025-01-15" || shown["insecure"] != false {
		t.Fatalf("GET shows %v", shown)
	}
	got, err := f.st.SyncSettingsFor(t.Context(), f.org, f.integ)
	if err != nil || got.RequestConcurrency != 2 || !got.KeepLostProjectData || got.HistorySince == nil {
		t.Fatalf("stored %+v %v", got, err)
	}
	if code := f.call(t, "PATCH", path, f.other, `{"request_concurrency": 1}`, nil); code != 404 {
		t.Fatalf("another organisation's PATCH: %d, want 404", code)
	}
	if got2, _ := f.st.SyncSettingsFor(t.Context(), f.org, f.integ); got2.RequestConcurrency != 2 {
		t.Fatalf("another organisation changed the settings: %+v", got2)
	}
}

func TestProjectFreshnessShowsPollsCIAndGoneProjectsWithTheirReason(t *testing.T) {
	f := newSyncFixture(t, "17.11")
	base := fmt.Sprintf("/api/v1/integrations/%d", f.integ)
	if code := f.call(t, "GET", base+"/repositories", f.owner, "", nil); code != 200 {
		t.Fatalf("discovery: %d", code)
	}
	var groups struct{ Groups []store.Group }
	f.call(t, "GET", base+"/groups", f.owner, "", &groups)
	var ids []string
	for _, g := range groups.Groups {
		ids = append(ids, fmt.Sprintf(`{"id": %d, "auto_import": true}`, g.GitLabID))
	}
	if code := f.call(t, "PUT", base+"/selection", f.owner, `{"groups": [`+strings.Join(ids, ",")+`], "include_archived": true}`, nil); code != 200 {
		t.Fatalf("selection: %d", code)
	}
	if code := f.call(t, "POST", base+"/sync", f.owner, "", nil); code != 202 {
		t.Fatalf("sync: %d", code)
	}
	sel := true
	ps, err := f.st.Projects(t.Context(), f.org, f.integ, store.ProjectQuery{Selected: &sel, Limit: 1000})
	if err != nil || len(ps) < 2 {
		t.Fatalf("selected projects: %d %v", len(ps), err)
	}
	polled := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	var rowIDs []int64
	for _, p := range ps {
		rowIDs = append(rowIDs, p.ID)
	}
	if err := f.st.MarkProjectsPolled(t.Context(), f.org, f.integ, rowIDs, polled); err != nil {
		t.Fatal(err)
	}
	lost := ps[0]
	if err := f.st.MarkProjectsGone(t.Context(), f.org, f.integ, []store.GoneProject{{GitLabID: lost.GitLabID, Gone: store.GoneForbidden,
		Reason: "GitLab answers 403 Forbidden on the project: the credential lost access"}}); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Projects []struct {
			ProjectID  int64      `json:"project_id"`
			LastPollAt *time.Time `json:"last_poll_at"`
			FreshAsOf  *time.Time `json:"fresh_as_of"`
			Plan       struct {
				EverySeconds int    `json:"every_seconds"`
				Reason       string `json:"reason"`
			} `json:"poll_plan"`
			CIEnabled  bool   `json:"ci_enabled"`
			Gone       string `json:"gone"`
			GoneReason string `json:"gone_reason"`
		} `json:"projects"`
	}
	if code := f.call(t, "GET", base+"/freshness", f.owner, "", &out); code != 200 {
		t.Fatalf("freshness: %d", code)
	}
	if len(out.Projects) != len(ps) {
		t.Fatalf("freshness lists %d projects, want the %d selected (one of them gone)", len(out.Projects), len(ps))
	}
	ciOff, ciOffWant := 0, 0
	for _, p := range f.sb.Manifest().PerProject {
		if !p.CIEnabled {
			ciOffWant++
		}
	}
	for _, p := range out.Projects {
		if !p.CIEnabled {
			ciOff++
		}
		if p.ProjectID == lost.GitLabID {
			if p.Gone != store.GoneForbidden || !strings.Contains(p.GoneReason, "403") {
				t.Fatalf("the lost project shows gone=%q reason=%q", p.Gone, p.GoneReason)
			}
			continue
		}
		if p.Gone != "" || p.LastPollAt == nil || p.FreshAsOf == nil || !p.FreshAsOf.Equal(polled) || p.Plan.EverySeconds == 0 || p.Plan.Reason == "" {
			t.Fatalf("project %d: %+v, want polled and fresh as of %s", p.ProjectID, p, polled)
		}
	}
	if ciOff != ciOffWant {
		t.Fatalf("%d projects shown with CI/CD disabled, the sandbox has %d", ciOff, ciOffWant)
	}
	if code := f.call(t, "GET", base+"/freshness", f.other, "", nil); code != 404 {
		t.Fatalf("another organisation's freshness: %d, want 404", code)
	}
}

func TestTheOpenAPIDocumentListsTheSettingsAndFreshnessFields(t *testing.T) {
	f := newSyncFixture(t, "17.11")
	var raw map[string]any
	if code := f.call(t, "GET", "/api/v1/openapi.json", f.owner, "", &raw); code != 200 {
		t.Fatalf("openapi: %d", code)
	}
	paths := raw["paths"].(map[string]any)
	patch := paths["/api/v1/integrations/{id}"].(map[string]any)["patch"].(map[string]any)
	props := patch["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
	for _, k := range []string{"request_concurrency", "history_since", "keep_lost_project_data", "allow_insecure_http"} {
		if props[k] == nil {
			t.Errorf("PATCH body lacks %s", k)
		}
	}
	fr, ok := paths["/api/v1/integrations/{id}/freshness"].(map[string]any)
	if !ok {
		t.Fatal("the freshness route is not in the document")
	}
	for _, k := range []string{"last_webhook_at", "last_poll_at", "fresh_as_of", "ci_enabled", "gone", "gone_reason", "previous_path", "data_purged_at"} {
		if !strings.Contains(fmt.Sprint(fr), k+":") {
			t.Errorf("the freshness answer lacks %s", k)
		}
	}
	repos := fmt.Sprint(paths["/api/v1/integrations/{id}/repositories"])
	for _, k := range []string{"last_poll_at:", "fresh_as_of:", "gone_reason:", "previous_path:"} {
		if !strings.Contains(repos, k) {
			t.Errorf("the repositories answer lacks %s", k)
		}
	}
	for _, k := range []string{"insecure:", "insecure_warning:", "settings:"} {
		if !strings.Contains(fmt.Sprint(paths["/api/v1/integrations/{id}"]), k) {
			t.Errorf("the integration answer lacks %s", k)
		}
	}
}

// The freshness route is for every member, like the sync progress; it is
// added to the access matrix's policy here to keep that table's file as
// it is.
func init() { policy["GET /api/v1/integrations/{id}/freshness"] = "member" }
