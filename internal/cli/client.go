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

	"github.com/labsync/labsync/internal/diagnose"
)

// The client commands (connect, integrations, sync) act through the REST
// API of a running `labsync serve`, exactly as the web UI does, with the
// one client of this file: one way to find the server, read the API token,
// bound a request's time and turn an error answer into what the user sees.
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
// answer into out (nil: ignored). An error answer becomes an *apiError
// carrying what the API said; a server that cannot be reached is named
// with what to check.
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

// apiError is an error answer of the API: the user-facing error it carries
// and, when a connection check refused the request, the check's steps.
type apiError struct {
	Status    int
	Code      string
	Message   string
	Remedy    string
	Field     string
	Diagnosis *diagnose.Report
}

func (e *apiError) Error() string { return e.Message }

// decodeAPIError reads the API's error body ({"error": {...}, "diagnosis":
// ...}); an answer without one is named by its status.
func decodeAPIError(res *http.Response, raw []byte) *apiError {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Remedy  string `json:"remedy"`
			Field   string `json:"field"`
		} `json:"error"`
		Diagnosis *diagnose.Report `json:"diagnosis"`
	}
	if json.Unmarshal(raw, &body) != nil || body.Error.Message == "" {
		return &apiError{Status: res.StatusCode, Message: fmt.Sprintf("labsync answered %s", res.Status)}
	}
	e := body.Error
	return &apiError{Status: res.StatusCode, Code: e.Code, Message: e.Message, Remedy: e.Remedy, Field: e.Field, Diagnosis: body.Diagnosis}
}

// withAPIErrors makes every command of the tree under cmd show an API
// error the one way: the connection check's steps when it carries them,
// then "labsync: message" and the remedy, and exit status 1.
func withAPIErrors(cmd *cobra.Command) *cobra.Command {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			return showAPIError(cmd.ErrOrStderr(), run(cmd, args))
		}
	}
	for _, c := range cmd.Commands() {
		withAPIErrors(c)
	}
	return cmd
}

// showAPIError writes err to w and returns the exit status it maps to when
// err is an API error; anything else it returns as it is.
func showAPIError(w io.Writer, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	if ae.Diagnosis != nil {
		fmt.Fprintln(w, "The connection check:")
		for _, s := range ae.Diagnosis.Steps {
			_ = diagnose.WriteStep(w, s)
		}
	}
	fmt.Fprintln(w, "labsync:", ae.Message)
	if ae.Remedy != "" {
		fmt.Fprintln(w, "  → "+ae.Remedy)
	}
	return exitError{code: 1}
}
