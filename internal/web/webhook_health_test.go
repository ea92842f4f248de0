package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
)

// TestTheIntegrationPageSaysWhyWebhooksMightNotArriveAndTestsTheHookOnlyWhenAllowed:
// without an issued webhook the page says so with what to do and names
// GitLab's local-network setting for labsync's loopback address, and
// offers no test; with hook registration allowed and hooks registered,
// "Read each hook's state" shows each hook as GitLab reports it, and an
// admin's test delivery reaches labsync and is shown as such. A member
// gets no test form.
func TestTheIntegrationPageSaysWhyWebhooksMightNotArriveAndTestsTheHookOnlyWhenAllowed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	f.deps.Webhooks.Start()
	t.Cleanup(f.deps.Webhooks.Stop)

	// The fixture's integration A: nothing issued, no opt-in.
	path := integrationWithProjects(t, f)
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	p := b.get(path)
	if p.status != http.StatusOK {
		t.Fatalf("integration page: %d %.300s", p.status, p.body)
	}
	for _, want := range []string{`id="webhook-health"`, `data-code="not_issued"`, "webhooks cannot arrive",
		integrations.LocalNetworkSetting, `data-code="not_registered"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(p.body, `id="test-hook"`) || strings.Contains(p.body, `id="check-hooks"`) {
		t.Errorf("a test delivery or a GitLab read is offered without the opt-in")
	}
	refused := b.post(path+"/webhook/test", url.Values{"csrf_token": {csrfOf(t, p)}})
	if refused.status != http.StatusConflict || !strings.Contains(refused.body, "labsync does not test webhooks for this integration") {
		t.Errorf("test without the opt-in: %d %.400s", refused.status, refused.body)
	}

	// A sandbox connected with hook registration allowed.
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 9, Groups: 1, Projects: 2, Commits: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	who := integrations.Actor{OrgID: f.org, UserID: f.owner.ID}
	res, err := f.deps.Integrations.ConnectToken(ctx, who, integrations.TokenInput{BaseURL: sb.URL(), Token: secret.New(sb.AdminToken()),
		Alias: "hooks", CAPEM: string(sb.CAPEM()), AllowHookRegistration: true})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Integration.ID
	var ps []store.Project
	for _, mp := range sb.Manifest().PerProject {
		ps = append(ps, store.Project{GitLabID: mp.ID, PathWithNamespace: mp.Path, ObjectFormat: "sha1"})
	}
	if err := f.st.UpsertDiscoveredProjects(ctx, f.org, id, ps); err != nil {
		t.Fatal(err)
	}
	var rows []int64
	for _, sp := range ps {
		pr, _ := f.st.ProjectByGitLabID(ctx, f.org, id, sp.GitLabID)
		rows = append(rows, pr.ID)
	}
	if err := f.st.SaveSelection(ctx, f.org, id, store.Selection{Projects: []int64{ps[0].GitLabID, ps[1].GitLabID}}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetSelectedProjects(ctx, f.org, id, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := f.deps.Integrations.IssueWebhook(ctx, who, id, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.deps.Integrations.RegisterWebhooks(ctx, who, id); err != nil {
		t.Fatal(err)
	}
	ipath := "/integrations/" + strconv.FormatInt(id, 10)
	p = b.get(ipath)
	if !strings.Contains(p.body, `id="check-hooks"`) || !strings.Contains(p.body, `id="test-hook"`) || strings.Contains(p.body, `id="hook-states"`) {
		t.Fatalf("with the opt-in the page offers reading and testing, without reading GitLab yet: %.2000s", p.body)
	}
	if !strings.Contains(p.body, `id="token-kind">personal access token<br><span class="hint">labsync sees what its owner sees`) {
		t.Errorf("the page does not say which kind of token it holds and what it sees: %.3000s", p.body)
	}
	p = b.get(ipath + "?hooks=check")
	for _, sp := range ps {
		if !strings.Contains(p.body, `data-project="`+strconv.FormatInt(sp.GitLabID, 10)+`"`) {
			t.Errorf("the hook of %s is not listed", sp.PathWithNamespace)
		}
	}
	if !strings.Contains(p.body, `id="hook-states"`) || !strings.Contains(p.body, "executable") {
		t.Errorf("the hooks' state is not shown: %.3000s", p.body)
	}
	done := b.post(ipath+"/webhook/test", url.Values{"csrf_token": {csrfOf(t, p)}, "project_id": {strconv.FormatInt(ps[1].GitLabID, 10)}, "trigger": {"push_events"}})
	if done.status != http.StatusOK || !strings.Contains(done.body, `id="hook-test-result"`) || !strings.Contains(done.body, "reached labsync") {
		t.Fatalf("test delivery: %d %.3000s", done.status, done.body)
	}

	m := f.browser(t)
	m.mustSignin("member@a.test")
	if p := m.get(ipath); strings.Contains(p.body, `id="test-hook"`) || !strings.Contains(p.body, `id="webhook-health"`) {
		t.Errorf("a member is offered the test delivery, or sees no health")
	}
}
