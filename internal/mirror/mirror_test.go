package mirror

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/mirror/mirrortest"
	"github.com/labsync/labsync/internal/secret"
)

const testToken = "glpat-mirror-test-token-0123456789"

type fixture struct {
	srv *mirrortest.Server
	m   *Manager
	dir string
	ca  []byte
	tok atomic.Value // string
}

func newFixture(t *testing.T, useTLS bool, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{srv: mirrortest.NewServer(t, testToken, useTLS), dir: t.TempDir()}
	f.tok.Store(testToken)
	if useTLS {
		f.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	}
	cfg := Config{
		Dir:      f.dir,
		Debounce: 300 * time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Remote: func(context.Context, int64, int64) (Remote, error) {
			return Remote{BaseURL: f.srv.URL, Username: "oauth2", Token: secret.New(f.tok.Load().(string)), CAPEM: f.ca}, nil
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	f.m = m
	return f
}

func refs(t *testing.T, dir string) string {
	t.Helper()
	return mirrortest.Git(t, dir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags")
}

func TestFirstSyncClonesABareMirrorOfEveryBranchAndTagInTheProjectsObjectFormat(t *testing.T) {
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) {
			f := newFixture(t, false, nil)
			head := f.srv.NewRepo(t, "group/sub/app", format, 30)
			mirrortest.Git(t, f.srv.Repo("group/sub/app"), "branch", "feature", "refs/heads/main~3")
			p := Project{Key: Key{1, 42}, PathWithNamespace: "group/sub/app", ObjectFormat: format, DefaultBranch: "main"}
			if err := f.m.Sync(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			dir, ok := f.m.Path(p.Key)
			if !ok {
				t.Fatal("no mirror after a successful first sync")
			}
			if want := filepath.Join(f.dir, "1", "42.git"); dir != want {
				t.Errorf("mirror at %s, want %s (ids, never GitLab paths)", dir, want)
			}
			if got, want := refs(t, dir), refs(t, f.srv.Repo("group/sub/app")); got != want {
				t.Errorf("mirror refs:\n%s\nwant:\n%s", got, want)
			}
			if got := mirrortest.Git(t, dir, "rev-parse", "--show-object-format"); got != format {
				t.Errorf("object format %s, want %s", got, format)
			}
			if got := mirrortest.Git(t, dir, "rev-parse", "HEAD"); got != head {
				t.Errorf("HEAD %s, want main's %s", got, head)
			}
			if got := mirrortest.Git(t, dir, "rev-parse", "--is-bare-repository"); got != "true" {
				t.Errorf("mirror is not bare")
			}
			st := f.m.Status(p.Key)
			if st.State != StateReady || !st.Cloned || st.SizeBytes == 0 || st.LastFetchAt == nil || st.Error != nil || st.ObjectFormat != format {
				t.Errorf("status after first sync: %+v", st)
			}
			// GitLab's default branch changes: HEAD follows at the next fetch.
			p.DefaultBranch = "feature"
			if err := f.m.Sync(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			if got, want := mirrortest.Git(t, dir, "symbolic-ref", "HEAD"), "refs/heads/feature"; got != want {
				t.Errorf("HEAD is %s after the default branch changed, want %s", got, want)
			}
		})
	}
}

func TestTheCredentialIsInNoCommandLineNoMirrorConfigAndNoFile(t *testing.T) {
	f := newFixture(t, false, nil)
	f.srv.NewRepo(t, "g/app", "sha1", 5)
	basic := base64.StdEncoding.EncodeToString([]byte("oauth2:" + testToken))
	var mu sync.Mutex
	var leaks []string
	var scanned atomic.Int32
	// While git talks to the server, every process's argv is visible in
	// /proc, as ps shows it: look for the token there.
	f.srv.OnRequest(func(r *http.Request) {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			scanned.Add(1)
			if s := string(b); strings.Contains(s, testToken) || strings.Contains(s, basic) {
				mu.Lock()
				leaks = append(leaks, strings.ReplaceAll(s, "\x00", " "))
				mu.Unlock()
			}
		}
	})
	p := Project{Key: Key{1, 7}, PathWithNamespace: "g/app"}
	if err := f.m.Sync(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	f.srv.Push(t, "g/app", "second")
	if err := f.m.Sync(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if scanned.Load() == 0 {
		t.Fatal("no process command line was read during the fetches")
	}
	if len(leaks) > 0 {
		t.Errorf("the token is visible in a command line: %q", leaks)
	}
	dir, _ := f.m.Path(p.Key)
	if cfg := mirrortest.Git(t, dir, "config", "--list", "--local"); strings.Contains(cfg, testToken) || strings.Contains(cfg, basic) || strings.Contains(strings.ToLower(cfg), "extraheader") {
		t.Errorf("the mirror's config holds the credential:\n%s", cfg)
	}
	_ = filepath.WalkDir(f.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), testToken) || strings.Contains(string(b), basic) {
			t.Errorf("%s holds the credential", path)
		}
		return nil
	})
}

func TestAFetchBringsNewPushesAndTheLagFallsToZero(t *testing.T) {
	f := newFixture(t, false, nil)
	f.srv.NewRepo(t, "g/app", "sha256", 3)
	p := Project{Key: Key{1, 1}, PathWithNamespace: "g/app", ObjectFormat: "sha256"}
	if err := f.m.Sync(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	id := f.srv.Push(t, "g/app", "pushed")
	f.m.Note(p, time.Now())
	if lag := f.m.Status(p.Key).Lag(time.Now()); lag <= 0 {
		t.Errorf("lag %v after a push the mirror has not fetched, want > 0", lag)
	}
	if err := f.m.Sync(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	dir, _ := f.m.Path(p.Key)
	if got := mirrortest.Git(t, dir, "rev-parse", "refs/heads/main"); got != id {
		t.Errorf("main is %s after the fetch, want the pushed %s", got, id)
	}
	if lag := f.m.Status(p.Key).Lag(time.Now()); lag != 0 {
		t.Errorf("lag %v after fetching the push, want 0", lag)
	}
	if n := f.m.Status(p.Key).Fetches; n != 2 {
		t.Errorf("%d fetches counted, want 2", n)
	}
}

func TestRequestsInsideTheDebounceDelayAreServedByOneFetch(t *testing.T) {
	done := make(chan error, 10)
	f := newFixture(t, false, func(c *Config) { c.Debounce = time.Second })
	f.m.onFetch = func(_ Key, err error) { done <- err }
	f.srv.NewRepo(t, "g/app", "sha1", 3)
	p := Project{Key: Key{1, 1}, PathWithNamespace: "g/app"}
	var last string
	for i := range 10 {
		last = f.srv.Push(t, "g/app", "push "+string(rune('a'+i)))
		f.m.Request(p, time.Now())
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no fetch within 30s of the requests")
	}
	f.m.Close() // waits for anything else queued
	if n := len(done); n != 0 {
		t.Errorf("%d further fetches for requests made inside the debounce delay, want 0", n)
	}
	dir, _ := f.m.Path(p.Key)
	if got := mirrortest.Git(t, dir, "rev-parse", "refs/heads/main"); got != last {
		t.Errorf("main %s, want the last push %s", got, last)
	}
}

func TestARequestDuringAFetchGetsOneMoreFetch(t *testing.T) {
	done := make(chan error, 10)
	f := newFixture(t, false, func(c *Config) { c.Debounce = 10 * time.Millisecond })
	f.m.onFetch = func(_ Key, err error) { done <- err }
	f.srv.NewRepo(t, "g/app", "sha1", 3)
	p := Project{Key: Key{1, 1}, PathWithNamespace: "g/app"}
	release := make(chan struct{})
	var once sync.Once
	entered := make(chan struct{})
	f.srv.OnRequest(func(*http.Request) {
		once.Do(func() { close(entered); <-release })
	})
	f.m.Request(p, time.Now())
	<-entered // the first fetch is talking to GitLab
	last := f.srv.Push(t, "g/app", "during the fetch")
	f.m.Request(p, time.Now())
	f.m.Request(p, time.Now())
	close(release)
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("fewer than two fetches")
		}
	}
	f.m.Close()
	if n := len(done); n != 0 {
		t.Errorf("%d fetches beyond the two expected", n)
	}
	dir, _ := f.m.Path(p.Key)
	if got := mirrortest.Git(t, dir, "rev-parse", "refs/heads/main"); got != last {
		t.Errorf("main %s, want %s pushed during the first fetch", got, last)
	}
}

func TestNoMoreThanPerIntegrationGitProcessesTalkToGitLabAtOnce(t *testing.T) {
	f := newFixture(t, false, func(c *Config) { c.PerIntegration = 2 })
	var cur, peak atomic.Int32
	f.srv.OnRequest(func(*http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		cur.Add(-1)
	})
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		path := "g/p" + string(rune('a'+i))
		f.srv.NewRepo(t, path, "sha1", 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.m.Sync(context.Background(), Project{Key: Key{1, int64(i + 1)}, PathWithNamespace: path})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d requests to GitLab at once, want at most 2", p)
	}
	if got := len(f.m.List(1)); got != 6 {
		t.Errorf("%d mirrors listed, want 6", got)
	}
}

func TestAHalfMadeCloneAndStaleLocksLeftByACrashAreCleanedAndTheCloneRedone(t *testing.T) {
	f := newFixture(t, false, nil)
	f.srv.NewRepo(t, "g/done", "sha1", 3)
	f.srv.NewRepo(t, "g/half", "sha1", 3)
	done := Project{Key: Key{1, 1}, PathWithNamespace: "g/done"}
	if err := f.m.Sync(context.Background(), done); err != nil {
		t.Fatal(err)
	}
	f.m.Close()
	// What a crash leaves: a clone cut short, and a lock held by a fetch.
	half := filepath.Join(f.dir, "1", ".tmp-2-deadbeef")
	mirrortest.Git(t, "", "init", "--quiet", "--bare", half)
	old := time.Now().Add(-2 * time.Hour) // older than any git command may run
	if err := os.Chtimes(half, old, old); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(f.dir, "1", ".tmp-3-cafe") // an old-style clone without a lock, young
	mirrortest.Git(t, "", "init", "--quiet", "--bare", fresh)
	// A young clone whose process died: its lock file is there but nobody
	// holds the lock (the kernel dropped it with the process).
	killed := filepath.Join(f.dir, "1", ".tmp-4-dead")
	mirrortest.Git(t, "", "init", "--quiet", "--bare", killed)
	if err := os.WriteFile(killed+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Another replica's clone in progress: young, and its lock is held.
	live := filepath.Join(f.dir, "1", ".tmp-5-live")
	release, err := holdCloneLock(live + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	mirrortest.Git(t, "", "init", "--quiet", "--bare", live)
	doneDir, _ := f.m.Path(done.Key)
	lock := filepath.Join(doneDir, "refs", "heads", "main.lock")
	if err := os.WriteFile(lock, []byte("0000"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}

	m2, err := New(f.m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := os.Stat(half); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the half-made clone is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a clone younger than the command timeout, without a lock to ask, was removed: %v", err)
	}
	for _, p := range []string{killed, killed + ".lock"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s of a clone whose process died is still there: %v", p, err)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a clone another process is still making was removed: %v", err)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale lock is still there: %v", err)
	}
	if _, ok := m2.Path(Key{1, 2}); ok {
		t.Error("the half-made clone is served as a mirror")
	}
	id := f.srv.Push(t, "g/done", "after the crash")
	if err := m2.Sync(context.Background(), done); err != nil {
		t.Fatalf("fetch after the crash: %v", err)
	}
	if got := mirrortest.Git(t, doneDir, "rev-parse", "refs/heads/main"); got != id {
		t.Errorf("main %s, want %s", got, id)
	}
	if err := m2.Sync(context.Background(), Project{Key: Key{1, 2}, PathWithNamespace: "g/half"}); err != nil {
		t.Fatalf("redoing the clone: %v", err)
	}
}

func TestAFailedFetchShowsOnTheProjectWithItsKindAndRemedy(t *testing.T) {
	cases := []struct {
		name    string
		useTLS  bool
		noCA    bool
		token   string
		path    string
		want    Kind
		cloned  bool // a mirror existed before the failure
		wantOld bool
	}{
		{name: "expired or revoked credential", token: "glpat-revoked", path: "g/app", want: KindCredential, cloned: true},
		{name: "project gone", path: "g/gone", want: KindNotFound},
		{name: "certificate not trusted without the install's CA", useTLS: true, noCA: true, path: "g/app", want: KindTLS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.useTLS, nil)
			if c.noCA {
				f.ca = nil
			}
			f.srv.NewRepo(t, "g/app", "sha1", 2)
			p := Project{Key: Key{1, 1}, PathWithNamespace: c.path}
			if c.cloned {
				if err := f.m.Sync(context.Background(), p); err != nil {
					t.Fatal(err)
				}
			}
			if c.token != "" {
				f.tok.Store(c.token)
			}
			err := f.m.Sync(context.Background(), p)
			var fe *FetchError
			if !errors.As(err, &fe) || fe.Kind != c.want {
				t.Fatalf("error %v, want a FetchError of kind %s", err, c.want)
			}
			st := f.m.Status(p.Key)
			if st.State != StateFailed || st.Error == nil || st.Error.Remedy == "" || st.Error.Kind != c.want {
				t.Errorf("status %+v, want failed with a %s remedy", st, c.want)
			}
			if st.Cloned != c.cloned {
				t.Errorf("cloned %v after the failure, want %v (a failed fetch keeps the old mirror)", st.Cloned, c.cloned)
			}
			for _, s := range []string{fe.Error(), fe.Message, fe.Remedy} {
				if strings.Contains(s, testToken) || strings.Contains(s, "glpat-revoked") {
					t.Errorf("the error shows a token: %q", s)
				}
			}
			if ents, _ := os.ReadDir(filepath.Join(f.dir, "1")); len(ents) != map[bool]int{true: 1, false: 0}[c.cloned] {
				t.Errorf("%d entries left in the integration dir, want only finished mirrors", len(ents))
			}
		})
	}
}

func TestTheInstallsCAIsTrustedForTheFetch(t *testing.T) {
	f := newFixture(t, true, nil)
	f.srv.NewRepo(t, "g/app", "sha1", 2)
	if err := f.m.Sync(context.Background(), Project{Key: Key{1, 1}, PathWithNamespace: "g/app"}); err != nil {
		t.Fatalf("fetch over TLS with the install's CA: %v", err)
	}
	if ents, _ := filepath.Glob(filepath.Join(f.m.home, "ca-*.pem")); len(ents) != 0 {
		t.Errorf("CA files left after the command: %v", ents)
	}
}

func TestClassifyNamesTheCauseGitReports(t *testing.T) {
	cases := []struct {
		stderr string
		want   Kind
	}{
		{"error: RPC failed; curl 18\nfatal: write error: No space left on device", KindDiskFull},
		{"fatal: could not read Username for 'https://gitlab.example.com': terminal prompts disabled", KindCredential},
		{"fatal: unable to access 'https://g/x.git/': The requested URL returned error: 403", KindPermission},
		{"remote: The project you were looking for could not be found.\nfatal: repository 'https://g/x.git/' not found", KindNotFound},
		{"fatal: unable to access 'https://g/x.git/': SSL certificate problem: self-signed certificate", KindTLS},
		{"fatal: unable to access 'https://g/x.git/': Could not resolve host: g", KindNetwork},
		{"fatal: mismatched algorithms: client sha1; server sha256", KindObjectFormat},
	}
	for _, c := range cases {
		t.Run(string(c.want), func(t *testing.T) {
			if got := classify(c.stderr, errors.New("exit status 128"), nil); got.Kind != c.want || got.Remedy == "" {
				t.Errorf("classify(%q) = %+v, want %s with a remedy", c.stderr, got, c.want)
			}
		})
	}
}

func TestGCPolicyPacksLooseObjectsAfterAFetch(t *testing.T) {
	cases := []struct {
		name      string
		policy    GCPolicy
		wantLoose bool
	}{
		{"no gc leaves the fetched objects loose", GCPolicy{}, true},
		{"a full gc every fetch packs them", GCPolicy{FullEvery: 1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, false, func(cfg *Config) { cfg.GC = c.policy })
			f.srv.NewRepo(t, "g/app", "sha1", 3)
			p := Project{Key: Key{1, 1}, PathWithNamespace: "g/app"}
			if err := f.m.Sync(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			f.srv.Push(t, "g/app", "small push")
			if err := f.m.Sync(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			dir, _ := f.m.Path(p.Key)
			out := mirrortest.Git(t, dir, "count-objects", "-v")
			loose := !strings.Contains(out, "count: 0\n")
			if loose != c.wantLoose {
				t.Errorf("loose objects %v, want %v:\n%s", loose, c.wantLoose, out)
			}
		})
	}
}

func TestDisconnectDeletesEveryMirrorOfTheIntegrationAtOnceAndDropsQueuedFetches(t *testing.T) {
	fetched := make(chan Key, 10)
	f := newFixture(t, false, func(c *Config) { c.Debounce = 200 * time.Millisecond })
	f.m.onFetch = func(k Key, _ error) { fetched <- k }
	f.srv.NewRepo(t, "g/a", "sha1", 2)
	f.srv.NewRepo(t, "g/b", "sha1", 2)
	a := Project{Key: Key{1, 1}, PathWithNamespace: "g/a"}
	other := Project{Key: Key{2, 1}, PathWithNamespace: "g/b"}
	for _, p := range []Project{a, other} {
		if err := f.m.Sync(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	<-fetched
	<-fetched
	f.m.Request(a, time.Now())
	if err := f.m.RemoveIntegration(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.m.Path(a.Key); ok {
		t.Error("the mirror is still served after the disconnect")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the integration's directory is still there: %v", err)
	}
	if _, ok := f.m.Path(other.Key); !ok {
		t.Error("another integration's mirror went too")
	}
	f.m.Close() // waits for anything queued
	if n := len(fetched); n != 0 {
		t.Errorf("%d fetches ran after the disconnect", n)
	}
	if got := f.m.List(1); len(got) != 0 {
		t.Errorf("statuses listed after the disconnect: %+v", got)
	}
}

func TestCloneURLRefusesPathsThatLeaveTheInstall(t *testing.T) {
	for _, p := range []string{"../x", "g/../../x", "/abs", "g//x", "g/%2e%2e/x", "g/x?y", `g\x`, ""} {
		t.Run(p, func(t *testing.T) {
			if u, err := cloneURL("https://gitlab.example.com", p); err == nil {
				t.Errorf("cloneURL accepted %q as %s", p, u)
			}
		})
	}
	if u, err := cloneURL("https://gitlab.example.com/gitlab/", "g/sub/app"); err != nil || u != "https://gitlab.example.com/gitlab/g/sub/app.git" {
		t.Errorf("cloneURL = %q, %v", u, err)
	}
}

func TestDisconnectCancelsAFetchThatIsRunning(t *testing.T) {
	f := newFixture(t, false, func(c *Config) { c.CommandTimeout = 10 * time.Minute })
	f.srv.NewRepo(t, "g/slow", "sha1", 3)
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	var once sync.Once
	f.srv.OnRequest(func(r *http.Request) {
		once.Do(func() { close(entered) })
		select { // GitLab hangs on this request
		case <-release:
		case <-r.Context().Done():
		}
	})
	p := Project{Key: Key{1, 1}, PathWithNamespace: "g/slow"}
	errc := make(chan error, 1)
	go func() { errc <- f.m.Sync(context.Background(), p) }()
	<-entered
	removed := make(chan error, 1)
	go func() { removed <- f.m.RemoveIntegration(context.Background(), 1) }()
	select {
	case err := <-removed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the disconnect waited for a hanging fetch instead of cancelling it")
	}
	if err := <-errc; err == nil {
		t.Error("the cancelled clone reported success")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the integration's directory is still there: %v", err)
	}
}

func TestFetchesGoThroughLabsyncsGitLabProxyWithItsCredentialsInTheEnvironmentOnly(t *testing.T) {
	var via atomic.Int32
	var sawAuth atomic.Bool
	// A forward proxy for plain HTTP, as a corporate proxy in front of GitLab.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		via.Add(1)
		if r.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("proxyuser:proxy-s3cret")) {
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxy"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		sawAuth.Store(true)
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Authorization")
		res, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)
	proxyURL.User = url.UserPassword("proxyuser", "proxy-s3cret")
	f := newFixture(t, false, func(c *Config) {
		c.Proxy = func(*url.URL) (*url.URL, error) { return proxyURL, nil }
	})
	f.srv.NewRepo(t, "g/app", "sha1", 3)
	var leaked atomic.Bool
	f.srv.OnRequest(func(*http.Request) {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "proxy-s3cret") {
				leaked.Store(true)
			}
		}
	})
	if err := f.m.Sync(context.Background(), Project{Key: Key{1, 1}, PathWithNamespace: "g/app"}); err != nil {
		t.Fatal(err)
	}
	if via.Load() == 0 {
		t.Error("the fetch did not go through the proxy")
	}
	if !sawAuth.Load() {
		t.Error("the proxy's credentials were not sent to it")
	}
	if leaked.Load() {
		t.Error("the proxy's password is visible in a command line")
	}
}

// fakeResolver answers every name with the same addresses: a DNS record
// pointing a GitLab host name wherever the test needs it.
type fakeResolver []netip.Addr

func (r fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r, nil
}

func TestGitReachesGitLabOnlyAtAddressesTheAPIClientsAddressPolicyAllows(t *testing.T) {
	loop, meta := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("169.254.169.254")
	cases := []struct {
		name     string
		host     string // "" keeps the server's 127.0.0.1
		resolves []netip.Addr
		policy   gitlab.AddressPolicy
		proxied  bool
		refused  bool
		remedy   string
	}{
		{name: "a host resolving to this machine is refused without the loopback setting", host: "example.com", resolves: []netip.Addr{loop},
			refused: true, remedy: gitlab.EnvAllowLoopback},
		{name: "a host resolving to a cloud metadata address is refused", host: "example.com", resolves: []netip.Addr{meta},
			policy: gitlab.AddressPolicy{AllowLoopback: true}, refused: true, remedy: "DNS record"},
		{name: "an address literal is checked too", policy: gitlab.AddressPolicy{}, refused: true, remedy: gitlab.EnvAllowLoopback},
		{name: "git is pinned to the allowed addresses of a host that also resolves to a refused one", host: "example.com",
			resolves: []netip.Addr{meta, loop}, policy: gitlab.AddressPolicy{AllowLoopback: true}},
		{name: "through a proxy every address of the host must be allowed", host: "example.com",
			resolves: []netip.Addr{loop, meta}, policy: gitlab.AddressPolicy{AllowLoopback: true}, proxied: true, refused: true, remedy: "DNS record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var proxied atomic.Int32
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				proxied.Add(1)
				http.Error(w, "no tunnel in this test", http.StatusForbidden)
			}))
			defer proxy.Close()
			f := newFixture(t, true, func(cfg *Config) {
				cfg.CheckAddress = c.policy.Check
				cfg.Resolver = fakeResolver(c.resolves)
				if c.proxied {
					pu, _ := url.Parse(proxy.URL)
					cfg.Proxy = func(*url.URL) (*url.URL, error) { return pu, nil }
				}
				if c.host != "" {
					inner := cfg.Remote
					cfg.Remote = func(ctx context.Context, org, integ int64) (Remote, error) {
						r, err := inner(ctx, org, integ)
						u, _ := url.Parse(r.BaseURL)
						u.Host = c.host + ":" + u.Port()
						r.BaseURL = u.String()
						return r, err
					}
				}
			})
			f.srv.NewRepo(t, "g/app", "sha1", 3)
			err := f.m.Sync(context.Background(), Project{Key: Key{1, 1}, PathWithNamespace: "g/app"})
			if !c.refused {
				if err != nil {
					t.Fatalf("fetch pinned to an allowed address: %v", err)
				}
				if f.srv.Requests() == 0 {
					t.Error("the server saw no request")
				}
				return
			}
			var fe *FetchError
			if !errors.As(err, &fe) || fe.Kind != KindAddress {
				t.Fatalf("error %v, want a FetchError of kind %s", err, KindAddress)
			}
			if !strings.Contains(fe.Remedy, c.remedy) {
				t.Errorf("remedy %q does not mention %q", fe.Remedy, c.remedy)
			}
			if n := f.srv.Requests(); n != 0 || proxied.Load() != 0 {
				t.Errorf("git reached GitLab (%d requests) or the proxy (%d) though the address was refused", n, proxied.Load())
			}
			if st := f.m.Status(Key{1, 1}); st.State != StateFailed || st.Error == nil || st.Error.Kind != KindAddress {
				t.Errorf("status %+v, want failed with the address refusal", st)
			}
		})
	}
}

func TestMergeRequestRefsAreMirroredAndPrunedWhenGitLabRemovesThem(t *testing.T) {
	f := newFixture(t, false, nil)
	src := f.srv.Repo("g/app")
	f.srv.NewRepo(t, "g/app", "sha1", 5)
	// GitLab keeps refs/merge-requests/<iid>/head (and /merge for merge
	// request pipelines) in the target project.
	head1 := mirrortest.Git(t, src, "rev-parse", "refs/heads/main~1")
	mirrortest.Git(t, src, "update-ref", "refs/merge-requests/1/head", head1)
	mirrortest.Git(t, src, "update-ref", "refs/merge-requests/1/merge", "refs/heads/main")
	mirrortest.Git(t, src, "update-ref", "refs/merge-requests/2/head", "refs/heads/main~2")
	p := Project{Key: Key{1, 1}, PathWithNamespace: "g/app"}
	if err := f.m.Sync(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	dir, _ := f.m.Path(p.Key)
	mrRefs := func(dir string) string {
		return mirrortest.Git(t, dir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/merge-requests")
	}
	if got, want := mrRefs(dir), mrRefs(src); got != want || !strings.Contains(got, head1+" refs/merge-requests/1/head") {
		t.Errorf("mirror's merge request refs:\n%s\nwant GitLab's:\n%s", got, want)
	}
	// 14 days after a merge request closes GitLab (13.x+) deletes its head
	// ref; the mirror follows at the next fetch.
	mirrortest.Git(t, src, "update-ref", "-d", "refs/merge-requests/2/head")
	if err := f.m.Sync(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got := mrRefs(dir); strings.Contains(got, "refs/merge-requests/2/head") || !strings.Contains(got, "refs/merge-requests/1/head") {
		t.Errorf("after GitLab removed refs/merge-requests/2/head the mirror has:\n%s", got)
	}
}

func TestWhileLabsyncRunsClonesWhoseProcessDiedAreRemovedAndLiveOnesKept(t *testing.T) {
	f := newFixture(t, false, nil)
	f.srv.NewRepo(t, "g/app", "sha1", 3)
	if err := f.m.Sync(context.Background(), Project{Key: Key{1, 1}, PathWithNamespace: "g/app"}); err != nil {
		t.Fatal(err)
	}
	// Another replica on the shared volume was killed mid-clone: its lock
	// file is there, nobody holds it.
	dead := filepath.Join(f.dir, "1", ".tmp-2-dead")
	mirrortest.Git(t, "", "init", "--quiet", "--bare", dead)
	if err := os.WriteFile(dead+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A clone in progress (its lock held).
	live := filepath.Join(f.dir, "1", ".tmp-3-live")
	release, err := holdCloneLock(live + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	mirrortest.Git(t, "", "init", "--quiet", "--bare", live)
	if err := f.m.RemoveAbandoned(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dead, dead + ".lock"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s of a clone whose process died is still there: %v", p, err)
		}
	}
	for _, p := range []string{live, live + ".lock"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s of a clone in progress was removed: %v", p, err)
		}
	}
	if _, ok := f.m.Path(Key{1, 1}); !ok {
		t.Error("the finished mirror was removed")
	}
}

// otherCA is the PEM of a CA that signed nothing the tests serve.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unrelated CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTheSystemRootsStayTrustedBesideTheInstallsCA(t *testing.T) {
	cases := []struct {
		name    string
		viaDir  bool // GitLab's certificate is a system root in the directory
		viaFile bool // or in the system bundle, with no directory
		trusted bool
	}{
		{name: "from the system certificate directory", viaDir: true, trusted: true},
		{name: "from the system bundle where there is no directory", viaFile: true, trusted: true},
		{name: "not at all when GitLab's certificate is in neither", trusted: false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys := t.TempDir()
			dir, bundle := filepath.Join(sys, "certs"), filepath.Join(sys, "ca-certificates.crt")
			var f *fixture
			f = newFixture(t, true, func(cfg *Config) {
				cfg.SystemCADir, cfg.SystemCAFile = filepath.Join(sys, "missing"), filepath.Join(sys, "missing.crt")
				if c.viaDir {
					cfg.SystemCADir = dir
				}
				if c.viaFile {
					cfg.SystemCAFile = bundle
				}
				inner := cfg.Remote
				cfg.Remote = func(ctx context.Context, org, integ int64) (Remote, error) {
					r, err := inner(ctx, org, integ)
					r.CAPEM = otherCA(t) // the install's CA did not sign GitLab's certificate
					return r, err
				}
			})
			root := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "gitlab-root.pem"), root, 0o644); err != nil {
				t.Fatal(err)
			}
			if openssl, err := exec.LookPath("openssl"); err == nil { // hash links, for an OpenSSL-built libcurl
				_ = exec.Command(openssl, "rehash", dir).Run()
			}
			if err := os.WriteFile(bundle, root, 0o644); err != nil {
				t.Fatal(err)
			}
			f.srv.NewRepo(t, "g/app", "sha1", 2)
			err := f.m.Sync(context.Background(), Project{Key: Key{1, 1}, PathWithNamespace: "g/app"})
			if c.trusted && err != nil {
				t.Fatalf("fetch with GitLab's certificate among the system roots: %v", err)
			}
			var fe *FetchError
			if !c.trusted && (!errors.As(err, &fe) || fe.Kind != KindTLS) {
				t.Fatalf("error %v, want a FetchError of kind %s", err, KindTLS)
			}
		})
	}
}
