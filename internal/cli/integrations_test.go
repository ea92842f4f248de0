package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/store"
)

func TestIntegrationsSetChangesOnlyTheGivenSettingsThroughTheAPI(t *testing.T) {
	a := apiServerFor(t, true, "https://gitlab.example.com", nil)
	id := fmt.Sprint(a.integration)
	set := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		isolate(t)
		t.Setenv(envAPIToken, a.token)
		return run(t, context.Background(), append([]string{"integrations", "set", id, "--server", a.url}, args...)...)
	}
	code, out, errOut := set(t, "--concurrency", "3", "--history-since", "2024-06-01")
	if code != 0 || !strings.Contains(out, "Changed request_concurrency, history_since") || !strings.Contains(out, "concurrency 3; backfill since 2024-06-01") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = set(t, "--keep-lost-project-data")
	if code != 0 || !strings.Contains(out, "Changed keep_lost_project_data") || !strings.Contains(out, "projects the credential lost: kept") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	st, err := a.st.SyncSettingsFor(context.Background(), a.org, a.integration)
	if err != nil || st.RequestConcurrency != 3 || !st.KeepLostProjectData || st.HistorySince == nil || st.HistorySince.Format("2006-01-02") != "2024-06-01" {
		t.Fatalf("stored %+v %v: a flag left out changed its setting", st, err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"a concurrency out of range, with the API's remedy", []string{"--concurrency", "500"}, "labsync: the request concurrency 500 is outside 0..64\n  → Give a whole number"},
		{"plain http for an https GitLab", []string{"--allow-insecure-http"}, "does not use plain http"},
		{"no flag at all", nil, "nothing to change"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := set(t, c.args...)
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, c.want)
			}
		})
	}
	if st2, _ := a.st.SyncSettingsFor(context.Background(), a.org, a.integration); st2.RequestConcurrency != st.RequestConcurrency {
		t.Fatalf("a refused change was saved: %+v", st2)
	}
}

func TestIntegrationsProjectsShowsFreshnessCIAndGoneReasons(t *testing.T) {
	a := apiServerFor(t, true, "https://gitlab.example.com", nil)
	ctx := context.Background()
	rows := []store.Project{
		{OrgID: a.org, IntegrationID: a.integration, GitLabID: 11, PathWithNamespace: "team/api", Name: "api", CIEnabled: true},
		{OrgID: a.org, IntegrationID: a.integration, GitLabID: 12, PathWithNamespace: "team/docs", Name: "docs", CIEnabled: false},
		{OrgID: a.org, IntegrationID: a.integration, GitLabID: 13, PathWithNamespace: "team/old", Name: "old", CIEnabled: true},
	}
	if err := a.st.UpsertDiscoveredProjects(ctx, a.org, a.integration, rows); err != nil {
		t.Fatal(err)
	}
	ps, err := a.st.Projects(ctx, a.org, a.integration, store.ProjectQuery{Limit: 10})
	if err != nil || len(ps) != 3 {
		t.Fatalf("%d projects stored, want 3 (%v)", len(ps), err)
	}
	if err := a.st.SetSelectedProjects(ctx, a.org, a.integration, []int64{ps[0].ID, ps[1].ID, ps[2].ID}); err != nil {
		t.Fatal(err)
	}
	if err := a.st.MarkProjectsGone(ctx, a.org, a.integration, []store.GoneProject{{GitLabID: 13, Gone: store.GoneNotFound, Reason: "GitLab answers 404: deleted or no longer visible"}}); err != nil {
		t.Fatal(err)
	}
	isolate(t)
	t.Setenv(envAPIToken, a.token)
	code, out, errOut := run(t, ctx, "integrations", "projects", fmt.Sprint(a.integration), "--server", a.url)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"team/api", "team/docs", "CI/CD disabled — pipelines skipped", "team/old", "gone: GitLab answers 404: deleted or no longer visible"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the table lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "CI/CD disabled") != 1 {
		t.Fatalf("only team/docs has CI/CD disabled:\n%s", out)
	}
}

func TestIntegrationsListAndShowMarkAPlainHTTPIntegrationInsecure(t *testing.T) {
	a := apiServerFor(t, false, "https://gitlab.example.com", nil)
	in := &store.Integration{OrgID: a.org, Alias: "plain", BaseURL: "http://gitlab.corp.example", AuthMethod: store.AuthMethodToken, AllowInsecureHTTP: true}
	if err := a.st.CreateIntegration(context.Background(), nil, in); err != nil {
		t.Fatal(err)
	}
	isolate(t)
	t.Setenv(envAPIToken, a.token)
	code, out, errOut := run(t, context.Background(), "integrations", "list", "--server", a.url)
	if code != 0 || strings.Count(out, "INSECURE") != 1 || !strings.Contains(out, "http://gitlab.corp.example (INSECURE: plain http)") {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, context.Background(), "integrations", "show", fmt.Sprint(in.ID), "--server", a.url)
	if code != 0 || !strings.Contains(out, "! INSECURE:") || !strings.Contains(out, "unencrypted") {
		t.Fatalf("show: exit %d\n%s\n%s", code, out, errOut)
	}
}
