package mirror

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/secret"
)

// Key names one mirror: a project of an integration.
type Key struct {
	IntegrationID int64 `json:"integration_id"`
	ProjectID     int64 `json:"project_id"`
}

// Project is what the manager needs to know about a selected project.
type Project struct {
	Key
	// OrgID is the organisation owning the integration, handed to the
	// RemoteFunc.
	OrgID int64
	// PathWithNamespace is GitLab's path_with_namespace ("group/sub/name").
	// It is used only in the clone URL, never in a file path.
	PathWithNamespace string
	// ObjectFormat is GitLab's repository_object_format: "sha1" or "sha256"
	// (GitLab 16.9 and later report it; earlier versions only have SHA-1,
	// so empty means "sha1").
	ObjectFormat string
	// DefaultBranch is GitLab's default_branch; the mirror's HEAD follows
	// it when the branch exists. Empty leaves HEAD alone.
	DefaultBranch string
}

// Remote is how to reach one GitLab install's repositories.
type Remote struct {
	// BaseURL is the install's web address (https://gitlab.example.com or
	// one with a relative root); clone URLs are built from it, so the
	// credential is only ever sent to the install it belongs to.
	BaseURL string
	// Username goes with Token in the Basic header: "oauth2" for OAuth
	// access tokens, any name for personal, group or project access tokens
	// (GitLab's lib/gitlab/auth.rb tries the password as an OAuth token and
	// as a personal access token).
	Username string
	// Token needs the read_repository scope (or api).
	Token secret.Secret
	// CAPEM is the install's CA, trusted next to the system roots for the
	// git command it is given to. Empty means the system roots only.
	CAPEM []byte
}

// RemoteFunc returns the current credential of org's integration. The
// manager calls it before every fetch, so a refreshed OAuth token is used at
// once.
type RemoteFunc func(ctx context.Context, orgID, integrationID int64) (Remote, error)

// GCPolicy says when git's garbage collection runs on a mirror.
type GCPolicy struct {
	// AutoAfterFetch runs "git gc --auto" (git's own thresholds) after each
	// successful fetch.
	AutoAfterFetch bool
	// FullEvery runs a full "git gc" after this many successful fetches of a
	// mirror since its last full gc; 0 never does.
	FullEvery int
}

// DefaultGCPolicy is git's own heuristics after every fetch and a full gc
// every 500 fetches.
var DefaultGCPolicy = GCPolicy{AutoAfterFetch: true, FullEvery: 500}

// Config configures a [Manager].
type Config struct {
	// Dir holds every mirror; created (0700) when missing.
	Dir string
	// Git is the git program; "git" (from PATH) when empty.
	Git string
	// Remote gives an integration's credential. Required.
	Remote RemoteFunc
	// Debounce is how long [Manager.Request] waits for further requests for
	// the same project before fetching; 1s when zero.
	Debounce time.Duration
	// PerIntegration bounds the git processes running at once for one
	// integration; 4 when zero.
	PerIntegration int
	// CommandTimeout bounds one git command; 30m when zero.
	CommandTimeout time.Duration
	// GC is the garbage-collection policy; the zero value never runs gc.
	GC GCPolicy
	// Logger gets one line per fetch; slog.Default() when nil.
	Logger *slog.Logger
	// Proxy, when set, chooses the proxy for a clone URL as labsync's
	// GitLab client does (LABSYNC_GITLAB_PROXY and the standard proxy
	// variables: gitlab.Proxy.For); nil for none. Its URL, which may hold
	// credentials, reaches git through the environment only. When nil,
	// git reads the standard proxy variables itself.
	Proxy func(*url.URL) (*url.URL, error)
	// CheckAddress, when set, is the address policy of labsync's GitLab
	// client (gitlab.AddressPolicy.Check): before every fetch the manager
	// resolves GitLab's host itself and checks the addresses. Connecting
	// directly, git is pinned to the allowed addresses (http.curloptResolve,
	// git 2.37 and later), so a DNS answer that changes after the check
	// cannot send it elsewhere; through a proxy, every address must be
	// allowed, as the API client requires before a CONNECT. A refusal is a
	// [FetchError] of kind [KindAddress] and git never runs. When set and
	// Proxy is nil, git connects directly and ignores the proxy variables.
	CheckAddress func(netip.Addr) error
	// Resolver looks GitLab's host up for CheckAddress; net.DefaultResolver
	// when nil.
	Resolver Resolver
	// SystemCADir is the system's directory of trusted certificates
	// (Debian's /etc/ssl/certs, the default). When it exists git trusts it
	// through http.sslCAPath and the file handed to git holds the install's
	// CA only: Debian's libcurl loads that directory anyway, so also
	// copying the system bundle into the file made every git process parse
	// the system roots twice (about 10 ms of CPU each; `labsync bench
	// mirrors` showed it). Set it to a missing path to use SystemCAFile.
	SystemCADir string
	// SystemCAFile is the system's CA bundle, put in front of the install's
	// CA in the file handed to git when SystemCADir does not exist;
	// /etc/ssl/certs/ca-certificates.crt when empty (skipped when missing).
	SystemCAFile string
}

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// State is where a mirror stands.
type State string

// The states of a mirror.
const (
	StateAbsent   State = "absent"   // not cloned yet
	StateCloning  State = "cloning"  // first clone running
	StateReady    State = "ready"    // cloned; the last fetch succeeded
	StateFetching State = "fetching" // cloned; a fetch is running
	StateFailed   State = "failed"   // the last clone or fetch failed; see Error
)

// Status is what is known about one mirror.
type Status struct {
	Key
	PathWithNamespace string `json:"path_with_namespace"`
	ObjectFormat      string `json:"object_format"`
	State             State  `json:"state"`
	// Cloned reports whether a complete mirror is on disk (it may be
	// stale when State is failed).
	Cloned    bool  `json:"cloned"`
	SizeBytes int64 `json:"size_bytes"`
	// LastFetchAt is when the last successful clone or fetch started:
	// everything pushed before it is in the mirror.
	LastFetchAt *time.Time `json:"last_fetch_at,omitempty"`
	// LastFetchDuration is how long that fetch took.
	LastFetchDuration time.Duration `json:"last_fetch_duration_ns,omitempty"`
	// LastPushAt is the newest push labsync saw (webhook or poller).
	LastPushAt *time.Time `json:"last_push_at,omitempty"`
	// LastAttemptAt is when the last clone or fetch, good or bad, started.
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	// Error is the last failure, with what to do; nil after a success.
	Error   *FetchError `json:"error,omitempty"`
	Fetches int         `json:"fetches"`
}

// Lag is how far the mirror is behind the newest push labsync saw at now:
// zero when the last successful fetch started after that push, else the
// time since the push.
func (s Status) Lag(now time.Time) time.Duration {
	if s.LastPushAt == nil {
		return 0
	}
	if s.LastFetchAt != nil && !s.LastFetchAt.Before(*s.LastPushAt) {
		return 0
	}
	return now.Sub(*s.LastPushAt)
}

// Manager keeps the mirrors in one directory. Its methods are safe for
// concurrent use.
type Manager struct {
	cfg  Config
	home string // an empty HOME for git, so no user config applies

	mu      sync.Mutex
	entries map[Key]*entry
	sems    map[int64]chan struct{}
	gens    map[int64]int // bumped by RemoveIntegration to stop queued work
	// stops cancel an integration's running git commands (RemoveIntegration).
	stops    map[int64]context.CancelFunc
	ctxs     map[int64]context.Context
	bgCtx    context.Context
	bgStop   context.CancelFunc
	bg       sync.WaitGroup
	onFetch  func(Key, error) // test hook: called after each attempt
	onResult func(Project, Status)
}

type entry struct {
	lock    chan struct{} // held (one token) while git runs for this project
	proj    Project
	status  Status
	timer   *time.Timer
	running bool
	pending bool
	gcCount int // successful fetches since the last full gc
}

// New prepares dir and returns a Manager. It removes what a crash can leave
// behind: half-made clones, half-deleted mirrors and stale git lock files.
// Only one process may use a directory at a time (see docs/operations.md on
// replicas).
func New(cfg Config) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("mirror: LABSYNC_MIRROR_DIR must name a directory")
	}
	if cfg.Remote == nil {
		return nil, errors.New("mirror: a RemoteFunc is required")
	}
	if cfg.Git == "" {
		cfg.Git = "git"
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = time.Second
	}
	if cfg.PerIntegration <= 0 {
		cfg.PerIntegration = 4
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 30 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.SystemCADir == "" {
		cfg.SystemCADir = "/etc/ssl/certs"
	}
	if cfg.SystemCAFile == "" {
		cfg.SystemCAFile = "/etc/ssl/certs/ca-certificates.crt"
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("mirror: unable to resolve LABSYNC_MIRROR_DIR %q: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	home := filepath.Join(dir, ".home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("mirror: unable to create LABSYNC_MIRROR_DIR %q: %w", cfg.Dir, err)
	}
	m := &Manager{cfg: cfg, home: home, entries: map[Key]*entry{}, sems: map[int64]chan struct{}{}, gens: map[int64]int{},
		stops: map[int64]context.CancelFunc{}, ctxs: map[int64]context.Context{}}
	m.bgCtx, m.bgStop = context.WithCancel(context.Background())
	if err := m.recover(); err != nil {
		return nil, err
	}
	return m, nil
}

// OnResult sets f to be called after every clone or fetch, good or bad,
// with the project and its new status (to record it where every replica
// sees it). Call it before the first Sync or Request.
func (m *Manager) OnResult(f func(Project, Status)) {
	m.mu.Lock()
	m.onResult = f
	m.mu.Unlock()
}

// Dir returns the absolute directory holding the mirrors.
func (m *Manager) Dir() string { return m.cfg.Dir }

// Close stops debounced work and waits for running fetches to end (they are
// cancelled).
func (m *Manager) Close() {
	m.bgStop()
	m.mu.Lock()
	for _, e := range m.entries {
		if e.timer != nil && e.timer.Stop() {
			m.bg.Done()
		}
		e.timer = nil
	}
	m.mu.Unlock()
	m.bg.Wait()
}

func integrationDir(root string, id int64) string {
	return filepath.Join(root, strconv.FormatInt(id, 10))
}

func (m *Manager) repoDir(k Key) string {
	return filepath.Join(integrationDir(m.cfg.Dir, k.IntegrationID), strconv.FormatInt(k.ProjectID, 10)+".git")
}

// Path returns the directory of the complete mirror of k, and false when
// there is none (never cloned, or removed).
func (m *Manager) Path(k Key) (string, bool) {
	if k.IntegrationID <= 0 || k.ProjectID <= 0 {
		return "", false
	}
	p := m.repoDir(k)
	if fi, err := os.Stat(filepath.Join(p, "HEAD")); err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return p, true
}

// recover removes the leftovers of a crash: temporary clone directories,
// trash, and lock files inside finished mirrors (no git runs on them yet).
func (m *Manager) recover() error {
	ints, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return fmt.Errorf("mirror: unable to read %s: %w", m.cfg.Dir, err)
	}
	for _, d := range ints {
		name := d.Name()
		full := filepath.Join(m.cfg.Dir, name)
		if strings.HasPrefix(name, ".trash-") {
			if err := os.RemoveAll(full); err != nil {
				return fmt.Errorf("mirror: unable to remove %s: %w", full, err)
			}
			continue
		}
		if _, err := strconv.ParseInt(name, 10, 64); err != nil || !d.IsDir() {
			continue
		}
		if err := m.cleanIntegration(full, true); err != nil {
			return err
		}
	}
	return nil
}

// RemoveAbandoned deletes the first clones whose process died (a replica
// sharing the volume killed mid-clone, while this one runs on), as [New]
// does at start; the hourly sweep calls it. Clones in progress, by this
// process or another, are left alone.
func (m *Manager) RemoveAbandoned() error {
	ints, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return fmt.Errorf("mirror: unable to read %s: %w", m.cfg.Dir, err)
	}
	for _, d := range ints {
		if _, err := strconv.ParseInt(d.Name(), 10, 64); err != nil || !d.IsDir() {
			continue
		}
		if err := m.cleanIntegration(filepath.Join(m.cfg.Dir, d.Name()), false); err != nil {
			return err
		}
	}
	return nil
}

// cleanIntegration removes from one integration's directory the clones a
// crash cut short and, with gitLocks (only before any git runs in this
// process), stale git lock files in its mirrors.
func (m *Manager) cleanIntegration(full string, gitLocks bool) error {
	repos, err := os.ReadDir(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("mirror: unable to read %s: %w", full, err)
	}
	for _, r := range repos {
		rp := filepath.Join(full, r.Name())
		tmp := strings.HasPrefix(r.Name(), ".tmp-")
		switch {
		case tmp && strings.HasSuffix(r.Name(), ".lock"):
			// A lock whose clone directory is gone: left by a crash
			// between the two removals (a young one may be a clone's
			// that has not made its directory yet).
			if _, err := os.Stat(strings.TrimSuffix(rp, ".lock")); errors.Is(err, fs.ErrNotExist) &&
				staleSince(r, time.Now().Add(-time.Minute)) && cloneLockOwner(rp) == ownerGone {
				_ = os.Remove(rp)
			}
		case tmp && r.IsDir() && cloneLockOwner(rp+".lock") == ownerGone,
			(tmp || strings.HasPrefix(r.Name(), ".trash-")) && cloneLockOwner(rp+".lock") != ownerAlive && staleSince(r, time.Now().Add(-m.cfg.CommandTimeout)):
			// The process making this clone died (its lock is free),
			// or, without a lock to ask, the clone is older than any
			// command may run.
			m.cfg.Logger.Info("mirror: removing a clone a crash left unfinished; it will be made again", "dir", rp)
			if err := os.RemoveAll(rp); err != nil {
				return fmt.Errorf("mirror: unable to remove %s: %w", rp, err)
			}
			_ = os.Remove(rp + ".lock")
		case gitLocks && strings.HasSuffix(r.Name(), ".git") && r.IsDir():
			if err := removeStaleLocks(rp); err != nil {
				return err
			}
		}
	}
	return nil
}

// staleSince reports whether d was last changed before t: a temporary
// directory older than the longest a git command may run belongs to no live
// clone, even of another replica sharing the volume.
func staleSince(d fs.DirEntry, t time.Time) bool {
	fi, err := d.Info()
	return err == nil && fi.ModTime().Before(t)
}

// lockOwner is what a clone's lock file says about the process making it.
type lockOwner int

const (
	ownerUnknown lockOwner = iota
	ownerAlive
	ownerGone
)

// lockStale is the age from which a git lock file is taken for a crash's
// leftover: git holds ref and config locks for milliseconds, and another
// replica sharing the volume may hold a young one.
const lockStale = 10 * time.Minute

// removeStaleLocks deletes git's *.lock files older than lockStale under a
// mirror. Called before any git runs on it in this process.
func removeStaleLocks(repo string) error {
	before := time.Now().Add(-lockStale)
	return filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // a file vanishing while walking is fine
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".lock") && staleSince(d, before) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("mirror: unable to remove stale lock %s: %w", p, err)
			}
		}
		return nil
	})
}

func (m *Manager) entryLocked(p Project) *entry {
	e := m.entries[p.Key]
	if e == nil {
		e = &entry{lock: make(chan struct{}, 1), proj: p}
		e.status = Status{Key: p.Key, State: StateAbsent}
		m.entries[p.Key] = e
	} else if p.PathWithNamespace != "" {
		e.proj = p
	}
	e.status.PathWithNamespace = e.proj.PathWithNamespace
	e.status.ObjectFormat = objectFormat(e.proj.ObjectFormat)
	return e
}

func objectFormat(f string) string {
	if f == "sha256" {
		return "sha256"
	}
	return "sha1"
}

func (m *Manager) sem(integrationID int64) chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sems[integrationID]
	if s == nil {
		s = make(chan struct{}, m.cfg.PerIntegration)
		m.sems[integrationID] = s
	}
	return s
}

// Status returns what is known about the mirror of k. A mirror found on
// disk but not yet fetched by this process is reported ready with its size.
func (m *Manager) Status(k Key) Status {
	m.mu.Lock()
	e := m.entries[k]
	var st Status
	if e != nil {
		st = e.status
	} else {
		st = Status{Key: k, State: StateAbsent}
	}
	m.mu.Unlock()
	if p, ok := m.Path(k); ok {
		st.Cloned = true
		if e == nil {
			st.State = StateReady
			st.SizeBytes = dirSize(p)
			st.ObjectFormat = repoObjectFormat(p)
		}
	} else {
		st.Cloned = false
	}
	return st
}

// Note records that GitLab saw a push to p at pushedAt (from a webhook or
// the poller), for [Status.Lag]. It does not fetch; see [Manager.Request].
func (m *Manager) Note(p Project, pushedAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entryLocked(p)
	if e.status.LastPushAt == nil || pushedAt.After(*e.status.LastPushAt) {
		t := pushedAt
		e.status.LastPushAt = &t
	}
}

// Request asks for a fetch of p after the debounce delay; requests for the
// same project inside that delay, or while its fetch runs, are served by one
// more fetch. pushedAt, when not zero, is recorded as by [Manager.Note].
// Failures show in [Manager.Status].
func (m *Manager) Request(p Project, pushedAt time.Time) {
	if !pushedAt.IsZero() {
		m.Note(p, pushedAt)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bgCtx.Err() != nil {
		return
	}
	e := m.entryLocked(p)
	switch {
	case e.timer != nil:
	case e.running:
		e.pending = true
	default:
		m.scheduleLocked(e)
	}
}

func (m *Manager) scheduleLocked(e *entry) {
	k := e.proj.Key
	gen := m.gens[k.IntegrationID]
	m.bg.Add(1)
	e.timer = time.AfterFunc(m.cfg.Debounce, func() {
		defer m.bg.Done()
		m.mu.Lock()
		if m.entries[k] != e || m.gens[k.IntegrationID] != gen || m.bgCtx.Err() != nil {
			m.mu.Unlock()
			return
		}
		e.timer = nil
		e.running = true
		p := e.proj
		m.mu.Unlock()

		_ = m.Sync(m.bgCtx, p) // the outcome is in Status

		m.mu.Lock()
		e.running = false
		if e.pending && m.entries[k] == e && m.bgCtx.Err() == nil {
			e.pending = false
			m.scheduleLocked(e)
		}
		m.mu.Unlock()
	})
}

// Sync clones p when it has no mirror yet and fetches it otherwise, now,
// waiting for a free slot of its integration and for a fetch of the same
// project already running. The error, a *[FetchError] for git failures, is
// also recorded in the project's [Status].
func (m *Manager) Sync(ctx context.Context, p Project) error {
	if p.IntegrationID <= 0 || p.ProjectID <= 0 || p.PathWithNamespace == "" {
		return fmt.Errorf("mirror: project %d of integration %d has no path", p.ProjectID, p.IntegrationID)
	}
	m.mu.Lock()
	e := m.entryLocked(p)
	gen := m.gens[p.IntegrationID]
	ictx := m.ctxs[p.IntegrationID]
	if ictx == nil {
		var stop context.CancelFunc
		ictx, stop = context.WithCancel(context.Background())
		m.ctxs[p.IntegrationID], m.stops[p.IntegrationID] = ictx, stop
	}
	m.mu.Unlock()
	// A disconnect cancels the integration's git commands at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(ictx, cancel)()

	select { // one git at a time per project
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("mirror: waiting to fetch %s: %w", p.PathWithNamespace, ctx.Err())
	}
	defer func() { <-e.lock }()
	sem := m.sem(p.IntegrationID)
	select { // bounded per integration
	case sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("mirror: waiting to fetch %s: %w", p.PathWithNamespace, ctx.Err())
	}
	defer func() { <-sem }()

	m.mu.Lock()
	if m.gens[p.IntegrationID] != gen || m.entries[p.Key] != e {
		m.mu.Unlock()
		return fmt.Errorf("mirror: integration %d was disconnected", p.IntegrationID)
	}
	_, cloned := m.Path(p.Key)
	start := time.Now()
	e.status.LastAttemptAt = &start
	if cloned {
		e.status.State = StateFetching
	} else {
		e.status.State = StateCloning
	}
	m.mu.Unlock()

	err := m.run(ctx, e.proj, cloned)
	dur := time.Since(start)
	dir, nowCloned := m.Path(p.Key)
	var size int64
	if err == nil && nowCloned {
		size = dirSize(dir) // outside the lock: a walk of the mirror
	}

	m.mu.Lock()
	e.status.Cloned = nowCloned
	if err != nil {
		var fe *FetchError
		if !errors.As(err, &fe) {
			fe = &FetchError{Kind: KindInternal, Message: err.Error(), Remedy: "Look at labsync's log; the next fetch tries again."}
		}
		e.status.Error = fe
		e.status.State = StateFailed
		m.cfg.Logger.Warn("mirror: fetch failed", "integration", p.IntegrationID, "project", p.ProjectID, "kind", fe.Kind, "error", fe.Message)
	} else {
		e.status.Error = nil
		e.status.State = StateReady
		e.status.LastFetchAt = &start
		e.status.LastFetchDuration = dur
		e.status.Fetches++
		e.status.SizeBytes = size
		m.cfg.Logger.Debug("mirror: fetched", "integration", p.IntegrationID, "project", p.ProjectID, "duration", dur)
	}
	st, onResult, proj := e.status, m.onResult, e.proj
	m.mu.Unlock()
	if onResult != nil {
		onResult(proj, st)
	}
	if m.onFetch != nil {
		m.onFetch(p.Key, err)
	}
	return err
}

// run does the git work for one Sync; called with the project's lock held.
func (m *Manager) run(ctx context.Context, p Project, cloned bool) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.CommandTimeout)
	defer cancel()
	remote, err := m.cfg.Remote(ctx, p.OrgID, p.IntegrationID)
	if err != nil {
		return &FetchError{Kind: KindCredential, Message: "the integration's credential is not available: " + err.Error(),
			Remedy: "Reconnect the integration; its credential could not be read."}
	}
	src, err := cloneURL(remote.BaseURL, p.PathWithNamespace)
	if err != nil {
		return &FetchError{Kind: KindInternal, Message: err.Error(), Remedy: "Check the integration's GitLab URL."}
	}
	dest := m.repoDir(p.Key)
	work := dest
	if !cloned {
		if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
			return diskError(err)
		}
		work = filepath.Join(filepath.Dir(dest), ".tmp-"+strconv.FormatInt(p.ProjectID, 10)+"-"+randomSuffix())
		release, err := holdCloneLock(work + ".lock")
		if err != nil {
			return diskError(err)
		}
		defer release() // after the rename: the clone is never unowned while half made
		if _, err := m.git(ctx, "", remote, "init", "--quiet", "--bare", "--object-format="+objectFormat(p.ObjectFormat), work); err != nil {
			_ = os.RemoveAll(work)
			return err
		}
	}
	if _, err := m.git(ctx, work, remote, append([]string{"fetch", "--quiet", "--prune", "--no-write-fetch-head", "--no-auto-gc", src},
		mirrorRefspecs...)...); err != nil {
		if !cloned {
			_ = os.RemoveAll(work)
		}
		return err
	}
	if err := followDefaultBranch(work, p.DefaultBranch); err != nil {
		return diskError(err)
	}
	if !cloned {
		if err := os.Rename(work, dest); err != nil {
			_ = os.RemoveAll(work)
			if _, ok := m.Path(p.Key); ok {
				return nil // another replica on a shared volume made it first
			}
			return diskError(err)
		}
	}
	if cloned { // a first clone is one fresh pack: nothing to collect
		m.gc(ctx, p.Key, dest, remote)
	}
	return nil
}

// mirrorRefspecs are the refs a mirror holds, pruned at every fetch:
// branches, tags, and the merge request refs GitLab advertises —
// refs/merge-requests/<iid>/head (the source branch's head, kept in the
// target project even for forks; GitLab 13.x and later delete it 14 days
// after the merge request is merged or closed —
// MergeRequests::CleanupRefsService — and the prune follows) and
// refs/merge-requests/<iid>/merge (the merge result that merge request
// pipelines run on), so runners fetch them from labsync as from GitLab.
var mirrorRefspecs = []string{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", "+refs/merge-requests/*:refs/merge-requests/*"}

// followDefaultBranch points the bare repository's HEAD at GitLab's
// default branch when that branch exists and HEAD points elsewhere. It
// reads and writes the HEAD file itself (a symbolic ref is one line,
// "ref: refs/heads/<name>"), sparing two git processes per fetch.
func followDefaultBranch(repo, branch string) error {
	if branch == "" || !validBranch(branch) {
		return nil
	}
	ref := "refs/heads/" + branch
	want := "ref: " + ref + "\n"
	if b, err := os.ReadFile(filepath.Join(repo, "HEAD")); err == nil && string(b) == want {
		return nil
	}
	exists := false
	if fi, err := os.Stat(filepath.Join(repo, filepath.FromSlash(ref))); err == nil && fi.Mode().IsRegular() {
		exists = true
	} else if b, err := os.ReadFile(filepath.Join(repo, "packed-refs")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if _, name, ok := strings.Cut(line, " "); ok && name == ref {
				exists = true
				break
			}
		}
	}
	if !exists {
		return nil
	}
	tmp := filepath.Join(repo, "HEAD.labsync-tmp")
	if err := os.WriteFile(tmp, []byte(want), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(repo, "HEAD"))
}

// gc applies the policy after a successful fetch. A failed gc is logged,
// never reported as a failed fetch: the mirror is fresh either way.
func (m *Manager) gc(ctx context.Context, k Key, dir string, remote Remote) {
	pol := m.cfg.GC
	m.mu.Lock()
	e := m.entries[k]
	full := false
	if e != nil {
		e.gcCount++
		if pol.FullEvery > 0 && e.gcCount >= pol.FullEvery {
			full = true
			e.gcCount = 0
		}
	}
	m.mu.Unlock()
	var err error
	switch {
	case full:
		_, err = m.git(ctx, dir, remote, "gc", "--quiet")
	case pol.AutoAfterFetch:
		_, err = m.git(ctx, dir, remote, "gc", "--auto", "--quiet")
	}
	if err != nil {
		m.cfg.Logger.Warn("mirror: gc failed", "integration", k.IntegrationID, "project", k.ProjectID, "error", err)
	}
}

// cloneURL builds <base>/<path>.git and checks the path has no part that
// could step out of the install (the credential goes with the request).
func cloneURL(base, pathWithNamespace string) (string, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", errors.New("the GitLab URL is not an http(s) URL without user info")
	}
	for _, seg := range strings.Split(pathWithNamespace, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\\?#%\x00") {
			return "", fmt.Errorf("the project path %q is not a GitLab path", pathWithNamespace)
		}
	}
	u.Path += "/" + pathWithNamespace + ".git"
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

func validBranch(b string) bool {
	return b != "" && !strings.HasPrefix(b, "-") && !strings.Contains(b, "..") && !strings.ContainsAny(b, " ~^:?*[\\\x00")
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// repoObjectFormat reads a mirror's object format from its config.
func repoObjectFormat(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "config"))
	if err == nil && strings.Contains(strings.ToLower(string(b)), "objectformat = sha256") {
		return "sha256"
	}
	return "sha1"
}

// Remove deletes the mirror of k at once (it stops being served the moment
// this returns) and forgets its status. A fetch running for it is waited for.
func (m *Manager) Remove(ctx context.Context, k Key) error {
	m.mu.Lock()
	e := m.entries[k]
	if e != nil {
		if e.timer != nil && e.timer.Stop() {
			m.bg.Done()
		}
		e.timer = nil
		delete(m.entries, k)
	}
	m.mu.Unlock()
	if e != nil {
		select {
		case e.lock <- struct{}{}:
			defer func() { <-e.lock }()
		case <-ctx.Done():
			return fmt.Errorf("mirror: waiting for a fetch of project %d to end: %w", k.ProjectID, ctx.Err())
		}
	}
	return m.trash(m.repoDir(k))
}

// RemoveIntegration deletes every mirror of an integration at once (on
// disconnect and by the purge): queued fetches are dropped, running ones are
// cancelled (their git is killed) and waited for, and the directory is gone
// when it returns.
func (m *Manager) RemoveIntegration(ctx context.Context, integrationID int64) error {
	m.mu.Lock()
	m.gens[integrationID]++
	if stop := m.stops[integrationID]; stop != nil {
		stop()
		delete(m.stops, integrationID)
		delete(m.ctxs, integrationID)
	}
	var locks []chan struct{}
	for k, e := range m.entries {
		if k.IntegrationID != integrationID {
			continue
		}
		if e.timer != nil && e.timer.Stop() {
			m.bg.Done()
		}
		e.timer = nil
		delete(m.entries, k)
		locks = append(locks, e.lock)
	}
	m.mu.Unlock()
	for _, l := range locks {
		select {
		case l <- struct{}{}:
			defer func() { <-l }()
		case <-ctx.Done():
			return fmt.Errorf("mirror: waiting for fetches of integration %d to end: %w", integrationID, ctx.Err())
		}
	}
	return m.trash(integrationDir(m.cfg.Dir, integrationID))
}

// trash renames dir out of the way (atomic: nothing serves it afterwards),
// then deletes it.
func (m *Manager) trash(dir string) error {
	t := filepath.Join(m.cfg.Dir, ".trash-"+randomSuffix())
	if err := os.Rename(dir, t); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("mirror: unable to remove %s: %w", dir, err)
	}
	if err := os.RemoveAll(t); err != nil {
		return fmt.Errorf("mirror: unable to delete %s: %w", t, err)
	}
	return nil
}

// List returns the status of every mirror of an integration this manager
// knows about or finds on disk, by project id.
func (m *Manager) List(integrationID int64) []Status {
	seen := map[int64]bool{}
	var keys []Key
	m.mu.Lock()
	for k := range m.entries {
		if k.IntegrationID == integrationID {
			keys = append(keys, k)
			seen[k.ProjectID] = true
		}
	}
	m.mu.Unlock()
	if ents, err := os.ReadDir(integrationDir(m.cfg.Dir, integrationID)); err == nil {
		for _, d := range ents {
			id, err := strconv.ParseInt(strings.TrimSuffix(d.Name(), ".git"), 10, 64)
			if err == nil && strings.HasSuffix(d.Name(), ".git") && !seen[id] {
				keys = append(keys, Key{IntegrationID: integrationID, ProjectID: id})
			}
		}
	}
	out := make([]Status, 0, len(keys))
	for _, k := range keys {
		out = append(out, m.Status(k))
	}
	sortStatuses(out)
	return out
}
