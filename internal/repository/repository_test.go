package repository_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/gitserve"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/mirror"
	"github.com/labsync/labsync/internal/mirror/mirrortest"
	"github.com/labsync/labsync/internal/repository"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// fixture: organisation A with integration gl (projects 101 g/app selected,
// 102 g/sha selected and SHA-256, 103 g/other not selected) and the
// repository service on; organisation B with its own token. Git is served
// by a mirrortest server standing in for the GitLab.
type fixture struct {
	st           *store.Store
	git          *mirrortest.Server
	m            *mirror.Manager
	svc          *repository.Service
	orgA, integ  int64
	owner, other string
	ownerTokenID int64
	ownerID      int64
}

func mint(t *testing.T, st *store.Store, org, user int64) (string, int64) {
	t.Helper()
	tok, prefix, hash, err := accounts.NewAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	at, err := st.CreateAPIToken(context.Background(), org, user, "runner", prefix, hash)
	if err != nil {
		t.Fatal(err)
	}
	return tok, at.ID
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{st: storetest.Open(t), git: mirrortest.NewServer(t, "glpat-source", false)}
	b, _, err := f.st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	f.orgA, f.ownerID = b.Org.ID, b.Owner.ID
	f.owner, f.ownerTokenID = mint(t, f.st, b.Org.ID, b.Owner.ID)
	o, _ := f.st.CreateUser(ctx, "owner@b", "O", "")
	orgB, _ := f.st.CreateOrganization(ctx, "B", o.ID)
	f.other, _ = mint(t, f.st, orgB.ID, o.ID)
	in := &store.Integration{OrgID: f.orgA, Alias: "gl", BaseURL: f.git.URL, AuthMethod: store.AuthMethodToken}
	if err := f.st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	f.integ = in.ID
	projects := []store.Project{
		{GitLabID: 101, PathWithNamespace: "g/app", NamespacePath: "g", Name: "app", DefaultBranch: "main", ObjectFormat: "sha1"},
		{GitLabID: 102, PathWithNamespace: "g/sha", NamespacePath: "g", Name: "sha", DefaultBranch: "main", ObjectFormat: "sha256"},
		{GitLabID: 103, PathWithNamespace: "g/other", NamespacePath: "g", Name: "other", DefaultBranch: "main", ObjectFormat: "sha1"},
	}
	if err := f.st.UpsertDiscoveredProjects(ctx, f.orgA, f.integ, projects); err != nil {
		t.Fatal(err)
	}
	all, err := f.st.AllProjects(ctx, f.orgA, f.integ)
	if err != nil || len(all) != 3 {
		t.Fatalf("projects: %v %d", err, len(all))
	}
	if err := f.st.SetSelectedProjects(ctx, f.orgA, f.integ, []int64{all[0].ID, all[1].ID}); err != nil {
		t.Fatal(err)
	}
	f.setRepository(t, true)
	for _, p := range projects {
		f.git.NewRepo(t, p.PathWithNamespace, p.ObjectFormat, 5)
	}
	f.m, err = mirror.New(mirror.Config{Dir: t.TempDir(), Debounce: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Remote: func(_ context.Context, orgID, integrationID int64) (mirror.Remote, error) {
			i, err := f.st.Integration(ctx, orgID, integrationID)
			if err != nil {
				return mirror.Remote{}, err
			}
			return mirror.Remote{BaseURL: i.BaseURL, Username: "labsync", Token: secret.New("glpat-source")}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.m.Close)
	f.svc = repository.New(f.st, f.m, accounts.New(f.st, slog.New(slog.DiscardHandler), nil, accounts.Options{}), slog.New(slog.DiscardHandler))
	return f
}

func (f *fixture) setRepository(t *testing.T, on bool) {
	t.Helper()
	ctx := context.Background()
	sel, err := f.st.SelectionFor(ctx, f.orgA, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	sel.Services.Repository = on
	if err := f.st.SaveSelection(ctx, f.orgA, f.integ, sel); err != nil {
		t.Fatal(err)
	}
}

// waitState polls the status of project until it is in state (bounded).
func (f *fixture) waitState(t *testing.T, project int64, state mirror.State) repository.Mirror {
	t.Helper()
	for range 600 {
		list, err := f.svc.Mirrors(context.Background(), f.orgA, f.integ, "https://labsync.example")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list.Mirrors {
			if m.ProjectID == project && m.State == state {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("project %d never reached state %s", project, state)
	return repository.Mirror{}
}

func TestOnlyALiveTokenOfTheOrganisationThatSelectedTheProjectMayClone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g, err := f.svc.Authorize(ctx, f.owner, f.integ, "g/app")
	if err != nil {
		t.Fatalf("the owner's token on a selected project: %v", err)
	}
	if g.OrgID != f.orgA || g.Key != (mirror.Key{IntegrationID: f.integ, ProjectID: 101}) || g.UserID != f.ownerID || g.TokenID != f.ownerTokenID {
		t.Errorf("grant %+v", g)
	}
	cases := []struct {
		name, token, path string
		integ             int64
		want              error
	}{
		{"unknown token", "lsk_unknown", "g/app", f.integ, gitserve.ErrUnauthenticated},
		{"not a labsync token", "glpat-source", "g/app", f.integ, gitserve.ErrUnauthenticated},
		{"another organisation's token", f.other, "g/app", f.integ, gitserve.ErrNotFound},
		{"a project not selected", f.owner, "g/other", f.integ, gitserve.ErrNotFound},
		{"a project that does not exist", f.owner, "g/nope", f.integ, gitserve.ErrNotFound},
		{"an integration that does not exist", f.owner, "g/app", f.integ + 100, gitserve.ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := f.svc.Authorize(ctx, c.token, c.integ, c.path); !errors.Is(err, c.want) {
				t.Errorf("Authorize = %v, want %v", err, c.want)
			}
		})
	}
	t.Run("repository service off", func(t *testing.T) {
		f.setRepository(t, false)
		defer f.setRepository(t, true)
		if _, err := f.svc.Authorize(ctx, f.owner, f.integ, "g/app"); !errors.Is(err, gitserve.ErrNotFound) {
			t.Errorf("Authorize = %v, want not found", err)
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		if err := f.st.RevokeAPIToken(ctx, f.orgA, f.ownerTokenID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authorize(ctx, f.owner, f.integ, "g/app"); !errors.Is(err, gitserve.ErrUnauthenticated) {
			t.Errorf("Authorize = %v, want unauthenticated", err)
		}
	})
}

func TestEveryCloneIsAuditedWithWhoWhichProjectAndWhen(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g, err := f.svc.Authorize(ctx, f.owner, f.integ, "g/sha")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	if err := f.svc.Audit(ctx, g, at); err != nil {
		t.Fatal(err)
	}
	log, err := f.st.AuditLog(ctx, f.orgA, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) == 0 || log[0].Action != "repository.clone" || log[0].ActorUserID == nil || *log[0].ActorUserID != f.ownerID {
		t.Fatalf("audit log %+v, want a repository.clone entry by the owner first", log)
	}
	var d map[string]any
	if err := json.Unmarshal(log[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"path": "g/sha", "project_id": 102.0, "token_id": float64(f.ownerTokenID), "at": "2026-12-07T08:00:00Z"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("audit detail %s = %v, want %v", k, d[k], v)
		}
	}
}

func TestAPushWebhookFetchesTheMirrorAndTheStatusShowsIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Webhooks for a project that is not selected change nothing.
	f.svc.OnDelivery(ctx, store.Delivery{OrgID: f.orgA, IntegrationID: f.integ, EventKind: "push", Body: []byte(`{"project_id":103}`), ReceivedAt: time.Now()})
	f.svc.OnDelivery(ctx, store.Delivery{OrgID: f.orgA, IntegrationID: f.integ, EventKind: "tag_push", Body: []byte(`{"project_id":102}`), ReceivedAt: time.Now()})
	m := f.waitState(t, 102, mirror.StateReady)
	if m.ObjectFormat != "sha256" || m.SizeBytes == 0 || m.LastFetchAt == nil || m.Error != nil || m.LagSeconds != 0 {
		t.Errorf("mirror after the webhook: %+v", m)
	}
	if m.CloneURL != fmt.Sprintf("https://labsync.example/git/%d/g/sha.git", f.integ) {
		t.Errorf("clone URL %s", m.CloneURL)
	}
	if _, ok := f.m.Path(mirror.Key{IntegrationID: f.integ, ProjectID: 103}); ok {
		t.Error("a project that is not selected was mirrored")
	}
	// A later push reaches the mirror.
	id := f.git.Push(t, "g/sha", "second push")
	f.svc.OnPushes(ctx, f.orgA, f.integ, []store.Push{{ProjectGitLabID: 102, PushedAt: time.Now()}})
	for range 600 {
		dir, _ := f.m.Path(mirror.Key{IntegrationID: f.integ, ProjectID: 102})
		if got := mirrortest.Git(t, dir, "rev-parse", "refs/heads/main"); got == id {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the polled push never reached the mirror")
}

func TestAFetchThatFailsShowsOnTheProjectWithARemedyAndIsAudited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	who := integrations.Actor{OrgID: f.orgA, UserID: f.ownerID, Via: "api"}
	m, err := f.svc.FetchNow(ctx, who, f.integ, 101, "https://labsync.example")
	if err != nil || m.State != mirror.StateReady {
		t.Fatalf("first fetch: %+v %v", m, err)
	}
	f.git.SetToken("glpat-rotated") // the integration's credential no longer works
	m, err = f.svc.FetchNow(ctx, who, f.integ, 101, "https://labsync.example")
	if err != nil {
		t.Fatal(err)
	}
	if m.State != mirror.StateFailed || m.Error == nil || m.Error.Kind != mirror.KindCredential || m.Error.Remedy == "" {
		t.Errorf("status after a refused credential: %+v", m)
	}
	log, _ := f.st.AuditLog(ctx, f.orgA, 0, 10)
	var d struct {
		OK        *bool  `json:"ok"`
		ErrorKind string `json:"error_kind"`
	}
	if len(log) > 0 {
		_ = json.Unmarshal(log[0].Detail, &d)
	}
	if len(log) < 2 || log[0].Action != "repository.fetch" || d.OK == nil || *d.OK || d.ErrorKind != "credential" {
		t.Errorf("audit log %+v, want the failed fetch first", log)
	}
	var p interface{ Error() string }
	if _, err := f.svc.FetchNow(ctx, who, f.integ, 103, ""); err == nil || !errors.As(err, &p) {
		t.Errorf("fetching a project that is not selected: %v, want a not-mirrored problem", err)
	}
	if _, err := f.svc.FetchNow(ctx, integrations.Actor{OrgID: f.orgA + 1}, f.integ, 101, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another organisation's fetch: %v, want not found", err)
	}
}

func TestTurningTheRepositoryServiceOnClonesAndOffDeletesTheMirrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.svc.SelectionChanged(ctx, f.orgA, f.integ)
	f.waitState(t, 101, mirror.StateReady)
	f.waitState(t, 102, mirror.StateReady)
	f.setRepository(t, false)
	f.svc.SelectionChanged(ctx, f.orgA, f.integ)
	for _, id := range []int64{101, 102} {
		if _, ok := f.m.Path(mirror.Key{IntegrationID: f.integ, ProjectID: id}); ok {
			t.Errorf("project %d is still mirrored with the repository service off", id)
		}
	}
	list, err := f.svc.Mirrors(ctx, f.orgA, f.integ, "")
	if err != nil || list.Enabled {
		t.Errorf("list %+v %v, want the service shown off", list, err)
	}
}

func TestAReplicaShowsTheFailureAnotherReplicaRecorded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	who := integrations.Actor{OrgID: f.orgA, UserID: f.ownerID}
	f.git.SetToken("glpat-revoked")
	if _, err := f.svc.FetchNow(ctx, who, f.integ, 101, ""); err != nil {
		t.Fatal(err)
	}
	// Another replica: its own process, the same database and volume.
	m2, err := mirror.New(mirror.Config{Dir: f.m.Dir(), Logger: slog.New(slog.DiscardHandler),
		Remote: func(context.Context, int64, int64) (mirror.Remote, error) {
			return mirror.Remote{}, errors.New("unused")
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	other := repository.New(f.st, m2, accounts.New(f.st, slog.New(slog.DiscardHandler), nil, accounts.Options{}), slog.New(slog.DiscardHandler))
	list, err := other.Mirrors(ctx, f.orgA, f.integ, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list.Mirrors {
		if m.ProjectID != 101 {
			continue
		}
		if m.State != mirror.StateFailed || m.Error == nil || m.Error.Kind != mirror.KindCredential || m.Error.Remedy == "" || m.LastAttemptAt == nil {
			t.Errorf("the other replica shows %+v, want the recorded credential failure with its remedy", m)
		}
		return
	}
	t.Fatal("project 101 is not listed")
}
