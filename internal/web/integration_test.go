package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/store"
)

// integrationWithProjects seeds f's integration A with two selected
// projects, one of them gone, and a pipelines row of a CI/CD-disabled
// project, and returns the integration page's path.
func integrationWithProjects(t *testing.T, f *fixture) string {
	t.Helper()
	ctx := context.Background()
	seedPicker(t, f.st, f.org, f.integA, 14, 2)
	if err := f.st.SaveSelection(ctx, f.org, f.integA, store.Selection{Projects: []int64{100000, 100001}}); err != nil {
		t.Fatal(err)
	}
	ps, err := f.st.Projects(ctx, f.org, f.integA, store.ProjectQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var rows []int64
	for _, p := range ps {
		if p.GitLabID == 100000 || p.GitLabID == 100001 {
			rows = append(rows, p.ID)
		}
	}
	if err := f.st.SetSelectedProjects(ctx, f.org, f.integA, rows); err != nil {
		t.Fatal(err)
	}
	if err := f.st.EnsureProgress(ctx, f.org, f.integA, rows, []string{"pipelines"}); err != nil {
		t.Fatal(err)
	}
	prog, err := f.st.ProgressRows(ctx, f.org, f.integA, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prog {
		if p.ProjectGitLabID == 100000 { // CI/CD disabled in seedPicker (every seventh project)
			p.Status, p.LastError = store.ProgressCIDisabled, "CI/CD is disabled in this project: pipelines skipped"
			if err := f.st.SaveProgress(ctx, nil, f.org, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.st.MarkProjectsGone(ctx, f.org, f.integA, []store.GoneProject{{GitLabID: 100001, Gone: store.GoneForbidden,
		Reason: "GitLab answers 403 on the project: the account lost access"}}); err != nil {
		t.Fatal(err)
	}
	return "/integrations/" + strconv.FormatInt(f.integA, 10)
}

func TestTheIntegrationPageShowsFreshnessGoneProjectsAndCIDisabledAsSuch(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	path := integrationWithProjects(t, f)
	b := f.browser(t)
	b.mustSignin("member@a.test")
	p := b.get(path)
	if p.status != http.StatusOK {
		t.Fatalf("integration page: %d %.300s", p.status, p.body)
	}
	for _, want := range []string{`id="freshness"`, "group-000/project-00000", "GitLab answers 403 on the project: the account lost access",
		`id="ci-disabled"`, "CI/CD disabled — pipelines skipped", `id="settings"`} {
		if !strings.Contains(p.body, want) {
			t.Fatalf("the page lacks %q", want)
		}
	}
	if strings.Contains(p.body, `id="prob-h"`) {
		t.Fatalf("a project with CI/CD disabled is listed among the problems")
	}
	if strings.Contains(p.body, `action="/integrations/`+strconv.FormatInt(f.integA, 10)+`/settings"`) {
		t.Fatalf("a member is offered the settings form")
	}
	if strings.Contains(p.body, `id="insecure-warning"`) {
		t.Fatalf("an https integration is shown as insecure")
	}
}

func TestTheSettingsFormSavesRefusesWithTheFieldAndNeedsCSRF(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	path := integrationWithProjects(t, f)
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	csrf := csrfOf(t, b.get(path))
	read := func() store.SyncSettings {
		st, err := f.st.SyncSettingsFor(context.Background(), f.org, f.integA)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"without the CSRF token", url.Values{"request_concurrency": {"5"}}, http.StatusForbidden, ""},
		{"a concurrency that is not a number", url.Values{"csrf_token": {csrf}, "request_concurrency": {"many"}}, http.StatusUnprocessableEntity, "is not a whole number"},
		{"a concurrency out of range", url.Values{"csrf_token": {csrf}, "request_concurrency": {"99"}}, http.StatusUnprocessableEntity, "outside 0..64"},
		{"a date that is not one", url.Values{"csrf_token": {csrf}, "request_concurrency": {"2"}, "history_since": {"2024-02-30"}}, http.StatusUnprocessableEntity, "is not a date"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.post(path+"/settings", c.form)
			if p.status != c.status || !strings.Contains(p.body, c.want) {
				t.Fatalf("%d, want %d with %q: %.500s", p.status, c.status, c.want, p.body)
			}
			if c.status == http.StatusUnprocessableEntity && !strings.Contains(p.body, `aria-invalid="true"`) {
				t.Fatalf("the refused field is not marked invalid")
			}
			if got := read(); got != (store.SyncSettings{}) {
				t.Fatalf("a refused form changed the settings: %+v", got)
			}
		})
	}
	p := b.post(path+"/settings", url.Values{"csrf_token": {csrf}, "request_concurrency": {"4"}, "history_since": {"2023-10-01"}, "keep_lost_project_data": {"on"}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Saved: request concurrency, history since, keep lost project data.") {
		t.Fatalf("saving: %d %.500s", p.status, p.body)
	}
	if got := read(); got.RequestConcurrency != 4 || !got.KeepLostProjectData || got.HistorySince == nil || got.HistorySince.Format("2006-01-02") != "2023-10-01" {
		t.Fatalf("stored %+v", got)
	}
	// Unticking the box and clearing the date turn them off.
	p = b.post(path+"/settings", url.Values{"csrf_token": {csrf}, "request_concurrency": {"4"}, "history_since": {""}})
	if got := read(); p.status != http.StatusOK || got.KeepLostProjectData || got.HistorySince != nil || got.RequestConcurrency != 4 {
		t.Fatalf("clearing: %d, stored %+v", p.status, got)
	}
	member := f.browser(t)
	member.mustSignin("member@a.test")
	mp := member.post(path+"/settings", url.Values{"csrf_token": {csrfOf(t, member.get(path))}, "request_concurrency": {"1"}})
	if mp.status != http.StatusForbidden || read().RequestConcurrency != 4 {
		t.Fatalf("a member's settings form: %d, stored %+v", mp.status, read())
	}
}

func TestAnIntegrationOverPlainHTTPCarriesAVisibleWarning(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	ctx := context.Background()
	in := &store.Integration{OrgID: f.org, Alias: "plain", BaseURL: "http://gitlab.corp.example", AuthMethod: store.AuthMethodToken, AllowInsecureHTTP: true}
	if err := f.st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SaveSelection(ctx, f.org, in.ID, store.Selection{}); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	p := b.get("/integrations/" + strconv.FormatInt(in.ID, 10))
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="insecure-warning"`) || !strings.Contains(p.body, "unencrypted") || !strings.Contains(p.body, "plain http — insecure") {
		t.Fatalf("%d, no insecure warning: %.600s", p.status, p.body)
	}
	if c := b.get("/connectors"); strings.Count(c.body, "plain http — insecure") != 1 {
		t.Fatalf("the connectors list does not mark exactly the plain-http integration as insecure")
	}
}

func TestTheInstallFormRefusesThePlainHTTPOptInWhereItDoesNotApply(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	csrf := csrfOf(t, b.get("/connect"))
	cases := []struct{ name, url, want string }{
		{"GitLab.com over http", "http://gitlab.com", "reaches only over https"},
		{"an https address", "https://gitlab.example.invalid", "does not use plain http"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.post("/connect/token", url.Values{"csrf_token": {csrf}, "hosting": {"self-managed"}, "method": {"token"},
				"base_url": {c.url}, "token": {"glpat-xxxxxxxxxxxxxxxxxxxx"}, "allow_insecure_http": {"on"}})
			if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, c.want) || !strings.Contains(p.body, `id="allow_insecure_http" checked`) {
				t.Fatalf("%d, want 422 with %q and the box still ticked: %.400s", p.status, c.want, p.body)
			}
		})
	}
	list, err := f.st.Integrations(context.Background(), f.org)
	if err != nil || len(list) != 1 {
		t.Fatalf("integrations after refusals: %d %v", len(list), err)
	}
}
