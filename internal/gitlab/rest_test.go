package gitlab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
)

func sandboxClient(t *testing.T, sb *sandbox.Sandbox, token string, hooks bool) *gitlab.Client {
	t.Helper()
	base, err := gitlab.NormalizeBaseURL(sb.URL())
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitlab.New(gitlab.Options{BaseURL: base, Token: secret.New(token), Policy: gitlab.AddressPolicy{AllowLoopback: true},
		AllowHookWrites: hooks, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTheRESTCallsOtherPackagesMakeReadWhatGitLabAnswers(t *testing.T) {
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 3, Groups: 1, Projects: 3, MRs: 1, Issues: 1, Pipelines: 1, Commits: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	expires := time.Now().AddDate(0, 2, 0).UTC().Truncate(24 * time.Hour)
	tok := sb.CreateToken(sandbox.TokenSpec{User: "alice", Name: "reader", Scopes: []string{"read_api"}, ExpiresAt: expires})
	c := sandboxClient(t, sb, tok, false)
	admin := sandboxClient(t, sb, sb.AdminToken(), true)

	t.Run("version and metadata", func(t *testing.T) {
		v, err := c.ServerVersion(ctx)
		if err != nil || v.Version == "" {
			t.Fatalf("ServerVersion: %+v %v", v, err)
		}
		md, err := c.Metadata(ctx)
		if err != nil || md.Version != v.Version {
			t.Fatalf("Metadata: %+v %v, /version says %q", md, err, v.Version)
		}
	})
	t.Run("user", func(t *testing.T) {
		u, err := c.CurrentUser(ctx)
		if err != nil || u.Username != "alice" || u.ID == 0 || u.IsAdmin {
			t.Fatalf("CurrentUser: %+v %v", u, err)
		}
		root, err := admin.CurrentUser(ctx)
		if err != nil || !root.IsAdmin {
			t.Fatalf("CurrentUser of the administrator: %+v %v", root, err)
		}
	})
	t.Run("token", func(t *testing.T) {
		at, err := c.AccessTokenSelf(ctx)
		if err != nil || at.Name != "reader" || !slices.Equal(at.Scopes, []string{"read_api"}) || !at.Active || at.Revoked {
			t.Fatalf("AccessTokenSelf: %+v %v", at, err)
		}
		if at.ExpiresAt == nil || !at.ExpiresAt.Equal(expires) {
			t.Fatalf("expires %v, want %v", at.ExpiresAt, expires)
		}
	})
	t.Run("projects counted from one page", func(t *testing.T) {
		all, err := admin.FirstProjectsPage(ctx, gitlab.ProjectFilter{})
		if err != nil || all.Listed != 1 || !all.HasTotal || all.Total < 3 || !all.More {
			t.Fatalf("FirstProjectsPage: %+v %v", all, err)
		}
		mine, err := c.FirstProjectsPage(ctx, gitlab.ProjectFilter{Membership: true, MinAccessLevel: gitlab.ReporterAccess})
		if err != nil || mine.HasTotal && mine.Total > all.Total {
			t.Fatalf("FirstProjectsPage of alice's memberships: %+v %v (all: %+v)", mine, err, all)
		}
	})
	t.Run("a page through Get", func(t *testing.T) {
		var body bytes.Buffer
		a, err := admin.Get(ctx, admin.APIURL("projects", url.Values{"per_page": {"2"}, "order_by": {"id"}, "sort": {"asc"}}), &body)
		if err != nil || a.Status != 200 || a.NextPage != 2 || !a.HasTotal {
			t.Fatalf("Get: %+v %v", a, err)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(body.Bytes(), &items); err != nil || len(items) != 2 {
			t.Fatalf("body: %d items, %v", len(items), err)
		}
		a, err = admin.Get(ctx, admin.APIURL("projects/999999", nil), &body)
		if err == nil || a.Status != 404 || gitlab.ClassifyError(err).Status != 404 {
			t.Fatalf("Get of a missing project: %+v %v", a, err)
		}
	})
	t.Run("hooks", func(t *testing.T) {
		pid := sb.Manifest().PerProject[0].ID
		spec := gitlab.HookSpec{URL: "https://labsync.example/api/v1/webhooks/gitlab/h1", Token: "s3cret"}
		if _, err := c.AddProjectHook(ctx, pid, spec); err == nil {
			t.Fatal("a client without hook writes registered a hook")
		}
		h, err := admin.AddProjectHook(ctx, pid, spec)
		if err != nil || h.ID == 0 || h.URL != spec.URL || !h.PushEvents || !h.MergeRequestsEvents || !h.IssuesEvents || !h.PipelineEvents {
			t.Fatalf("AddProjectHook: %+v %v", h, err)
		}
		spec.URL += "?v=2"
		if err := admin.EditProjectHook(ctx, pid, h.ID, spec); err != nil {
			t.Fatal(err)
		}
		if got, err := admin.ProjectHook(ctx, pid, h.ID); err != nil || got.URL != spec.URL {
			t.Fatalf("ProjectHook after the edit: %+v %v", got, err)
		}
		if hs, err := admin.ProjectHooks(ctx, pid); err != nil || len(hs) != 1 || hs[0].ID != h.ID {
			t.Fatalf("ProjectHooks: %+v %v", hs, err)
		}
		if gone, err := admin.DeleteProjectHook(ctx, pid, h.ID); err != nil || gone {
			t.Fatalf("DeleteProjectHook: gone %v, %v", gone, err)
		}
		if gone, err := admin.DeleteProjectHook(ctx, pid, h.ID); err != nil || !gone {
			t.Fatalf("DeleteProjectHook of a deleted hook: gone %v, %v", gone, err)
		}
	})
}
