package syncer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
)

// TestIntegrationSettingsAreHonoured: the integration's own request
// concurrency is the one a sync runs with, its history start date bounds
// what the backfill asks for (updated_after on merge requests, issues and
// pipelines, since on commits), and the settings round-trip; a concurrency
// outside the allowed range is refused.
func TestIntegrationSettingsAreHonoured(t *testing.T) {
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, small("17.11"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	f := attach(t, sb, storetest.Open(t))
	since := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	want := store.SyncSettings{RequestConcurrency: 2, HistorySince: &since, KeepLostProjectData: true}
	if err := f.st.SaveSyncSettings(ctx, f.org, f.integ, want); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.SyncSettingsFor(ctx, f.org, f.integ)
	if err != nil || got.RequestConcurrency != 2 || got.HistorySince == nil || !got.HistorySince.Equal(since) || !got.KeepLostProjectData {
		t.Fatalf("settings %+v, %v", got, err)
	}
	if err := f.st.SaveSyncSettings(ctx, f.org, f.integ, store.SyncSettings{RequestConcurrency: store.MaxRequestConcurrency + 1}); err == nil {
		t.Fatal("a concurrency above the maximum was saved")
	}
	svc := syncer.New(f.st, syncer.Options{Concurrency: 7, PerPage: 5, RetryBase: 5 * time.Millisecond,
		Clients: syncer.StaticClients(sb.URL(), nil, f.tok, 10*time.Second)})
	f.selectAll(t, svc)
	sb.ResetRequests()
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	st, _ := f.st.SyncStateFor(ctx, f.org, f.integ)
	if st.Concurrency != 2 {
		t.Fatalf("the sync ran with concurrency %d, the integration says 2", st.Concurrency)
	}
	counts, _ := f.st.CountData(ctx, f.org, f.integ)
	if counts.MergeRequests != 0 || counts.Issues != 0 || counts.Pipelines != 0 || counts.Commits != 0 {
		t.Fatalf("nothing in the sandbox is newer than the history start, yet stored %+v", counts)
	}
	bounded := map[string]bool{}
	for _, r := range sb.Requests() {
		q := r.Path + "?" + r.Query
		for _, res := range []string{"/merge_requests?", "/issues?", "/pipelines?", "/repository/commits?"} {
			if strings.Contains(q, res) && strings.Contains(q, "/api/v4/projects/") {
				param := "updated_after=2030-01-02"
				if res == "/repository/commits?" {
					param = "since=2030-01-02"
				}
				if !strings.Contains(q, param) {
					t.Fatalf("a backfill request without the history start: %s", q)
				}
				bounded[res] = true
			}
		}
	}
	if len(bounded) != 4 {
		t.Fatalf("history start seen on %v", bounded)
	}
}

// TestPipelinesOfProjectsWithoutCICDAreSkippedNotErrors: a project whose
// JSON says CI/CD is disabled is never asked for pipelines; its pipelines
// show as ci_disabled, counted done and not as an error, sync after sync.
func TestPipelinesOfProjectsWithoutCICDAreSkippedNotErrors(t *testing.T) {
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, small("17.11"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	f := attach(t, sb, storetest.Open(t))
	svc := syncer.New(f.st, syncer.Options{Concurrency: 3, PerPage: 5, RetryBase: 5 * time.Millisecond,
		Clients: syncer.StaticClients(sb.URL(), nil, f.tok, 10*time.Second)})
	f.selectAll(t, svc)
	for _, mode := range []syncer.Mode{syncer.ModeFull, syncer.ModePoll, syncer.ModePoll} {
		if err := svc.Run(ctx, f.org, f.integ, mode); err != nil {
			t.Fatal(err)
		}
	}
	var off []int64
	for _, p := range sb.Manifest().PerProject {
		if !p.CIEnabled {
			off = append(off, p.ID)
		}
	}
	if len(off) == 0 {
		t.Fatal("the dataset has no project with CI/CD disabled")
	}
	for _, r := range sb.Requests() {
		q := r.Path + "?" + r.Query
		for _, id := range off {
			if strings.HasPrefix(q, fmt.Sprintf("/api/v4/projects/%d/pipelines", id)) {
				t.Fatalf("pipelines asked of a project with CI/CD disabled: %s", q)
			}
		}
	}
	rep, err := svc.Progress(ctx, f.org, f.integ, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals["pipelines"].Errors != 0 {
		t.Fatalf("pipelines totals count %d errors", rep.Totals["pipelines"].Errors)
	}
	shown := 0
	for _, p := range rep.Projects {
		for _, r := range p.Resources {
			if r.Resource == syncer.ResourcePipelines && r.Status == store.ProgressCIDisabled {
				shown++
			}
		}
	}
	if shown != len(off) {
		t.Fatalf("%d pipelines chains show CI/CD disabled, %d projects have it off", shown, len(off))
	}
}
