// Package syncer discovers what an integration's GitLab credential can see,
// applies the organisation's selection, backfills the selected projects'
// merge requests, issues, pipelines, pushes and commits, and keeps them fresh
// with incremental polls. Every page it fetches is stored together with its
// checkpoint in one transaction, so a crash or restart resumes where it
// stopped; requests are paced by GitLab's RateLimit headers and retried with
// backoff.
//
// Polls ask through the selection (group and project endpoints), so their
// cost follows the selection and its changes, not the instance; a project
// whose webhook is missing or silent is polled every minute; projects that
// are deleted, lose access or leave the selection are marked gone with the
// reason, and the data of those the credential can no longer see is
// hard-deleted after LostDataGrace unless the integration keeps it.
//
// It must never write to GitLab (the gitlab client's guard refuses anything
// but GET/HEAD), never log a token, never touch another organisation's
// rows (every store call carries the integration's organisation), and
// never store a project the credential's user is not a member of unless
// it was selected (by id, or through a selected group).
package syncer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/store"
)

// ClientSource returns the GitLab client of one integration of an
// organisation (the integrations service builds it from the sealed
// credential).
type ClientSource func(ctx context.Context, orgID, integrationID int64) (*gitlab.Client, error)

// TokenProblem is told when GitLab refused an integration's credential
// (expired, revoked, invalid, missing scope); the sync of that integration
// stops until it is started again.
type TokenProblem func(ctx context.Context, orgID, integrationID int64, err error)

// Resources a project is synced by.
const (
	ResourceMergeRequests = "merge_requests"
	ResourceIssues        = "issues"
	ResourcePipelines     = "pipelines"
	ResourcePushes        = "pushes"
	ResourceCommits       = "commits"
)

// Options configure a Service. Zero values take the defaults.
type Options struct {
	Clients      ClientSource
	TokenProblem TokenProblem
	Log          *slog.Logger
	// Concurrency bounds simultaneous GitLab requests per integration
	// (default 8).
	Concurrency int
	// PerPage is GitLab's page size (default and maximum 100).
	PerPage int
	// MaxAttempts bounds tries of one request on 5xx, 429 and timeouts
	// (default 10).
	MaxAttempts int
	// RetryBase is the first backoff (default 250ms); it doubles per try,
	// with jitter, up to 30s.
	RetryBase time.Duration
	// Overlap is how far incremental passes look back before their
	// watermark (default 5 minutes), so nothing changed during a sync is
	// missed.
	Overlap time.Duration
	// DiscoveryEvery is how often the full project list is refreshed
	// (default 1 hour); new projects also arrive through the activity poll.
	DiscoveryEvery time.Duration
	// SweepEvery spreads a check of every selected project's pipelines over
	// that many polls (default 30), since finished pipelines do not bump a
	// project's activity.
	SweepEvery int
	// LeaseTTL is how long a crashed worker's claim on an integration lasts
	// (default 1 minute).
	LeaseTTL time.Duration
	// Jobs queues River jobs; nil runs StartSync inline (tests, bench).
	Jobs *jobs.Runner
	// OnPushes, when set, is called with the pushes a page stored, after
	// it committed (repository mirrors fetch on them).
	OnPushes func(ctx context.Context, orgID, integrationID int64, ps []store.Push)
	// OnSelected, when set, is called after a sync applied the selection
	// to the projects it discovered (repository mirrors follow it).
	OnSelected func(ctx context.Context, orgID, integrationID int64)
}

// Service runs syncs. It is safe for concurrent use.
type Service struct {
	st    *store.Store
	opts  Options
	log   *slog.Logger
	owner string
	// runs numbers this process's runs: each holds the sync lease as
	// owner-N, so two jobs of one integration in one process exclude each
	// other as jobs in two processes do.
	runs atomic.Uint64

	mu     sync.Mutex
	pacers map[int64]*pacer
	// versions caches the GitLab version of integrations whose row does
	// not record it.
	versions map[int64]gitlab.Version
	notify   chan struct{}
	// pages group-commits the page writes of concurrent chains.
	pages   *groupTx
	metrics *metrics
}

// New returns a sync service over st.
func New(st *store.Store, opts Options) *Service {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.PerPage <= 0 || opts.PerPage > 100 {
		opts.PerPage = 100
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 250 * time.Millisecond
	}
	if opts.Overlap <= 0 {
		opts.Overlap = 5 * time.Minute
	}
	if opts.DiscoveryEvery <= 0 {
		opts.DiscoveryEvery = time.Hour
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 30
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = time.Minute
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 8)
	rand.Read(b)
	return &Service{st: st, opts: opts, log: log, owner: hex.EncodeToString(b), pacers: map[int64]*pacer{}, versions: map[int64]gitlab.Version{},
		notify: make(chan struct{}), pages: &groupTx{st: st}, metrics: newMetrics()}
}

// Concurrency is the per-integration request concurrency in force.
func (s *Service) Concurrency() int { return s.opts.Concurrency }

// Changes returns a channel closed at the next batch of stored changes, for
// the SSE feed to wake on.
func (s *Service) Changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

func (s *Service) changed() {
	s.mu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

func (s *Service) pacerFor(integrationID int64) *pacer {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pacers[integrationID]
	if p == nil {
		p = newPacer()
		p.onWait = func(d time.Duration) { s.metrics.rateLimited(integrationID, d) }
		s.pacers[integrationID] = p
	}
	return p
}

// ErrBusy means another worker holds the integration's sync lease.
var ErrBusy = errors.New("sync: another worker is syncing this integration")

// ErrStopped means the sync stopped on a problem a person must fix; the
// state's reason says which.
var ErrStopped = errors.New("sync: stopped")

// Mode says what a run does besides finishing pending work.
type Mode string

// Modes of a run.
const (
	// ModeFull refreshes discovery, applies the selection and backfills
	// what is new; it resumes unfinished chains.
	ModeFull Mode = "full"
	// ModePoll additionally fetches what changed since the watermarks.
	ModePoll Mode = "poll"
	// ModeBackfill only works unfinished chains (discovery only when it
	// never ran or is stale).
	ModeBackfill Mode = "backfill"
)

// StartSync queues a sync of one integration (or runs it inline when the
// service has no job runner). It fails with store.ErrNotFound when org has
// no such integration.
func (s *Service) StartSync(ctx context.Context, orgID, integrationID int64, mode Mode) error {
	if _, err := s.st.Integration(ctx, orgID, integrationID); err != nil {
		return err
	}
	st, err := s.st.SyncStateFor(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	if st.State == store.SyncStopped {
		// Someone asks again: the problem may be fixed (a new token).
		st.State, st.Reason = store.SyncIdle, ""
		if err := s.st.SaveSyncState(ctx, orgID, st); err != nil {
			return err
		}
	}
	if s.opts.Jobs == nil {
		return s.Run(ctx, orgID, integrationID, mode)
	}
	_, err = s.opts.Jobs.Insert(ctx, SyncArgs{OrgID: orgID, IntegrationID: integrationID, Mode: mode}, nil)
	if err != nil {
		return fmt.Errorf("sync: unable to queue the sync: %w", err)
	}
	return nil
}
