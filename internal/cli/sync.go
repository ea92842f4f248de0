package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// exitSyncErrors is sync's exit status when the run it started or
// followed ended with errors (projects GitLab refused or that failed).
const exitSyncErrors = 3

const syncHelp = `Talks to a running labsync over its API. With --start it records the last
run, asks for a sync (POST /api/v1/integrations/{id}/sync), waits until the
queued run has started and then follows that run, never the previous one's
state. While another run of the integration works (a periodic poll, someone
else's sync), the queued one waits for it: its progress is shown meanwhile,
and --start-timeout counts only time in which no run works. It shows
GET /api/v1/integrations/{id}/sync every --every until the sync is idle
(--follow) or once. A run that starts while one is followed (the
once-a-minute poll) is said and followed in turn.

One line per resource and one for all: the share of this run's work done,
projects done of the projects this run works, items fetched this run (of
those GitLab announced) and items the chains have counted overall, across runs.
Bars redrawn in place on a terminal, plain lines otherwise (--progress).

Exit status:
  0  the run followed ended without errors; without --start, also the state
     of a sync that was not running, shown once; with --follow=false, a run
     still running
  1  labsync could not be asked, the queued run did not start within
     --start-timeout, or the sync stopped on a problem only a person can fix
     (a refused or expired token: the reason is printed)
  3  the run ended with errors: the projects and resources GitLab refused or
     that failed are listed` + "\n" + apiClientHelp

func newSyncCmd() *cobra.Command {
	var (
		af            apiFlags
		integration   int64
		start, follow bool
		every         time.Duration
		startTimeout  time.Duration
		progress      string
	)
	cmd := &cobra.Command{
		Use:   "sync --integration ID [--start] [--follow]",
		Short: "Start a sync and show its progress (bars in a terminal, plain lines otherwise)",
		Long:  syncHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			if integration <= 0 {
				return errors.New("--integration is required (the id `labsync integrations list` shows)")
			}
			out := cmd.OutOrStdout()
			tty := false
			switch progress {
			case "auto":
				if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					tty = true
				}
			case "bars":
				tty = true
			case "plain":
			default:
				return fmt.Errorf("--progress is auto, bars or plain, not %q", progress)
			}
			if every <= 0 {
				return errors.New("--every must be positive")
			}
			path := fmt.Sprintf("/api/v1/integrations/%d/sync", integration)
			ctx := cmd.Context()
			// get reads the progress; with detail, every chain's (this
			// run's share is computed from them).
			get := func(detail bool) (syncer.Report, error) {
				var rep syncer.Report
				q := ""
				if !detail {
					q = "?detail=false"
				}
				err := c.do(ctx, http.MethodGet, path+q, nil, &rep)
				return rep, err
			}
			sleep := func() error {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(every):
					return nil
				}
			}
			var before syncer.Report
			var queuedAt time.Time // by the server's clock; zero from a server that does not say
			if start {
				if before, err = get(true); err != nil {
					return err
				}
				var queued struct {
					QueuedAt time.Time `json:"queued_at"`
				}
				if err := c.do(ctx, http.MethodPost, path, nil, &queued); err != nil {
					return err
				}
				queuedAt = queued.QueuedAt
			}
			// waiting: for the run the POST queued to start.
			waiting, said, sawRunning := start, false, false
			var shown *syncer.Report // the last report shown
			var other *time.Time     // the start of another run shown while ours waits
			deadline := time.Now().Add(startTimeout)
			lines := 0
			for {
				rep, err := get(!waiting)
				if err != nil {
					return err
				}
				if waiting {
					if startedSince(rep, before) && (queuedAt.IsZero() || !rep.StartedAt.Before(queuedAt)) {
						waiting = false
						continue // read it again with every chain
					}
					// The run is queued: what the server shows is still
					// the previous run's.
					if rep.State == store.SyncStopped {
						return fmt.Errorf("the sync stopped: %s", rep.Reason)
					}
					if rep.State == store.SyncRunning && rep.StartedAt != nil {
						// Another run (a periodic poll, another person's
						// sync) holds the integration: the queued one starts
						// when it ends. Show its progress meanwhile, and wait
						// for as long as it works.
						if other == nil || !other.Equal(*rep.StartedAt) {
							fmt.Fprintf(out, "sync queued: a run that started at %s is in progress; yours starts when it ends\n",
								rep.StartedAt.Local().Format(time.TimeOnly))
							other, lines, said = rep.StartedAt, 0, true
						}
						if rep, err = get(true); err != nil {
							return err
						}
						lines = newRunProgress(rep, before).render(out, rep, tty, lines)
						deadline = time.Now().Add(startTimeout)
					} else if !time.Now().Before(deadline) {
						return fmt.Errorf("the sync was queued but did not start within %s (--start-timeout): does a labsync serve with role all or worker run, and is another sync of this integration still running?", startTimeout)
					} else if !said {
						fmt.Fprintln(out, "sync queued: waiting for it to start")
						said = true
					}
					if err := sleep(); err != nil {
						return err
					}
					continue
				}
				if shown != nil && startedSince(rep, *shown) {
					// The run shown ended between two looks and a newer one
					// (a periodic poll, another person's sync) started: follow
					// it, not counting what the one before did as its work.
					fmt.Fprintf(out, "sync: a newer run started at %s\n", rep.StartedAt.Format(time.TimeOnly))
					lines = 0
					before = *shown
				}
				pr := newRunProgress(rep, before)
				lines = pr.render(out, rep, tty, lines)
				shown = &rep
				if !follow || rep.State != store.SyncRunning {
					if rep.State == store.SyncStopped {
						return fmt.Errorf("the sync stopped: %s", rep.Reason)
					}
					if rep.State != store.SyncRunning && (start || sawRunning) {
						return pr.verdict(cmd.ErrOrStderr(), rep)
					}
					return nil
				}
				sawRunning = true
				if err := sleep(); err != nil {
					return err
				}
			}
		},
	}
	f := cmd.Flags()
	af.register(f)
	deprecatedAlias(f, &af.tokenFile, "token-file", flagAPIToken)
	f.Int64Var(&integration, "integration", 0, "integration id")
	f.BoolVar(&start, "start", false, "start a sync first, wait for it to start and follow it")
	f.BoolVar(&follow, "follow", true, "keep showing progress until the sync is idle")
	f.DurationVar(&every, "every", time.Second, "refresh interval")
	f.DurationVar(&startTimeout, "start-timeout", 2*time.Minute, "with --start: how long the queued run may take to start")
	f.StringVar(&progress, "progress", "auto", "auto (bars on a terminal), bars or plain (one line per resource)")
	return withAPIErrors(cmd)
}

// startedSince reports whether rep shows a run that started after the one
// before showed: the run a POST queued, not the previous run's state.
func startedSince(rep, before syncer.Report) bool {
	if rep.StartedAt == nil {
		return false
	}
	return before.StartedAt == nil || rep.StartedAt.After(*before.StartedAt)
}

// chainKey names one (project, resource) chain.
type chainKey struct {
	project  int64
	resource string
}

// resourceRun is one resource's (or all resources') share of a run.
type resourceRun struct {
	projects, projectsDone int     // projects this run works on, and done
	share                  float64 // sum over this run's chains of the fraction done
	chains                 int     // chains this run works on
	items, itemsKnown      int64   // items this run, and those announced
	overall                int64   // items the chains have counted, across runs
	errors                 int     // chains of this run that ended with an error
}

// runProgress is a report seen as one run: the chains the run works (those
// started since it began, still pending or running, or finished since it
// began) and what they did in it, apart from the chains an earlier run
// finished.
type runProgress struct {
	start  *time.Time
	res    map[string]*resourceRun
	failed []store.Progress
}

// newRunProgress reads rep as the run it shows; before is the report
// taken before that run was asked for (zero: none), whose counts of chains
// the run resumes are not this run's.
func newRunProgress(rep, before syncer.Report) *runProgress {
	base := map[chainKey]int64{}
	for _, p := range before.Projects {
		for _, r := range p.Resources {
			base[chainKey{p.ProjectID, r.Resource}] = r.ItemsDone
		}
	}
	pr := &runProgress{start: rep.StartedAt, res: map[string]*resourceRun{"all": {}}}
	type projectState struct{ inRun, open bool }
	projects := map[string]map[int64]*projectState{}
	for _, p := range rep.Projects {
		for _, r := range p.Resources {
			row := r.Progress
			open := row.Status == store.ProgressPending || row.Status == store.ProgressRunning
			fresh := pr.start != nil && row.StartedAt != nil && !row.StartedAt.Before(*pr.start)
			finishedInRun := pr.start != nil && row.FinishedAt != nil && !row.FinishedAt.Before(*pr.start)
			// A chain still open when the run is over is left for a later
			// run; while it runs, every open chain is its work.
			inRun := (open && rep.State == store.SyncRunning) || fresh || finishedInRun
			items, known := row.ItemsDone, row.ItemsDone
			if row.ItemsKnown != nil && *row.ItemsKnown > known {
				known = *row.ItemsKnown
			}
			if !fresh {
				// A chain resumed from an earlier run: what it had counted
				// then is not this run's.
				b := min(base[chainKey{p.ProjectID, row.Resource}], items)
				items, known = items-b, known-b
			}
			failed := row.Status == store.ProgressForbidden || row.Status == store.ProgressNotFound || row.Status == store.ProgressFailed
			for _, key := range []string{row.Resource, "all"} {
				t := pr.res[key]
				if t == nil {
					t = &resourceRun{}
					pr.res[key] = t
				}
				t.overall += row.ItemsDone
				if projects[key] == nil {
					projects[key] = map[int64]*projectState{}
				}
				ps := projects[key][p.ProjectID]
				if ps == nil {
					ps = &projectState{}
					projects[key][p.ProjectID] = ps
				}
				if !inRun {
					continue
				}
				ps.inRun = true
				ps.open = ps.open || open
				t.chains++
				t.items += items
				t.itemsKnown += known
				switch {
				case !open:
					t.share++
				case known > 0:
					t.share += float64(items) / float64(known)
				}
				if failed {
					t.errors++
				}
			}
			if inRun && failed {
				pr.failed = append(pr.failed, row)
			}
		}
	}
	for key, ps := range projects {
		for _, s := range ps {
			if s.inRun {
				pr.res[key].projects++
				if !s.open {
					pr.res[key].projectsDone++
				}
			}
		}
	}
	return pr
}

// percent is the share of this run's work done: each chain counts for one,
// a running chain for the share of its announced items fetched. A run that
// has no chains yet (it is discovering) is at 0 while running; a resource a
// finished run had nothing to do for is complete.
func (t *resourceRun) percent(running bool) float64 {
	if t.chains == 0 {
		if running {
			return 0
		}
		return 100
	}
	return min(100, 100*t.share/float64(t.chains))
}

// render prints one progress frame: bars redrawn in place on a terminal,
// one plain line per resource otherwise. It returns the lines drawn.
func (pr *runProgress) render(w io.Writer, rep syncer.Report, tty bool, prev int) int {
	keys := make([]string, 0, len(pr.res))
	for k := range pr.res {
		if k != "all" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	keys = append(keys, "all")
	if tty && prev > 0 {
		fmt.Fprintf(w, "\x1b[%dA", prev)
	}
	n := 0
	head := "sync " + rep.State
	if rep.Reason != "" {
		head += ": " + rep.Reason
	}
	if tty {
		fmt.Fprintf(w, "%s\x1b[K\n", head)
	} else {
		fmt.Fprintln(w, head)
	}
	n++
	for _, k := range keys {
		r := pr.res[k]
		t := rep.Totals[k]
		if t == nil {
			t = &syncer.Totals{}
		}
		eta := "-"
		if t.ETASeconds != nil {
			eta = (time.Duration(*t.ETASeconds) * time.Second).String()
		}
		pct := r.percent(rep.State == store.SyncRunning)
		if tty {
			filled := int(pct / 100 * 30)
			bar := strings.Repeat("█", filled) + strings.Repeat("░", 30-filled)
			fmt.Fprintf(w, "%-15s %s %5.1f%% %d/%d projects · %d/%d items this run · %d items overall · %.0f items/s eta %s errors %d\x1b[K\n",
				k, bar, pct, r.projectsDone, r.projects, r.items, r.itemsKnown, r.overall, t.Rate, eta, r.errors)
		} else {
			fmt.Fprintf(w, "%s items=%d/%d projects=%d/%d overall_items=%d pages=%d rate=%.0f/s eta=%s errors=%d progress=%.1f%%\n",
				k, r.items, r.itemsKnown, r.projectsDone, r.projects, r.overall, t.PagesDone, t.Rate, eta, r.errors, pct)
		}
		n++
	}
	return n
}

// verdict ends a run that is over: nil when it ended without errors; else
// the chains that failed (at most ten) and the run's own error written to
// w, and exit status exitSyncErrors.
func (pr *runProgress) verdict(w io.Writer, rep syncer.Report) error {
	all := pr.res["all"]
	if all.errors == 0 && rep.Reason == "" {
		return nil
	}
	fmt.Fprintf(w, "labsync: the sync ended with errors: %d of %d project resources failed\n", all.errors, all.chains)
	if rep.Reason != "" {
		fmt.Fprintln(w, "  run:", rep.Reason)
	}
	for i, row := range pr.failed {
		if i == 10 {
			fmt.Fprintf(w, "  … and %d more (GET /api/v1/integrations/%d/sync lists them)\n", len(pr.failed)-i, rep.IntegrationID)
			break
		}
		msg := row.Status
		if row.LastError != "" {
			msg += ": " + row.LastError
		}
		fmt.Fprintf(w, "  %s %s: %s\n", row.ProjectPath, row.Resource, msg)
	}
	return exitError{code: exitSyncErrors}
}
