package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/dora"
)

// newMetricsCmd is `labsync metrics`: figures computed from the synced
// data, through a running labsync serve.
func newMetricsCmd() *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Print metrics computed from the synced data (through a running labsync serve)",
		Long:  "Print metrics labsync computes from the data it keeps." + apiClientHelp,
	}
	af.register(cmd.PersistentFlags())
	var integration, project int64
	var tier, from, to, interval string
	var asJSON, explain bool
	d := &cobra.Command{
		Use:   "dora",
		Short: "Print the four DORA metrics by day, week or month (docs/dora.md defines them)",
		Long: `Print deployment frequency, lead time for changes, change failure rate and time
to restore service of an integration (or every integration), one project or all,
one environment tier, by day, week (Monday to Sunday, UTC) or month. Dates are
YYYY-MM-DD (UTC; --to includes that day) or RFC 3339 times; the default range is
the three months up to today.
` + apiClientHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := url.Values{}
			if integration > 0 {
				v.Set("integration_id", strconv.FormatInt(integration, 10))
			}
			if project > 0 {
				v.Set("project_id", strconv.FormatInt(project, 10))
			}
			for k, s := range map[string]string{"environment_tier": tier, "from": from, "to": to, "interval": interval} {
				if s != "" {
					v.Set(k, s)
				}
			}
			if explain {
				v.Set("explain", "true")
				asJSON = true // the rows only fit the JSON form
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "GET", "/api/v1/metrics/dora?"+v.Encode(), nil, &raw); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(raw)
			}
			var r dora.Report
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("reading labsync's answer: %w", err)
			}
			return printDora(cmd.OutOrStdout(), &r)
		},
	}
	d.Flags().Int64Var(&integration, "integration", 0, "integration id (default: every integration of the organisation)")
	d.Flags().Int64Var(&project, "project", 0, "GitLab's id of one project of the integration (default: every project)")
	d.Flags().StringVar(&tier, "tier", "", "environment tier: production (default), staging, testing, development or other")
	d.Flags().StringVar(&from, "from", "", "start: YYYY-MM-DD (UTC) or an RFC 3339 time")
	d.Flags().StringVar(&to, "to", "", "end: YYYY-MM-DD (that day included) or an RFC 3339 time (excluded)")
	d.Flags().StringVar(&interval, "interval", "", "day, week (default) or month")
	d.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON instead of the table")
	d.Flags().BoolVar(&explain, "explain", false, "print the JSON with the deployment, merge request and incident ids behind each point")
	cmd.AddCommand(d)
	return cmd
}

// printDora prints a report as a table: one line per period, then the
// whole range, then what data is missing.
func printDora(w io.Writer, r *dora.Report) error {
	fmt.Fprintf(w, "DORA metrics, %s tier, %s to %s (UTC), by %s\n\n", r.EnvironmentTier,
		r.From.Format("2006-01-02 15:04"), r.To.Format("2006-01-02 15:04"), r.Interval)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PERIOD START\tDEPLOYMENTS\tLEAD TIME (median)\tCHANGE FAILURE RATE\tTIME TO RESTORE (median)")
	row := func(label string, df, lt, cfr, tr dora.Point) {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", label, df.Count, cliDuration(lt.Value, lt.Count, "MR"),
			cliRate(cfr), cliDuration(tr.Value, tr.Count, "incident"))
	}
	for i := range r.DeploymentFrequency.Points {
		row(r.DeploymentFrequency.Points[i].Start.Format("2006-01-02"), r.DeploymentFrequency.Points[i], r.LeadTimeForChanges.Points[i],
			r.ChangeFailureRate.Points[i], r.TimeToRestoreService.Points[i])
	}
	row("whole range", r.DeploymentFrequency.Total, r.LeadTimeForChanges.Total, r.ChangeFailureRate.Total, r.TimeToRestoreService.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Series() {
		if s.Note != "" {
			fmt.Fprintf(w, "\n%s: %s\n", s.Metric, s.Note)
		}
	}
	if len(r.Missing) > 0 {
		fmt.Fprintln(w)
		for _, m := range r.Missing {
			fmt.Fprintln(w, "missing: "+m)
		}
	}
	return nil
}

func cliDuration(v *float64, n int, what string) string {
	if v == nil {
		return "-"
	}
	s := *v
	var d string
	switch {
	case s < 60:
		d = strconv.FormatFloat(s, 'f', 0, 64) + " s"
	case s < 3600:
		d = strconv.FormatFloat(s/60, 'f', 1, 64) + " min"
	case s < 2*86400:
		d = strconv.FormatFloat(s/3600, 'f', 1, 64) + " h"
	default:
		d = strconv.FormatFloat(s/86400, 'f', 1, 64) + " days"
	}
	return fmt.Sprintf("%s (%d %s)", d, n, what)
}

func cliRate(p dora.Point) string {
	if p.Value == nil {
		return "-"
	}
	deps := 0
	if p.Deployments != nil {
		deps = *p.Deployments
	}
	return fmt.Sprintf("%s %% (%d/%d)", strconv.FormatFloat(*p.Value*100, 'f', 1, 64), p.Count, deps)
}
