package sync_test

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
	gosync "sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	labsync "github.com/labsync/labsync/internal/sync"
)

// lifecycleProxy sits in front of the sandbox and plays the project
// lifecycle events the sandbox has no action for: a project deleted (404
// and left out of listings), access to it revoked (403 and left out),
// renamed or transferred (its path rewritten wherever it appears),
// archived, and an issue deleted (left out of its project's listing, with
// X-Total one lower). Everything else is the sandbox's own answer.
type lifecycleProxy struct {
	srv    *httptest.Server
	target string

	mu        gosync.Mutex
	status    map[int64]int            // project id -> 403 or 404
	paths     map[int64][2]string      // project id -> new namespace full path, new path
	archived  map[int64]bool           // project id -> archived
	hidIssues map[int64]map[int64]bool // project id -> issue ids left out
	requests  map[string]int           // path -> count since reset
	queries   []string
}

func newLifecycleProxy(t *testing.T, target string) *lifecycleProxy {
	t.Helper()
	u, _ := url.Parse(target)
	p := &lifecycleProxy{target: target, status: map[int64]int{}, paths: map[int64][2]string{}, archived: map[int64]bool{},
		hidIssues: map[int64]map[int64]bool{}, requests: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ModifyResponse = p.modify
	projectPath := regexp.MustCompile(`^/api/v4/projects/(\d+)(/|$)`)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Accept-Encoding")
		p.mu.Lock()
		p.requests[r.URL.Path]++
		p.queries = append(p.queries, r.URL.Path+"?"+r.URL.RawQuery)
		var st int
		if m := projectPath.FindStringSubmatch(r.URL.Path); m != nil {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			st = p.status[id]
		}
		p.mu.Unlock()
		if st != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(st)
			if st == http.StatusNotFound {
				w.Write([]byte(`{"message":"404 Project Not Found"}`))
			} else {
				w.Write([]byte(`{"message":"403 Forbidden"}`))
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *lifecycleProxy) URL() string { return p.srv.URL }

func (p *lifecycleProxy) set(fn func(p *lifecycleProxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p)
}

func (p *lifecycleProxy) resetRequests() {
	p.mu.Lock()
	p.requests, p.queries = map[string]int{}, nil
	p.mu.Unlock()
}

func (p *lifecycleProxy) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.queries...)
}

var issueList = regexp.MustCompile(`^/api/v4/projects/(\d+)/issues$`)

func (p *lifecycleProxy) modify(r *http.Response) error {
	if l := r.Header.Get("Link"); l != "" {
		r.Header.Set("Link", strings.ReplaceAll(l, p.target, p.srv.URL))
	}
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return err
	}
	p.mu.Lock()
	out, dropped := p.rewrite(r.Request.URL.Path, body)
	if m := issueList.FindStringSubmatch(r.Request.URL.Path); m != nil {
		// GitLab counts what exists, whatever page is asked.
		id, _ := strconv.ParseInt(m[1], 10, 64)
		dropped = len(p.hidIssues[id])
	}
	p.mu.Unlock()
	if dropped > 0 {
		if n, err := strconv.Atoi(r.Header.Get("X-Total")); err == nil {
			r.Header.Set("X-Total", strconv.Itoa(n-dropped))
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.ContentLength = int64(len(out))
	r.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

// rewrite applies the lifecycle to a JSON answer: projects (lists or one)
// and one project's issue list.
func (p *lifecycleProxy) rewrite(path string, body []byte) ([]byte, int) {
	var list []map[string]any
	isList := json.Unmarshal(body, &list) == nil
	if !isList {
		var one map[string]any
		if json.Unmarshal(body, &one) != nil {
			return body, 0
		}
		list = []map[string]any{one}
	}
	var hide map[int64]bool
	if m := issueList.FindStringSubmatch(path); m != nil {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		hide = p.hidIssues[id]
	}
	projectish := strings.HasSuffix(path, "/projects") || regexp.MustCompile(`^/api/v4/projects/\d+$`).MatchString(path)
	kept := list[:0]
	dropped := 0
	for _, item := range list {
		idf, _ := item["id"].(float64)
		id := int64(idf)
		if hide[id] {
			dropped++
			continue
		}
		if projectish {
			if _, gone := p.status[id]; gone {
				dropped++
				continue
			}
			if np, ok := p.paths[id]; ok {
				item["path"], item["name"] = np[1], np[1]
				item["path_with_namespace"] = np[0] + "/" + np[1]
				if ns, ok := item["namespace"].(map[string]any); ok {
					ns["full_path"] = np[0]
				}
			}
			if p.archived[id] {
				item["archived"] = true
			}
		}
		kept = append(kept, item)
	}
	var out []byte
	if isList {
		out, _ = json.Marshal(kept)
	} else {
		out, _ = json.Marshal(list[0])
	}
	return out, dropped
}

// goneFixture is a 17.11 sandbox behind a lifecycle proxy, its groups
// selected with auto-import (archived projects left out), backfilled.
func goneFixture(t *testing.T) (*fixture, *lifecycleProxy, *labsync.Service) {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, small("17.11"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	px := newLifecycleProxy(t, sb.URL())
	f := attach(t, sb, storetest.Open(t))
	svc := labsync.New(f.st, labsync.Options{Concurrency: 3, PerPage: 5, RetryBase: 5 * time.Millisecond,
		Clients: labsync.StaticClients(px.URL(), nil, f.tok, 10*time.Second)})
	if err := svc.Discover(ctx, f.org, f.integ); err != nil {
		t.Fatal(err)
	}
	gs, _ := f.st.Groups(ctx, f.org, f.integ)
	sel := store.Selection{Services: store.AllServices}
	for _, g := range gs {
		sel.Groups = append(sel.Groups, store.GroupSelection{GitLabID: g.GitLabID, AutoImport: true})
	}
	if _, err := svc.SaveSelection(ctx, f.org, f.integ, sel); err != nil {
		t.Fatal(err)
	}
	if err := svc.Run(ctx, f.org, f.integ, labsync.ModeFull); err != nil {
		t.Fatal(err)
	}
	return f, px, svc
}

// busiestProject is a selected, not archived project with merge requests
// and issues stored.
func busiestProject(t *testing.T, f *fixture) store.Project {
	t.Helper()
	ctx := context.Background()
	ps, err := f.st.AllProjects(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !p.Selected || p.Archived {
			continue
		}
		n, _ := f.st.CountProjectItems(ctx, f.org, f.integ, p.ID, "merge_requests")
		m, _ := f.st.CountProjectItems(ctx, f.org, f.integ, p.ID, "issues")
		if n > 0 && m > 1 {
			return p
		}
	}
	t.Fatal("no selected project with data")
	return store.Project{}
}

func freshnessOf(t *testing.T, svc *labsync.Service, f *fixture, gitlabID int64) (labsync.ProjectFreshness, bool) {
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
	return labsync.ProjectFreshness{}, false
}

// TestGoneProjectsAreNoticedShownAndPurged: a selected project deleted,
// its access revoked, renamed, transferred to another selected group, or
// archived in GitLab is noticed by the next discovery (an hour later on
// the store's clock) and shown with the reason; a deleted or revoked one
// is no longer synced and its data is hard-deleted once the grace has
// passed (or kept when the integration says so); a renamed or transferred
// one keeps its rows (ids, not paths) and is still synced; an archived one
// leaves the selection.
func TestGoneProjectsAreNoticedShownAndPurged(t *testing.T) {
	cases := []struct {
		name     string
		change   func(px *lifecycleProxy, p store.Project, otherGroup string)
		gone     string
		purged   bool
		keepData bool
		selected bool
		prevPath bool
		archived bool
	}{
		{name: "deleted", change: func(px *lifecycleProxy, p store.Project, _ string) { px.status[p.GitLabID] = 404 },
			gone: store.GoneNotFound, purged: true},
		{name: "access revoked", change: func(px *lifecycleProxy, p store.Project, _ string) { px.status[p.GitLabID] = 403 },
			gone: store.GoneForbidden, purged: true},
		{name: "access revoked, integration keeps lost data", change: func(px *lifecycleProxy, p store.Project, _ string) { px.status[p.GitLabID] = 403 },
			gone: store.GoneForbidden, keepData: true},
		{name: "renamed", change: func(px *lifecycleProxy, p store.Project, _ string) {
			px.paths[p.GitLabID] = [2]string{p.NamespacePath, "renamed-project"}
		}, selected: true, prevPath: true},
		{name: "transferred to another selected group", change: func(px *lifecycleProxy, p store.Project, other string) {
			px.paths[p.GitLabID] = [2]string{other, "moved-here"}
		}, selected: true, prevPath: true},
		{name: "archived", change: func(px *lifecycleProxy, p store.Project, _ string) { px.archived[p.GitLabID] = true }, archived: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			f, px, svc := goneFixture(t)
			if c.keepData {
				if err := f.st.SaveSyncSettings(ctx, f.org, f.integ, store.SyncSettings{KeepLostProjectData: true}); err != nil {
					t.Fatal(err)
				}
			}
			p := busiestProject(t, f)
			mrs, _ := f.st.CountProjectItems(ctx, f.org, f.integ, p.ID, "merge_requests")
			var other string
			gs, _ := f.st.Groups(ctx, f.org, f.integ)
			for _, g := range gs {
				if g.FullPath != p.NamespacePath && !strings.HasPrefix(g.FullPath, p.NamespacePath+"/") {
					other = g.FullPath
					break
				}
			}
			px.set(func(px *lifecycleProxy) { c.change(px, p, other) })

			// The next poll after an hour runs discovery.
			base := time.Now()
			f.st.SetClock(func() time.Time { return base.Add(61 * time.Minute) })
			if err := svc.Run(ctx, f.org, f.integ, labsync.ModePoll); err != nil {
				t.Fatal(err)
			}
			got, ok := freshnessOf(t, svc, f, p.GitLabID)
			if !ok && (c.gone != "" || c.selected) {
				t.Fatalf("project %s not shown after the change", p.PathWithNamespace)
			}
			if got.Gone != c.gone || (c.gone != "" && got.GoneReason == "") {
				t.Fatalf("gone %q (%q), want %q", got.Gone, got.GoneReason, c.gone)
			}
			cur, err := f.st.ProjectByGitLabID(ctx, f.org, f.integ, p.GitLabID)
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
			if n, _ := f.st.CountProjectItems(ctx, f.org, f.integ, p.ID, "merge_requests"); n != mrs {
				t.Fatalf("merge requests %d right after the change, want %d kept", n, mrs)
			}
			if c.gone != "" {
				// A gone project is no longer synced: no request names it.
				px.resetRequests()
				f.st.SetClock(func() time.Time { return base.Add(63 * time.Minute) })
				if err := svc.Run(ctx, f.org, f.integ, labsync.ModePoll); err != nil {
					t.Fatal(err)
				}
				for _, q := range px.log() {
					if strings.HasPrefix(q, fmt.Sprintf("/api/v4/projects/%d/", p.GitLabID)) {
						t.Fatalf("a gone project was still polled: %s", q)
					}
				}
			}
			// Before the grace: kept. After it: purged unless kept.
			f.st.SetClock(func() time.Time { return base.Add(61*time.Minute + labsync.LostDataGrace - time.Minute) })
			if _, err := svc.PurgeLostProjects(ctx); err != nil {
				t.Fatal(err)
			}
			if n, _ := f.st.CountProjectItems(ctx, f.org, f.integ, p.ID, "merge_requests"); n != mrs {
				t.Fatalf("purged before the grace ran out: %d of %d left", n, mrs)
			}
			f.st.SetClock(func() time.Time { return base.Add(61*time.Minute + labsync.LostDataGrace + time.Minute) })
			if err := svc.PollAll(ctx); err != nil { // the periodic tick purges
				t.Fatal(err)
			}
			n, _ := f.st.CountProjectItems(ctx, f.org, f.integ, p.ID, "merge_requests")
			if c.purged && n != 0 {
				t.Fatalf("%d merge requests left after the purge", n)
			}
			if !c.purged && n != mrs {
				t.Fatalf("%d merge requests left, want all %d kept", n, mrs)
			}
			if c.purged {
				got, _ := freshnessOf(t, svc, f, p.GitLabID)
				if got.DataPurgedAt == nil || got.Gone != c.gone {
					t.Fatalf("after the purge the project shows %+v", got)
				}
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
	f, px, svc := goneFixture(t)
	p := busiestProject(t, f)
	iss, err := f.st.Issues(ctx, f.org, store.DataQuery{IntegrationID: f.integ, ProjectGitLabID: p.GitLabID, Limit: 1000})
	if err != nil || len(iss) < 2 {
		t.Fatalf("issues %d, %v", len(iss), err)
	}
	victim := iss[0].GitLabID
	px.set(func(px *lifecycleProxy) { px.hidIssues[p.GitLabID] = map[int64]bool{victim: true} })
	px.resetRequests()
	base := time.Now()
	f.st.SetClock(func() time.Time { return base.Add(61 * time.Minute) })
	if err := svc.Run(ctx, f.org, f.integ, labsync.ModePoll); err != nil {
		t.Fatal(err)
	}
	after, _ := f.st.Issues(ctx, f.org, store.DataQuery{IntegrationID: f.integ, ProjectGitLabID: p.GitLabID, Limit: 1000})
	if len(after) != len(iss)-1 {
		t.Fatalf("%d issues after the sweep, want %d", len(after), len(iss)-1)
	}
	for _, is := range after {
		if is.GitLabID == victim {
			t.Fatal("the deleted issue is still stored")
		}
	}
	// Full id listings (per_page=100) only for the project that differed.
	for _, q := range px.log() {
		if strings.Contains(q, "/issues?") && strings.Contains(q, "per_page=100") &&
			!strings.HasPrefix(q, fmt.Sprintf("/api/v4/projects/%d/", p.GitLabID)) {
			t.Fatalf("ids listed for a project whose count matched: %s", q)
		}
	}
}

// TestALooseProjectGoneIsNoticedByTheNextPoll: a project selected on its
// own is asked for by every poll (its activity), so its deletion shows at
// the next poll, before any discovery.
func TestALooseProjectGoneIsNoticedByTheNextPoll(t *testing.T) {
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, small("17.11"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	px := newLifecycleProxy(t, sb.URL())
	f := attach(t, sb, storetest.Open(t))
	svc := labsync.New(f.st, labsync.Options{Concurrency: 3, PerPage: 5, RetryBase: 5 * time.Millisecond,
		Clients: labsync.StaticClients(px.URL(), nil, f.tok, 10*time.Second)})
	if err := svc.Discover(ctx, f.org, f.integ); err != nil {
		t.Fatal(err)
	}
	var picked []int64
	for _, p := range sb.Manifest().PerProject {
		if !p.Archived && len(picked) < 2 {
			picked = append(picked, p.ID)
		}
	}
	if _, err := svc.SaveSelection(ctx, f.org, f.integ, store.Selection{Projects: picked, Services: store.AllServices}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []labsync.Mode{labsync.ModeFull, labsync.ModePoll} {
		if err := svc.Run(ctx, f.org, f.integ, mode); err != nil {
			t.Fatal(err)
		}
	}
	px.set(func(px *lifecycleProxy) { px.status[picked[0]] = 404 })
	if err := svc.Run(ctx, f.org, f.integ, labsync.ModePoll); err != nil {
		t.Fatal(err)
	}
	got, ok := freshnessOf(t, svc, f, picked[0])
	if !ok || got.Gone != store.GoneNotFound || got.Selected {
		t.Fatalf("after one poll the deleted project shows %+v", got)
	}
	if got.FreshAsOf == nil || !got.FreshAsOf.Before(*got.GoneAt) || got.LastPollAt.After(*got.GoneAt) {
		t.Fatalf("a poll that got 404 on the project counted as making its data fresh: %+v", got)
	}
	other, _ := freshnessOf(t, svc, f, picked[1])
	if other.Gone != "" || !other.Selected {
		t.Fatalf("the other project shows %+v", other)
	}
}
