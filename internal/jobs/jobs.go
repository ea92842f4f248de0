// Package jobs runs labsync's background work on River: periodic work
// (elected leader only, so it runs once across replicas) and queued jobs
// (spread over replicas). Features register their workers and periodic jobs
// before Start; the runner is wired in one place (serve). It never carries
// secrets in job arguments: jobs name rows, and workers read what they need.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/labsync/labsync/internal/store"
)

// client is what labsync uses of a River client, whatever its driver's
// transaction type.
type client interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

// Options tune the runner.
type Options struct {
	// MaxWorkers bounds concurrently running jobs in this process (default 10).
	MaxWorkers int
	// PollInterval is how often idle workers look for new jobs (default 1s;
	// tests use less).
	PollInterval time.Duration
	// InsertOnly builds a client that inserts but works nothing and runs
	// no periodic jobs (`serve --role=web`).
	InsertOnly bool
	// JobTimeout is the longest one attempt of a job runs before its
	// context is cancelled (default 30 minutes). Workers of long work (a
	// backfill) continue it in further attempts.
	JobTimeout time.Duration
	// RescueStuckJobsAfter is how long a job may stay running before the
	// elected leader treats its process as dead and retries it, here or on
	// another replica (default JobTimeout plus a fifth, so that a live
	// worker's attempt has always been cancelled first). River's rescuer
	// looks every 30 s.
	RescueStuckJobsAfter time.Duration
}

// Runner owns the River client.
type Runner struct {
	st       *store.Store
	log      *slog.Logger
	opts     Options
	workers  *river.Workers
	nworkers int
	periodic []*river.PeriodicJob

	mu      sync.Mutex
	client  client
	started bool
}

// New returns a runner; register workers with Add and AddPeriodic, then Start.
// A runner with no workers only inserts.
func New(st *store.Store, log *slog.Logger, opts Options) *Runner {
	if opts.MaxWorkers <= 0 {
		opts.MaxWorkers = 10
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.JobTimeout <= 0 {
		opts.JobTimeout = 30 * time.Minute
	}
	if opts.RescueStuckJobsAfter < opts.JobTimeout {
		opts.RescueStuckJobsAfter = opts.JobTimeout + opts.JobTimeout/5
	}
	return &Runner{st: st, log: log, opts: opts, workers: river.NewWorkers()}
}

// Add registers a worker; call it before Start.
func Add[T river.JobArgs](r *Runner, w river.Worker[T]) {
	river.AddWorker(r.workers, w)
	r.nworkers++
}

// AddPeriodic schedules a job that the elected leader inserts on its schedule.
func (r *Runner) AddPeriodic(j *river.PeriodicJob) { r.periodic = append(r.periodic, j) }

// Start builds the River client and starts working jobs.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return errors.New("jobs: already started")
	}
	cfg := &river.Config{
		ID:                   clientID(),
		Logger:               r.log,
		FetchPollInterval:    r.opts.PollInterval,
		FetchCooldown:        min(r.opts.PollInterval, 100*time.Millisecond),
		JobTimeout:           r.opts.JobTimeout,
		RescueStuckJobsAfter: r.opts.RescueStuckJobsAfter,
	}
	insertOnly := r.opts.InsertOnly || r.nworkers == 0
	if !insertOnly {
		cfg.PeriodicJobs = r.periodic
		cfg.Workers = r.workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: r.opts.MaxWorkers}}
	}
	var (
		c   client
		err error
	)
	if r.st.Dialect() == store.Postgres {
		c, err = river.NewClient(riverpgxv5.New(r.st.PgxPool()), cfg)
	} else {
		c, err = river.NewClient(riversqlite.New(r.st.DB()), cfg)
	}
	if err != nil {
		return fmt.Errorf("jobs: unable to build River client: %w", err)
	}
	if !insertOnly {
		if err := c.Start(ctx); err != nil {
			return fmt.Errorf("jobs: unable to start River: %w", err)
		}
	}
	r.client = c
	r.started = !insertOnly
	return nil
}

// Stop stops fetching jobs, lets running ones finish for half the time
// ctx leaves, then cancels the rest and waits for them to return (workers
// hand unfinished work back, so another replica picks it up at once). It
// gives up when ctx ends: jobs still running then are rescued by another
// replica after RescueStuckJobsAfter.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	c, started := r.client, r.started
	r.mu.Unlock()
	if c == nil || !started {
		return nil
	}
	soft := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		soft, cancel = context.WithTimeout(ctx, time.Until(deadline)/2)
		defer cancel()
	}
	err := c.Stop(soft)
	if err == nil || ctx.Err() != nil {
		return err
	}
	r.log.Info("background jobs still running; cancelling them so another replica can take them over")
	return c.StopAndCancel(ctx)
}

// ErrNotStarted means Insert was called before Start.
var ErrNotStarted = errors.New("jobs: runner not started")

// Insert queues one job.
func (r *Runner) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	r.mu.Lock()
	c := r.client
	r.mu.Unlock()
	if c == nil {
		return nil, ErrNotStarted
	}
	return c.Insert(ctx, args, opts)
}

// InsertMany queues several jobs at once.
func (r *Runner) InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	r.mu.Lock()
	c := r.client
	r.mu.Unlock()
	if c == nil {
		return nil, ErrNotStarted
	}
	return c.InsertMany(ctx, params)
}

// clientID names this process in river_job.attempted_by and River's
// leader election: host, process id and start time, so an operator (or a
// test) can tell which replica holds a job.
func clientID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown_host"
	}
	host = strings.ReplaceAll(host, ".", "_")
	if len(host) > 60 {
		host = host[:60]
	}
	return fmt.Sprintf("%s_pid%d_%s", host, os.Getpid(), time.Now().UTC().Format("2006_01_02T15_04_05"))
}
