package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
)

// syncedAPI serves labsync's API over a sandbox of cfg with every project
// selected, its sync service built with opts (Clients filled in) and, with
// queued, a River runner working the sync jobs as `labsync serve` does (a
// POST then only queues the run).
func syncedAPI(t *testing.T, cfg sandbox.Config, opts syncer.Options, queued bool) (testAPI, *sandbox.Sandbox) {
	t.Helper()
	return syncedAPIOn(t, nil, cfg, opts, queued)
}

// syncedAPIOn is syncedAPI on the store st (nil: a new one).
func syncedAPIOn(t *testing.T, st *store.Store, cfg sandbox.Config, opts syncer.Options, queued bool) (testAPI, *sandbox.Sandbox) {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	admin := sb.AdminToken()
	opts.Clients = syncer.StaticClients(sb.URL(), nil, func() string { return admin }, 30*time.Second)
	a := apiServerOn(t, st, true, sb.URL(), &opts)
	if err := a.sync.Discover(ctx, a.org, a.integration); err != nil {
		t.Fatal(err)
	}
	projects, err := a.st.AllProjects(ctx, a.org, a.integration)
	if err != nil || len(projects) == 0 {
		t.Fatalf("discovered %d projects: %v", len(projects), err)
	}
	sel := store.Selection{Services: store.AllServices}
	for _, p := range projects {
		sel.Projects = append(sel.Projects, p.GitLabID)
	}
	if _, err := a.sync.SaveSelection(ctx, a.org, a.integration, sel); err != nil {
		t.Fatal(err)
	}
	if queued {
		runner := jobs.New(a.st, slog.New(slog.DiscardHandler), jobs.Options{PollInterval: 50 * time.Millisecond})
		a.sync.Register(runner)
		if err := runner.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = runner.Stop(stop)
		})
	}
	return a, sb
}

var allProgress = regexp.MustCompile(`(?m)^all items=\d+/\d+ .* progress=([0-9.]+)%$`)

// TestSyncStartWaitsForTheQueuedRunAndShowsProgressThatMoves starts a sync
// that a River worker runs against a sandbox answering slowly, so that the
// run takes seconds: the command waits for that run to start, shows at
// least two different shares done while it runs (plain lines, as through a
// pipe, and bars redrawn in place), ends at 100 % and exits 0.
func TestSyncStartWaitsForTheQueuedRunAndShowsProgressThatMoves(t *testing.T) {
	for _, mode := range []string{"plain", "bars"} {
		t.Run(mode, func(t *testing.T) {
			isolate(t)
			a, _ := syncedAPI(t, sandbox.Config{Version: "17.11", Seed: 1, Groups: 1, Projects: 3, MRs: 6, Issues: 4, Pipelines: 2, Commits: 4,
				Latency: 120 * time.Millisecond}, syncer.Options{Concurrency: 2}, true)
			t.Setenv(envAPIToken, a.token)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			code, out, errOut := run(t, ctx, "sync", "--server", a.url, "--integration", fmt.Sprint(a.integration), "--start",
				"--every", "100ms", "--progress", mode)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			// The command waits for the run it queued: its first frame is
			// either the wait or that run already running (the worker may
			// pick the job up before the first look), never a finished state.
			if !strings.HasPrefix(out, "sync queued: waiting for it to start\n") && !strings.HasPrefix(out, "sync running") {
				t.Fatalf("the queued run was not waited for:\n%s", out)
			}
			frames := strings.Split(out, "sync ")[1:]
			if mode == "bars" {
				checkBarsMove(t, out)
				return
			}
			running := map[string]bool{}
			for _, f := range frames {
				if m := allProgress.FindStringSubmatch(f); m != nil && strings.HasPrefix(f, "running\n") {
					running[m[1]] = true
				}
			}
			if len(running) < 2 {
				t.Fatalf("want at least two different shares while running, saw %v:\n%s", running, out)
			}
			final := allProgress.FindAllStringSubmatch(out, -1)
			if m := final[len(final)-1]; m[1] != "100.0" || !strings.HasPrefix(frames[len(frames)-1], "idle\n") {
				t.Fatalf("the last frame is not a finished run at 100%%:\n%s", out)
			}
			// The three selected projects are counted as projects. (The
			// last frame may belong to a poll that River started right
			// after the backfill, which the command follows and which
			// covers only the projects it found active.)
			if !regexp.MustCompile(`projects=\d/3 `).MatchString(out) {
				t.Fatalf("projects are not counted as projects:\n%s", out)
			}
		})
	}
}

// TestSyncStartExitsWith3WhenTheRunEndsWithErrors starts a sync against a
// sandbox answering every request with a server error: the run ends with
// an error, which is printed, and the exit status is 3.
func TestSyncStartExitsWith3WhenTheRunEndsWithErrors(t *testing.T) {
	isolate(t)
	a, sb := syncedAPI(t, sandbox.Config{Version: "17.11", Seed: 1, Groups: 1, Projects: 2, MRs: 2},
		syncer.Options{MaxAttempts: 1, RetryBase: time.Millisecond}, true)
	sb.SetFaults(sandbox.Faults{ErrorRate: 1})
	t.Setenv(envAPIToken, a.token)
	code, out, errOut := run(t, context.Background(), "sync", "--server", a.url, "--integration", fmt.Sprint(a.integration), "--start", "--progress", "plain")
	if code != exitSyncErrors || !strings.HasPrefix(errOut, "labsync: the sync ended with errors") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestSyncWithoutStartShowsTheStateAndExits0 keeps a status query a status
// query: without --start, the last run's errors are shown, not an exit
// status.
func TestSyncWithoutStartShowsTheStateAndExits0(t *testing.T) {
	isolate(t)
	a, sb := syncedAPI(t, sandbox.Config{Version: "17.11", Seed: 1, Groups: 1, Projects: 1, MRs: 2},
		syncer.Options{MaxAttempts: 1, RetryBase: time.Millisecond}, true)
	sb.SetFaults(sandbox.Faults{ErrorRate: 1})
	t.Setenv(envAPIToken, a.token)
	args := []string{"sync", "--server", a.url, "--integration", fmt.Sprint(a.integration), "--progress", "plain"}
	if code, out, errOut := run(t, context.Background(), append(args, "--start")...); code != exitSyncErrors {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := run(t, context.Background(), args...)
	if code != 0 || !strings.HasPrefix(out, "sync idle: ") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// queueOnlyAPI is syncedAPI on a one-project sandbox whose sync requests
// are queued and never worked (a job runner without workers), as when no
// serve with role all or worker runs: a test sets the sync state itself.
func queueOnlyAPI(t *testing.T) (testAPI, *store.Store) {
	t.Helper()
	isolate(t)
	st := storetest.Open(t)
	runner := jobs.New(st, slog.New(slog.DiscardHandler), jobs.Options{}) // no workers: inserts only
	a, _ := syncedAPIOn(t, st, sandbox.Config{Version: "17.11", Seed: 1, Groups: 1, Projects: 1, MRs: 2}, syncer.Options{Jobs: runner}, false)
	if err := runner.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, st
}

// TestSyncStartNeverShowsThePreviousRunAsItsOwn finishes a run, then asks
// for another that nobody works (the server only queues it): the command
// waits for the queued run, shows none of the finished run's bars, and
// gives up after --start-timeout with what to check.
func TestSyncStartNeverShowsThePreviousRunAsItsOwn(t *testing.T) {
	a, _ := queueOnlyAPI(t)
	ctx := context.Background()
	if err := a.sync.Run(ctx, a.org, a.integration, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envAPIToken, a.token)
	code, out, errOut := run(t, ctx, "sync", "--server", a.url, "--integration", fmt.Sprint(a.integration), "--start",
		"--every", "50ms", "--start-timeout", "500ms", "--progress", "plain")
	if code != 1 || out != "sync queued: waiting for it to start\n" ||
		!strings.HasPrefix(errOut, "labsync: the sync was queued but did not start within 500ms (--start-timeout)") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// checkBarsMove fails t unless out holds bars redrawn in place whose "all"
// share took at least two values before ending at 100.0 %.
func checkBarsMove(t *testing.T, out string) {
	t.Helper()
	out = strings.ReplaceAll(out, "\r\n", "\n") // a terminal's line ends
	if !strings.Contains(out, "\x1b[") || !strings.Contains(out, "█") {
		t.Fatalf("no bars redrawn in place:\n%q", out)
	}
	re := regexp.MustCompile(`^ *[█░]+ +([0-9.]+)% `)
	seen := map[string]bool{}
	var last string
	for _, f := range strings.Split(out, "\x1b[K\nall ")[1:] {
		if m := re.FindStringSubmatch(f); m != nil {
			seen[m[1]], last = true, m[1]
		}
	}
	delete(seen, "100.0")
	if len(seen) < 2 || last != "100.0" {
		t.Fatalf("want at least two shares before the final 100.0%%, saw %v (last %s):\n%q", seen, last, out)
	}
}

// TestSyncStartInATerminalShowsBarsThatMove runs labsync sync --start in
// a pseudo-terminal (util-linux's script), as a person would, with the
// default --progress=auto: it draws bars, redrawn in place, that show at
// least two different shares before the end.
func TestSyncStartInATerminalShowsBarsThatMove(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("needs script (util-linux / bsdutils) for a pseudo-terminal:", err)
	}
	isolate(t)
	a, _ := syncedAPI(t, sandbox.Config{Version: "17.11", Seed: 1, Groups: 1, Projects: 3, MRs: 6, Issues: 4, Pipelines: 2, Commits: 4,
		Latency: 120 * time.Millisecond}, syncer.Options{Concurrency: 2}, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The token travels in the environment, never in the arguments.
	line := strings.Join([]string{shellQuote(os.Args[0]), "sync", "--server", shellQuote(a.url), "--integration", fmt.Sprint(a.integration),
		"--start", "--every", "100ms"}, " ")
	cmd := exec.CommandContext(ctx, scriptBin, "-q", "-e", "-c", line, "/dev/null")
	cmd.Env = append(os.Environ(), "LABSYNC_TEST_MAIN=1", envAPIToken+"="+a.token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%q", err, out)
	}
	checkBarsMove(t, string(out))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestSyncStartDoesNotFollowARunThatStartedBeforeItsRequest: a periodic poll
// that starts and ends between the command's first look and its request is
// not the run the request queued; the command waits for that one (here it
// never starts, as no worker runs) instead of reporting the poll as its
// sync.
func TestSyncStartDoesNotFollowARunThatStartedBeforeItsRequest(t *testing.T) {
	a, st := queueOnlyAPI(t)
	ctx := context.Background()
	target, err := url.Parse(a.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/sync") {
			// A poll ran just before this request arrived.
			s, err := st.SyncStateFor(ctx, a.org, a.integration)
			if err != nil {
				t.Error(err)
			}
			now := time.Now().UTC()
			s.State, s.StartedAt, s.FinishedAt = store.SyncIdle, &now, &now
			if err := st.SaveSyncState(ctx, a.org, s); err != nil {
				t.Error(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	t.Setenv(envAPIToken, a.token)
	code, out, errOut := run(t, ctx, "sync", "--server", front.URL, "--integration", fmt.Sprint(a.integration), "--start",
		"--every", "50ms", "--start-timeout", "500ms", "--progress", "plain")
	if code != 1 || out != "sync queued: waiting for it to start\n" ||
		!strings.HasPrefix(errOut, "labsync: the sync was queued but did not start within 500ms (--start-timeout)") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// TestSyncStartShowsTheRunItWaitsBehind: while another run of the
// integration works (here one marked running that started before the
// request, as a periodic poll would be), the command says so, shows that
// run's progress, and does not give up after --start-timeout while it
// works; once it has ended and the queued run does not start, it does.
func TestSyncStartShowsTheRunItWaitsBehind(t *testing.T) {
	a, st := queueOnlyAPI(t)
	ctx := context.Background()
	s, err := st.SyncStateFor(ctx, a.org, a.integration)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().UTC().Add(-time.Minute)
	s.State, s.StartedAt, s.FinishedAt = store.SyncRunning, &started, nil
	if err := st.SaveSyncState(ctx, a.org, s); err != nil {
		t.Fatal(err)
	}
	// The other run ends 1.5 s from now, three start timeouts later.
	go func() {
		time.Sleep(1500 * time.Millisecond)
		s, err := st.SyncStateFor(ctx, a.org, a.integration)
		if err != nil {
			t.Error(err)
			return
		}
		end := time.Now().UTC()
		s.State, s.FinishedAt = store.SyncIdle, &end
		if err := st.SaveSyncState(ctx, a.org, s); err != nil {
			t.Error(err)
		}
	}()
	t.Setenv(envAPIToken, a.token)
	code, out, errOut := run(t, ctx, "sync", "--server", a.url, "--integration", fmt.Sprint(a.integration), "--start",
		"--every", "50ms", "--start-timeout", "500ms", "--progress", "plain")
	if code != 1 || !strings.HasPrefix(errOut, "labsync: the sync was queued but did not start within 500ms (--start-timeout)") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	want := "sync queued: a run that started at " + started.Local().Format(time.TimeOnly) + " is in progress; yours starts when it ends\n"
	if !strings.HasPrefix(out, want) || strings.Count(out, "is in progress") != 1 || !allProgress.MatchString(out) {
		t.Fatalf("stdout %q, want it to start with %q, once, and show the run's progress", out, want)
	}
}
