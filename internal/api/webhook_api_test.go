package api_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
)

// TestWebhookLifecycleThroughTheAPI: connect, issue the webhook, opt in,
// register it at GitLab, receive a delivery through it, disconnect — the
// hooks are removed at GitLab and later deliveries answer 404.
func TestWebhookLifecycleThroughTheAPI(t *testing.T) {
	f := newConnectFixture(t)
	ctx := context.Background()
	sb := startSB(t, small(sandbox.Config{Version: "17.11"}))
	code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/token", f.owner,
		map[string]any{"base_url": sb.URL(), "token": sb.AdminToken(), "alias": "hooks"})
	if code != 201 {
		t.Fatalf("connect: %d %v", code, body)
	}
	id := int64(body["integration"].(map[string]any)["id"].(float64))
	path := "/api/v1/integrations/" + itoa(id) + "/webhook"

	// Select two projects (as the sync API would).
	var ps []store.Project
	for _, p := range sb.Manifest().PerProject[:2] {
		ps = append(ps, store.Project{GitLabID: p.ID, PathWithNamespace: p.Path, ObjectFormat: "sha1"})
	}
	if err := f.st.UpsertDiscoveredProjects(ctx, f.org, id, ps); err != nil {
		t.Fatal(err)
	}
	var rows []int64
	for _, p := range ps {
		pr, _ := f.st.ProjectByGitLabID(ctx, f.org, id, p.GitLabID)
		rows = append(rows, pr.ID)
	}
	if err := f.st.SetSelectedProjects(ctx, f.org, id, rows); err != nil {
		t.Fatal(err)
	}

	if code, body := f.call(t, "POST", path, f.member, nil); code != 403 {
		t.Fatalf("a member issued a webhook: %d %v", code, body)
	}
	code, body = f.call(t, "POST", path, f.owner, nil)
	if code != 201 || body["secret"] == nil || body["url"] == nil {
		t.Fatalf("issue: %d %v", code, body)
	}
	secretTok, hookURL := body["secret"].(string), body["url"].(string)
	if code, body := f.call(t, "GET", path, f.member, nil); code != 200 || body["secret"] != nil || body["issued"] != true {
		t.Fatalf("show: %d %v (the secret must not be shown again)", code, body)
	}
	if code, _ := f.call(t, "GET", path, f.other, nil); code != 404 {
		t.Fatalf("another organisation sees the webhook: %d", code)
	}

	// Registering needs the opt-in.
	if code, body := f.call(t, "POST", path+"/register", f.owner, nil); code != 409 {
		t.Fatalf("register without opt-in: %d %v", code, body)
	}
	if code, body := f.call(t, "PATCH", "/api/v1/integrations/"+itoa(id), f.owner, map[string]any{"allow_hook_registration": true}); code != 200 {
		t.Fatalf("opt in: %d %v", code, body)
	}
	code, body = f.call(t, "POST", path+"/register", f.owner, nil)
	if code != 200 {
		t.Fatalf("register: %d %v", code, body)
	}
	for _, p := range body["projects"].([]any) {
		if p.(map[string]any)["status"] != "registered" {
			t.Fatalf("register: %v", body)
		}
	}
	if m := sb.Manifest(); m.Totals.Hooks != 2 {
		t.Fatalf("%d hooks at GitLab", m.Totals.Hooks)
	}
	if _, err := sb.OpenIssue(ps[0].GitLabID, "through the hook"); err != nil {
		t.Fatal(err)
	}
	delivered := false
	for range 1000 {
		if _, b := f.call(t, "GET", path, f.owner, nil); b["inbox"] != nil && len(b["inbox"].(map[string]any)) > 0 {
			delivered = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !delivered {
		t.Fatalf("no delivery arrived: %+v", sb.Deliveries())
	}

	code, body = f.call(t, "DELETE", "/api/v1/integrations/"+itoa(id), f.owner, nil)
	if code != 200 {
		t.Fatalf("disconnect: %d %v", code, body)
	}
	removed, _ := body["webhooks_removed"].([]any)
	if len(removed) != 2 || removed[0].(map[string]any)["status"] != "removed" {
		t.Fatalf("disconnect did not remove the hooks: %v", body)
	}
	if m := sb.Manifest(); m.Totals.Hooks != 0 {
		t.Fatalf("%d hooks left at GitLab", m.Totals.Hooks)
	}
	before, _ := f.st.InboxCounts(ctx, f.org, id)
	req, _ := http.NewRequest("POST", hookURL, bytes.NewReader([]byte(`{"object_kind":"push"}`)))
	req.Header.Set("X-Gitlab-Token", secretTok)
	req.Header.Set("X-Gitlab-Event", "Push Hook")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	after, _ := f.st.InboxCounts(ctx, f.org, id)
	if res.StatusCode != 404 || len(after) != len(before) || after["pending"] != before["pending"] {
		t.Fatalf("delivery after disconnect: %d, inbox %v -> %v", res.StatusCode, before, after)
	}
}
