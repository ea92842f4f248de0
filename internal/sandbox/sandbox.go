package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sandbox is a running simulated GitLab. Its methods are safe for concurrent use.
type Sandbox struct {
	cfg   Config
	ver   version
	clock func() time.Time

	mu             sync.RWMutex // guards everything below that is not atomic
	users          []*user
	groups         []*group
	projects       []*project
	mrs            []*mergeRequest // all, sorted by created
	issues         []*issue        // all, sorted by created
	pipelines      []*pipeline
	nextMRID       int64
	nextIssueID    int64
	nextPipelineID int64
	nextEventID    int64
	nextHookID     int64
	nextTokenID    int64
	nextAppID      int64
	rdc            rdCounters // ids of notes, environments, deployments (reviews.go)
	tokens         map[string]*token
	apps           map[string]*oauthApp
	grants         map[string]*grant
	refresh        map[string]*token // refresh token -> access token it belongs to
	adminToken     string
	defaultApp     *oauthApp
	redirects      map[string]*project // old full paths of renamed, transferred or marked projects
	marked         atomic.Int64        // projects marked for deletion and not yet gone

	// The gitlab.com profile (dotcom.go).
	dotcom             bool
	seededProjects     int   // projects[:seededProjects] are the seeded dataset
	seededGroups       int   // likewise for groups
	firstPublicProject int64 // 0: no public world
	userName           string
	userToken          string
	controlToken       string
	publicChanges      atomic.Int64
	endpoints          endpointLimiter

	blockLocalHooks atomic.Bool // !allow_local_requests_from_web_hooks_and_services (local_hooks.go)

	faults   atomic.Pointer[Faults]
	faultGen atomic.Int64 // bumped by SetFaults; tokens remember the generation of their first use

	logMu  sync.Mutex
	reqLog []RequestLogEntry

	rate rateLimiter

	ln      net.Listener
	srv     *http.Server
	baseURL string
	caPEM   []byte
	caPath  string

	hookQ     chan delivery
	hookHTTP  atomic.Pointer[http.Client]
	deliverMu sync.Mutex
	delivered []Delivery

	// Real Git (Config.Git, git.go); gitDir is "" when off.
	gitDir   string
	gitBin   string
	gitMu    sync.Mutex     // guards gitReady
	gitReady map[int64]bool // projects whose repository exists

	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// RequestLogEntry is one request the sandbox answered.
type RequestLogEntry struct {
	Method string `json:"method"`
	// Route is the endpoint's pattern, such as
	// "GET /api/v4/groups/{id}/merge_requests": requests per endpoint are
	// counted by it. Empty for paths no route matched.
	Route  string    `json:"route,omitempty"`
	Path   string    `json:"path"`
	Query  string    `json:"query,omitempty"`
	Status int       `json:"status"`
	Time   time.Time `json:"time"`
}

// TokenSpec describes a personal access token to create.
type TokenSpec struct {
	// User is a username (root, alice, bob, carol); default root.
	User string
	// Name defaults to "sandbox".
	Name string
	// Scopes default to ["api"].
	Scopes []string
	// ExpiresAt is the expiry; zero means none before 16.0 and 365 days from
	// now (at 00:00 UTC) from 16.0, when GitLab made expiry mandatory.
	ExpiresAt time.Time
}

// Start generates the dataset, listens on cfg.Addr and serves until Close or
// until ctx is cancelled.
func Start(ctx context.Context, cfg Config) (*Sandbox, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	dotcom, err := isDotcom(cfg.Profile)
	if err != nil {
		return nil, err
	}
	if cfg.Version == "" {
		cfg.Version = "17.11"
		if dotcom {
			cfg.Version = Profiles[len(Profiles)-1]
		}
	}
	if dotcom {
		cfg.Profile = ProfileGitLabCom
		if cfg.PublicProjects == 0 {
			cfg.PublicProjects = DefaultPublicProjects
		}
		if cfg.RateLimitPerMin == 0 {
			cfg.RateLimitPerMin = dotcomAPILimit
		}
		if cfg.LastActivityInterval == 0 {
			cfg.LastActivityInterval = resetProjectActivityInterval
		}
	} else {
		cfg.Profile, cfg.PublicProjects, cfg.PublicActivityPerMin = ProfileSelfManaged, 0, 0
	}
	m := cfg.PublicActivityMix
	if cfg.PublicProjects < 0 || cfg.PublicActivityPerMin < 0 || m.MergeRequests < 0 || m.Issues < 0 || m.Pushes < 0 || m.Pipelines < 0 {
		return nil, errors.New("sandbox: PublicProjects, PublicActivityPerMin and PublicActivityMix must not be negative")
	}
	ver, err := parseVersion(cfg.Version)
	if err != nil {
		return nil, err
	}
	for _, n := range []int{cfg.Groups, cfg.Projects, cfg.MRs, cfg.Issues, cfg.Pipelines, cfg.Commits} {
		if n < 0 {
			return nil, errors.New("sandbox: counts must not be negative")
		}
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: Addr %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("sandbox: Addr %q must be a loopback address", cfg.Addr)
	}
	s := &Sandbox{cfg: cfg, ver: ver, clock: cfg.Now, dotcom: dotcom,
		tokens: map[string]*token{}, apps: map[string]*oauthApp{}, grants: map[string]*grant{}, refresh: map[string]*token{},
		redirects: map[string]*project{},
		hookQ:     make(chan delivery, 4096)}
	if s.clock == nil {
		s.clock = time.Now
	}
	f := cfg.Faults
	s.faults.Store(&f)
	s.blockLocalHooks.Store(cfg.BlockLocalWebhooks)
	s.generate()
	s.generateReviewDelivery()
	s.seededProjects, s.seededGroups = len(s.projects), len(s.groups)
	if dotcom {
		s.generatePublic()
	}
	if cfg.Git {
		if err := s.startGit(); err != nil {
			return nil, err
		}
		if err := s.gitWriteSeededTags(); err != nil { // delivery.go
			s.removeGit()
			return nil, err
		}
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.removeGit()
		return nil, fmt.Errorf("sandbox: listen: %w", err)
	}
	s.ln = ln
	port := ln.Addr().(*net.TCPAddr).Port
	scheme := "http"
	var tlsCfg *tls.Config
	if cfg.TLS != TLSNone {
		scheme = "https"
		if tlsCfg, err = s.setupTLS(); err != nil {
			ln.Close()
			s.removeGit()
			return nil, err
		}
	}
	s.baseURL = fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(hostForURL(host), fmt.Sprint(port)))

	// Credentials: an admin PAT with api scope (self-managed) or an ordinary
	// user's PAT and a control credential that is no GitLab token at all
	// (gitlab.com), and a default OAuth application.
	if dotcom {
		s.userName = "alice"
		s.userToken = s.CreateToken(TokenSpec{User: s.userName, Name: "labsync", Scopes: []string{"api", "read_repository"}})
		s.controlToken = "sbctl-" + randomString(32)
	} else {
		s.adminToken = s.CreateToken(TokenSpec{User: "root", Name: "sandbox-admin", Scopes: []string{"api", "read_api", "read_user", "read_repository", "sudo"}})
	}
	redirects := cfg.RedirectURIs
	if len(redirects) == 0 {
		redirects = []string{DefaultRedirectURI}
	}
	s.defaultApp = s.newApp("labsync", redirects, oauthScopes(ver))

	s.hookHTTP.Store(&http.Client{Timeout: 10 * time.Second}) // GitLab's webhook timeout
	s.srv = &http.Server{Handler: s.routes(), TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	runCtx, cancel := context.WithCancel(ctx)
	s.stop = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		var err error
		if tlsCfg != nil {
			err = s.srv.ServeTLS(ln, "", "")
		} else {
			err = s.srv.Serve(ln)
		}
		_ = err // http.ErrServerClosed after Close
	}()
	go func() { defer s.wg.Done(); s.deliverLoop(runCtx) }()
	if s.firstPublicProject > 0 && cfg.PublicActivityPerMin > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.publicActivityLoop(runCtx, cfg.PublicActivityPerMin, cfg.PublicActivityMix)
		}()
	}
	if cfg.Generator > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.generatorLoop(runCtx, cfg.Generator) }()
	}
	go func() { <-runCtx.Done(); s.shutdown() }()
	return s, nil
}

func hostForURL(h string) string {
	if h == "" || h == "0.0.0.0" {
		return "127.0.0.1"
	}
	return h
}

// Close stops the server, the generator and webhook delivery, and removes
// the repositories (Config.Git). It is safe to call twice.
func (s *Sandbox) Close() error {
	s.stop()
	s.shutdown()
	s.wg.Wait()
	return s.removeGit()
}

func (s *Sandbox) removeGit() error {
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	if s.gitDir == "" {
		return nil
	}
	if err := os.RemoveAll(s.gitDir); err != nil {
		return fmt.Errorf("sandbox: remove repositories: %w", err)
	}
	s.gitReady = nil
	return nil
}

func (s *Sandbox) shutdown() {
	if s.closed.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
}

// URL is the base URL, such as http://127.0.0.1:41234 (the API is under /api/v4).
func (s *Sandbox) URL() string { return s.baseURL }

// Version is the GitLab profile being served, such as "17.11".
func (s *Sandbox) Version() string { return s.cfg.Version }

// CAPEM is the PEM of the CA that signed the server certificate (TLSCA,
// TLSExpired, TLSWrongHost) or of the self-signed leaf itself (TLSSelfSigned);
// nil for TLSNone.
func (s *Sandbox) CAPEM() []byte { return slices.Clone(s.caPEM) }

// CAPath is where ca.pem was written when Config.TLSDir was set, else "".
func (s *Sandbox) CAPath() string { return s.caPath }

// AdminToken is a personal access token of root (an instance administrator)
// with the api scope. It is empty on the gitlab.com profile, where nobody
// connects as an administrator: use UserToken and ControlToken there.
func (s *Sandbox) AdminToken() string { return s.adminToken }

// UserToken is the credential a user connects with: on the gitlab.com
// profile an ordinary user's (alice's) personal access token with the api
// scope, elsewhere the administrator's token.
func (s *Sandbox) UserToken() string {
	if s.dotcom {
		return s.userToken
	}
	return s.adminToken
}

// ControlToken opens the control API under /-/sandbox/. On the gitlab.com
// profile it is a credential of its own that GitLab's API refuses (401);
// elsewhere it is AdminToken.
func (s *Sandbox) ControlToken() string {
	if s.dotcom {
		return s.controlToken
	}
	return s.adminToken
}

// Profile is ProfileSelfManaged or ProfileGitLabCom.
func (s *Sandbox) Profile() string { return s.cfg.Profile }

// Now is the sandbox clock.
func (s *Sandbox) Now() time.Time { return s.clock() }

// CreateToken creates a personal access token and returns its value. Unknown
// users fall back to root. CreateAccessToken makes the other kinds.
func (s *Sandbox) CreateToken(spec TokenSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(spec.User)
	if u == nil {
		u = s.users[0]
	}
	if spec.Name == "" {
		spec.Name = "sandbox"
	}
	return s.addPATLocked(u, spec.Name, spec.Scopes, spec.ExpiresAt).value
}

// RevokeToken revokes a personal access token or OAuth access token; it
// reports whether the token existed.
func (s *Sandbox) RevokeToken(value string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[value]
	if ok {
		t.revoked = true
	}
	return ok
}

// ExpireToken makes a token expire now (on the sandbox clock).
func (s *Sandbox) ExpireToken(value string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[value]
	if ok {
		t.expires = s.clock().Add(-time.Second)
	}
	return ok
}

// OAuthApp returns the pre-registered OAuth application's client id and
// secret. Its redirect URIs are Config.RedirectURIs (DefaultRedirectURI when
// none) and it holds every scope the version offers (OAuthScopes).
func (s *Sandbox) OAuthApp() (id, secret string) { return s.defaultApp.uid, s.defaultApp.secret }

// RegisterOAuthApp registers an OAuth application with one or more redirect
// URIs (newline-separated, as in GitLab) and scopes ("api read_api" when empty).
func (s *Sandbox) RegisterOAuthApp(redirectURI string, scopes ...string) (id, secret string) {
	sc := strings.Join(scopes, " ")
	if sc == "" {
		sc = "api read_api read_user"
	}
	a := s.newApp("app", strings.Fields(redirectURI), strings.Fields(sc))
	return a.uid, a.secret
}

// SetFaults replaces the injected faults; it takes effect for the next request.
func (s *Sandbox) SetFaults(f Faults) {
	s.faults.Store(&f)
	s.faultGen.Add(1)
}

// Faults returns the faults in force.
func (s *Sandbox) Faults() Faults { return *s.faults.Load() }

// Requests returns a copy of the request log, oldest first.
func (s *Sandbox) Requests() []RequestLogEntry {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return slices.Clone(s.reqLog)
}

// RequestsByRoute counts the logged requests per route pattern (requests no
// route matched count under their method and path). With ResetRequests at
// the start of a poll cycle it gives the cycle's requests per endpoint.
func (s *Sandbox) RequestsByRoute() map[string]int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := map[string]int{}
	for _, e := range s.reqLog {
		k := e.Route
		if k == "" {
			k = e.Method + " " + e.Path
		}
		out[k]++
	}
	return out
}

// ResetRequests empties the request log.
func (s *Sandbox) ResetRequests() {
	s.logMu.Lock()
	s.reqLog = nil
	s.logMu.Unlock()
}

func (s *Sandbox) logRequest(e RequestLogEntry) {
	s.logMu.Lock()
	s.reqLog = append(s.reqLog, e)
	s.logMu.Unlock()
}

func randomString(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func (s *Sandbox) userByName(name string) *user {
	if name == "" {
		name = "root"
	}
	for _, u := range s.users {
		if u.username == name {
			return u
		}
	}
	return nil
}

func (s *Sandbox) userByID(id int64) *user {
	if id >= 1 && int(id) <= len(s.users) {
		return s.users[id-1]
	}
	return nil
}

func (s *Sandbox) projectByRef(ref string) *project {
	var id int64
	if _, err := fmt.Sscanf(ref, "%d", &id); err == nil && fmt.Sprint(id) == ref {
		if id >= 1 && int(id) <= len(s.projects) {
			return s.projects[id-1]
		}
		return nil
	}
	for _, p := range s.projects {
		if !p.deleted && p.fullPath() == ref {
			return p
		}
	}
	return s.redirects[ref]
}

func (s *Sandbox) groupByRef(ref string) *group {
	var id int64
	if _, err := fmt.Sscanf(ref, "%d", &id); err == nil && fmt.Sprint(id) == ref {
		if id >= 1 && int(id) <= len(s.groups) {
			return s.groups[id-1]
		}
		return nil
	}
	for _, g := range s.groups {
		if g.fullPath == ref {
			return g
		}
	}
	return nil
}

func (p *project) fullPath() string {
	if p.group == nil {
		return "root/" + p.path
	}
	return p.group.fullPath + "/" + p.path
}

func (p *project) fullName() string {
	if p.group == nil {
		return "Administrator / " + p.name
	}
	return p.group.fullName + " / " + p.name
}

// caFile is used by the CLI to show where the CA went.
func caFile(dir string) string { return filepath.Join(dir, "ca.pem") }
