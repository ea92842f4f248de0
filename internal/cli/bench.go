package cli

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/bench"
)

func newBenchCmd() *cobra.Command {
	b := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that print figures (webhook intake, backfill, poll)",
	}
	b.AddCommand(newBenchWebhooksCmd())
	b.AddCommand(newBenchBackfillCmd())
	b.AddCommand(newBenchPollCmd())
	b.AddCommand(newBenchMirrorsCmd())
	return b
}

func newBenchMirrorsCmd() *cobra.Command {
	m := &bench.Mirrors{}
	cmd := &cobra.Command{
		Use:   "mirrors",
		Short: "Repository mirrors: lag after push webhooks, clone through labsync vs directly, first mirror at concurrency C",
		Long: `Starts sandbox GitLabs with real Git and labsync serve processes of this binary
(SQLite in temporary directories) and prints three figures:

  - mirror lag after a push webhook: p50/p99/max over --pushes pushes spread
    over --lag-projects projects, each measured from the push to labsync
    reporting a fetch of the project that started after it;
  - cloning a repository of --clone-commits commits through labsync and
    directly from the sandbox (medians of --clones each, alternating), with
    the client's and the server's CPU per clone;
  - the first mirror of --first-projects projects at --concurrency against
    the sum of their single clone times divided by the concurrency, beside
    the same repositories cloned by plain 'git clone --mirror' from a shell
    loop at the same concurrency (the machine's own bound) and the CPU both
    spent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return m.Run(cmd.Context(), cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.IntVar(&m.Pushes, "pushes", 100, "pushes for the lag figure")
	f.IntVar(&m.LagProjects, "lag-projects", 10, "projects the pushes are spread over")
	f.DurationVar(&m.PushEvery, "push-every", 100*time.Millisecond, "time between two pushes")
	f.IntVar(&m.CloneCommits, "clone-commits", 10000, "commits of the repository cloned")
	f.IntVar(&m.Clones, "clones", 5, "clones timed on each side")
	f.IntVar(&m.FirstProjects, "first-projects", 100, "projects mirrored for the first time")
	f.IntVar(&m.FirstCommits, "first-commits", 200, "commits of each of those projects")
	f.IntVar(&m.Concurrency, "concurrency", 4, "git processes per integration for the first mirrors")
	f.IntVar(&m.FirstRounds, "first-rounds", 1, "rounds of the first-mirror runs (medians printed when more than one)")
	f.StringSliceVar(&m.Figures, "figures", nil, "figures to measure: lag, clone, first (default all three)")
	return cmd
}

func newBenchBackfillCmd() *cobra.Command {
	b := &bench.Backfill{}
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "Backfill a sandbox of a given size and latency and print wall time, requests, the lower bound, items/s and peak RSS",
		Long: `Measures labsync as deployed. It starts a sandbox GitLab as its own process and
` + "`labsync serve`" + ` (this binary) on a fresh SQLite database in a temporary directory
(or --database-url, a PostgreSQL database without organisations), then does
what a person does: creates an API token, connects with the sandbox's token,
refreshes discovery, selects every project, starts a sync and follows it until
it is idle. It prints the sync's wall time as serve reports it, the requests
GitLab got against the minimal number of pages, the lower bound, items/s,
serve's CPU and peak RSS. The lower bound is minimal pages × latency /
concurrency: no client can do better with that many requests in flight.

With --in-process, the sync service runs inside this process instead (a
cut-down harness, labelled so in its output), which --cpuprofile and
--idle-polls need.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return b.Run(cmd.Context(), cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.StringVar(&b.Version, "version", "17.11", "GitLab profile of the sandbox")
	f.IntVar(&b.Groups, "groups", 10, "groups")
	f.IntVar(&b.Projects, "projects", 100, "projects")
	f.IntVar(&b.MRs, "mrs", 100, "merge requests per project")
	f.IntVar(&b.Issues, "issues", 100, "issues per project")
	f.IntVar(&b.Pipelines, "pipelines", 50, "pipelines per project")
	f.IntVar(&b.Commits, "commits", 200, "commits per project")
	f.DurationVar(&b.Latency, "latency", 20*time.Millisecond, "sandbox latency per request")
	f.IntVar(&b.Concurrency, "concurrency", 10, "requests in flight per integration")
	f.IntVar(&b.RateLimit, "rate-limit", 0, "sandbox rate limit, requests per minute (0: none)")
	f.IntVar(&b.IdlePolls, "idle-polls", 0, "with --in-process: after the backfill, run this many incremental polls with no activity and report requests per project per poll")
	f.StringVar(&b.DatabaseURL, "database-url", "", "PostgreSQL URL instead of a temporary SQLite database")
	f.StringVar(&b.CPUProfile, "cpuprofile", "", "with --in-process: write a CPU profile of the backfill to this file")
	f.BoolVar(&b.SandboxProcess, "sandbox-process", false, "with --in-process: run the sandbox as a separate `labsync sandbox` process, so the peak RSS printed is labsync's alone")
	f.BoolVar(&b.InProcess, "in-process", false, "run the sync service inside this process instead of a `labsync serve`")
	return cmd
}

func newBenchWebhooksCmd() *cobra.Command {
	w := &bench.Webhooks{}
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Drive N webhook deliveries at labsync serve as deployed, processing included, and compare with a no-op receiver",
		Long: `Measures labsync as deployed. It prepares an organisation, an integration with
one selected project and a webhook endpoint in a fresh SQLite database in a
temporary directory (or --database-url, a PostgreSQL database without
organisations), starts ` + "`labsync serve`" + ` (this binary) on it with its processor on,
and sends N deliveries from a separate driver process of this binary over C
keep-alive connections: the official Go client's merge request event
(testdata/webhooks/merge_request.json), one merge request per delivery. It
waits until the processor has drained the inbox, stops serve with SIGTERM and
checks acknowledged = stored = processed = merge request rows = change-feed
entries. It prints acks/s with p50/p99 acknowledgement latency, processed/s
end to end (from the first delivery sent to the last one processed), serve's
CPU and the bytes it wrote per delivery (PostgreSQL: WAL bytes too), then
drives a no-op Go receiver the same way and prints the ratios.

With --in-process, it instead measures the receiver and inbox inside this
process (no processor; --driver-process moves the load driver out).

With --replicas N (and --database-url), it starts N ` + "`labsync serve`" + `
processes of this binary on that PostgreSQL database, each on its own loopback
port, spreads the deliveries over them round-robin, checks every delivery
answered 200 is stored, and stops them with SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := w.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
			if errors.Is(err, bench.ErrNotAllStored) {
				return exitError{1} // the figures already say what went missing
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVarP(&w.Deliveries, "deliveries", "n", 20000, "deliveries to send")
	f.IntVarP(&w.Connections, "connections", "c", 64, "concurrent keep-alive connections")
	f.StringVar(&w.CPUProfile, "cpuprofile", "", "with --in-process: write a CPU profile of the whole run to this file")
	f.StringVar(&w.DatabaseURL, "database-url", "", "PostgreSQL URL to bench against (default: SQLite in a temporary directory)")
	f.BoolVar(&w.InProcess, "in-process", false, "measure the receiver and inbox inside this process, without the processor")
	f.BoolVar(&w.DriverProcess, "driver-process", false, "with --in-process: send the deliveries from a separate process of this binary")
	f.StringVar(&w.DriveOnly, "drive-only", "", "internal: only drive these URLs and print the result as JSON")
	f.MarkHidden("drive-only")
	f.IntVar(&w.Replicas, "replicas", 0, "start this many `labsync serve` processes on --database-url and drive them all (0: the receiver in this process)")
	return cmd
}
