package syncer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// The lifecycle is played with the sandbox's own actions (DeleteProject,
// RenameProject, TransferProject, ArchiveProject, RemoveMember,
// DeleteIssue, MoveIssue). One thing the sandbox cannot do is answer 403
// on a project its user could read before: GitLab does that, for
// instance, for a project in a gitlab.com group whose SAML SSO the
// credential's user has not passed (a readable private project the user
// lost otherwise answers 404, and the sandbox does that). forbidProxy
// plays only that.
type forbidProxy struct {
	srv    *httptest.Server
	target string

	mu     sync.Mutex
	forbid map[int64]bool // project ids answered 403 and left out of project listings
}

func newForbidProxy(t *testing.T, target string) *forbidProxy {
	t.Helper()
	u, _ := url.Parse(target)
	p := &forbidProxy{target: target, forbid: map[int64]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ModifyResponse = p.modify
	projectPath := regexp.MustCompile(`^/api/v4/projects/(\d+)(/|$)`)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Accept-Encoding")
		if m := projectPath.FindStringSubmatch(r.URL.Path); m != nil {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			p.mu.Lock()
			forbidden := p.forbid[id]
			p.mu.Unlock()
			if forbidden {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(`{"message":"403 Forbidden"}`))
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *forbidProxy) URL() string { return p.srv.URL }

func (p *forbidProxy) forbidProject(id int64) {
	p.mu.Lock()
	p.forbid[id] = true
	p.mu.Unlock()
}

// modify points pagination links back at the proxy and leaves forbidden
// projects out of project listings.
func (p *forbidProxy) modify(r *http.Response) error {
	if l := r.Header.Get("Link"); l != "" {
		r.Header.Set("Link", strings.ReplaceAll(l, p.target, p.srv.URL))
	}
	if r.StatusCode != http.StatusOK || !strings.HasSuffix(r.Request.URL.Path, "/projects") {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return err
	}
	var list []map[string]any
	if json.Unmarshal(body, &list) == nil {
		p.mu.Lock()
		kept := list[:0]
		for _, item := range list {
			if id, _ := item["id"].(float64); !p.forbid[int64(id)] {
				kept = append(kept, item)
			}
		}
		p.mu.Unlock()
		body, _ = json.Marshal(kept)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// lifecycleWorld is a dataset in which alice (an ordinary user) belongs
// to group-1 (with a subgroup) and group-3, with private, internal and
// public projects in them; deletion is delayed by two hours where GitLab
// delays it (18.0 and later, gitlab.com).
func lifecycleWorld(version string) sandbox.Config {
	return sandbox.Config{Version: version, Seed: 3, Groups: 4, Projects: 16, MRs: 5, Issues: 4, Pipelines: 2, Commits: 6,
		DeletionDelay: 2 * time.Hour}
}

// goneEnv is a sandbox and a store on one fake clock, alice's read_api
// token, reached through a forbidProxy.
type goneEnv struct {
	*fixture
	clk *testClock
	px  *forbidProxy
	svc *syncer.Service
}

// goneFixture discovers as alice, saves the selection sel builds from the
// discovered groups and projects, and backfills.
func goneFixture(t *testing.T, cfg sandbox.Config, sel func(gs []store.Group, ps []store.Project) store.Selection) *goneEnv {
	t.Helper()
	ctx := context.Background()
	f, clk := clocked(t, cfg)
	f.setToken(f.sb.CreateToken(sandbox.TokenSpec{User: "alice", Scopes: []string{"read_api"}}))
	px := newForbidProxy(t, f.sb.URL())
	svc := syncer.New(f.st, syncer.Options{Concurrency: 3, PerPage: 5, RetryBase: 5 * time.Millisecond,
		Clients: syncer.StaticClients(px.URL(), nil, f.tok, 10*time.Second)})
	if err := svc.Discover(ctx, f.org, f.integ); err != nil {
		t.Fatal(err)
	}
	gs, _ := f.st.Groups(ctx, f.org, f.integ)
	ps, _ := f.st.AllProjects(ctx, f.org, f.integ)
	if _, err := svc.SaveSelection(ctx, f.org, f.integ, sel(gs, ps)); err != nil {
		t.Fatal(err)
	}
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	return &goneEnv{fixture: f, clk: clk, px: px, svc: svc}
}

// allGroups selects every group alice sees, with auto-import.
func allGroups(includeArchived bool) func([]store.Group, []store.Project) store.Selection {
	return func(gs []store.Group, _ []store.Project) store.Selection {
		sel := store.Selection{Services: store.AllServices, IncludeArchived: includeArchived}
		for _, g := range gs {
			sel.Groups = append(sel.Groups, store.GroupSelection{GitLabID: g.GitLabID, AutoImport: true})
		}
		return sel
	}
}

func (e *goneEnv) poll(t *testing.T) {
	t.Helper()
	if err := e.svc.Run(context.Background(), e.org, e.integ, syncer.ModePoll); err != nil {
		t.Fatal(err)
	}
}

func (e *goneEnv) groupID(t *testing.T, fullPath string) int64 {
	t.Helper()
	gs, _ := e.st.Groups(context.Background(), e.org, e.integ)
	for _, g := range gs {
		if g.FullPath == fullPath {
			return g.GitLabID
		}
	}
	t.Fatalf("alice does not see group %s", fullPath)
	return 0
}

// dataProject is a selected, not archived project with merge requests and
// issues stored that ok accepts.
func dataProject(t *testing.T, f *fixture, ok func(store.Project) bool) store.Project {
	t.Helper()
	ctx := context.Background()
	ps, err := f.st.AllProjects(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !p.Selected || p.Archived || !ok(p) {
			continue
		}
		n, _ := f.st.CountProjectItems(ctx, f.org, f.integ, p.ID, "merge_requests")
		m, _ := f.st.CountProjectItems(ctx, f.org, f.integ, p.ID, "issues")
		if n > 0 && m > 1 {
			return p
		}
	}
	t.Fatal("no selected project with data fits")
	return store.Project{}
}

func inGroup3(visibility string) func(store.Project) bool {
	return func(p store.Project) bool { return p.NamespacePath == "group-3" && p.Visibility == visibility }
}

func freshnessOf(t *testing.T, svc *syncer.Service, f *fixture, gitlabID int64) (syncer.ProjectFreshness, bool) {
	t.Helper()
	fs, err := svc.ProjectFreshness(context.Background(), f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range fs {
		if x.ProjectID == gitlabID {
			return x, true
		}
	}
	return syncer.ProjectFreshness{}, false
}

// TestGoneProjectsAreNoticedShownAndPurged: a selected project deleted,
// whose user lost access to it, renamed, transferred to another selected
// group, or archived in GitLab is noticed by the next discovery (an hour
// later on the fake clock) and shown with the reason; one the credential
// can no longer see is no longer synced and its data is hard-deleted once
// the grace has passed (or kept when the integration says so); a renamed
// or transferred one keeps its rows (ids, not paths) and is still synced;
// an archived one leaves the selection.
func TestGoneProjectsAreNoticedShownAndPurged(t *testing.T) {
	cases := []struct {
		name     string
		pick     func(store.Project) bool
		change   func(t *testing.T, e *goneEnv, p store.Project) error
		gone     string
		purged   bool
		keepData bool
		selected bool
		prevPath bool
		archived bool
	}{
		{name: "deleted (17.11 deletes at once)", pick: inGroup3("private"),
			change: func(_ *testing.T, e *goneEnv, p store.Project) error {
				_, err := e.sb.DeleteProject(p.GitLabID)
				return err
			},
			gone: store.GoneNotFound, purged: true},
		{name: "its user removed from the group of a private project (GitLab answers 404)", pick: inGroup3("private"),
			change: func(t *testing.T, e *goneEnv, _ store.Project) error {
				_, err := e.sb.RemoveMember(sandbox.MemberOfGroup, e.groupID(t, "group-3"), "alice")
				return err
			},
			gone: store.GoneNotFound, purged: true},
		{name: "its user removed from the group of an internal project it still sees", pick: inGroup3("internal"),
			change: func(t *testing.T, e *goneEnv, _ store.Project) error {
				_, err := e.sb.RemoveMember(sandbox.MemberOfGroup, e.groupID(t, "group-3"), "alice")
				return err
			},
			gone: store.GoneNotMember, purged: true},
		{name: "GitLab answers 403 on the project", pick: inGroup3("private"),
			change: func(_ *testing.T, e *goneEnv, p store.Project) error { e.px.forbidProject(p.GitLabID); return nil },
			gone:   store.GoneForbidden, purged: true},
		{name: "GitLab answers 403 on the project, integration keeps lost data", pick: inGroup3("private"),
			change: func(_ *testing.T, e *goneEnv, p store.Project) error { e.px.forbidProject(p.GitLabID); return nil },
			gone:   store.GoneForbidden, keepData: true},
		{name: "renamed", pick: inGroup3("private"),
			change: func(_ *testing.T, e *goneEnv, p store.Project) error {
				_, err := e.sb.RenameProject(p.GitLabID, "renamed-project", "Renamed project")
				return err
			},
			selected: true, prevPath: true},
		{name: "transferred to another selected group", pick: inGroup3("private"),
			change: func(t *testing.T, e *goneEnv, p store.Project) error {
				_, err := e.sb.TransferProject(p.GitLabID, e.groupID(t, "group-1"))
				return err
			},
			selected: true, prevPath: true},
		{name: "archived", pick: inGroup3("private"),
			change: func(_ *testing.T, e *goneEnv, p store.Project) error {
				_, err := e.sb.ArchiveProject(p.GitLabID, true)
				return err
			},
			archived: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			e := goneFixture(t, lifecycleWorld("17.11"), allGroups(false))
			if c.keepData {
				if err := e.st.SaveSyncSettings(ctx, e.org, e.integ, store.SyncSettings{KeepLostProjectData: true}); err != nil {
					t.Fatal(err)
				}
			}
			p := dataProject(t, e.fixture, c.pick)
			mrs, _ := e.st.CountProjectItems(ctx, e.org, e.integ, p.ID, "merge_requests")
			if err := c.change(t, e, p); err != nil {
				t.Fatal(err)
			}

			// The next poll after an hour runs discovery.
			e.clk.Add(61 * time.Minute)
			e.poll(t)
			got, ok := freshnessOf(t, e.svc, e.fixture, p.GitLabID)
			if !ok && (c.gone != "" || c.selected) {
				t.Fatalf("project %s not shown after the change", p.PathWithNamespace)
			}
			if got.Gone != c.gone || (c.gone != "" && got.GoneReason == "") {
				t.Fatalf("gone %q (%q), want %q", got.Gone, got.GoneReason, c.gone)
			}
			cur, err := e.st.ProjectByGitLabID(ctx, e.org, e.integ, p.GitLabID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.Selected != c.selected {
				t.Fatalf("selected %v, want %v", cur.Selected, c.selected)
			}
			if c.archived && !cur.Archived {
				t.Fatal("the archive was not noticed")
			}
			if c.prevPath && (cur.PreviousPath != p.PathWithNamespace || cur.PathWithNamespace == p.PathWithNamespace) {
				t.Fatalf("path %q, previous %q; was %q", cur.PathWithNamespace, cur.PreviousPath, p.PathWithNamespace)
			}
			// Rows stay until the purge, keyed by id.
			if n, _ := e.st.CountProjectItems(ctx, e.org, e.integ, p.ID, "merge_requests"); n != mrs {
				t.Fatalf("merge requests %d right after the change, want %d kept", n, mrs)
			}
			if c.selected {
				// Still synced under its new path: a change there arrives.
				ch, err := e.sb.OpenMR(p.GitLabID, "After the move")
				if err != nil {
					t.Fatal(err)
				}
				e.clk.Add(time.Minute)
				e.poll(t)
				if n, _ := e.st.CountProjectItems(ctx, e.org, e.integ, p.ID, "merge_requests"); n != mrs+1 {
					t.Fatalf("merge requests %d after a new one (id %d) under the new path, want %d", n, ch.ID, mrs+1)
				}
				return
			}
			if c.gone != "" {
				// A gone project is no longer synced: no request names it.
				e.sb.ResetRequests()
				e.clk.Add(2 * time.Minute)
				e.poll(t)
				for _, r := range e.sb.Requests() {
					if strings.HasPrefix(r.Path, fmt.Sprintf("/api/v4/projects/%d/", p.GitLabID)) {
						t.Fatalf("a gone project was still polled: %s?%s", r.Path, r.Query)
					}
				}
			}
			// Before the grace: kept. After it: purged unless kept.
			goneAt := e.clk.Now()
			if cur.GoneAt != nil {
				goneAt = *cur.GoneAt
			}
			e.st.SetClock(func() time.Time { return goneAt.Add(syncer.LostDataGrace - time.Minute) })
			if _, err := e.svc.PurgeLostProjects(ctx); err != nil {
				t.Fatal(err)
			}
			if n, _ := e.st.CountProjectItems(ctx, e.org, e.integ, p.ID, "merge_requests"); n != mrs {
				t.Fatalf("purged before the grace ran out: %d of %d left", n, mrs)
			}
			e.st.SetClock(func() time.Time { return goneAt.Add(syncer.LostDataGrace + time.Minute) })
			if err := e.svc.PollAll(ctx); err != nil { // the periodic tick purges
				t.Fatal(err)
			}
			n, _ := e.st.CountProjectItems(ctx, e.org, e.integ, p.ID, "merge_requests")
			if c.purged && n != 0 {
				t.Fatalf("%d merge requests left after the purge", n)
			}
			if !c.purged && n != mrs {
				t.Fatalf("%d merge requests left, want all %d kept", n, mrs)
			}
			if c.purged {
				got, _ := freshnessOf(t, e.svc, e.fixture, p.GitLabID)
				if got.DataPurgedAt == nil || got.Gone != c.gone {
					t.Fatalf("after the purge the project shows %+v", got)
				}
			}
		})
	}
}

// TestAProjectMarkedForDeletionIsShownThenGone: where GitLab delays
// deletion (18.0 and later here), a deleted project is first marked for
// deletion — archived and renamed, still readable — and labsync shows it
// as such while it keeps syncing it; once the delay has passed GitLab
// answers 404 and labsync shows it gone, then purges its data after the
// grace. This holds for a project picked by id and for one in a selected
// group whose archived projects are included (one whose archived projects
// are not leaves the selection at the mark, as any archived project).
func TestAProjectMarkedForDeletionIsShownThenGone(t *testing.T) {
	cases := []struct {
		name string
		sel  func(gs []store.Group, ps []store.Project) store.Selection
	}{
		{"picked by id", func(_ []store.Group, ps []store.Project) store.Selection {
			sel := store.Selection{Services: store.AllServices}
			for _, p := range ps {
				if p.NamespacePath == "group-3" && !p.Archived && len(sel.Projects) < 2 {
					sel.Projects = append(sel.Projects, p.GitLabID)
				}
			}
			return sel
		}},
		{"in a selected group, archived projects included", allGroups(true)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			e := goneFixture(t, lifecycleWorld("18.6"), c.sel)
			p := dataProject(t, e.fixture, func(p store.Project) bool { return p.NamespacePath == "group-3" })
			mrs, _ := e.st.CountProjectItems(ctx, e.org, e.integ, p.ID, "merge_requests")
			ch, err := e.sb.DeleteProject(p.GitLabID)
			if err != nil || ch.Action != "mark_for_deletion" {
				t.Fatalf("delete on 18.6: %+v, %v; want it marked for deletion", ch, err)
			}
			e.clk.Add(61 * time.Minute)
			e.poll(t)
			got, ok := freshnessOf(t, e.svc, e.fixture, p.GitLabID)
			if !ok || !got.MarkedForDeletion || !got.Archived || got.Gone != "" || !got.Selected || got.PreviousPath != p.PathWithNamespace {
				t.Fatalf("a project marked for deletion shows %+v (found %v)", got, ok)
			}
			if n, _ := e.st.CountProjectItems(ctx, e.org, e.integ, p.ID, "merge_requests"); n != mrs {
				t.Fatalf("merge requests %d while marked, want %d", n, mrs)
			}
			// The delay passes: GitLab deletes it; the next discovery sees it.
			e.clk.Add(2 * time.Hour)
			e.poll(t)
			got, _ = freshnessOf(t, e.svc, e.fixture, p.GitLabID)
			if got.Gone != store.GoneNotFound || got.Selected || got.GoneAt == nil {
				t.Fatalf("after the deletion delay the project shows %+v", got)
			}
			e.st.SetClock(func() time.Time { return got.GoneAt.Add(syncer.LostDataGrace + time.Minute) })
			if _, err := e.svc.PurgeLostProjects(ctx); err != nil {
				t.Fatal(err)
			}
			if n, _ := e.st.CountProjectItems(ctx, e.org, e.integ, p.ID, "merge_requests"); n != 0 {
				t.Fatalf("%d merge requests left after the purge", n)
			}
		})
	}
}

// TestDeletedIssuesAreSweptWhereCountsDiffer: an issue deleted in GitLab
// disappears at the next discovery cycle; the check costs one per_page=1
// request per project and resource, and ids are listed only for the
// project whose count differs.
func TestDeletedIssuesAreSweptWhereCountsDiffer(t *testing.T) {
	ctx := context.Background()
	e := goneFixture(t, lifecycleWorld("17.11"), allGroups(false))
	p := dataProject(t, e.fixture, func(store.Project) bool { return true })
	iss, err := e.st.Issues(ctx, e.org, store.DataQuery{IntegrationID: e.integ, ProjectGitLabID: p.GitLabID, Limit: 1000})
	if err != nil || len(iss) < 2 {
		t.Fatalf("issues %d, %v", len(iss), err)
	}
	victim := iss[0]
	if _, err := e.sb.DeleteIssue(p.GitLabID, victim.IID); err != nil {
		t.Fatal(err)
	}
	e.sb.ResetRequests()
	e.clk.Add(61 * time.Minute)
	e.poll(t)
	after, _ := e.st.Issues(ctx, e.org, store.DataQuery{IntegrationID: e.integ, ProjectGitLabID: p.GitLabID, Limit: 1000})
	if len(after) != len(iss)-1 {
		t.Fatalf("%d issues after the sweep, want %d", len(after), len(iss)-1)
	}
	for _, is := range after {
		if is.GitLabID == victim.GitLabID {
			t.Fatal("the deleted issue is still stored")
		}
	}
	// Full id listings (per_page=100) only for the project that differed.
	listed := false
	for _, r := range e.sb.Requests() {
		if !strings.HasSuffix(r.Path, "/issues") || !strings.Contains(r.Query, "per_page=100") {
			continue
		}
		if !strings.HasPrefix(r.Path, fmt.Sprintf("/api/v4/projects/%d/", p.GitLabID)) {
			t.Fatalf("ids listed for a project whose count matched: %s?%s", r.Path, r.Query)
		}
		listed = true
	}
	if !listed {
		t.Fatal("the project whose count differed was not listed")
	}
}

// TestAMovedIssueLeavesItsProjectAndArrivesInTheNewOne: an issue moved in
// GitLab (closed in its project with moved_to_id, a new issue in the
// target) disappears from its old project at the next poll, and appears in
// the target project when that project is selected — nowhere otherwise.
func TestAMovedIssueLeavesItsProjectAndArrivesInTheNewOne(t *testing.T) {
	cases := []struct {
		name     string
		target   func(p store.Project) bool
		selected bool
	}{
		{"to a selected project", func(p store.Project) bool { return strings.HasPrefix(p.NamespacePath, "group-1") }, true},
		{"to a project outside the selection", func(p store.Project) bool { return p.NamespacePath == "group-3" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			e := goneFixture(t, lifecycleWorld("17.11"), func(gs []store.Group, _ []store.Project) store.Selection {
				sel := store.Selection{Services: store.AllServices}
				for _, g := range gs {
					if g.FullPath == "group-1" {
						sel.Groups = append(sel.Groups, store.GroupSelection{GitLabID: g.GitLabID, AutoImport: true})
					}
				}
				return sel
			})
			from := dataProject(t, e.fixture, func(p store.Project) bool { return p.NamespacePath == "group-1" })
			ps, _ := e.st.AllProjects(ctx, e.org, e.integ)
			var to store.Project
			for _, p := range ps {
				if p.GitLabID != from.GitLabID && !p.Archived && c.target(p) {
					to = p
					break
				}
			}
			if to.ID == 0 || to.Selected != c.selected {
				t.Fatalf("no target project (%+v), want one selected=%v", to, c.selected)
			}
			iss, _ := e.st.Issues(ctx, e.org, store.DataQuery{IntegrationID: e.integ, ProjectGitLabID: from.GitLabID, Limit: 1000})
			if len(iss) == 0 {
				t.Fatal("no issue to move")
			}
			moved := iss[0]
			ch, err := e.sb.MoveIssue(from.GitLabID, moved.IID, to.GitLabID)
			if err != nil {
				t.Fatal(err)
			}
			e.clk.Add(time.Minute)
			e.poll(t)
			left, _ := e.st.Issues(ctx, e.org, store.DataQuery{IntegrationID: e.integ, ProjectGitLabID: from.GitLabID, Limit: 1000})
			for _, is := range left {
				if is.GitLabID == moved.GitLabID {
					t.Fatal("the moved issue is still stored in its old project")
				}
			}
			if len(left) != len(iss)-1 {
				t.Fatalf("%d issues left in the old project, want %d", len(left), len(iss)-1)
			}
			arrived, _ := e.st.Issues(ctx, e.org, store.DataQuery{IntegrationID: e.integ, ProjectGitLabID: to.GitLabID, Limit: 1000})
			found := false
			for _, is := range arrived {
				found = found || is.GitLabID == ch.ID
			}
			if found != c.selected {
				t.Fatalf("the moved issue stored in the target project: %v, want %v", found, c.selected)
			}
		})
	}
}

// TestALooseProjectGoneIsNoticedByTheNextPoll: a project selected on its
// own is asked for by every poll (its activity), so its deletion shows at
// the next poll, before any discovery.
func TestALooseProjectGoneIsNoticedByTheNextPoll(t *testing.T) {
	var picked []int64
	e := goneFixture(t, lifecycleWorld("17.11"), func(_ []store.Group, ps []store.Project) store.Selection {
		for _, p := range ps {
			if !p.Archived && len(picked) < 2 {
				picked = append(picked, p.GitLabID)
			}
		}
		return store.Selection{Projects: picked, Services: store.AllServices}
	})
	e.poll(t)
	if _, err := e.sb.DeleteProject(picked[0]); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	e.poll(t)
	got, ok := freshnessOf(t, e.svc, e.fixture, picked[0])
	if !ok || got.Gone != store.GoneNotFound || got.Selected {
		t.Fatalf("after one poll the deleted project shows %+v", got)
	}
	if got.FreshAsOf == nil || !got.FreshAsOf.Before(*got.GoneAt) || got.LastPollAt.After(*got.GoneAt) {
		t.Fatalf("a poll that got 404 on the project counted as making its data fresh: %+v", got)
	}
	other, _ := freshnessOf(t, e.svc, e.fixture, picked[1])
	if other.Gone != "" || !other.Selected {
		t.Fatalf("the other project shows %+v", other)
	}
}
