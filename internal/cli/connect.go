package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/diagnose"
)

// The connect and integrations commands act through the REST API of a
// running `labsync serve`, exactly as the web UI does.
const (
	envAPIToken    = "LABSYNC_API_TOKEN"
	envServer      = "LABSYNC_SERVER"
	envGitLabToken = "LABSYNC_GITLAB_TOKEN"
)

const apiClientHelp = `
These commands talk to the REST API of a running labsync serve. The server is
--server, else $` + envServer + `, else $LABSYNC_PUBLIC_URL, else http://$LABSYNC_ADDR
(default http://127.0.0.1:8787). The API token (labsync admin token create) is
read from --api-token-file or $` + envAPIToken + `; an owner's or admin's token is needed to
connect, change or disconnect.`

type apiFlags struct {
	server, tokenFile string
}

func (f *apiFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.server, "server", "", "URL of the running labsync serve (default $"+envServer+", $LABSYNC_PUBLIC_URL or http://$LABSYNC_ADDR)")
	cmd.PersistentFlags().StringVar(&f.tokenFile, "api-token-file", "", "file holding the labsync API token (default $"+envAPIToken+")")
}

type connectAPI struct {
	base, token string
	hc          *http.Client
}

func (f *apiFlags) client() (*connectAPI, error) {
	base := f.server
	for _, v := range []string{os.Getenv(envServer), os.Getenv("LABSYNC_PUBLIC_URL")} {
		if base == "" {
			base = v
		}
	}
	if base == "" {
		addr := os.Getenv("LABSYNC_ADDR")
		if addr == "" {
			addr = "127.0.0.1:8787"
		}
		base = "http://" + addr
	}
	tok := os.Getenv(envAPIToken)
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading --api-token-file: %w", err)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return nil, fmt.Errorf("no API token: set %s or pass --api-token-file (create one with `labsync admin token create`)", envAPIToken)
	}
	return &connectAPI{base: strings.TrimRight(base, "/"), token: tok, hc: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// connectAPIError is an error answer of the API, with its diagnosis if any.
type connectAPIError struct {
	Status    int
	Message   string
	Remedy    string
	Diagnosis *diagnose.Report
}

func (e *connectAPIError) Error() string {
	s := e.Message
	if e.Remedy != "" {
		s += "\n  → " + e.Remedy
	}
	return s
}

// do sends in as JSON and decodes the answer into out.
func (c *connectAPI) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach labsync at %s (is `labsync serve` running? set --server): %w", c.base, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 400 {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Remedy  string `json:"remedy"`
			} `json:"error"`
			Diagnosis *diagnose.Report `json:"diagnosis"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error.Message == "" {
			return &connectAPIError{Status: res.StatusCode, Message: fmt.Sprintf("labsync answered %s", res.Status)}
		}
		return &connectAPIError{Status: res.StatusCode, Message: e.Error.Message, Remedy: e.Error.Remedy, Diagnosis: e.Diagnosis}
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// failWith prints an API error (and the diagnosis steps it carries).
func failWith(cmd *cobra.Command, err error) error {
	var ae *connectAPIError
	if errors.As(err, &ae) && ae.Diagnosis != nil {
		w := cmd.ErrOrStderr()
		fmt.Fprintln(w, "The connection check:")
		for _, s := range ae.Diagnosis.Steps {
			_ = diagnose.WriteStep(w, s)
		}
	}
	return err
}

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
	af.register(cmd)
	cmd.AddCommand(newConnectTokenCmd(&af), newConnectOAuthCmd(&af))
	return cmd
}

func newConnectTokenCmd(af *apiFlags) *cobra.Command {
	var rawURL, tokenFile, caFile, alias string
	var hooks bool
	cmd := &cobra.Command{
		Use:   "token --url URL --token-file FILE [--ca-file FILE] [--alias NAME]",
		Short: "Connect a GitLab with a personal, group, project or service account access token",
		Long: `Connect a GitLab with an access token. labsync runs the connection check first
(address, TLS, API, version, token kind, scopes, expiry, account, projects) and
saves nothing if it fails. The token needs read_api (api if labsync should
register webhooks); it is read from --token-file (- for standard input) or
$` + envGitLabToken + `, never from a flag value.` + apiClientHelp,
		Example: `  labsync connect token --url https://gitlab.example.com --token-file ~/.config/labsync/gitlab-token --alias prod`,
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
				return fmt.Errorf("connect token: no token: pass --token-file FILE (- for standard input) or set %s", envGitLabToken)
			}
			body := map[string]any{"base_url": rawURL, "token": tok, "alias": alias, "allow_hook_registration": hooks}
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
				Integration integrationView `json:"integration"`
				Notices     []string        `json:"notices"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/integrations/gitlab/token", body, &res); err != nil {
				return failWith(cmd, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Connected %q (integration %d).\n", res.Integration.Alias, res.Integration.ID)
			printIntegration(out, res.Integration)
			for _, n := range res.Notices {
				fmt.Fprintf(out, "! %s\n", n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rawURL, "url", "", "GitLab address, as opened in a browser")
	f.StringVar(&tokenFile, "token-file", "", "file holding the access token; - reads standard input (else $"+envGitLabToken+")")
	f.StringVar(&caFile, "ca-file", "", "PEM file with the CA that signed GitLab's certificate")
	f.StringVar(&alias, "alias", "", "name shown for this connection (default: the GitLab host)")
	f.BoolVar(&hooks, "allow-hooks", false, "let labsync register its own webhooks (needs the api scope)")
	return cmd
}

func newConnectOAuthCmd(af *apiFlags) *cobra.Command {
	var rawURL, clientID, secretFile, caFile, alias, code, state string
	var hooks bool
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
					return failWith(cmd, err)
				}
				fmt.Fprintf(out, "Connected %q (integration %d) with OAuth.\n", res.Integration.Alias, res.Integration.ID)
				printIntegration(out, res.Integration)
				return nil
			}
			if rawURL == "" && reauth == 0 {
				return errors.New("connect oauth: --url is required (or --reauthorize ID, or --code and --state)")
			}
			body := map[string]any{"base_url": rawURL, "alias": alias, "allow_hook_registration": hooks, "integration_id": reauth, "client_id": clientID}
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
				return failWith(cmd, err)
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
	f.Int64Var(&reauth, "reauthorize", 0, "reauthorize this existing OAuth integration instead of creating one")
	f.StringVar(&code, "code", "", "complete with the code from GitLab's redirect (with --state)")
	f.StringVar(&state, "state", "", "complete with the state from GitLab's redirect (with --code)")
	f.DurationVar(&wait, "wait", 10*time.Minute, "how long to wait for the browser to complete the connection; 0 to return at once")
	return cmd
}
