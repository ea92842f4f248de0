package syncer

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/store"
)

// SyncArgs is the River job that runs one integration's sync. It names
// rows only; the worker reads the credential through the ClientSource.
type SyncArgs struct {
	OrgID         int64 `json:"org_id"`
	IntegrationID int64 `json:"integration_id"`
	Mode          Mode  `json:"mode"`
}

// Kind implements river.JobArgs.
func (SyncArgs) Kind() string { return "sync_integration" }

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	svc *Service
}

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	err := w.svc.Run(ctx, job.Args.OrgID, job.Args.IntegrationID, job.Args.Mode)
	switch {
	case ctx.Err() != nil:
		// The attempt ran out of its time (the runner's JobTimeout) or this
		// process is stopping, whatever Run made of it: every stored page is
		// checkpointed, so the next attempt, here or on another replica,
		// resumes without spending a retry.
		return river.JobSnooze(time.Second)
	case errors.Is(err, ErrBusy):
		if job.Args.Mode == ModePoll {
			return nil // the running sync covers it; the next poll follows
		}
		return river.JobSnooze(w.svc.opts.LeaseTTL / 2)
	case errors.Is(err, ErrStopped), errors.Is(err, store.ErrNotFound):
		return nil // needs a person (or the integration is gone): no retry
	}
	return err
}

// PollArgs is the periodic job that queues an incremental sync of every
// integration that has synced before.
type PollArgs struct{}

// Kind implements river.JobArgs.
func (PollArgs) Kind() string { return "sync_poll" }

type pollWorker struct {
	river.WorkerDefaults[PollArgs]
	svc *Service
}

func (w *pollWorker) Work(ctx context.Context, _ *river.Job[PollArgs]) error {
	return w.svc.PollAll(ctx)
}

// PollAll queues a ModePoll sync for every active integration that has a
// sync state (it synced before) and is not stopped, and a ModeBackfill
// sync for every one whose sync was left running by a worker that died.
func (s *Service) PollAll(ctx context.Context) error {
	if _, err := s.PurgeLostProjects(ctx); err != nil {
		s.log.Warn("purging the data of lost projects failed; retried at the next tick", "err", err)
	}
	states, err := s.st.SyncStates(ctx)
	if err != nil {
		return err
	}
	var (
		params []river.InsertManyParams
		queued [][2]int64
	)
	now := s.st.Now()
	for integ, org := range states {
		in, err := s.st.Integration(ctx, org, integ)
		if err != nil || in.Status != store.StatusActive {
			continue
		}
		st, err := s.st.SyncStateFor(ctx, org, integ)
		if err != nil || st.State == store.SyncStopped {
			continue
		}
		if orphaned(st, now) {
			// Its worker died mid-sync (a replica killed or lost): nobody
			// renews the lease. Resume the unfinished chains now, on
			// whichever replica takes the job, instead of waiting for the
			// job queue to rescue the dead worker's job.
			s.log.Warn("resuming a sync whose worker stopped renewing its lease", "integration", integ)
			params = append(params, river.InsertManyParams{Args: SyncArgs{OrgID: org, IntegrationID: integ, Mode: ModeBackfill}})
			continue
		}
		plan, err := s.PollPlanFor(ctx, in)
		if err != nil {
			return err
		}
		// A few seconds' slack so a once-a-minute job never skips a
		// once-a-minute poll by a hair.
		if plan.LastPollAt != nil && now.Sub(*plan.LastPollAt) < plan.Every-5*time.Second {
			continue
		}
		params = append(params, river.InsertManyParams{Args: SyncArgs{OrgID: org, IntegrationID: integ, Mode: ModePoll}})
		queued = append(queued, [2]int64{org, integ})
	}
	if len(params) == 0 || s.opts.Jobs == nil {
		return nil
	}
	if _, err = s.opts.Jobs.InsertMany(ctx, params); err != nil {
		return err
	}
	for _, q := range queued {
		if err := s.st.MarkPolled(ctx, q[0], q[1], now); err != nil {
			return err
		}
	}
	return nil
}

// orphaned reports a sync marked running whose lease nobody holds any more.
func orphaned(st store.SyncState, now time.Time) bool {
	return st.State == store.SyncRunning && (st.LeaseUntil == nil || st.LeaseUntil.Before(now))
}

// Register adds the sync workers and the once-a-minute poll to runner, and
// makes StartSync queue jobs on it.
func (s *Service) Register(runner *jobs.Runner) {
	s.opts.Jobs = runner
	jobs.Add(runner, &syncWorker{svc: s})
	jobs.Add(runner, &pollWorker{svc: s})
	runner.AddPeriodic(river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return PollArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
}

// LostDataGrace is how long the data of a project the credential can no
// longer see (deleted, access revoked, no longer a member) is kept before
// it is hard-deleted, unless the integration keeps such data. Discovery
// re-checks every hour, so a project that comes back within the grace
// keeps its data; with the once-a-minute sweep, the data is gone well
// within 24 hours of the loss being noticed.
const LostDataGrace = 12 * time.Hour

// PurgeLostProjects hard-deletes, across organisations, the synced data of
// every project lost longer than LostDataGrace ago whose integration does
// not keep lost projects' data; the project row stays with its reason. It
// returns how many projects it purged. PollAll runs it every minute.
func (s *Service) PurgeLostProjects(ctx context.Context) (int, error) {
	lost, err := s.st.LostProjectsToPurge(ctx, s.st.Now().Add(-LostDataGrace))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range lost {
		counts, err := s.st.PurgeProjectData(ctx, l.OrgID, l.IntegrationID, l.ProjectID)
		if err != nil {
			return n, err
		}
		n++
		s.log.Info("purged the data of a project the credential can no longer see", "integration", l.IntegrationID,
			"project", l.GitLabID, "rows", counts.Total())
	}
	if n > 0 {
		s.changed()
	}
	return n, nil
}
