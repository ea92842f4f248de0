package api_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// doraIntegration creates an integration of the fixture's organisation
// with project 7 (g/app), one production deployment on 2026-03-03 12:00
// and the merge request it shipped, merged an hour before.
func doraIntegration(t *testing.T, f *connectFixture) int64 {
	t.Helper()
	ctx := context.Background()
	in := &store.Integration{OrgID: f.org, Alias: "dora", BaseURL: "https://dora.gitlab.test", AuthMethod: store.AuthMethodToken}
	if err := f.st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	if err := f.st.UpsertDiscoveredProjects(ctx, f.org, in.ID, []store.Project{{GitLabID: 7, NamespacePath: "g", Name: "app",
		PathWithNamespace: "g/app", Visibility: "private"}}); err != nil {
		t.Fatal(err)
	}
	done, merged := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 11, 0, 0, 0, time.UTC)
	if _, err := f.st.UpsertDeployments(ctx, nil, f.org, in.ID, store.SourceSync, []store.Deployment{{ProjectGitLabID: 7, GitLabID: 501,
		EnvironmentName: "production", EnvironmentTier: "production", Status: "success", Ref: "main", FinishedAt: &done, UpdatedAt: done}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.UpsertMergeRequests(ctx, nil, f.org, in.ID, store.SourceSync, []store.MergeRequest{{ProjectGitLabID: 7, GitLabID: 601,
		IID: 1, State: "merged", TargetBranch: "main", MergedAt: &merged, UpdatedAt: done}}); err != nil {
		t.Fatal(err)
	}
	return in.ID
}

// TestDoraMetricsRefusesEachBadParameterByName: every refused parameter
// comes back as a problem whose field names it, with the status of its
// kind (400 unreadable, 422 refused, 404 not the caller's).
func TestDoraMetricsRefusesEachBadParameterByName(t *testing.T) {
	f := newConnectFixture(t)
	in := doraIntegration(t, f)
	id := fmt.Sprint(in)
	cases := []struct {
		name   string
		query  url.Values
		token  string
		status int
		field  string
	}{
		{"an integration id that is not a number", url.Values{"integration_id": {"x"}}, f.owner, 400, "integration_id"},
		{"a project id that is not a number", url.Values{"integration_id": {id}, "project_id": {"-3"}}, f.owner, 400, "project_id"},
		{"a project without its integration", url.Values{"project_id": {"7"}}, f.owner, 422, "project_id"},
		{"an unknown tier", url.Values{"integration_id": {id}, "environment_tier": {"prod"}}, f.owner, 422, "environment_tier"},
		{"an unknown interval", url.Values{"integration_id": {id}, "interval": {"hour"}}, f.owner, 422, "interval"},
		{"an unreadable date", url.Values{"integration_id": {id}, "from": {"03/01/2026"}}, f.owner, 400, "from"},
		{"a range that ends before it starts", url.Values{"integration_id": {id}, "from": {"2026-03-10"}, "to": {"2026-03-01"}}, f.owner, 422, "from"},
		{"too many days", url.Values{"integration_id": {id}, "from": {"2020-01-01"}, "to": {"2026-01-01"}, "interval": {"day"}}, f.owner, 422, "interval"},
		{"explain that is not a boolean", url.Values{"integration_id": {id}, "explain": {"maybe"}}, f.owner, 400, "explain"},
		{"a project the integration does not have", url.Values{"integration_id": {id}, "project_id": {"99"}}, f.owner, 404, "project_id"},
		{"another organisation's integration", url.Values{"integration_id": {id}}, f.other, 404, "integration_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := f.call(t, "GET", "/api/v1/metrics/dora?"+c.query.Encode(), c.token, nil)
			e, _ := body["error"].(map[string]any)
			if code != c.status || e == nil || e["field"] != c.field || e["message"] == "" {
				t.Errorf("%d %v, want %d naming %s", code, body, c.status, c.field)
			}
		})
	}
}

// TestDoraMetricsAnswersTheSeriesAndTheirRows: a member gets the four
// series of the week, the merge request's lead time of one hour, and with
// explain the GitLab ids behind the points.
func TestDoraMetricsAnswersTheSeriesAndTheirRows(t *testing.T) {
	f := newConnectFixture(t)
	in := doraIntegration(t, f)
	q := url.Values{"integration_id": {fmt.Sprint(in)}, "from": {"2026-03-02"}, "to": {"2026-03-08"}, "interval": {"week"}, "explain": {"true"}}
	code, body := f.call(t, "GET", "/api/v1/metrics/dora?"+q.Encode(), f.member, nil)
	if code != 200 {
		t.Fatalf("%d %v", code, body)
	}
	point := func(series string) map[string]any {
		s, _ := body[series].(map[string]any)
		ps, _ := s["points"].([]any)
		if len(ps) != 1 {
			t.Fatalf("%s points = %v, want one week", series, s)
		}
		return ps[0].(map[string]any)
	}
	if p := point("deployment_frequency"); p["value"] != 1.0 || p["start"] != "2026-03-02T00:00:00Z" || p["end"] != "2026-03-09T00:00:00Z" {
		t.Errorf("deployment frequency = %v", p)
	}
	lt := point("lead_time_for_changes")
	if lt["value"] != 3600.0 {
		t.Errorf("lead time = %v, want 3600", lt)
	}
	rows, _ := lt["rows"].(map[string]any)
	mrs, _ := rows["merge_requests"].([]any)
	if len(mrs) != 1 || mrs[0].(map[string]any)["id"] != 601.0 || mrs[0].(map[string]any)["deployment_id"] != 501.0 {
		t.Errorf("lead time rows = %v, want MR 601 shipped by deployment 501", rows)
	}
	// No incident at all: the rate is 0 of 1 deployment, and the report
	// says incidents are missing.
	if p := point("change_failure_rate"); p["value"] != 0.0 || p["deployments"] != 1.0 {
		t.Errorf("change failure rate = %v", p)
	}
	if m, _ := body["missing"].([]any); len(m) != 1 {
		t.Errorf("missing = %v, want the incidents sentence", body["missing"])
	}
	if body["week_start"] != "monday" || body["environment_tier"] != "production" {
		t.Errorf("report = %v", body)
	}
}
