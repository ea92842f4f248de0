package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/secret"
)

// envDoctorToken is the deprecated variable doctor once read the token
// from; $LABSYNC_GITLAB_TOKEN, as for connect, comes first.
const envDoctorToken = "LABSYNC_DOCTOR_TOKEN"

func newDoctorCmd() *cobra.Command {
	var (
		rawURL, tokenFile, caFile string
		tokenFlag                 string
		asJSON, forbidPrivate     bool
		allowLoopback             bool
		insecureHTTP              bool
		proxyFlag                 string
		timeout                   time.Duration
		integration               string
		af                        apiFlags
	)
	cmd := &cobra.Command{
		Use:   "doctor --url URL [--gitlab-token-file FILE] [--ca-file FILE]",
		Short: "Diagnose the connection to a GitLab, step by step",
		Long: `doctor checks whether labsync can use a GitLab: the address, name resolution,
the network connection, the TLS certificate, whether GitLab's API answers, its
version, the access token, the token's account and the projects it can see.
Each step prints what it saw and, when something is wrong, what to do.

The token is read from --gitlab-token-file (use - for standard input) or from
the environment variable ` + envGitLabToken + `, never from a flag value, so that it
does not land in shell history or in the process list. Without a token only the
way to GitLab is checked.

doctor applies the address policy the service applies: addresses on this
machine (loopback) are refused unless --allow-loopback-gitlab is given or
LABSYNC_ALLOW_LOOPBACK_GITLAB is true (as for the sandbox), and
--forbid-private (or ` + gitlab.EnvForbidPrivate + `) refuses private address
ranges. TLS verification is always on: give your CA with --ca-file instead.

doctor reaches GitLab as the service does: through the proxy in
` + gitlab.EnvGitLabProxy + ` (or --gitlab-proxy) when set, else through HTTPS_PROXY or
HTTP_PROXY unless NO_PROXY exempts the host; "none" connects directly. The
report says which proxy was used. Proxy credentials belong in the variable,
never in the flag. Plain http to a host other than this machine is refused
unless --allow-insecure-http is given (never for GitLab.com).

With --integration ID, doctor also asks the running labsync (--server,
--api-token-file, as the other client commands) why that integration's webhooks
may not arrive: GitLab's state of each hook labsync registered, its last error,
and whether labsync's public URL is an address GitLab refuses by default — each
with what to do (see labsync integrations webhook-health). --url may then be
left out. Without it, doctor still warns when LABSYNC_PUBLIC_URL is a loopback
or private address that GitLab's webhooks cannot reach by default.

Exit status: 0 when no step failed, 1 otherwise.`,
		Example: `  labsync doctor --url https://gitlab.example.com --gitlab-token-file ~/.config/labsync/token
  pass show gitlab/labsync | labsync doctor --url https://git.corp --gitlab-token-file - --ca-file corp-ca.pem
  ` + envGitLabToken + `="$(pass show gitlab/labsync)" labsync doctor --url https://gitlab.com --json
  labsync doctor --integration 1 --api-token-file ~/.config/labsync/api-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("token") {
				return fmt.Errorf("doctor: the token is not taken as a flag value, because it would stay in shell history; use --gitlab-token-file FILE (- for standard input) or %s", envGitLabToken)
			}
			if rawURL == "" && integration == "" {
				return errors.New("doctor: --url is required, for example --url https://gitlab.example.com (or --integration ID to check a connected integration's webhooks)")
			}
			if rawURL == "" {
				return doctorWebhooks(cmd, &af, integration, asJSON)
			}
			tok, err := readDoctorToken(cmd.InOrStdin(), cmd.ErrOrStderr(), tokenFile)
			if err != nil {
				return err
			}
			var caPEM []byte
			if caFile != "" {
				if caPEM, err = os.ReadFile(caFile); err != nil {
					return fmt.Errorf("doctor: reading --ca-file: %w", err)
				}
			}
			ps := gitlab.ProxySettingsFromEnv(os.Getenv)
			if cmd.Flags().Changed("gitlab-proxy") {
				if proxyHasCredentials(proxyFlag) {
					return fmt.Errorf("doctor: --gitlab-proxy must not carry a user name or password, which would stay in shell history and the process list; put the proxy URL with its credentials in %s instead", gitlab.EnvGitLabProxy)
				}
				ps.GitLabProxy = proxyFlag
			}
			proxy, err := gitlab.NewProxy(ps)
			if err != nil {
				return fmt.Errorf("doctor: %w", err)
			}
			policy, err := doctorPolicy(cmd, allowLoopback, forbidPrivate, os.Getenv)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()

			out := cmd.OutOrStdout()
			in := diagnose.Input{
				URL:               rawURL,
				Token:             tok,
				CAPEM:             caPEM,
				Policy:            policy,
				Proxy:             proxy,
				AllowInsecureHTTP: insecureHTTP,
				Timeout:           timeout,
			}
			if !asJSON {
				in.OnStep = func(s diagnose.Step) { _ = diagnose.WriteStep(out, s) }
			}
			rep := diagnose.Run(ctx, in)
			if asJSON {
				// With --integration, one document holds both reports.
				var doc any = rep
				failing := false
				if integration != "" {
					h, raw, err := doctorHealth(cmd, &af, integration)
					if err != nil {
						return err
					}
					doc, failing = map[string]any{"diagnosis": rep, "webhook_health": raw}, h.Status == "failing"
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(doc); err != nil {
					return fmt.Errorf("doctor: writing the report: %w", err)
				}
				if !rep.OK || failing {
					return exitError{code: 1}
				}
				return nil
			}
			if tok.IsZero() {
				fmt.Fprintf(out, "\nNo token given: pass --gitlab-token-file FILE (or - for standard input) or set %s to check access too.\n", envGitLabToken)
			}
			fmt.Fprintln(out, "\n"+rep.Summary())
			if integration != "" {
				fmt.Fprintln(out)
				if err := doctorWebhooks(cmd, &af, integration, false); err != nil {
					return err
				}
			} else if f, ok := integrations.PublicURLFinding(ctx, os.Getenv("LABSYNC_PUBLIC_URL")); ok {
				fmt.Fprintf(out, "\nWebhooks: %s\n  → %s\n", f.Message, f.Remedy)
			}
			if !rep.OK {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rawURL, "url", "", "GitLab address, as opened in a browser (https://gitlab.example.com)")
	f.StringVar(&tokenFile, flagGitLabToken, "", "file holding the GitLab access token; - reads standard input (else $"+envGitLabToken+")")
	deprecatedAlias(f, &tokenFile, "token-file", flagGitLabToken)
	f.StringVar(&caFile, "ca-file", "", "PEM file with extra CA certificates to trust (your organisation's CA)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON instead of step by step")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "time limit for each network operation")
	f.BoolVar(&allowLoopback, "allow-loopback-gitlab", false, "allow a GitLab on this machine (loopback), as LABSYNC_ALLOW_LOOPBACK_GITLAB does for the service (default $LABSYNC_ALLOW_LOOPBACK_GITLAB)")
	f.BoolVar(&forbidPrivate, "forbid-private", false, "refuse GitLab addresses in private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7)")
	f.StringVar(&proxyFlag, "gitlab-proxy", "", "HTTP proxy to reach GitLab through (http://proxy:3128), or none; default $"+gitlab.EnvGitLabProxy+", else HTTPS_PROXY/HTTP_PROXY with NO_PROXY")
	f.BoolVar(&insecureHTTP, "allow-insecure-http", false, "accept plain http to a GitLab that is not on this machine (the token then crosses the network unencrypted)")
	// A hidden --token exists only to explain, without echoing the value,
	// why it is refused.
	f.StringVar(&integration, "integration", "", "also check why this integration's webhooks may not arrive, through the running labsync (--server, --api-token-file)")
	af.register(f)
	f.StringVar(&tokenFlag, "token", "", "")
	_ = f.MarkHidden("token")
	return cmd
}

// doctorPolicy is the address policy serve would apply: loopback from
// --allow-loopback-gitlab, else LABSYNC_ALLOW_LOOPBACK_GITLAB; private
// ranges refused with --forbid-private, else by LABSYNC_FORBID_PRIVATE_GITLAB.
// A flag given explicitly wins over its variable.
func doctorPolicy(cmd *cobra.Command, allowLoopback, forbidPrivate bool, getenv func(string) string) (gitlab.AddressPolicy, error) {
	p := gitlab.AddressPolicy{AllowLoopback: allowLoopback, ForbidPrivate: forbidPrivate}
	for _, v := range []struct {
		flag, env string
		dst       *bool
	}{
		{"allow-loopback-gitlab", "LABSYNC_ALLOW_LOOPBACK_GITLAB", &p.AllowLoopback},
		{"forbid-private", gitlab.EnvForbidPrivate, &p.ForbidPrivate},
	} {
		if cmd.Flags().Changed(v.flag) {
			continue
		}
		raw := strings.TrimSpace(getenv(v.env))
		if raw == "" {
			continue
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return gitlab.AddressPolicy{}, fmt.Errorf("doctor: %s must be true or false (got %q)", v.env, raw)
		}
		*v.dst = b
	}
	return p, nil
}

// readDoctorToken reads the token from path ("-" = stdin) or the
// environment ($LABSYNC_GITLAB_TOKEN, else the deprecated
// $LABSYNC_DOCTOR_TOKEN, which prints one warning line to warn). One trailing line break (as editors and echo leave) is
// dropped; any other surrounding whitespace is left for the diagnosis to
// notice and report.
func readDoctorToken(stdin io.Reader, warn io.Writer, path string) (secret.Secret, error) {
	var b []byte
	var err error
	switch path {
	case "":
		if v := os.Getenv(envGitLabToken); v != "" {
			return secret.New(v), nil
		}
		v := os.Getenv(envDoctorToken)
		if v != "" {
			fmt.Fprintf(warn, "labsync: warning: %s is deprecated; set %s instead (same meaning)\n", envDoctorToken, envGitLabToken)
		}
		return secret.New(v), nil
	case "-":
		b, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	default:
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return secret.Secret{}, fmt.Errorf("doctor: reading the token: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return secret.New(string(b)), nil
}

// proxyHasCredentials reports whether a proxy URL carries a user name or
// password.
func proxyHasCredentials(raw string) bool {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return strings.Contains(raw, "@")
	}
	return u.User != nil
}

// doctorWebhooks prints the webhook health of integration id from the
// running labsync; a failing health is exit status 1.
func doctorWebhooks(cmd *cobra.Command, af *apiFlags, id string, asJSON bool) error {
	h, raw, err := doctorHealth(cmd, af, id)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON {
		fmt.Fprintln(out, string(raw))
	} else {
		printWebhookHealth(out, h)
	}
	if h.Status == "failing" {
		return exitError{code: 1}
	}
	return nil
}

// doctorHealth reads the webhook health of integration id from the running
// labsync.
func doctorHealth(cmd *cobra.Command, af *apiFlags, id string) (integrations.WebhookHealth, json.RawMessage, error) {
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return integrations.WebhookHealth{}, nil, fmt.Errorf("doctor: --integration %q is not an integration id (see `labsync integrations list`)", id)
	}
	c, err := af.client()
	if err != nil {
		return integrations.WebhookHealth{}, nil, err
	}
	return fetchWebhookHealth(cmd, c, id)
}
