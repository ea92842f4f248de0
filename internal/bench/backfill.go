// Package bench measures labsync: how fast the webhook receiver takes
// deliveries (in this process or over several `labsync serve` replicas),
// how fast a backfill reads a simulated GitLab, and what a poll cycle
// costs and how fresh it keeps a project whose webhook is dropped,
// printing figures a person compares by eye. It is what the `labsync
// bench` commands run.
//
// The bench starts the running executable again as `labsync sandbox`,
// `labsync serve` or `labsync bench webhooks --drive-only` where a figure
// must come from its own process, so it works only inside the labsync
// binary (or a test binary that acts as labsync, see cli's TestMain).
//
// bench must never talk to anything but loopback and the database it is
// given, must never touch an organisation it did not create for itself
// (except the first organisation of a PostgreSQL database, whose owner the
// backfill borrows), and must never assert a time: it prints figures.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// Backfill is one backfill benchmark: a sandbox GitLab of this size and
// latency, backfilled into a fresh database.
type Backfill struct {
	Version                                           string // GitLab profile of the sandbox
	Groups, Projects, MRs, Issues, Pipelines, Commits int    // the sandbox's size, per project where it counts
	Latency                                           time.Duration
	Concurrency, RateLimit, IdlePolls                 int    // requests in flight; sandbox requests per minute (0: none); idle polls after the backfill
	DatabaseURL                                       string // PostgreSQL; empty: SQLite in a temporary directory
	CPUProfile                                        string // a file for the backfill's CPU profile; empty: none
	SandboxProcess                                    bool   // with InProcess: run the sandbox as its own `labsync sandbox` process
	// InProcess runs the sync service inside the bench process instead of
	// driving a `labsync serve` (a cut-down harness; its figures say so).
	InProcess bool
}

// backfillRun is what one backfill measured, for print.
type backfillRun struct {
	dialect      store.Dialect
	discoverWall time.Duration
	discoverReqs int
	wall         time.Duration
	start        time.Time
	reqs         []sandbox.RequestLogEntry
	manifest     sandbox.Manifest
	counts       store.DataCounts
	cpu          time.Duration
	cpuWho       string
	peakRSS      string
	rssWho       string
	// fullSync: the run was a full sync, which discovers again before it
	// backfills; its discovery requests are counted apart.
	fullSync bool
}

// Run starts the sandbox, discovers and selects every project, backfills
// them, and prints wall time, requests against the minimal number of pages,
// the lower bound, items/s, CPU and peak RSS to out; with IdlePolls, the
// requests an idle poll makes too. It returns the first error that stops
// the run; figures printed before it stay printed.
func (b *Backfill) Run(ctx context.Context, out io.Writer) error {
	if !b.InProcess {
		return b.runDeployed(ctx, out)
	}
	var sb benchGitLab
	if b.SandboxProcess {
		c, err := startChildGitLab(ctx, b)
		if err != nil {
			return err
		}
		sb = c
	} else {
		s, err := sandbox.Start(ctx, sandbox.Config{Version: b.Version, Seed: 1, Groups: b.Groups, Projects: b.Projects, MRs: b.MRs,
			Issues: b.Issues, Pipelines: b.Pipelines, Commits: b.Commits, Latency: b.Latency, RateLimitPerMin: b.RateLimit})
		if err != nil {
			return err
		}
		sb = inProcessGitLab{s}
	}
	defer sb.Close()
	dir, err := os.MkdirTemp("", "labsync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, store.Options{DatabaseURL: b.DatabaseURL, SQLitePath: filepath.Join(dir, "labsync.db")})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx, nil); err != nil {
		return err
	}
	boot, created, err := st.BootstrapIfEmpty(ctx, "bench", "bench@localhost", "")
	if err != nil {
		return err
	}
	org := boot.Org.ID
	if !created { // a PostgreSQL database that has an organisation already
		o, _, err := st.FirstOwner(ctx)
		if err != nil {
			return err
		}
		org = o.ID
	}
	in := &store.Integration{OrgID: org, Alias: fmt.Sprintf("bench-%d", time.Now().UnixNano()), BaseURL: sb.URL(), AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		return err
	}
	token := sb.AdminToken()
	svc := syncer.New(st, syncer.Options{Concurrency: b.Concurrency,
		Clients: syncer.StaticClients(sb.URL(), nil, func() string { return token }, 30*time.Second)})

	// Discovery and selection (every project, archived included).
	t0 := time.Now()
	if err := svc.Discover(ctx, org, in.ID); err != nil {
		return err
	}
	discoverWall := time.Since(t0)
	rs, err := sb.Requests()
	if err != nil {
		return err
	}
	discoverReqs := apiRequests(rs)
	sel := store.Selection{IncludeArchived: true, Services: store.AllServices}
	all, err := st.AllProjects(ctx, org, in.ID)
	if err != nil {
		return err
	}
	for _, p := range all {
		sel.Projects = append(sel.Projects, p.GitLabID)
	}
	if _, err := svc.SaveSelection(ctx, org, in.ID, sel); err != nil {
		return err
	}

	// The backfill.
	if err := sb.ResetRequests(); err != nil {
		return err
	}
	if b.CPUProfile != "" {
		pf, err := os.Create(b.CPUProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	t1, cpu1 := time.Now(), cpuTime()
	if err := svc.Run(ctx, org, in.ID, syncer.ModeBackfill); err != nil {
		return err
	}
	wall, cpu := time.Since(t1), cpuTime()-cpu1
	reqs, err := sb.Requests()
	if err != nil {
		return err
	}
	manifest, err := sb.Manifest()
	if err != nil {
		return err
	}
	counts, err := st.CountData(ctx, org, in.ID)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "labsync bench backfill --in-process: the sync service runs inside the bench process (a cut-down harness, not labsync serve as deployed)")
	cpuWho, rssWho := "labsync and the in-process sandbox", "labsync and the in-process sandbox"
	if b.SandboxProcess {
		cpuWho, rssWho = "labsync alone", "labsync alone; the sandbox ran as its own process"
	}
	b.print(out, backfillRun{dialect: st.Dialect(), discoverWall: discoverWall, discoverReqs: discoverReqs, wall: wall, start: t1,
		reqs: reqs, manifest: manifest, counts: counts, cpu: cpu, cpuWho: cpuWho, peakRSS: peakRSS(), rssWho: rssWho})

	if b.IdlePolls > 0 {
		if err := sb.ResetRequests(); err != nil {
			return err
		}
		for range b.IdlePolls {
			if err := svc.Run(ctx, org, in.ID, syncer.ModePoll); err != nil {
				return err
			}
		}
		rs, err := sb.Requests()
		if err != nil {
			return err
		}
		n := apiRequests(rs)
		fmt.Fprintf(out, "idle poll         %d requests over %d polls of %d projects: %.3f requests per project per poll (one poll a minute)\n",
			n, b.IdlePolls, b.Projects, float64(n)/float64(b.IdlePolls*max(b.Projects, 1)))
	}
	return nil
}

func rateText(n int) string {
	if n <= 0 {
		return "none"
	}
	return fmt.Sprintf("%d/min", n)
}

// apiRequests counts the requests of the REST API and of GraphQL.
func apiRequests(rs []sandbox.RequestLogEntry) int {
	n := 0
	for _, r := range rs {
		if strings.HasPrefix(r.Path, "/api/v4/") || r.Path == "/api/graphql" {
			n++
		}
	}
	return n
}

// fullWindows counts the successful API requests inside the 60 s windows
// (aligned as GitLab's throttle aligns them) that lie wholly within [from, to].
func fullWindows(rs []sandbox.RequestLogEntry, from, to time.Time) (windows, used int) {
	start := from.Truncate(time.Minute)
	if start.Before(from) {
		start = start.Add(time.Minute)
	}
	end := to.Truncate(time.Minute)
	if !end.After(start) {
		return 0, 0
	}
	for _, r := range rs {
		if strings.HasPrefix(r.Path, "/api/v4/") && r.Status < 400 && !r.Time.Before(start) && r.Time.Before(end) {
			used++
		}
	}
	return int(end.Sub(start) / time.Minute), used
}

// minimalPages is the fewest requests of the original resources (merge
// requests, issues, pipelines, pushes, commits): see minimalPagesOf.
func minimalPages(m sandbox.Manifest) int {
	var mp pagesBreakdown
	for _, p := range m.PerProject {
		mp.addOriginal(p)
	}
	return mp.original
}

// peakRSS reads VmHWM from /proc/self/status.
func peakRSS() string { return peakRSSOf("/proc/self/status") }

// peakRSSOf reads VmHWM from a /proc/<pid>/status file.
func peakRSSOf(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				return strings.TrimSpace(v)
			}
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "unknown"
}

// print writes what a backfill measured: wall time, requests against the
// minimal pages and the lower bound, items stored, CPU and peak RSS, and
// with a rate limit how much of GitLab's budget the run used.
func (b *Backfill) print(out io.Writer, r backfillRun) {
	counts, manifest := r.counts, r.manifest
	items := counts.MergeRequests + counts.Issues + counts.Pipelines + counts.Pushes + counts.Commits + counts.Notes + counts.Approvals +
		counts.MergeRequestCommits + counts.Jobs + counts.Environments + counts.Deployments + counts.Releases + counts.Tags
	ver, _ := gitlab.ParseVersion(manifest.Version)
	mp := minimalPagesOf(manifest, ver)
	minimal := mp.total()
	reqs, rediscovery := r.reqs, 0
	if r.fullSync {
		reqs = nil
		for _, q := range r.reqs {
			if projectRequest(q.Path) {
				reqs = append(reqs, q)
			} else if strings.HasPrefix(q.Path, "/api/v4/") {
				rediscovery++
			}
		}
	}
	made := apiRequests(reqs)
	lower := time.Duration(float64(minimal) * float64(b.Latency) / float64(b.Concurrency))
	wall := r.wall

	fmt.Fprintf(out, "sandbox           GitLab %s, %d projects × (%d MRs, %d issues, %d pipelines, %d commits), latency %s, rate limit %s\n",
		b.Version, b.Projects, b.MRs, b.Issues, b.Pipelines, b.Commits, b.Latency, rateText(b.RateLimit))
	fmt.Fprintf(out, "database          %s\n", r.dialect)
	fmt.Fprintf(out, "discovery         %s, %d requests\n", r.discoverWall.Round(time.Millisecond), r.discoverReqs)
	fmt.Fprintf(out, "concurrency       %d requests in flight\n", b.Concurrency)
	if r.fullSync {
		fmt.Fprintf(out, "wall time         %s (the sync's start to its end as labsync reports them; it discovered again first)\n", wall.Round(time.Millisecond))
		fmt.Fprintf(out, "requests made     %d to projects (ratio to minimal %.3f), and %d discovery requests the full sync repeated\n",
			made, float64(made)/float64(minimal), rediscovery)
	} else {
		fmt.Fprintf(out, "wall time         %s\n", wall.Round(time.Millisecond))
		fmt.Fprintf(out, "requests made     %d (ratio to minimal %.3f)\n", made, float64(made)/float64(minimal))
	}
	fmt.Fprintf(out, "minimal pages     %d\n", minimal)
	if b.Latency > 0 {
		fmt.Fprintf(out, "lower bound       %s (minimal pages × latency / concurrency)\n", lower.Round(time.Millisecond))
		fmt.Fprintf(out, "ratio to bound    %.3f\n", float64(wall)/float64(lower))
	}
	fmt.Fprintf(out, "items stored      %d (MRs %d, issues %d, pipelines %d, pushes %d, commits %d, notes %d, approvals %d, MR commits %d, jobs %d, environments %d, deployments %d, releases %d, tags %d)\n", items,
		counts.MergeRequests, counts.Issues, counts.Pipelines, counts.Pushes, counts.Commits, counts.Notes, counts.Approvals,
		counts.MergeRequestCommits, counts.Jobs, counts.Environments, counts.Deployments, counts.Releases, counts.Tags)
	printDeliveryRequests(out, reqs, mp)
	fmt.Fprintf(out, "items/s           %.0f\n", float64(items)/wall.Seconds())
	// CPU time over the cores is a floor of its own: where it is near the
	// wall time, the machine, not the waiting on GitLab, set the pace.
	cores := runtime.GOMAXPROCS(0)
	fmt.Fprintf(out, "CPU used          %s, %.2f of %d cores (%s); CPU floor %s\n", r.cpu.Round(time.Millisecond),
		float64(r.cpu)/float64(wall), cores, r.cpuWho, (r.cpu / time.Duration(cores)).Round(time.Millisecond))
	if b.RateLimit > 0 {
		limited := 0
		for _, q := range reqs {
			if q.Status == 429 {
				limited++
			}
		}
		full, used := fullWindows(reqs, r.start, r.start.Add(wall))
		if full == 0 && made <= b.RateLimit {
			// GitLab's window is a minute: a run that needs no more than
			// one window's budget is never throttled, and its rate says
			// nothing about how well the budget is used.
			fmt.Fprintf(out, "rate budget used  not measured: %d requests fit in one minute's budget of %d; give the sandbox more projects\n", made, b.RateLimit)
		} else {
			perMin := float64(made) / wall.Minutes()
			fmt.Fprintf(out, "rate budget used  %.1f%% (%.0f requests/min of %d over the whole run)\n", 100*perMin/float64(b.RateLimit), perMin, b.RateLimit)
		}
		if full > 0 {
			fmt.Fprintf(out, "                  %.1f%% over the %d full 60 s windows inside the run\n", 100*float64(used)/float64(full*b.RateLimit), full)
		}
		fmt.Fprintf(out, "answered 429      %d (%.2f%% of requests)\n", limited, 100*float64(limited)/float64(max(made, 1)))
	}
	fmt.Fprintf(out, "peak RSS          %s (%s)\n", r.peakRSS, r.rssWho)
}

// projectRequest reports whether path is a request about one project's
// data (/api/v4/projects/:id/…) or GraphQL, not discovery's listings.
func projectRequest(path string) bool {
	if path == "/api/graphql" {
		return true
	}
	rest, ok := strings.CutPrefix(path, "/api/v4/projects/")
	if !ok {
		return false
	}
	id, sub, ok := strings.Cut(rest, "/")
	if !ok || sub == "" {
		return false
	}
	_, err := strconv.ParseInt(id, 10, 64)
	return err == nil
}
