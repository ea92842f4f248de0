package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
)

// sandboxRedirectURI is labsync's OAuth callback at its public URL: the flag,
// else LABSYNC_PUBLIC_URL, else http://LABSYNC_ADDR, else the sandbox's
// default (labsync's default address).
func sandboxRedirectURI(publicURL string) string {
	if publicURL == "" {
		publicURL = os.Getenv("LABSYNC_PUBLIC_URL")
	}
	if publicURL == "" {
		if addr := os.Getenv("LABSYNC_ADDR"); addr != "" {
			publicURL = "http://" + addr
		}
	}
	if publicURL == "" {
		return sandbox.DefaultRedirectURI
	}
	return strings.TrimRight(publicURL, "/") + integrations.CallbackPath
}

func newSandboxCmd() *cobra.Command {
	var (
		cfg       sandbox.Config
		tlsMode   string
		rateLimit string
		faults    string
		mix       string
		manifest  bool
		publicURL string
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a simulated GitLab (API v4, OAuth2, webhooks) for tests and demos",
		Long: `Run a simulated GitLab on a loopback address. It prints its base URL, an
administrator's personal access token, an OAuth application and, with TLS, the
CA certificate that signed its server certificate. It serves until interrupted.

The dataset is generated from --seed and the counts, so equal flags give equal
data. --manifest prints the counts per project as JSON and exits.

--profile gitlab.com serves GitLab.com as an ordinary user sees it: no
administrator token is printed but alice's personal access token (alice
belongs to a few of the seeded groups and projects) and a control token for
the /-/sandbox/ controls, which GitLab's API refuses. Around the seeded
dataset lies a public world of other users' groups and projects
(--public-projects, 20,000 by default; about one in ten private), changed
--public-activity times a minute (merge requests, issues, pushes, pipelines,
weighed by --public-mix such as mrs=4,issues=3,pushes=2,pipelines=1) without
webhooks. /projects, /groups?all_available=true and scope=all list that world;
GitLab.com's rate limits apply: 2,000 API requests a minute (--rate-limit to
change, off to drop), GET /projects 2,000 per 10 minutes, GET /projects/:id
400, GET /groups 200, GET /groups/:id 400 and GET /groups/:id/projects 600
per minute. There, as in GitLab, a project's last_activity_at moves at most
once an hour (--last-activity-interval).

Faults (--faults, comma-separated; PUT /-/sandbox/faults changes them while
running): errors=0.1 (share of 500/502), stall=0.05:30s (share of requests
held), latency=50ms, drop-webhooks (every project's) or drop-webhooks=3:17
(only those projects' deliveries), expire-tokens=2m (tokens expire that long
after first use), fail-webhooks=500, fail-webhooks=timeout or
fail-webhooks=404@3:17 (deliveries fail with that status, or time out as
when a firewall drops GitLab's requests, without reaching the receiver).
Failing hooks are disabled as GitLab does where its auto_disabling_web_hooks
flag is on (--profile gitlab.com, 15.7 to 15.9, or --auto-disable-hooks):
four failures disable a hook for a minute, doubling up to a day; before
17.11 four 4xx answers disable it until a test succeeds, from 17.11 the 40th
failure does. alert_status and disabled_until show it, POST
/api/v4/projects/:id/hooks/:hook_id/test/:trigger (16.11+) sends a test and
GET /api/v4/projects/:id/hooks/:hook_id/events (17.3+) lists deliveries.

OAuth: the printed application holds every scope the version offers
(read_api, read_user, read_repository, write_repository, openid, profile,
email, api, …). Its redirect URIs are --redirect-uri (repeatable), else
labsync's callback at --labsync-url, $LABSYNC_PUBLIC_URL or
http://$LABSYNC_ADDR, else http://127.0.0.1:8787. An administrator's token
registers more applications with POST /api/v4/applications (name,
redirect_uri, scopes), as in GitLab 10.5+; GET lists them, DELETE
/api/v4/applications/:id removes one.

` + sandbox.ControlsHelp + `
--git backs every project with a real Git repository (Debian's git must be
installed): the commit ids the API reports are the repository's, activity
makes real commits, SHA-256 projects are SHA-256 repositories, and Git smart
HTTP (protocol v2 included) is served at <URL>/<path_with_namespace>.git,
authenticated as GitLab does: Basic with any user name and a token with
read_repository, read_api or api as password (oauth2 and an OAuth token
too); 401 with a Basic challenge without valid credentials, 404 for a
project the user cannot read, 403 for git-receive-pack (pushes go through
the activity control). Give git the token through a credential helper or
http.extraHeader in its environment, never in the URL. The repositories
live in a temporary directory removed on exit.`,
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
			if rateLimit == "off" {
				cfg.RateLimitPerMin = -1
			} else if rateLimit != "" {
				n, ok := strings.CutSuffix(rateLimit, "/min")
				if cfg.RateLimitPerMin, err = strconv.Atoi(n); err != nil || !ok || cfg.RateLimitPerMin < 0 {
					return fmt.Errorf("--rate-limit %q: want N/min, such as 600/min", rateLimit)
				}
			}
			if cfg.Faults, err = sandbox.ParseFaults(faults); err != nil {
				return err
			}
			if cfg.PublicActivityMix, err = sandbox.ParseActivityMix(mix); err != nil {
				return err
			}
			if cfg.Profile == sandbox.ProfileGitLabCom && !cmd.Flags().Changed("version") {
				cfg.Version = "" // the newest profile, as GitLab.com runs
			}
			if len(cfg.RedirectURIs) == 0 {
				cfg.RedirectURIs = []string{sandboxRedirectURI(publicURL)}
			}
			for _, r := range cfg.RedirectURIs {
				if u, err := url.Parse(r); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return fmt.Errorf("--redirect-uri %q: want an absolute http(s) URL such as %s", r, sandbox.DefaultRedirectURI)
				}
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
			m := sb.Manifest()
			fmt.Fprintf(out, "GitLab sandbox %s (%s) listening\n", sb.Version(), sb.Profile())
			fmt.Fprintf(out, "  URL:            %s   (API: %s/api/v4)\n", sb.URL(), sb.URL())
			if sb.Profile() == sandbox.ProfileGitLabCom {
				fmt.Fprintf(out, "  user token:     %s   (user %s, not an administrator, scopes api read_repository)\n", sb.UserToken(), m.User)
				fmt.Fprintf(out, "  control token:  %s   (the /-/sandbox/ controls only; GitLab's API refuses it)\n", sb.ControlToken())
			} else {
				fmt.Fprintf(out, "  admin token:    %s   (user root, scope api)\n", sb.AdminToken())
			}
			fmt.Fprintf(out, "  OAuth app id:   %s\n", id)
			fmt.Fprintf(out, "  OAuth secret:   %s\n", secret)
			fmt.Fprintf(out, "  OAuth scopes:   %s\n", strings.Join(sb.OAuthScopes(), " "))
			for _, r := range sb.OAuthRedirectURIs() {
				fmt.Fprintf(out, "  OAuth redirect: %s\n", r)
			}
			fmt.Fprintf(out, "  consent page:   %s/  (follow the link)\n", sb.URL())
			if p := sb.CAPath(); p != "" {
				fmt.Fprintf(out, "  CA certificate: %s   (TLS mode %s)\n", p, cfg.TLS)
			}
			fmt.Fprintf(out, "  dataset:        %d groups, %d projects, %d MRs, %d issues, %d pipelines, %d commits (seed %d)\n",
				m.Groups, m.Projects, m.Totals.MergeRequests, m.Totals.Issues, m.Totals.Pipelines, m.Totals.Commits, cfg.Seed)
			if p := m.Public; p != nil {
				fmt.Fprintf(out, "  public world:   %d groups, %d projects (%d public) of %d other users, %d changes/min\n",
					p.Groups, p.Projects, p.Visible, p.Users, cfg.PublicActivityPerMin)
			}
			if cfg.Git {
				fmt.Fprintf(out, "  Git over HTTP:  %s/<path_with_namespace>.git   (Basic auth, a token as password)\n", sb.URL())
			}
			fmt.Fprintf(out, "  controls:       %s/-/sandbox/{manifest,requests,deliveries,faults,activity,tokens}   (labsync sandbox --help lists them)\n", sb.URL())
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
	f.StringVar(&rateLimit, "rate-limit", "", "per-token request limit, such as 600/min, or off (the gitlab.com profile has 2000/min unless told)")
	f.StringVar(&faults, "faults", "", "faults to inject, such as errors=0.05,stall=0.01:30s,drop-webhooks,fail-webhooks=500")
	f.Float64Var(&cfg.Generator, "activity", 0, "random activity events per minute (MRs, issues, pushes, pipelines with jobs and deployments, comments, approvals)")
	f.StringVar(&cfg.Profile, "profile", sandbox.ProfileSelfManaged, "self-managed, or gitlab.com (an ordinary user's token, a public world, GitLab.com's rate limits)")
	f.IntVar(&cfg.PublicProjects, "public-projects", sandbox.DefaultPublicProjects, "gitlab.com profile: other users' projects in the public world")
	f.IntVar(&cfg.PublicActivityPerMin, "public-activity", 0, "gitlab.com profile: changes per minute on random public-world projects")
	f.StringVar(&mix, "public-mix", "", "gitlab.com profile: weights of the public activity, such as mrs=4,issues=3,pushes=2,pipelines=1 (equal when empty)")
	f.DurationVar(&cfg.LastActivityInterval, "last-activity-interval", 0, "how stale last_activity_at must be before activity moves it (GitLab: 1h, the gitlab.com profile's default; 0 on self-managed: every change)")
	f.DurationVar(&cfg.DeletionDelay, "deletion-delay", 0, "how long a project marked for deletion stays, where GitLab delays deletion (0: 7 days)")
	f.BoolVar(&cfg.Git, "git", false, "back every project with a real Git repository and serve Git smart HTTP (needs git)")
	f.BoolVar(&manifest, "manifest", false, "print the dataset manifest as JSON and exit")
	f.StringArrayVar(&cfg.RedirectURIs, "redirect-uri", nil, "redirect URI of the OAuth application (repeatable; default: labsync's callback at --labsync-url)")
	f.BoolVar(&cfg.BlockLocalWebhooks, "block-local-webhooks", false, "refuse hooks to loopback and private addresses, GitLab's default since 10.6 (the sandbox allows them unless told)")
	f.BoolVar(&cfg.AutoDisableHooks, "auto-disable-hooks", false, "turn on GitLab's auto_disabling_web_hooks flag (off on self-managed from 15.10, always on with --profile gitlab.com)")
	f.StringVar(&publicURL, "labsync-url", "", "labsync's public URL, for the OAuth redirect URI (default $LABSYNC_PUBLIC_URL, else http://$LABSYNC_ADDR, else http://127.0.0.1:8787)")
	return cmd
}
