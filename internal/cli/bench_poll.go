package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/bench"
)

func newBenchPollCmd() *cobra.Command {
	b := &bench.Poll{}
	cmd := &cobra.Command{
		Use:   "poll",
		Short: "Poll cost on the gitlab.com profile (busy vs quiet public world, the quiet bound, non-members stored) and a dropped webhook's latency",
		Long: `Starts two gitlab.com-profile sandboxes from one seed (a busy public world and
a quiet one), connects the same ordinary user to both, selects 2 groups with
auto-import plus 5 projects one by one, backfills, then polls both every
--interval for --cycles cycles and prints requests per cycle, the quiet cycle
against 3 × (groups + loose projects) + 2, and the projects stored whose user
is not a member. Then it drops one selected project's webhook while the
others deliver (and have a push every ten seconds), prints a quiet cycle
against the bound 3 × (groups + loose projects) + 2 + 2 (the silent
project's own pipeline and push passes), moves the silent project's
last_activity_at once and polls for --settle (past the poller's 5-minute
activity overlap), then makes --changes changes in it (merge requests,
issues, pushes and pipelines in turn) over --change-window, polls as the
poll plan says, and prints how soon each change was visible (p50, p99, max,
overall and per kind). It is an in-process harness (sandboxes, store and sync
service in this process); every figure says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return b.Run(cmd.Context(), cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.IntVar(&b.PublicProjects, "public-projects", 20000, "projects in the gitlab.com profile's public world")
	f.IntVar(&b.PublicPerMin, "public-updates", 1000, "public updates per minute in the busy world")
	f.IntVar(&b.Cycles, "cycles", 3, "poll cycles measured per world")
	f.DurationVar(&b.Interval, "interval", time.Minute, "time between poll cycles")
	f.IntVar(&b.Changes, "changes", 50, "changes made to the project whose webhook is dropped")
	f.DurationVar(&b.ChangeWindow, "change-window", 150*time.Second, "how long those changes are spread over")
	f.DurationVar(&b.Settle, "settle", 6*time.Minute, "how long to poll before those changes start (past the 5-minute activity overlap)")
	f.BoolVar(&b.Verbose, "verbose", false, "print each poll cycle's requests by path")
	f.StringVar(&b.DatabaseURL, "database-url", "", "PostgreSQL URL instead of a temporary SQLite database")
	return cmd
}
