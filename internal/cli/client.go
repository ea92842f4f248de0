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
	"github.com/spf13/pflag"

	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/problem"
)

// The client commands (connect, integrations, sync) act through the REST
// API of a running `labsync serve`, exactly as the web UI does, with the
// one client of this file: one way to find the server, read the API token,
// bound a request's time and turn an error answer back into the
// *problem.Error it was made from, which Run's report shows and maps to the
// exit status like any other.
const (
	envAPIToken = "LABSYNC_API_TOKEN"
	envServer   = "LABSYNC_SERVER"

	// clientTimeout bounds one API request, the connection check that
	// connecting runs included.
	clientTimeout = 2 * time.Minute
	// maxAnswer bounds how much of an answer is read.
	maxAnswer = 16 << 20
)

const apiClientHelp = `
These commands talk to the REST API of a running labsync serve. The server is
--server, else $` + envServer + `, else $LABSYNC_PUBLIC_URL, else http://$LABSYNC_ADDR
(default http://127.0.0.1:8787). The API token (labsync admin token create) is
read from --api-token-file or $` + envAPIToken + `; an owner's or admin's token is needed to
connect, change or disconnect.`

// apiFlags are the flags every client command reaches the API with:
// --server and --api-token-file.
type apiFlags struct {
	server, tokenFile string
}

// register adds --server and --api-token-file to fs.
func (f *apiFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "URL of the running labsync serve (default $"+envServer+", $LABSYNC_PUBLIC_URL or http://$LABSYNC_ADDR)")
	fs.StringVar(&f.tokenFile, flagAPIToken, "", "file holding the labsync API token (default $"+envAPIToken+")")
}

// The one convention of the client commands (connect, integrations, sync,
// doctor): --server / $LABSYNC_SERVER for labsync, --api-token-file /
// $LABSYNC_API_TOKEN for labsync's API token, --gitlab-token-file /
// $LABSYNC_GITLAB_TOKEN for a GitLab access token.
const (
	flagAPIToken    = "api-token-file"
	flagGitLabToken = "gitlab-token-file"
)

// annDeprecated marks a flag as a hidden, deprecated spelling; its value
// is the flag to use instead.
const annDeprecated = "labsync-deprecated-for"

// deprecatedAlias registers old as a hidden spelling of the flag now that
// writes into p, the variable of now. Using it still works and prints one
// warning line (see checkDeprecated): a spelling never silently changes
// meaning.
func deprecatedAlias(fs *pflag.FlagSet, p *string, old, now string) {
	fs.StringVar(p, old, "", "deprecated: use --"+now)
	_ = fs.MarkHidden(old)
	_ = fs.SetAnnotation(old, annDeprecated, []string{now})
}

// checkDeprecated prints one warning line to w for each deprecated
// spelling cmd was given, and refuses a deprecated spelling given together
// with the flag that replaces it (which one would win is not obvious).
func checkDeprecated(cmd *cobra.Command, w io.Writer) error {
	var err error
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		now := fl.Annotations[annDeprecated]
		if len(now) == 0 || err != nil {
			return
		}
		if cmd.Flags().Changed(now[0]) {
			err = fmt.Errorf("give --%s only: --%s is its deprecated spelling", now[0], fl.Name)
			return
		}
		fmt.Fprintf(w, "labsync: warning: --%s is deprecated for %q; use --%s (same meaning)\n", fl.Name, cmd.CommandPath(), now[0])
	})
	return err
}

// apiClient calls labsync's REST API with an API token.
type apiClient struct {
	base, token string
	hc          *http.Client
}

// client resolves the server (--server, $LABSYNC_SERVER, $LABSYNC_PUBLIC_URL,
// http://$LABSYNC_ADDR, http://127.0.0.1:8787) and reads the API token
// (--api-token-file, else $LABSYNC_API_TOKEN, surrounding space trimmed). It
// fails when there is no token.
func (f *apiFlags) client() (*apiClient, error) {
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
			return nil, fmt.Errorf("reading --%s: %w", flagAPIToken, err)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return nil, fmt.Errorf("no API token: set %s or pass --%s (create one with `labsync admin token create`)", envAPIToken, flagAPIToken)
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: tok, hc: &http.Client{Timeout: clientTimeout}}, nil
}

// do sends in (nil: no body) as JSON to method path and decodes a success
// answer into out (nil: ignored). An error answer becomes the
// *problem.Error the server answered with; a server that cannot be reached
// is named with what to check.
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
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
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("reading labsync's answer to %s %s: %w", method, path, err)
	}
	if res.StatusCode >= 300 {
		return decodeAPIError(res, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("reading labsync's answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

// decodeAPIError turns the API's error body ({"error": {...}, "diagnosis":
// ...}) back into the problem the server made it from, the connection
// check's report included; an answer without one is a problem named by its
// status.
func decodeAPIError(res *http.Response, raw []byte) *problem.Error {
	var body struct {
		Error     api.ErrorBody    `json:"error"`
		Diagnosis *diagnose.Report `json:"diagnosis"`
	}
	if json.Unmarshal(raw, &body) != nil || body.Error.Message == "" {
		return &problem.Error{Kind: api.KindOf(res.StatusCode), Message: fmt.Sprintf("labsync answered %s", res.Status)}
	}
	p := body.Error.Problem(res.StatusCode)
	if body.Diagnosis != nil {
		p.Diagnosis = body.Diagnosis
	}
	return p
}

// withAPIErrors makes every command of the tree under cmd print the
// connection check's steps ahead of a problem that carries them (a
// refused connection). The problem itself is shown, and its kind mapped to
// the exit status, where every command's error is: Run's report.
func withAPIErrors(cmd *cobra.Command) *cobra.Command {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			showDiagnosis(cmd.ErrOrStderr(), err)
			return err
		}
	}
	for _, c := range cmd.Commands() {
		withAPIErrors(c)
	}
	return cmd
}

// showDiagnosis writes the steps of the connection check err carries, if
// it carries one.
func showDiagnosis(w io.Writer, err error) {
	var p *problem.Error
	if !errors.As(err, &p) {
		return
	}
	rep, ok := p.Diagnosis.(*diagnose.Report)
	if !ok || rep == nil {
		return
	}
	fmt.Fprintln(w, "The connection check:")
	for _, s := range rep.Steps {
		_ = diagnose.WriteStep(w, s)
	}
}
