package jobs_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/store/storetest"
)

type echoArgs struct{ N int }

func (echoArgs) Kind() string { return "test_echo" }

type echoWorker struct {
	river.WorkerDefaults[echoArgs]
	sum  *atomic.Int64
	done chan struct{}
}

func (w *echoWorker) Work(ctx context.Context, j *river.Job[echoArgs]) error {
	if w.sum.Add(int64(j.Args.N)) == 6 {
		close(w.done)
	}
	return nil
}

func TestRunnerWorksQueuedJobs(t *testing.T) {
	st := storetest.Open(t)
	r := jobs.New(st, slog.New(slog.DiscardHandler), jobs.Options{PollInterval: 20 * time.Millisecond})
	var sum atomic.Int64
	done := make(chan struct{})
	jobs.Add(r, &echoWorker{sum: &sum, done: done})
	if _, err := r.Insert(context.Background(), echoArgs{1}, nil); err != jobs.ErrNotStarted {
		t.Fatalf("insert before start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		r.Stop(sctx)
	}()
	for _, n := range []int{1, 2, 3} {
		if _, err := r.Insert(ctx, echoArgs{n}, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("jobs not worked; sum %d", sum.Load())
	}
}

type blockArgs struct{}

func (blockArgs) Kind() string { return "test_block" }

// blockWorker runs until its context ends, then hands the job back as the
// sync worker does.
type blockWorker struct {
	river.WorkerDefaults[blockArgs]
	started chan struct{}
}

func (w *blockWorker) Work(ctx context.Context, _ *river.Job[blockArgs]) error {
	close(w.started)
	<-ctx.Done()
	return river.JobSnooze(time.Minute)
}

// TestStopHandsBackRunningJobs: Stop waits for running jobs for half its
// time, then cancels them; a worker that hands its job back leaves it
// scheduled for any process rather than claimed by one that is gone.
func TestStopHandsBackRunningJobs(t *testing.T) {
	st := storetest.Open(t)
	r := jobs.New(st, slog.New(slog.DiscardHandler), jobs.Options{PollInterval: 20 * time.Millisecond})
	w := &blockWorker{started: make(chan struct{})}
	jobs.Add(r, w)
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := r.Insert(ctx, blockArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.started:
	case <-time.After(30 * time.Second):
		t.Fatal("job never started")
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.Stop(sctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	var state string
	if err := st.DB().QueryRowContext(ctx, `SELECT state FROM river_job WHERE id = $1`, res.Job.ID).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "scheduled" {
		t.Fatalf("job state after stop: %s, want scheduled (handed back)", state)
	}
	t.Logf("stopped in %s with the running job handed back", time.Since(start).Round(10*time.Millisecond))
}
