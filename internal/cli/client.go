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

// apiFlags are the flags a client command reaches the API with: --server
// and a file holding the API token, whose flag is --api-token-file for
// connect and integrations and --token-file for sync.
type apiFlags struct {
	server, tokenFile string
	tokenFlag         string // the token file flag's name, for messages
}

// register adds --server and the token file flag named tokenFlag to fs.
func (f *apiFlags) register(fs *pflag.FlagSet, tokenFlag, tokenHelp string) {
	f.tokenFlag = "--" + tokenFlag
	fs.StringVar(&f.server, "server", "", "URL of the running labsync serve (default $"+envServer+", $LABSYNC_PUBLIC_URL or http://$LABSYNC_ADDR)")
	fs.StringVar(&f.tokenFile, tokenFlag, "", tokenHelp+" (default $"+envAPIToken+")")
}

// apiClient calls labsync's REST API with an API token.
type apiClient struct {
	base, token string
	hc          *http.Client
}

// client resolves the server (--server, $LABSYNC_SERVER, $LABSYNC_PUBLIC_URL,
// http://$LABSYNC_ADDR, http://127.0.0.1:8787) and reads the API token (the
// token file flag, else $LABSYNC_API_TOKEN, surrounding space trimmed). It
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
			return nil, fmt.Errorf("reading %s: %w", f.tokenFlag, err)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return nil, fmt.Errorf("no API token: set %s or pass %s (create one with `labsync admin token create`)", envAPIToken, f.tokenFlag)
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
