package syncer_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// TestASilentProjectsPushesAndPipelinesArriveAtTheNextPoll: GitLab moves a
// project's last_activity_at at most hourly and never for a pipeline (the
// sandbox models that with LastActivityInterval). While the integration's
// webhooks deliver for every selected project but one, the next poll
// fetches that project's new push and pipeline through its own passes, and
// a quiet poll spends on it no more than those two requests (no commit
// walk without a push). With no webhook delivering at all, polls give no
// project such passes: they rely on activity and the pipeline sweep, and
// the poll plan says so.
func TestASilentProjectsPushesAndPipelinesArriveAtTheNextPoll(t *testing.T) {
	cases := []struct {
		name          string
		othersDeliver bool
	}{
		{"others deliver: the silent project gets its own passes", true},
		{"no webhook delivers at all: no per-project passes", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := small("17.11")
			cfg.LastActivityInterval = time.Hour
			f, clk := clocked(t, cfg)
			svc := f.service(syncer.Options{Concurrency: 3})
			f.selectAll(t, svc)
			for _, mode := range []syncer.Mode{syncer.ModeFull, syncer.ModePoll} {
				if err := svc.Run(ctx, f.org, f.integ, mode); err != nil {
					t.Fatal(err)
				}
			}
			ps, err := f.st.AllProjects(ctx, f.org, f.integ)
			if err != nil {
				t.Fatal(err)
			}
			var silent, other store.Project
			for _, p := range ps {
				if p.Selected && p.CIEnabled && !p.Archived && p.DefaultBranch != "" {
					if silent.ID == 0 {
						silent = p
					} else if other.ID == 0 {
						other = p
					}
				}
			}
			if other.ID == 0 {
				t.Fatal("fewer than two selected projects with CI/CD and a default branch")
			}
			deliver := func() {
				t.Helper()
				if !c.othersDeliver {
					return
				}
				now := f.st.Now()
				if _, err := f.st.InsertDeliveries(ctx, []store.Delivery{{OrgID: f.org, IntegrationID: f.integ,
					DedupeKey: fmt.Sprintf("d-%d", now.UnixNano()), EventKind: "push", Headers: "{}", Body: []byte("{}"),
					ReceivedAt: now, Status: "ignored"}}); err != nil {
					t.Fatal(err)
				}
				if _, err := f.st.DB().ExecContext(ctx, `UPDATE projects SET last_webhook_at = $1 WHERE org_id = $2 AND integration_id = $3 AND id <> $4 AND selected = $5`,
					now, f.org, f.integ, silent.ID, true); err != nil {
					t.Fatal(err)
				}
			}
			poll := func() []string {
				t.Helper()
				deliver()
				f.sb.ResetRequests()
				if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
					t.Fatal(err)
				}
				var mine []string
				prefix := fmt.Sprintf("/api/v4/projects/%d/", silent.GitLabID)
				for _, r := range f.sb.Requests() {
					if strings.HasPrefix(r.Path, prefix) {
						mine = append(mine, strings.TrimPrefix(r.Path, prefix))
					}
				}
				return mine
			}
			// A first push moves last_activity_at (stale since the seed);
			// from then on, for an hour, nothing does. Ten minutes later
			// another project's push moves the activity watermark past it.
			if _, err := f.sb.Push(silent.GitLabID, "", 1); err != nil {
				t.Fatal(err)
			}
			poll()
			clk.Add(10 * time.Minute)
			if _, err := f.sb.Push(other.GitLabID, "", 1); err != nil {
				t.Fatal(err)
			}
			poll()
			clk.Add(time.Minute)
			quiet := poll()
			clk.Add(time.Minute)
			push, err := f.sb.Push(silent.GitLabID, "", 2)
			if err != nil {
				t.Fatal(err)
			}
			pl, err := f.sb.RunPipeline(silent.GitLabID, "", "failed")
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
			busy := poll()

			pushes, _ := f.st.Pushes(ctx, f.org, store.DataQuery{IntegrationID: f.integ, ProjectGitLabID: silent.GitLabID, Limit: 1000})
			gotPush := false
			for _, x := range pushes {
				gotPush = gotPush || x.AfterSHA == push.SHA
			}
			pls, _ := f.st.Pipelines(ctx, f.org, store.DataQuery{IntegrationID: f.integ, ProjectGitLabID: silent.GitLabID, Limit: 1000})
			gotPipeline := false
			for _, x := range pls {
				gotPipeline = gotPipeline || x.GitLabID == pl.ID
			}
			in, _ := f.st.Integration(ctx, f.org, f.integ)
			plan, err := svc.PollPlanFor(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if c.othersDeliver {
				if !gotPush || !gotPipeline {
					t.Fatalf("after one poll: push stored %v, pipeline stored %v; the poll asked the project for %v", gotPush, gotPipeline, busy)
				}
				events, pipelines := 0, 0
				for _, q := range quiet {
					switch {
					case q == "events":
						events++
					case q == "pipelines":
						pipelines++
					case q == "repository/commits":
						t.Fatalf("a quiet poll walked the silent project's commits: %v", quiet)
					}
				}
				if events != 1 || pipelines > 2 || len(quiet) > 3 {
					// pipelines: its own pass, and possibly the sweep's.
					t.Fatalf("a quiet poll asked the silent project %v, want its events once and its pipelines", quiet)
				}
				if !strings.Contains(plan.Reason, silent.PathWithNamespace) || !strings.Contains(plan.Reason, "pipeline and push passes") {
					t.Fatalf("the poll plan does not say why: %q", plan.Reason)
				}
				return
			}
			for _, q := range append(quiet, busy...) {
				if q == "events" {
					t.Fatalf("with no webhook delivering, a poll of a project whose activity did not move asked its events: quiet %v, busy %v", quiet, busy)
				}
			}
			if gotPush {
				t.Fatal("the push arrived though last_activity_at did not move: the test no longer shows the gap it guards")
			}
			if !strings.Contains(plan.Reason, "last_activity_at") {
				t.Fatalf("the poll plan does not say how pushes and pipelines are polled: %q", plan.Reason)
			}
		})
	}
}

// testClock is a settable clock shared by a sandbox and a store, so both
// see the same time.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// clocked starts cfg's sandbox and a store on one fake clock.
func clocked(t *testing.T, cfg sandbox.Config) (*fixture, *testClock) {
	t.Helper()
	clk := newTestClock()
	cfg.Now = clk.Now
	f := newFixture(t, cfg)
	f.st.SetClock(clk.Now)
	return f, clk
}
