package web_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestRegisterWebhooksFromTheIntegrationPage: an integration connected with
// hook registration allowed offers "Register the webhook in GitLab"; it
// adds labsync's webhook to every selected project and shows what GitLab
// did. One connected without it offers no such button and refuses the
// request, writing nothing to GitLab.
func TestRegisterWebhooksFromTheIntegrationPage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 11, Groups: 1, Projects: 3, MRs: 1, Issues: 1, Pipelines: 1, Commits: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	who := integrations.Actor{OrgID: f.org, UserID: f.owner.ID}
	connect := func(alias string, allow bool) int64 {
		res, err := f.deps.Integrations.ConnectToken(ctx, who, integrations.TokenInput{BaseURL: sb.URL(),
			Token: secret.New(sb.AdminToken()), Alias: alias, AllowHookRegistration: allow})
		if err != nil {
			t.Fatal(err)
		}
		id := res.Integration.ID
		if err := f.deps.Sync.Discover(ctx, f.org, id); err != nil {
			t.Fatal(err)
		}
		ps, err := f.st.AllProjects(ctx, f.org, id)
		if err != nil {
			t.Fatal(err)
		}
		sel := store.Selection{Services: store.AllServices}
		for _, p := range ps[:2] { // two of the three projects
			sel.Projects = append(sel.Projects, p.GitLabID)
		}
		if _, err := f.deps.Sync.SaveSelection(ctx, f.org, id, sel); err != nil {
			t.Fatal(err)
		}
		return id
	}
	allowed, refused := connect("may-register", true), connect("read-only", false)

	b := f.browser(t)
	b.mustSignin("owner@a.test")
	path := func(id int64) string { return "/integrations/" + strconv.FormatInt(id, 10) }
	p := b.get(path(allowed))
	if p.status != 200 || strings.Contains(p.body, `id="register-webhooks"`) {
		t.Fatalf("before a webhook is issued: %d, register button shown: %v", p.status, strings.Contains(p.body, `id="register-webhooks"`))
	}
	if p = b.post(path(allowed)+"/webhook", url.Values{"csrf_token": {csrfOf(t, p)}}); p.status != http.StatusSeeOther {
		t.Fatalf("issuing a webhook: %d, want a redirect", p.status)
	}
	p = b.get(p.header.Get("Location"))
	if p.status != 200 || !strings.Contains(p.body, `id="register-webhooks"`) {
		t.Fatalf("after issuing: %d, no register button: %.400s", p.status, p.body)
	}
	if p = b.post(path(allowed)+"/webhook/register", url.Values{"csrf_token": {csrfOf(t, p)}}); p.status != http.StatusSeeOther {
		t.Fatalf("register: %d, want a redirect", p.status)
	}
	p = b.get(p.header.Get("Location"))
	if p.status != 200 || !strings.Contains(p.body, `id="registered"`) {
		t.Fatalf("register: %d %.600s", p.status, p.body)
	}
	ps, _ := f.st.AllProjects(ctx, f.org, allowed)
	hookURL := ""
	if e, err := f.st.WebhookEndpointFor(ctx, f.org, allowed); err == nil {
		hookURL = f.deps.Webhooks.URLFor(e.HookID)
	} else {
		t.Fatal(err)
	}
	for _, pr := range ps {
		has := hasHook(t, sb, pr.GitLabID, hookURL)
		if pr.Selected != has {
			t.Fatalf("project %s (selected %v) has labsync's hook: %v", pr.PathWithNamespace, pr.Selected, has)
		}
		if pr.Selected && !strings.Contains(p.body, pr.PathWithNamespace) {
			t.Fatalf("the page does not report %s", pr.PathWithNamespace)
		}
	}

	// Not allowed: no button, and the request is refused before GitLab.
	p = b.get(path(refused))
	p = b.post(path(refused)+"/webhook", url.Values{"csrf_token": {csrfOf(t, p)}})
	p = b.get(p.header.Get("Location"))
	if strings.Contains(p.body, `id="register-webhooks"`) {
		t.Fatal("the register button is offered for an integration that did not allow it")
	}
	before := len(sb.Requests())
	p = b.post(path(refused)+"/webhook/register", url.Values{"csrf_token": {csrfOf(t, p)}})
	if p.status != http.StatusConflict || !strings.Contains(p.body, "Webhook registration is off") {
		t.Fatalf("register without permission: %d %.400s", p.status, p.body)
	}
	for _, r := range sb.Requests()[before:] {
		if r.Method != http.MethodGet {
			t.Fatalf("a refused registration still wrote to GitLab: %s %s", r.Method, r.Path)
		}
	}
}

// hasHook reports whether the sandbox project has a hook with url.
func hasHook(t *testing.T, sb *sandbox.Sandbox, projectID int64, hookURL string) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v4/projects/%d/hooks", sb.URL(), projectID), nil)
	req.Header.Set("PRIVATE-TOKEN", sb.AdminToken())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var hooks []struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(res.Body).Decode(&hooks); err != nil {
		t.Fatalf("hooks of project %d: %v", projectID, err)
	}
	for _, h := range hooks {
		if h.URL == hookURL {
			return true
		}
	}
	return false
}
