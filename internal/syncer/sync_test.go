package syncer_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
)

// small is a dataset with multi-page chains (PerPage 5 in tests), one
// archived project, one with CI/CD disabled and, from 16.9, SHA-256 ones.
func small(version string) sandbox.Config {
	return sandbox.Config{Version: version, Seed: 3, Groups: 3, Projects: 8, MRs: 7, Issues: 6, Pipelines: 4, Commits: 13}
}

type fixture struct {
	sb    *sandbox.Sandbox
	st    *store.Store
	org   int64
	integ int64
	mu    sync.Mutex
	token string
}

func (f *fixture) tok() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.token
}

func (f *fixture) setToken(t string) {
	f.mu.Lock()
	f.token = t
	f.mu.Unlock()
}

func newFixture(t *testing.T, cfg sandbox.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	st := storetest.Open(t)
	return attach(t, sb, st)
}

func attach(t *testing.T, sb *sandbox.Sandbox, st *store.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	in := &store.Integration{OrgID: b.Org.ID, Alias: "gl", BaseURL: sb.URL(), AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	return &fixture{sb: sb, st: st, org: b.Org.ID, integ: in.ID, token: sb.AdminToken()}
}

func (f *fixture) service(opts syncer.Options) *syncer.Service {
	if opts.Clients == nil {
		timeout := 10 * time.Second
		opts.Clients = syncer.StaticClients(f.sb.URL(), nil, f.tok, timeout)
	}
	if opts.PerPage == 0 {
		opts.PerPage = 5
	}
	if opts.RetryBase == 0 {
		opts.RetryBase = 5 * time.Millisecond
	}
	return syncer.New(f.st, opts)
}

// selectAll selects every group with auto-import, archived included.
func (f *fixture) selectAll(t *testing.T, svc *syncer.Service) {
	t.Helper()
	ctx := context.Background()
	if err := svc.Discover(ctx, f.org, f.integ); err != nil {
		t.Fatal(err)
	}
	gs, err := f.st.Groups(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	sel := store.Selection{IncludeArchived: true, Services: store.AllServices}
	for _, g := range gs {
		sel.Groups = append(sel.Groups, store.GroupSelection{GitLabID: g.GitLabID, AutoImport: true})
	}
	if _, err := svc.SaveSelection(ctx, f.org, f.integ, sel); err != nil {
		t.Fatal(err)
	}
}

// expected returns the manifest's counts: the sandbox seeds one push event
// per ten commits (and one for the rest) on the default branch. Notes are
// the user comments (the project events carry no system note: those come
// with Note Hook deliveries); each merge request's one commit (its head,
// off the default branch) joins the commits. People are not in the
// manifest.
func expected(m sandbox.Manifest) store.DataCounts {
	var c store.DataCounts
	for _, p := range m.PerProject {
		c.MergeRequests += int64(p.MergeRequests)
		c.Issues += int64(p.Issues)
		c.Pipelines += int64(p.Pipelines)
		c.Commits += int64(p.Commits + p.MergeRequestCommits)
		c.Pushes += int64((p.Commits + 9) / 10)
		c.Notes += int64(p.Notes - p.SystemNotes)
		c.Approvals += int64(p.Approvals)
		c.MergeRequestCommits += int64(p.MergeRequestCommits)
		c.Jobs += int64(p.Jobs)
		c.Environments += int64(p.Environments)
		c.Deployments += int64(p.Deployments)
		c.Releases += int64(p.Releases)
		c.Tags += int64(p.Tags)
	}
	return c
}

func TestBackfillMatchesManifest(t *testing.T) {
	for _, v := range []string{"12.10", "15.11", "19.0"} {
		t.Run(v, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, small(v))
			svc := f.service(syncer.Options{Concurrency: 3})
			f.selectAll(t, svc)
			if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
				t.Fatal(err)
			}
			got, err := f.st.CountData(ctx, f.org, f.integ)
			if err != nil {
				t.Fatal(err)
			}
			m := f.sb.Manifest()
			got.People = 0
			if want := expected(m); got != want {
				t.Fatalf("stored %+v, manifest %+v", got, want)
			}
			rep, err := svc.Progress(ctx, f.org, f.integ, true)
			if err != nil {
				t.Fatal(err)
			}
			forbidden := 0
			for _, p := range rep.Projects {
				for _, r := range p.Resources {
					if r.Status == store.ProgressCIDisabled {
						forbidden++
						ci := r.Resource == syncer.ResourcePipelines || r.Resource == syncer.ResourceJobs || r.Resource == syncer.ResourcePipelineTimes
						if !ci || r.LastError == "" {
							t.Errorf("%s %s: %+v", p.Path, r.Resource, r.Progress)
						}
					} else if r.Status != store.ProgressDone {
						t.Errorf("%s %s not done: %s %s", p.Path, r.Resource, r.Status, r.LastError)
					}
				}
			}
			if forbidden != 3*m.CIDisabled || m.CIDisabled == 0 {
				t.Errorf("%d pipelines, jobs and pipeline times chains show CI/CD disabled, manifest has %d projects with CI/CD disabled", forbidden, m.CIDisabled)
			}
			// A second run finds nothing new and changes nothing.
			before, _ := f.st.Feed(ctx, f.org, 0, 0, 1000)
			if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
				t.Fatal(err)
			}
			after, _ := f.st.Feed(ctx, f.org, 0, 0, 1000)
			if len(after) != len(before) {
				t.Errorf("a repeated backfill appended %d feed entries", len(after)-len(before))
			}
		})
	}
}

func TestSHA256ProjectsAreIngestedWhole(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, small("19.0"))
	svc := f.service(syncer.Options{})
	f.selectAll(t, svc)
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, pc := range f.sb.Manifest().PerProject {
		if pc.ObjectFormat != "sha256" {
			continue
		}
		n++
		p, err := f.st.ProjectByGitLabID(ctx, f.org, f.integ, pc.ID)
		if err != nil || p.ObjectFormat != "sha256" {
			t.Fatalf("project %d: %+v %v", pc.ID, p, err)
		}
		pls, _ := f.st.Pipelines(ctx, f.org, store.DataQuery{ProjectGitLabID: pc.ID})
		for _, pl := range pls {
			if len(pl.SHA) != 64 {
				t.Errorf("pipeline sha %q is not 64 hex", pl.SHA)
			}
		}
		ps, _ := f.st.Pushes(ctx, f.org, store.DataQuery{ProjectGitLabID: pc.ID})
		if len(ps) == 0 || len(ps[0].AfterSHA) != 64 {
			t.Errorf("pushes of a SHA-256 project: %+v", ps)
		}
	}
	if n == 0 {
		t.Fatal("the dataset has no SHA-256 project")
	}
}

func TestIncrementalPollPicksUpChangesAndNewProjectsOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, small("17.11"))
	svc := f.service(syncer.Options{Overlap: time.Minute})
	f.selectAll(t, svc)
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	last := lastFeedID(t, f)
	mr, err := f.sb.OpenMR(2, "new work")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sb.UpdateMR(3, 1, "retitled"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sb.OpenIssue(4, "bug"); err != nil {
		t.Fatal(err)
	}
	push, err := f.sb.Push(5, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	var pl sandbox.Change
	for _, pc := range f.sb.Manifest().PerProject {
		if pc.CIEnabled {
			if pl, err = f.sb.RunPipeline(pc.ID, "", "failed"); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.CountData(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	if want := expected(f.sb.Manifest()); got.MergeRequests != want.MergeRequests || got.Issues != want.Issues ||
		got.Pipelines != want.Pipelines || got.Commits != want.Commits {
		t.Fatalf("after the poll: stored %+v, manifest %+v", got, want)
	}
	es, _ := f.st.Feed(ctx, f.org, 0, last, 1000)
	seen := map[string]int{}
	for _, e := range es {
		seen[e.Entity+":"+e.Action+":"+e.GitLabID]++
		if e.Source != store.SourcePoll {
			t.Errorf("feed entry from %q, want poll: %+v", e.Source, e)
		}
	}
	for _, k := range []string{"merge_request:created:" + itoa(mr.ID), "pipeline:created:" + itoa(pl.ID), "commit:created:" + push.SHA} {
		if seen[k] != 1 {
			t.Errorf("feed has %q %d times; all: %v", k, seen[k], seen)
		}
	}
	// Polling again with nothing new adds nothing.
	last = lastFeedID(t, f)
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
		t.Fatal(err)
	}
	if es, _ := f.st.Feed(ctx, f.org, 0, last, 1000); len(es) != 0 {
		t.Errorf("an idle poll appended %d entries: %+v", len(es), es)
	}
}

func itoa(n int64) string { return fmtInt(n) }

func lastFeedID(t *testing.T, f *fixture) int64 {
	t.Helper()
	var last int64
	for {
		es, err := f.st.Feed(context.Background(), f.org, 0, last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return last
		}
		last = es[len(es)-1].ID
	}
}

func TestSelectionRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, small("17.11"))
	svc := f.service(syncer.Options{})
	if err := svc.Discover(ctx, f.org, f.integ); err != nil {
		t.Fatal(err)
	}
	m := f.sb.Manifest()
	gs, _ := f.st.Groups(ctx, f.org, f.integ)
	top := gs[0]
	sel := store.Selection{Groups: []store.GroupSelection{{GitLabID: top.GitLabID, AutoImport: true}},
		Exclusions: []string{top.FullPath + "/project-1"}, Services: store.AllServices}
	if _, err := svc.SaveSelection(ctx, f.org, f.integ, sel); err != nil {
		t.Fatal(err)
	}
	yes := true
	ps, err := f.st.Projects(ctx, f.org, f.integ, store.ProjectQuery{Selected: &yes, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, pc := range m.PerProject {
		inGroup := len(pc.Path) > len(top.FullPath) && pc.Path[:len(top.FullPath)+1] == top.FullPath+"/"
		if inGroup && !pc.Archived && pc.Path != top.FullPath+"/project-1" {
			want++
		}
	}
	if len(ps) != want || want == 0 {
		t.Fatalf("selected %d projects, want %d", len(ps), want)
	}
	for _, p := range ps {
		if p.Archived || p.PathWithNamespace == top.FullPath+"/project-1" {
			t.Errorf("selected %s (archived %v)", p.PathWithNamespace, p.Archived)
		}
	}
	if _, err := svc.SaveSelection(ctx, f.org, f.integ, store.Selection{Exclusions: []string{""}}); err == nil {
		t.Error("an empty exclusion pattern was accepted")
	}
}

func TestAnotherOrganizationCannotSyncOrSee(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, small("17.11"))
	svc := f.service(syncer.Options{})
	o, _ := f.st.CreateUser(ctx, "b@b", "B", "")
	orgB, err := f.st.CreateOrganization(ctx, "B", o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.StartSync(ctx, orgB.ID, f.integ, syncer.ModeFull); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("org B started org A's sync: %v", err)
	}
	if _, err := svc.Progress(ctx, orgB.ID, f.integ, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("org B read org A's progress: %v", err)
	}
}

// TestABackfillMakesItsProjectsFreshWithoutCountingAsAPoll: after a
// backfill that worked every chain, each selected project's data is fresh
// as of the backfill's start, while its last poll stays "never".
func TestABackfillMakesItsProjectsFreshWithoutCountingAsAPoll(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, sandbox.Config{Version: "17.11", Seed: 3, Groups: 1, Projects: 3, MRs: 2, Issues: 2, Pipelines: 1, Commits: 3})
	svc := f.service(syncer.Options{})
	f.selectAll(t, svc)
	before := f.st.Now()
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeBackfill); err != nil {
		t.Fatal(err)
	}
	fs, err := svc.ProjectFreshness(ctx, f.org, f.integ)
	if err != nil || len(fs) == 0 {
		t.Fatalf("freshness %v, %v", fs, err)
	}
	for _, x := range fs {
		if x.FreshAsOf == nil || x.FreshAsOf.Before(before.Add(-time.Second)) {
			t.Errorf("%s: fresh as of %v, want the backfill's start (at or after %v)", x.Path, x.FreshAsOf, before)
		}
		if x.LastPollAt != nil {
			t.Errorf("%s: last poll %v after a backfill only, want never", x.Path, x.LastPollAt)
		}
	}
}
