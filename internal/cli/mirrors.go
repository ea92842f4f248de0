package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/gitserve"
)

// mirrorView is what the CLI reads of the API's mirror status.
type mirrorView struct {
	ProjectID         int64      `json:"project_id"`
	PathWithNamespace string     `json:"path_with_namespace"`
	State             string     `json:"state"`
	ObjectFormat      string     `json:"object_format"`
	SizeBytes         int64      `json:"size_bytes"`
	LastFetchAt       *time.Time `json:"last_fetch_at"`
	LagSeconds        float64    `json:"lag_seconds"`
	CloneURL          string     `json:"clone_url"`
	Error             *struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
		Remedy  string `json:"remedy"`
	} `json:"error"`
}

func printMirror(w *tabwriter.Writer, m mirrorView) {
	last := "never"
	if m.LastFetchAt != nil {
		last = m.LastFetchAt.UTC().Format("2006-01-02 15:04:05")
	}
	lag := "up to date"
	if m.LagSeconds > 0 {
		lag = (time.Duration(m.LagSeconds) * time.Second).String() + " behind"
	}
	fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d KiB\t%s\t%s\n", m.ProjectID, m.PathWithNamespace, m.State, m.ObjectFormat, (m.SizeBytes+1023)/1024, last, lag)
	if m.Error != nil {
		fmt.Fprintf(w, "\t  %s: %s\t\t\t\t\t\n\t  what to do: %s\t\t\t\t\t\n", m.Error.Kind, m.Error.Message, m.Error.Remedy)
	}
}

// newMirrorsCmd is `labsync integrations mirrors`: the status of an
// integration's repository mirrors, and fetching one now.
func newMirrorsCmd(af *apiFlags, asJSON *bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mirrors ID",
		Short: "Show an integration's repository mirrors: state, size, last fetch, lag and what to do about a failure",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := strconv.ParseInt(args[0], 10, 64); err != nil {
				return fmt.Errorf("%q is not an integration id (see `labsync integrations list`)", args[0])
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "GET", "/api/v1/integrations/"+args[0]+"/mirrors", nil, &raw); err != nil {
				return err
			}
			if *asJSON {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), string(raw))
				return err
			}
			var res struct {
				Enabled bool         `json:"enabled"`
				Mirrors []mirrorView `json:"mirrors"`
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !res.Enabled {
				fmt.Fprintln(out, "The repository service is off for this integration: no mirrors are kept. Switch it on with PUT /api/v1/integrations/"+args[0]+"/selection {\"services\":{\"repository\":true}} or in the UI's project picker.")
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROJECT\tPATH\tSTATE\tFORMAT\tSIZE\tLAST FETCH (UTC)\tLAG")
			for _, m := range res.Mirrors {
				printMirror(tw, m)
			}
			return tw.Flush()
		},
	}
	fetch := &cobra.Command{
		Use:   "fetch ID PROJECT",
		Short: "Fetch one project's mirror now (cloning it if needed) and show its status",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if _, err := strconv.ParseInt(a, 10, 64); err != nil {
					return fmt.Errorf("%q is not an id (integration id, then GitLab project id)", a)
				}
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var m mirrorView
			if err := c.do(cmd.Context(), "POST", "/api/v1/integrations/"+args[0]+"/mirrors/"+args[1]+"/fetch", struct{}{}, &m); err != nil {
				return err
			}
			if *asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(m)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROJECT\tPATH\tSTATE\tFORMAT\tSIZE\tLAST FETCH (UTC)\tLAG")
			printMirror(tw, m)
			if err := tw.Flush(); err != nil {
				return err
			}
			if m.Error != nil {
				return fmt.Errorf("the fetch failed: %s", m.Error.Message)
			}
			return nil
		},
	}
	cmd.AddCommand(fetch)
	return cmd
}

// newGitCredentialCmd is `labsync git-credential`, git's credential helper
// for clones through labsync.
func newGitCredentialCmd() *cobra.Command {
	var tokenFile, server string
	cmd := &cobra.Command{
		Use:   "git-credential get|store|erase",
		Short: "Git credential helper: hands git a labsync API token for clones through labsync",
		Long: `Speaks git's credential-helper protocol so runners clone through labsync with one line:

  git config --global credential.https://labsync.example.com.helper "!labsync git-credential"

On "get" it answers username=labsync and the API token from --token-file or
$` + envAPIToken + `; "store" and "erase" are ignored. It answers only for https (or http
to a loopback address) and, with --server or $` + envServer + `, only for that host, so a
helper configured too broadly does not hand the token to another server.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"get", "store", "erase"},
		RunE: func(cmd *cobra.Command, args []string) error {
			tok := os.Getenv(envAPIToken)
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("reading --token-file: %w", err)
				}
				tok = string(b)
			}
			host := ""
			if server == "" {
				server = os.Getenv(envServer)
			}
			if server != "" {
				u, err := url.Parse(server)
				if err != nil || u.Host == "" {
					return fmt.Errorf("--server or $%s %q is not a URL such as https://labsync.example.com", envServer, server)
				}
				host = u.Host
			}
			var in io.Reader = cmd.InOrStdin()
			return gitserve.CredentialHelper(args[0], in, cmd.OutOrStdout(), strings.TrimSpace(tok), host)
		},
	}
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the labsync API token (default $"+envAPIToken+")")
	cmd.Flags().StringVar(&server, "server", "", "answer only for this labsync URL's host (default $"+envServer+", else any host)")
	return cmd
}
