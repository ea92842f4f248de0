package integrations

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/webhook"
)

// PurgeWindow is labsync's promise: every row derived from a disconnected
// integration is hard-deleted within this long of the disconnect.
const PurgeWindow = 24 * time.Hour

// purgeSweepEvery is how often the leader looks for purges still to do;
// failed purges are retried at this pace too, well inside PurgeWindow.
const purgeSweepEvery = 15 * time.Minute

// SetPeers gives the service the webhook and sync services its use-cases
// call: disconnecting removes the hooks labsync registered and forgets the
// cached webhook endpoint; issuing and registering webhooks, changing the
// selection and starting a sync go through them. Either may be nil (a
// command that needs neither); call it once, before serving. The sync
// service is built after this one because it takes Client.
func (s *Service) SetPeers(wh *webhook.Service, sy *syncer.Service) {
	s.webhooks, s.sync = wh, sy
}

// PurgeArgs is the job that purges one disconnected integration's data.
type PurgeArgs struct {
	OrgID         int64 `json:"org_id"`
	IntegrationID int64 `json:"integration_id"`
}

// Kind names the job in River.
func (PurgeArgs) Kind() string { return "integration_purge" }

// InsertOpts: one pending purge per integration; River retries a failed
// one with backoff, and the sweep catches any it gave up on.
func (PurgeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 8, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// PurgeSweepArgs is the periodic job that runs PurgeDue.
type PurgeSweepArgs struct{}

// Kind names the job in River.
func (PurgeSweepArgs) Kind() string { return "integration_purge_sweep" }

type purgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	s *Service
}

func (w *purgeWorker) Work(ctx context.Context, j *river.Job[PurgeArgs]) error {
	_, err := w.s.Purge(ctx, j.Args.OrgID, j.Args.IntegrationID)
	return err
}

type purgeSweepWorker struct {
	river.WorkerDefaults[PurgeSweepArgs]
	s *Service
}

func (w *purgeSweepWorker) Work(ctx context.Context, _ *river.Job[PurgeSweepArgs]) error {
	_, err := w.s.PurgeDue(ctx)
	return err
}

func (s *Service) registerPurgeJobs() {
	jobs.Add(s.runner, &purgeWorker{s: s})
	jobs.Add(s.runner, &purgeSweepWorker{s: s})
	s.runner.AddPeriodic(river.NewPeriodicJob(river.PeriodicInterval(purgeSweepEvery),
		func() (river.JobArgs, *river.InsertOpts) { return PurgeSweepArgs{}, nil },
		&river.PeriodicJobOpts{ID: "integration_purge_sweep", RunOnStart: true}))
}

// schedulePurge queues the purge of a just-disconnected integration. When
// there is no runner, or the insert fails, the sweep does it instead.
func (s *Service) schedulePurge(ctx context.Context, orgID, id int64) {
	if s.runner == nil {
		return
	}
	if _, err := s.runner.Insert(ctx, PurgeArgs{OrgID: orgID, IntegrationID: id}, nil); err != nil {
		s.log.Warn("unable to queue a purge; the periodic sweep will run it", "integration", id, "err", err)
	}
}

// Purge hard-deletes every row derived from org's disconnected integration
// id and records it; a failure is recorded on the integration (visible in
// its view and the audit log) and returned so that it is retried.
func (s *Service) Purge(ctx context.Context, orgID, id int64) (store.PurgeCounts, error) {
	counts, err := s.st.PurgeIntegration(ctx, orgID, id)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		if merr := s.removeMirrors(ctx, orgID, id); merr != nil && err == nil {
			err = merr
		}
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return counts, nil // the organisation or integration is gone: nothing left to purge
		}
		reason := err.Error()
		if rerr := s.st.RecordPurgeFailure(context.WithoutCancel(ctx), orgID, id, reason); rerr != nil {
			s.log.Error("unable to record a failed purge", "integration", id, "err", rerr)
		}
		s.audit(context.WithoutCancel(ctx), orgID, nil, "system", "integration.purge_failed", id, map[string]any{"error": reason})
		return counts, fmt.Errorf("integrations: purge of integration %d: %w", id, err)
	}
	s.audit(ctx, orgID, nil, "system", "integration.purged", id, map[string]any{"rows_deleted": counts.Total(), "tables": counts})
	s.log.Info("purged a disconnected integration's data", "org", orgID, "integration", id, "rows", counts.Total())
	return counts, nil
}

// PurgeDue purges every disconnected integration not purged yet, deletes
// expired sign-in sessions, and finishes deleting organisations whose keys
// were destroyed. It goes on
// past a failure and returns how many integrations it purged with the
// first error. One whose deadline has passed is logged as an error.
func (s *Service) PurgeDue(ctx context.Context) (int, error) {
	pending, err := s.st.PendingPurges(ctx)
	if err != nil {
		return 0, err
	}
	var first error
	done := 0
	now := s.clock()
	for _, p := range pending {
		if now.After(p.Deadline) {
			s.log.Error("a disconnected integration's data is past its purge deadline", "integration", p.IntegrationID, "deadline", p.Deadline)
		}
		if _, err := s.Purge(ctx, p.OrgID, p.IntegrationID); err != nil {
			first = cmpErr(first, err)
			continue
		}
		done++
	}
	// Expired sign-in sessions go too; none lives past a week idle.
	if n, err := s.st.DeleteStaleSessions(ctx, now.Add(-7*24*time.Hour)); err != nil {
		first = cmpErr(first, err)
	} else if n > 0 {
		s.log.Debug("deleted expired sessions", "count", n)
	}
	orgs, err := s.st.OrganizationsBeingDeleted(ctx)
	if err != nil {
		return done, cmpErr(first, err)
	}
	for _, id := range orgs {
		if err := s.st.DeleteOrganizationRows(ctx, id); err != nil {
			first = cmpErr(first, err)
		}
	}
	return done, first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// DeleteOrganization deletes who's organisation: it disconnects every
// live integration (removing registered hooks and revoking OAuth tokens at
// GitLab, best effort), then destroys the organisation's data keys —
// from that moment every secret sealed for it is unreadable — and then
// deletes its rows. If deleting the rows fails, the keys are already gone
// and the periodic sweep finishes the work.
func (s *Service) DeleteOrganization(ctx context.Context, who Actor) error {
	list, err := s.st.Integrations(ctx, who.OrgID)
	if err != nil {
		return err
	}
	for _, i := range list {
		if i.Status == store.StatusDisconnected {
			continue
		}
		if _, err := s.Disconnect(ctx, who, i.ID); err != nil {
			s.log.Warn("disconnecting before deleting the organisation failed; its keys are destroyed anyway", "integration", i.ID, "err", err)
		}
	}
	if err := s.st.ShredOrganization(ctx, who.OrgID); err != nil {
		return err
	}
	s.vault.Forget(who.OrgID)
	for _, i := range list {
		s.forget(i.ID)
	}
	s.log.Info("organisation keys destroyed; deleting its rows", "org", who.OrgID, "by_user", who.UserID)
	if err := s.st.DeleteOrganizationRows(ctx, who.OrgID); err != nil {
		s.log.Warn("deleting the organisation's rows failed; the periodic sweep will retry", "org", who.OrgID, "err", err)
	}
	return nil
}
