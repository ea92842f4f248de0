package syncer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/syncer"
)

// TestTwoRunsOfOneIntegrationInOneProcessExcludeEachOther: a sync asked for
// while another of the same integration runs in the same process (a
// periodic poll and the user's sync, both River jobs of one serve) is
// refused with ErrBusy, as it is from another process; both used to hold
// the lease at once (it was the process's), asking GitLab for every page
// twice.
func TestTwoRunsOfOneIntegrationInOneProcessExcludeEachOther(t *testing.T) {
	f := newFixture(t, sandbox.Config{Version: "17.11", Seed: 2, Groups: 1, Projects: 2, MRs: 10, Issues: 5, Pipelines: 2, Commits: 10,
		Latency: 20 * time.Millisecond})
	svc := f.service(syncer.Options{})
	f.selectAll(t, svc)
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- svc.Run(ctx, f.org, f.integ, syncer.ModeFull) }()
	// Wait until the first run holds the lease and works.
	for i := 0; ; i++ {
		rep, err := svc.Progress(ctx, f.org, f.integ, false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Totals["all"] != nil && rep.Totals["all"].PagesDone > 0 {
			break
		}
		if i == 1000 {
			t.Fatal("the first run did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	second := svc.Run(ctx, f.org, f.integ, syncer.ModePoll)
	if err := <-first; err != nil {
		t.Fatalf("first run: %v", err)
	}
	if !errors.Is(second, syncer.ErrBusy) {
		t.Fatalf("a second run while the first ran: %v, want ErrBusy", second)
	}
	// Once the first has ended, a run takes the lease again.
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
		t.Fatalf("a run after the first ended: %v", err)
	}
}
