package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/sandbox"
)

func newSandboxCmd() *cobra.Command {
	var (
		cfg       sandbox.Config
		tlsMode   string
		rateLimit string
		faults    string
		manifest  bool
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a simulated GitLab (API v4, OAuth2, webhooks) for tests and demos",
		Long: `Run a simulated GitLab on a loopback address. It prints its base URL, an
administrator's personal access token, an OAuth application and, with TLS, the
CA certificate that signed its server certificate. It serves until interrupted.

The dataset is generated from --seed and the counts, so equal flags give equal
data. --manifest prints the counts per project as JSON and exits.

Faults (--faults, comma-separated): errors=0.1 (share of 500/502),
stall=0.05:30s (share of requests held), latency=50ms, drop-webhooks,
expire-tokens=2m (tokens expire that long after first use).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.TLS, err = sandbox.ParseTLSMode(tlsMode); err != nil {
				return err
			}
			if cfg.TLSDir != "" && !cmd.Flags().Changed("tls") {
				cfg.TLS = sandbox.TLSCA
			}
			if cfg.TLS != sandbox.TLSNone && cfg.TLSDir == "" {
				return fmt.Errorf("--tls %s needs --tls-dir to write the CA certificate to", tlsMode)
			}
			if rateLimit != "" {
				n, ok := strings.CutSuffix(rateLimit, "/min")
				if cfg.RateLimitPerMin, err = strconv.Atoi(n); err != nil || !ok || cfg.RateLimitPerMin < 0 {
					return fmt.Errorf("--rate-limit %q: want N/min, such as 600/min", rateLimit)
				}
			}
			if cfg.Faults, err = sandbox.ParseFaults(faults); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if manifest {
				cfg.Addr = "127.0.0.1:0"
				cfg.TLS = sandbox.TLSNone
			}
			sb, err := sandbox.Start(ctx, cfg)
			if err != nil {
				return err
			}
			defer sb.Close()
			out := cmd.OutOrStdout()
			if manifest {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(sb.Manifest())
			}
			id, secret := sb.OAuthApp()
			fmt.Fprintf(out, "GitLab sandbox %s listening\n", sb.Version())
			fmt.Fprintf(out, "  URL:            %s   (API: %s/api/v4)\n", sb.URL(), sb.URL())
			fmt.Fprintf(out, "  admin token:    %s   (user root, scope api)\n", sb.AdminToken())
			fmt.Fprintf(out, "  OAuth app id:   %s\n", id)
			fmt.Fprintf(out, "  OAuth secret:   %s\n", secret)
			fmt.Fprintf(out, "  OAuth redirect: http://127.0.0.1:8787/api/v1/connectors/gitlab/callback\n")
			fmt.Fprintf(out, "  consent page:   %s/  (follow the link)\n", sb.URL())
			if p := sb.CAPath(); p != "" {
				fmt.Fprintf(out, "  CA certificate: %s   (TLS mode %s)\n", p, cfg.TLS)
			}
			m := sb.Manifest()
			fmt.Fprintf(out, "  dataset:        %d groups, %d projects, %d MRs, %d issues, %d pipelines, %d commits (seed %d)\n",
				m.Groups, m.Projects, m.Totals.MergeRequests, m.Totals.Issues, m.Totals.Pipelines, m.Totals.Commits, cfg.Seed)
			fmt.Fprintf(out, "  controls:       %s/-/sandbox/{manifest,requests,deliveries,faults,activity,tokens}\n", sb.URL())
			fmt.Fprintln(out, "Press Ctrl-C to stop.")
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8929", "loopback address to listen on")
	f.StringVar(&cfg.Version, "version", "17.11", "GitLab version profile ("+strings.Join(sandbox.Profiles, ", ")+")")
	f.Int64Var(&cfg.Seed, "seed", 1, "dataset seed")
	f.IntVar(&cfg.Groups, "groups", 3, "groups (about a third are subgroups)")
	f.IntVar(&cfg.Projects, "projects", 10, "projects")
	f.IntVar(&cfg.MRs, "mrs", 10, "merge requests per project")
	f.IntVar(&cfg.Issues, "issues", 10, "issues per project")
	f.IntVar(&cfg.Pipelines, "pipelines", 5, "pipelines per project (none where CI/CD is disabled)")
	f.IntVar(&cfg.Commits, "commits", 20, "commits per project on the default branch")
	f.StringVar(&cfg.TLSDir, "tls-dir", "", "serve HTTPS and write ca.pem, server.pem and server-key.pem here")
	f.StringVar(&tlsMode, "tls", "none", "TLS variant: none, ca, self-signed, expired, wrong-host (ca when only --tls-dir is given)")
	f.DurationVar(&cfg.Latency, "latency", 0, "latency added to every response, such as 20ms")
	f.StringVar(&rateLimit, "rate-limit", "", "per-token request limit, such as 600/min")
	f.StringVar(&faults, "faults", "", "faults to inject, such as errors=0.05,stall=0.01:30s,drop-webhooks")
	f.Float64Var(&cfg.Generator, "activity", 0, "random activity events per minute (MRs, issues, pushes, pipelines)")
	f.BoolVar(&manifest, "manifest", false, "print the dataset manifest as JSON and exit")
	return cmd
}
