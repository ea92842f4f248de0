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

	labsync "github.com/labsync/labsync/internal/sync"
)

func newSyncCmd() *cobra.Command {
	var (
		af            apiFlags
		integration   int64
		start, follow bool
		every         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sync --integration ID [--start] [--follow]",
		Short: "Start a sync and show its progress (bars in a terminal, plain lines otherwise)",
		Long: `Talks to a running labsync over its API: POST /api/v1/integrations/{id}/sync
with --start, then shows GET /api/v1/integrations/{id}/sync until the sync is idle
(--follow) or once. The API token comes from --token-file or LABSYNC_API_TOKEN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			if integration <= 0 {
				return errors.New("--integration is required (the id `labsync integrations list` shows)")
			}
			path := fmt.Sprintf("/api/v1/integrations/%d/sync", integration)
			ctx := cmd.Context()
			if start {
				if err := c.do(ctx, http.MethodPost, path, nil, nil); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			tty := false
			if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				tty = true
			}
			lines := 0
			for {
				var rep labsync.Report
				if err := c.do(ctx, http.MethodGet, path+"?detail=false", nil, &rep); err != nil {
					return err
				}
				lines = render(out, rep, tty, lines)
				if !follow || (rep.State != "running" && !(start && rep.StartedAt == nil)) {
					if rep.State == "stopped" {
						return fmt.Errorf("the sync stopped: %s", rep.Reason)
					}
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(every):
				}
			}
		},
	}
	f := cmd.Flags()
	af.register(f, "token-file", "file holding an API token")
	f.Int64Var(&integration, "integration", 0, "integration id")
	f.BoolVar(&start, "start", false, "start a sync first")
	f.BoolVar(&follow, "follow", true, "keep showing progress until the sync is idle")
	f.DurationVar(&every, "every", time.Second, "refresh interval")
	return withAPIErrors(cmd)
}

// render prints one progress frame: bars redrawn in place on a terminal,
// one plain line per resource otherwise. It returns the lines drawn.
func render(w io.Writer, rep labsync.Report, tty bool, prev int) int {
	keys := make([]string, 0, len(rep.Totals))
	for k := range rep.Totals {
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
		t := rep.Totals[k]
		frac := 0.0
		if t.ItemsKnown > 0 {
			frac = min(1, float64(t.ItemsDone)/float64(t.ItemsKnown))
		}
		eta := "-"
		if t.ETASeconds != nil {
			eta = (time.Duration(*t.ETASeconds) * time.Second).String()
		}
		if tty {
			bar := strings.Repeat("█", int(frac*30)) + strings.Repeat("░", 30-int(frac*30))
			fmt.Fprintf(w, "%-15s %s %5.1f%% %d/%d items %d pages %.0f/s eta %s errors %d\x1b[K\n", k, bar, frac*100,
				t.ItemsDone, t.ItemsKnown, t.PagesDone, t.Rate, eta, t.Errors)
		} else {
			fmt.Fprintf(w, "%s items=%d/%d pages=%d rate=%.0f/s eta=%s chains=%d/%d errors=%d\n", k, t.ItemsDone, t.ItemsKnown,
				t.PagesDone, t.Rate, eta, t.Done, t.Chains, t.Errors)
		}
		n++
	}
	return n
}
