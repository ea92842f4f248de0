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
