package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/integrations"
)

// envGitLabToken is where connect, integrations set-token and doctor read
// a GitLab access token when --gitlab-token-file is not given.
const envGitLabToken = "LABSYNC_GITLAB_TOKEN"

func readSecretFile(stdin io.Reader, path, env, what string) (string, error) {
	var b []byte
	var err error
	switch path {
	case "":
		return os.Getenv(env), nil
	case "-":
		b, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	default:
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	return string(b), nil
}

func newConnectCmd() *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Connect a GitLab with an access token or OAuth (through a running labsync serve)",
		Long:  "Connect a GitLab to labsync." + apiClientHelp,
	}
	af.register(cmd.PersistentFlags())
	cmd.AddCommand(newConnectTokenCmd(&af), newConnectOAuthCmd(&af))
	return withAPIErrors(cmd)
}

func newConnectTokenCmd(af *apiFlags) *cobra.Command {
	var rawURL, tokenFile, caFile, alias string
	var hooks, insecure bool
	cmd := &cobra.Command{
		Use:   "token --url URL --gitlab-token-file FILE [--ca-file FILE] [--alias NAME]",
		Short: "Connect a GitLab with a personal, group, project or service account access token",
		Long: `Connect a GitLab with an access token. labsync runs the connection check first
(address, TLS, API, version, token kind, scopes, expiry, account, projects) and
saves nothing if it fails. The token needs read_api (api if labsync should
register webhooks); it is read from --gitlab-token-file (- for standard input) or
$` + envGitLabToken + `, never from a flag value.` + apiClientHelp,
		Example: `  labsync connect token --url https://gitlab.example.com --gitlab-token-file ~/.config/labsync/gitlab-token --alias prod`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rawURL == "" {
				return errors.New("connect token: --url is required, for example --url https://gitlab.example.com")
			}
			tok, err := readSecretFile(cmd.InOrStdin(), tokenFile, envGitLabToken, "access token")
			if err != nil {
				return err
			}
			if strings.TrimSpace(tok) == "" {
				return fmt.Errorf("connect token: no token: pass --gitlab-token-file FILE (- for standard input) or set %s", envGitLabToken)
			}
			body := map[string]any{"base_url": rawURL, "token": tok, "alias": alias, "allow_hook_registration": hooks, "allow_insecure_http": insecure}
			if caFile != "" {
				ca, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("reading --ca-file: %w", err)
				}
				body["ca_pem"] = string(ca)
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var res struct {
				Integration integrationView            `json:"integration"`
				Notices     []string                   `json:"notices"`
				TokenKind   integrations.TokenKindInfo `json:"token_kind"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/integrations/gitlab/token", body, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Connected %q (integration %d).\n", res.Integration.Alias, res.Integration.ID)
			printIntegration(out, res.Integration)
			printTokenKind(out, res.TokenKind)
			for _, n := range res.Notices {
				fmt.Fprintf(out, "! %s\n", n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rawURL, "url", "", "GitLab address, as opened in a browser")
	f.StringVar(&tokenFile, flagGitLabToken, "", "file holding the GitLab access token; - reads standard input (else $"+envGitLabToken+")")
	deprecatedAlias(f, &tokenFile, "token-file", flagGitLabToken)
	f.StringVar(&caFile, "ca-file", "", "PEM file with the CA that signed GitLab's certificate")
	f.StringVar(&alias, "alias", "", "name shown for this connection (default: the GitLab host)")
	f.BoolVar(&hooks, "allow-hooks", false, "let labsync register its own webhooks (needs the api scope)")
	f.BoolVar(&insecure, "allow-insecure-http", false, "allow plain http to a self-managed GitLab at an http:// URL on another machine (never GitLab.com); the token then crosses the network unencrypted")
	return cmd
}

func newConnectOAuthCmd(af *apiFlags) *cobra.Command {
	var rawURL, clientID, secretFile, caFile, alias, code, state string
	var hooks, insecure bool
	var reauth int64
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "oauth --url URL [--client-id ID --client-secret-file FILE] [--alias NAME]",
		Short: "Connect a GitLab with OAuth (recommended): prints the URL to approve in a browser",
		Long: `Connect a GitLab with OAuth2. Register an application in GitLab once per
organisation (Admin Area → Applications, or User settings → Applications):
confidential, with the redirect URI this command prints and the scopes
read_api, read_user, read_repository (and api for webhook registration). Give
its id and secret here the first time (--client-id, --client-secret-file);
later connections reuse it.

The command prints the URL to open. After you approve, GitLab sends the
browser back to labsync serve, which completes the connection; the command
waits for it (--wait). Without a browser that reaches labsync, copy code and
state from the address GitLab redirected to and run the command again with
--code and --state.` + apiClientHelp,
		Example: `  labsync connect oauth --url https://gitlab.example.com --client-id 4f1e… --client-secret-file app-secret --alias prod
  labsync connect oauth --code 1c9d… --state Qm7x…
  labsync connect oauth --reauthorize 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ctx := cmd.Context()
			if code != "" || state != "" {
				if code == "" || state == "" {
					return errors.New("connect oauth: give both --code and --state")
				}
				var res struct {
					Integration integrationView `json:"integration"`
				}
				if err := c.do(ctx, "POST", "/api/v1/integrations/gitlab/authorize", map[string]any{"code": code, "state": state}, &res); err != nil {
					return err
				}
				fmt.Fprintf(out, "Connected %q (integration %d) with OAuth.\n", res.Integration.Alias, res.Integration.ID)
				printIntegration(out, res.Integration)
				return nil
			}
			if rawURL == "" && reauth == 0 {
				return errors.New("connect oauth: --url is required (or --reauthorize ID, or --code and --state)")
			}
			body := map[string]any{"base_url": rawURL, "alias": alias, "allow_hook_registration": hooks, "allow_insecure_http": insecure, "integration_id": reauth, "client_id": clientID}
			if secretFile != "" {
				sec, err := readSecretFile(cmd.InOrStdin(), secretFile, "", "client secret")
				if err != nil {
					return err
				}
				body["client_secret"] = strings.TrimSpace(sec)
			}
			if caFile != "" {
				ca, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("reading --ca-file: %w", err)
				}
				body["ca_pem"] = string(ca)
			}
			var start struct {
				AuthorizeURL   string    `json:"authorize_url"`
				State          string    `json:"state"`
				StateExpiresAt time.Time `json:"state_expires_at"`
				RedirectURI    string    `json:"redirect_uri"`
				Alias          string    `json:"alias"`
				Scopes         []string  `json:"scopes"`
			}
			if err := c.do(ctx, "POST", "/api/v1/integrations/gitlab/start", body, &start); err != nil {
				return err
			}
			fmt.Fprintf(out, "Redirect URI to register in the GitLab application: %s\n", start.RedirectURI)
			fmt.Fprintf(out, "Scopes the application must allow: %s\n", strings.Join(start.Scopes, " "))
			fmt.Fprintf(out, "Open this URL in a browser and approve (valid until %s):\n\n  %s\n\n", start.StateExpiresAt.Local().Format(time.Kitchen), start.AuthorizeURL)
			fmt.Fprintf(out, "state: %s\n", start.State)
			if wait <= 0 {
				fmt.Fprintln(out, "Not waiting (--wait 0). If the browser cannot reach labsync, run again with --code and --state.")
				return nil
			}
			fmt.Fprintln(out, "Waiting for GitLab to send the browser back to labsync…")
			deadline := time.Now().Add(min(wait, time.Until(start.StateExpiresAt)))
			for time.Now().Before(deadline) {
				var list struct {
					Integrations []integrationView `json:"integrations"`
				}
				if err := c.do(ctx, "GET", "/api/v1/integrations", nil, &list); err != nil {
					return err
				}
				for _, i := range list.Integrations {
					if i.Alias == start.Alias && i.AuthMethod == "oauth" && i.Status == "active" && (reauth == 0 || i.UpdatedAt.After(start.StateExpiresAt.Add(-10*time.Minute))) {
						fmt.Fprintf(out, "Connected %q (integration %d) with OAuth.\n", i.Alias, i.ID)
						printIntegration(out, i)
						return nil
					}
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Second):
				}
			}
			return errors.New("connect oauth: no connection completed in time; start again, or complete with --code and --state")
		},
	}
	f := cmd.Flags()
	f.StringVar(&rawURL, "url", "", "GitLab address, as opened in a browser")
	f.StringVar(&clientID, "client-id", "", "the GitLab application's id (first time; later the organisation's saved application is used)")
	f.StringVar(&secretFile, "client-secret-file", "", "file holding the application's secret; - reads standard input")
	f.StringVar(&caFile, "ca-file", "", "PEM file with the CA that signed GitLab's certificate")
	f.StringVar(&alias, "alias", "", "name shown for this connection (default: the GitLab host)")
	f.BoolVar(&hooks, "allow-hooks", false, "also ask for the api scope so labsync may register its own webhooks")
	f.BoolVar(&insecure, "allow-insecure-http", false, "allow plain http to a self-managed GitLab at an http:// URL on another machine (never GitLab.com)")
	f.Int64Var(&reauth, "reauthorize", 0, "reauthorize this existing OAuth integration instead of creating one")
	f.StringVar(&code, "code", "", "complete with the code from GitLab's redirect (with --state)")
	f.StringVar(&state, "state", "", "complete with the state from GitLab's redirect (with --code)")
	f.DurationVar(&wait, "wait", 10*time.Minute, "how long to wait for the browser to complete the connection; 0 to return at once")
	return cmd
}

// printTokenKind names the project or group a project or group access
// token belongs to (printIntegration says what the kind means).
func printTokenKind(w io.Writer, k integrations.TokenKindInfo) {
	if k.Resource != "" {
		fmt.Fprintf(w, "  %-13s %s of %s\n", "token of", k.Text, k.Resource)
	}
}
