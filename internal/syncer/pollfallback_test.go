package syncer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// TestPollerTakesOverWhenWebhooksAreDropped: GitLab's deliveries are
// dropped (a firewall), webhooks went quiet 20 minutes ago; the poll plan
// is every minute, the periodic job queues a poll, the poll brings the new
// merge request, and a second tick within the minute queues nothing.
func TestPollerTakesOverWhenWebhooksAreDropped(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, small("17.11"))
	runner := jobs.New(f.st, slog.New(slog.DiscardHandler), jobs.Options{}) // no workers: inserts only
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	svc := f.service(syncer.Options{Concurrency: 3, Jobs: runner})
	f.selectAll(t, svc)
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	f.sb.SetFaults(sandbox.Faults{DropWebhooks: true})

	// Webhooks delivered once, 20 minutes ago, and nothing since.
	past := f.st.Now().Add(-20 * time.Minute)
	if _, err := f.st.InsertDeliveries(ctx, []store.Delivery{{OrgID: f.org, IntegrationID: f.integ, DedupeKey: "old",
		EventKind: "push", Headers: "{}", Body: []byte("{}"), ReceivedAt: past, Status: "ignored"}}); err != nil {
		t.Fatal(err)
	}
	in, _ := f.st.Integration(ctx, f.org, f.integ)
	plan, err := svc.PollPlanFor(ctx, in)
	if err != nil || plan.Every != time.Minute {
		t.Fatalf("plan %+v, %v; want every minute", plan, err)
	}

	var proj sandbox.ProjectCounts
	for _, p := range f.sb.Manifest().PerProject {
		if !p.Archived {
			proj = p
			break
		}
	}
	ch, err := f.sb.OpenMR(proj.ID, "Made while webhooks are blocked")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.sb.Deliveries() {
		if !d.Dropped && d.Status == 200 {
			t.Fatalf("a delivery went through: %+v", d)
		}
	}

	queued := func() int {
		var n int
		f.st.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'sync_integration'`).Scan(&n)
		return n
	}
	before := queued()
	if err := svc.PollAll(ctx); err != nil {
		t.Fatal(err)
	}
	if queued() != before+1 {
		t.Fatalf("the periodic tick queued %d polls, want 1", queued()-before)
	}
	if err := svc.PollAll(ctx); err != nil {
		t.Fatal(err)
	}
	if queued() != before+1 {
		t.Fatal("a second tick within the minute queued another poll")
	}
	// What the queued job does:
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
		t.Fatal(err)
	}
	mrs, _ := f.st.MergeRequests(ctx, f.org, store.DataQuery{IntegrationID: f.integ})
	found := false
	for _, m := range mrs {
		found = found || (m.GitLabID == ch.ID && m.Title == "Made while webhooks are blocked")
	}
	if !found {
		t.Fatal("the poll did not bring the merge request made while webhooks were dropped")
	}
	// The poll found what webhooks did not deliver: it stays at every minute.
	plan, _ = svc.PollPlanFor(ctx, in)
	if plan.Every != time.Minute || plan.MissedAt == nil {
		t.Fatalf("after the poll: %+v", plan)
	}
}

// TestPollResumesASyncWhoseWorkerDied: a sync left "running" by a worker
// that stopped renewing its lease (its replica was killed) is resumed by
// the next periodic poll, without waiting for the job queue to rescue the
// dead worker's job; a sync whose lease is alive is left alone.
func TestPollResumesASyncWhoseWorkerDied(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, small("17.11"))
	runner := jobs.New(f.st, slog.New(slog.DiscardHandler), jobs.Options{}) // no workers: inserts only
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	svc := f.service(syncer.Options{Concurrency: 3, Jobs: runner, LeaseTTL: time.Minute})
	f.selectAll(t, svc)
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	queued := func() map[string]int {
		t.Helper()
		mode := `json_extract(args, '$.mode')` // River keeps args as JSONB
		if f.st.Dialect() == store.Postgres {
			mode = `args->>'mode'`
		}
		rows, err := f.st.DB().Query(`SELECT ` + mode + ` FROM river_job WHERE kind = 'sync_integration' AND state = 'available'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var m string
			rows.Scan(&m)
			out[m]++
		}
		return out
	}
	// A live worker: running, lease held for another minute.
	if ok, err := f.st.AcquireSyncLease(ctx, f.org, f.integ, "live-worker", time.Minute); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	st, _ := f.st.SyncStateFor(ctx, f.org, f.integ)
	st.State = store.SyncRunning
	if err := f.st.SaveSyncState(ctx, f.org, st); err != nil {
		t.Fatal(err)
	}
	if err := svc.PollAll(ctx); err != nil {
		t.Fatal(err)
	}
	if q := queued(); q["backfill"] != 0 {
		t.Fatalf("a sync with a live lease was resumed elsewhere: %v", q)
	}
	// The worker dies: its lease runs out and nobody renews it.
	f.st.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	if err := svc.PollAll(ctx); err != nil {
		t.Fatal(err)
	}
	if q := queued(); q["backfill"] != 1 {
		t.Fatalf("the orphaned sync was not resumed: %v", q)
	}
}

// TestASilentProjectIsPolledEveryMinuteWhileOthersDeliver: webhooks
// deliver for every selected project but one; the integration is polled
// every minute for that one (it used to drop to every 15 minutes as soon
// as any delivery arrived), and its freshness shows why. Once it delivers
// too, the integration goes back to every 15 minutes.
func TestASilentProjectIsPolledEveryMinuteWhileOthersDeliver(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, small("17.11"))
	svc := f.service(syncer.Options{Concurrency: 3})
	f.selectAll(t, svc)
	for _, mode := range []syncer.Mode{syncer.ModeFull, syncer.ModePoll} {
		if err := svc.Run(ctx, f.org, f.integ, mode); err != nil {
			t.Fatal(err)
		}
	}
	now := f.st.Now()
	if _, err := f.st.InsertDeliveries(ctx, []store.Delivery{{OrgID: f.org, IntegrationID: f.integ, DedupeKey: "recent",
		EventKind: "push", Headers: "{}", Body: []byte("{}"), ReceivedAt: now, Status: "ignored"}}); err != nil {
		t.Fatal(err)
	}
	ps, err := f.st.AllProjects(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	var silent store.Project
	for _, p := range ps {
		if !p.Selected {
			continue
		}
		if silent.ID == 0 {
			silent = p
			continue
		}
		if _, err := f.st.DB().ExecContext(ctx, `UPDATE projects SET last_webhook_at = $1 WHERE id = $2`, now, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	in, _ := f.st.Integration(ctx, f.org, f.integ)
	plan, err := svc.PollPlanFor(ctx, in)
	if err != nil || plan.Every != time.Minute || !strings.Contains(plan.Reason, silent.PathWithNamespace) {
		t.Fatalf("plan %+v, %v; want every minute naming %s", plan, err, silent.PathWithNamespace)
	}
	fs, err := svc.ProjectFreshness(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range fs {
		want := syncer.HealthyPollEvery
		if x.ProjectID == silent.GitLabID {
			want = syncer.QuietPollEvery
		}
		if x.Plan.Every != want || x.FreshAsOf == nil {
			t.Fatalf("%s: plan %+v fresh %v, want every %s", x.Path, x.Plan, x.FreshAsOf, want)
		}
	}
	if _, err := f.st.DB().ExecContext(ctx, `UPDATE projects SET last_webhook_at = $1 WHERE id = $2`, now, silent.ID); err != nil {
		t.Fatal(err)
	}
	if plan, _ := svc.PollPlanFor(ctx, in); plan.Every != syncer.HealthyPollEvery {
		t.Fatalf("every project delivers, plan %+v", plan)
	}
}

// TestAProjectsLastDeliveryComesFromTheInbox: a delivery for a project
// that changed no row (an ignored event) still counts as its webhook
// working: its plan is every 15 minutes while the integration's webhooks
// deliver.
func TestAProjectsLastDeliveryComesFromTheInbox(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, small("17.11"))
	svc := f.service(syncer.Options{Concurrency: 3})
	f.selectAll(t, svc)
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	ps, _ := f.st.AllProjects(ctx, f.org, f.integ)
	var p store.Project
	for _, x := range ps {
		if x.Selected {
			p = x
			break
		}
	}
	pid := p.GitLabID
	now := f.st.Now()
	if _, err := f.st.InsertDeliveries(ctx, []store.Delivery{{OrgID: f.org, IntegrationID: f.integ, DedupeKey: "note-1",
		EventKind: "note", Headers: "{}", Body: []byte("{}"), ReceivedAt: now, Status: "ignored", ProjectGitLabID: &pid}}); err != nil {
		t.Fatal(err)
	}
	fs, err := svc.ProjectFreshness(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range fs {
		if x.ProjectID != pid {
			continue
		}
		if x.LastWebhookAt == nil || x.LastWebhookAt.Sub(now).Abs() > time.Second || x.Plan.Every != syncer.HealthyPollEvery {
			t.Fatalf("after an ignored delivery: %+v", x)
		}
		return
	}
	t.Fatal("the project is not shown")
}
