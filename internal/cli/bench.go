package cli

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

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	labsync "github.com/labsync/labsync/internal/sync"
)

func newBenchCmd() *cobra.Command {
	b := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that print figures (webhook intake, backfill)",
	}
	b.AddCommand(newBenchWebhooksCmd())
	b.AddCommand(newBenchBackfillCmd())
	return b
}

type backfillBench struct {
	version                                           string
	groups, projects, mrs, issues, pipelines, commits int
	latency                                           time.Duration
	concurrency, rateLimit, idlePolls                 int
	databaseURL                                       string
	cpuProfile                                        string
	sandboxProcess                                    bool
}

func newBenchBackfillCmd() *cobra.Command {
	b := &backfillBench{}
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "Backfill a sandbox of a given size and latency and print wall time, requests, the lower bound, items/s and peak RSS",
		Long: `Starts a sandbox GitLab in this process, backfills every project into a
fresh SQLite database in a temporary directory (or --database-url), and
prints the figures. The lower bound is minimal pages × latency / concurrency:
no client can do better with that many requests in flight.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return b.run(cmd.Context(), cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.StringVar(&b.version, "version", "17.11", "GitLab profile of the sandbox")
	f.IntVar(&b.groups, "groups", 10, "groups")
	f.IntVar(&b.projects, "projects", 100, "projects")
	f.IntVar(&b.mrs, "mrs", 100, "merge requests per project")
	f.IntVar(&b.issues, "issues", 100, "issues per project")
	f.IntVar(&b.pipelines, "pipelines", 50, "pipelines per project")
	f.IntVar(&b.commits, "commits", 200, "commits per project")
	f.DurationVar(&b.latency, "latency", 20*time.Millisecond, "sandbox latency per request")
	f.IntVar(&b.concurrency, "concurrency", 10, "requests in flight per integration")
	f.IntVar(&b.rateLimit, "rate-limit", 0, "sandbox rate limit, requests per minute (0: none)")
	f.IntVar(&b.idlePolls, "idle-polls", 0, "after the backfill, run this many incremental polls with no activity and report requests per project per poll")
	f.StringVar(&b.databaseURL, "database-url", "", "PostgreSQL URL instead of a temporary SQLite database")
	f.StringVar(&b.cpuProfile, "cpuprofile", "", "write a CPU profile of the backfill to this file")
	f.BoolVar(&b.sandboxProcess, "sandbox-process", false, "run the sandbox as a separate `labsync sandbox` process, so the peak RSS printed is labsync's alone")
	return cmd
}

func (b *backfillBench) run(ctx context.Context, out io.Writer) error {
	var sb benchGitLab
	if b.sandboxProcess {
		c, err := startChildGitLab(ctx, b)
		if err != nil {
			return err
		}
		sb = c
	} else {
		s, err := sandbox.Start(ctx, sandbox.Config{Version: b.version, Seed: 1, Groups: b.groups, Projects: b.projects, MRs: b.mrs,
			Issues: b.issues, Pipelines: b.pipelines, Commits: b.commits, Latency: b.latency, RateLimitPerMin: b.rateLimit})
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
	st, err := store.Open(ctx, store.Options{DatabaseURL: b.databaseURL, SQLitePath: filepath.Join(dir, "labsync.db")})
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
	svc := labsync.New(st, labsync.Options{Concurrency: b.concurrency,
		Clients: labsync.StaticClients(sb.URL(), nil, func() string { return token }, 30*time.Second)})

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
	if b.cpuProfile != "" {
		pf, err := os.Create(b.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	t1, cpu1 := time.Now(), cpuTime()
	if err := svc.Run(ctx, org, in.ID, labsync.ModeBackfill); err != nil {
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
	items := counts.MergeRequests + counts.Issues + counts.Pipelines + counts.Pushes + counts.Commits
	minimal := minimalPages(manifest)
	made := apiRequests(reqs)
	lower := time.Duration(float64(minimal) * float64(b.latency) / float64(b.concurrency))

	fmt.Fprintf(out, "sandbox           GitLab %s, %d projects × (%d MRs, %d issues, %d pipelines, %d commits), latency %s, rate limit %s\n",
		b.version, b.projects, b.mrs, b.issues, b.pipelines, b.commits, b.latency, rateText(b.rateLimit))
	fmt.Fprintf(out, "database          %s\n", st.Dialect())
	fmt.Fprintf(out, "discovery         %s, %d requests\n", discoverWall.Round(time.Millisecond), discoverReqs)
	fmt.Fprintf(out, "concurrency       %d requests in flight\n", b.concurrency)
	fmt.Fprintf(out, "wall time         %s\n", wall.Round(time.Millisecond))
	fmt.Fprintf(out, "requests made     %d (ratio to minimal %.3f)\n", made, float64(made)/float64(minimal))
	fmt.Fprintf(out, "minimal pages     %d\n", minimal)
	if b.latency > 0 {
		fmt.Fprintf(out, "lower bound       %s (minimal pages × latency / concurrency)\n", lower.Round(time.Millisecond))
		fmt.Fprintf(out, "ratio to bound    %.3f\n", float64(wall)/float64(lower))
	}
	fmt.Fprintf(out, "items stored      %d (MRs %d, issues %d, pipelines %d, pushes %d, commits %d)\n", items,
		counts.MergeRequests, counts.Issues, counts.Pipelines, counts.Pushes, counts.Commits)
	fmt.Fprintf(out, "items/s           %.0f\n", float64(items)/wall.Seconds())
	// CPU time over the cores is a floor of its own: where it is near the
	// wall time, the machine, not the waiting on GitLab, set the pace.
	cores := runtime.GOMAXPROCS(0)
	fmt.Fprintf(out, "CPU used          %s, %.2f of %d cores (%s); CPU floor %s\n", cpu.Round(time.Millisecond),
		float64(cpu)/float64(wall), cores, map[bool]string{true: "labsync alone", false: "labsync and the in-process sandbox"}[b.sandboxProcess],
		(cpu / time.Duration(cores)).Round(time.Millisecond))
	if b.rateLimit > 0 {
		limited := 0
		for _, r := range reqs {
			if r.Status == 429 {
				limited++
			}
		}
		full, used := fullWindows(reqs, t1, t1.Add(wall))
		if full == 0 && made <= b.rateLimit {
			// GitLab's window is a minute: a run that needs no more than
			// one window's budget is never throttled, and its rate says
			// nothing about how well the budget is used.
			fmt.Fprintf(out, "rate budget used  not measured: %d requests fit in one minute's budget of %d; give the sandbox more projects\n", made, b.rateLimit)
		} else {
			perMin := float64(made) / wall.Minutes()
			fmt.Fprintf(out, "rate budget used  %.1f%% (%.0f requests/min of %d over the whole run)\n", 100*perMin/float64(b.rateLimit), perMin, b.rateLimit)
		}
		if full > 0 {
			fmt.Fprintf(out, "                  %.1f%% over the %d full 60 s windows inside the run\n", 100*float64(used)/float64(full*b.rateLimit), full)
		}
		fmt.Fprintf(out, "answered 429      %d (%.2f%% of requests)\n", limited, 100*float64(limited)/float64(max(made, 1)))
	}
	where := "labsync and the in-process sandbox"
	if b.sandboxProcess {
		where = "labsync alone; the sandbox ran as its own process"
	}
	fmt.Fprintf(out, "peak RSS          %s (%s)\n", peakRSS(), where)

	if b.idlePolls > 0 {
		if err := sb.ResetRequests(); err != nil {
			return err
		}
		for range b.idlePolls {
			if err := svc.Run(ctx, org, in.ID, labsync.ModePoll); err != nil {
				return err
			}
		}
		rs, err := sb.Requests()
		if err != nil {
			return err
		}
		n := apiRequests(rs)
		fmt.Fprintf(out, "idle poll         %d requests over %d polls of %d projects: %.3f requests per project per poll (one poll a minute)\n",
			n, b.idlePolls, b.projects, float64(n)/float64(b.idlePolls*max(b.projects, 1)))
	}
	return nil
}

func rateText(n int) string {
	if n <= 0 {
		return "none"
	}
	return fmt.Sprintf("%d/min", n)
}

func apiRequests(rs []sandbox.RequestLogEntry) int {
	n := 0
	for _, r := range rs {
		if strings.HasPrefix(r.Path, "/api/v4/") {
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

// minimalPages is the fewest requests any client needs: one page per 100
// items (at least one) of each resource of each project, pipelines of
// projects without CI/CD counting the one 403.
func minimalPages(m sandbox.Manifest) int {
	pages := func(n int) int { return max(1, (n+99)/100) }
	total := 0
	for _, p := range m.PerProject {
		pushes := (p.Commits + 9) / 10 // the sandbox seeds one push per ten commits
		total += pages(p.MergeRequests) + pages(p.Issues) + pages(p.Pipelines) + pages(pushes) + pages(p.Commits)
	}
	return total
}

// peakRSS reads VmHWM from /proc/self/status.
func peakRSS() string {
	f, err := os.Open("/proc/self/status")
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
