package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/syncer"
)

// integrationView is what the CLI reads of the API's integration.
type integrationView struct {
	ID           int64  `json:"id"`
	Alias        string `json:"alias"`
	BaseURL      string `json:"base_url"`
	IsGitLabCom  bool   `json:"is_gitlab_com"`
	AuthMethod   string `json:"auth_method"`
	Status       string `json:"status"`
	StatusText   string `json:"status_text"`
	StatusReason string `json:"status_reason"`
	Remedy       string `json:"remedy"`
	Version      string `json:"version"`
	Edition      string `json:"edition"`
	Account      *struct {
		Username string `json:"username"`
	} `json:"account"`
	Token *struct {
		Kind      string     `json:"kind"`
		Scopes    []string   `json:"scopes"`
		ExpiresAt *time.Time `json:"expires_at"`
		DaysLeft  *int       `json:"days_left"`
		Warning   *struct {
			Message string `json:"message"`
		} `json:"warning"`
		AutoRefresh    bool   `json:"auto_refresh"`
		KindText       string `json:"kind_text"`
		KindExpiry     string `json:"kind_expiry"`
		KindVisibility string `json:"kind_visibility"`
	} `json:"token"`
	MissingScopes []struct {
		Feature  string   `json:"feature"`
		Needs    []string `json:"needs"`
		Required bool     `json:"required"`
	} `json:"missing_scopes"`
	Capabilities []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Why    string `json:"why"`
	} `json:"capabilities"`
	RedirectURI     string `json:"redirect_uri"`
	Insecure        bool   `json:"insecure"`
	InsecureWarning string `json:"insecure_warning"`
	Settings        struct {
		RequestConcurrency  int    `json:"request_concurrency"`
		HistorySince        string `json:"history_since"`
		KeepLostProjectData bool   `json:"keep_lost_project_data"`
	} `json:"settings"`
	UpdatedAt time.Time `json:"updated_at"`
}

func printIntegration(w io.Writer, i integrationView) {
	fmt.Fprintf(w, "  %-13s %s", "GitLab", i.BaseURL)
	if i.IsGitLabCom {
		fmt.Fprint(w, " (GitLab.com)")
	}
	fmt.Fprintln(w)
	if i.Version != "" {
		fmt.Fprintf(w, "  %-13s %s %s\n", "version", i.Version, i.Edition)
	}
	fmt.Fprintf(w, "  %-13s %s", "status", i.StatusText)
	if i.StatusReason != "" {
		fmt.Fprintf(w, " — %s", i.StatusReason)
	}
	fmt.Fprintln(w)
	if i.Remedy != "" {
		fmt.Fprintf(w, "  %-13s %s\n", "to do", i.Remedy)
	}
	fmt.Fprintf(w, "  %-13s %s\n", "auth", i.AuthMethod)
	if i.Account != nil {
		fmt.Fprintf(w, "  %-13s @%s\n", "account", i.Account.Username)
	}
	if t := i.Token; t != nil {
		scopes := strings.Join(t.Scopes, ", ")
		if scopes == "" {
			scopes = "unknown (GitLab before 15.5 does not list them)"
		}
		kind := t.KindText
		if kind == "" {
			kind = t.Kind
		}
		fmt.Fprintf(w, "  %-13s %s; scopes %s", "token", kind, scopes)
		if t.ExpiresAt != nil && !t.AutoRefresh {
			fmt.Fprintf(w, "; expires %s", t.ExpiresAt.Format(time.DateOnly))
			if t.DaysLeft != nil {
				fmt.Fprintf(w, " (%d days)", *t.DaysLeft)
			}
		}
		if t.AutoRefresh {
			fmt.Fprint(w, "; renewed automatically")
		}
		fmt.Fprintln(w)
		if t.KindExpiry != "" {
			fmt.Fprintf(w, "  %-13s %s\n", "token expiry", t.KindExpiry)
		}
		if t.KindVisibility != "" {
			fmt.Fprintf(w, "  %-13s %s\n", "token sees", t.KindVisibility)
		}
		if t.Warning != nil {
			fmt.Fprintf(w, "! %s\n", t.Warning.Message)
		}
	}
	for _, m := range i.MissingScopes {
		if m.Required {
			fmt.Fprintf(w, "! %s needs the scope %s, which the token lacks\n", m.Feature, strings.Join(m.Needs, " or "))
		}
	}
	if i.RedirectURI != "" {
		fmt.Fprintf(w, "  %-13s %s\n", "redirect URI", i.RedirectURI)
	}
	if i.Insecure {
		fmt.Fprintf(w, "! INSECURE: %s\n", i.InsecureWarning)
	}
	s := i.Settings
	conc, since, keep := "default", "whole history", "purged within 24 h"
	if s.RequestConcurrency > 0 {
		conc = strconv.Itoa(s.RequestConcurrency)
	}
	if s.HistorySince != "" {
		since = "since " + s.HistorySince
	}
	if s.KeepLostProjectData {
		keep = "kept"
	}
	fmt.Fprintf(w, "  %-13s concurrency %s; backfill %s; data of projects the credential lost: %s\n", "sync", conc, since, keep)
}

func newIntegrationsCmd() *cobra.Command {
	var af apiFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "integrations",
		Short: "List, show, test, change and disconnect GitLab integrations (through a running labsync serve)",
		Long:  "Manage the organisation's GitLab integrations." + apiClientHelp,
	}
	af.register(cmd.PersistentFlags())
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print the API's JSON instead of text")
	printJSON := func(w io.Writer, v any) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	idArg := func(args []string) (string, error) {
		if _, err := strconv.ParseInt(args[0], 10, 64); err != nil {
			return "", fmt.Errorf("%q is not an integration id (see `labsync integrations list`)", args[0])
		}
		return args[0], nil
	}

	list := &cobra.Command{
		Use: "list", Short: "List the organisation's integrations", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			var res struct {
				Integrations []integrationView `json:"integrations"`
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "GET", "/api/v1/integrations", nil, &raw); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tALIAS\tSTATUS\tAUTH\tGITLAB\tVERSION\tTOKEN EXPIRES")
			for _, i := range res.Integrations {
				exp := "-"
				if i.Token != nil && i.Token.ExpiresAt != nil && !i.Token.AutoRefresh {
					exp = i.Token.ExpiresAt.Format(time.DateOnly)
				} else if i.Token != nil && i.Token.AutoRefresh {
					exp = "auto-renewed"
				}
				base := i.BaseURL
				if i.Insecure {
					base += " (INSECURE: plain http)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Alias, i.StatusText, i.AuthMethod, base, i.Version, exp)
			}
			if len(res.Integrations) == 0 {
				fmt.Fprintln(tw, "(none: connect one with `labsync connect token` or `labsync connect oauth`)")
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use: "show ID", Short: "Show one integration: status, version, capabilities, token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "GET", "/api/v1/integrations/"+id, nil, &raw); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var i integrationView
			if err := json.Unmarshal(raw, &i); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s (integration %d)\n", i.Alias, i.ID)
			printIntegration(out, i)
			for _, cp := range i.Capabilities {
				if cp.Status != "ok" {
					fmt.Fprintf(out, "  - %s %s: %s\n", cp.Name, cp.Status, cp.Why)
				}
			}
			return nil
		},
	}
	test := &cobra.Command{
		Use: "test ID", Short: "Run the connection diagnosis for a saved integration", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var rep diagnose.Report
			if err := c.do(cmd.Context(), "POST", "/api/v1/integrations/"+id+"/test", nil, &rep); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := printJSON(out, rep); err != nil {
					return err
				}
			} else {
				for _, s := range rep.Steps {
					_ = diagnose.WriteStep(out, s)
				}
				fmt.Fprintln(out, "\n"+rep.Summary())
			}
			if !rep.OK {
				return exitError{code: 1}
			}
			return nil
		},
	}
	disconnect := &cobra.Command{
		Use: "disconnect ID", Short: "Disconnect an integration: remove the webhooks labsync registered, revoke its OAuth token at GitLab, delete its credentials", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var res struct {
				Integration     integrationView `json:"integration"`
				Revoked         bool            `json:"revoked"`
				RevocationError string          `json:"revocation_error"`
				Note            string          `json:"note"`
				Hooks           []struct {
					ProjectID int64  `json:"project_id"`
					Status    string `json:"status"`
					Error     string `json:"error"`
					Remedy    string `json:"remedy"`
				} `json:"webhooks_removed"`
			}
			if err := c.do(cmd.Context(), "DELETE", "/api/v1/integrations/"+id, nil, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Disconnected %q (integration %d).\n%s\n", res.Integration.Alias, res.Integration.ID, res.Note)
			if res.RevocationError != "" {
				fmt.Fprintf(out, "! %s\n", res.RevocationError)
			}
			for _, h := range res.Hooks {
				if h.Status == "removed" {
					fmt.Fprintf(out, "  webhook of project %d removed\n", h.ProjectID)
				} else {
					fmt.Fprintf(out, "! webhook of project %d not removed: %s %s\n", h.ProjectID, h.Error, h.Remedy)
				}
			}
			return nil
		},
	}
	var tokenFile string
	setToken := &cobra.Command{
		Use: "set-token ID --gitlab-token-file FILE", Short: "Give a token integration a new access token (after expiry or revocation)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			tok, err := readSecretFile(cmd.InOrStdin(), tokenFile, envGitLabToken, "access token")
			if err != nil {
				return err
			}
			if strings.TrimSpace(tok) == "" {
				return errors.New("set-token: no token: pass --gitlab-token-file FILE (- for standard input) or set " + envGitLabToken)
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var res struct {
				Integration integrationView `json:"integration"`
				Notices     []string        `json:"notices"`
			}
			if err := c.do(cmd.Context(), "PATCH", "/api/v1/integrations/"+id, map[string]any{"token": tok}, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Updated the token of %q.\n", res.Integration.Alias)
			printIntegration(out, res.Integration)
			for _, n := range res.Notices {
				fmt.Fprintf(out, "! %s\n", n)
			}
			return nil
		},
	}
	setToken.Flags().StringVar(&tokenFile, flagGitLabToken, "", "file holding the new GitLab access token; - reads standard input (else $"+envGitLabToken+")")
	deprecatedAlias(setToken.Flags(), &tokenFile, "token-file", flagGitLabToken)
	var (
		concurrency int
		since       string
		keepLost    bool
		insecure    bool
	)
	set := &cobra.Command{
		Use:   "set ID [--concurrency N] [--history-since YYYY-MM-DD] [--keep-lost-project-data=BOOL] [--allow-insecure-http=BOOL]",
		Short: "Change an integration's sync settings and its plain-http opt-in; only the flags given change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			body := map[string]any{}
			fl := cmd.Flags()
			if fl.Changed("concurrency") {
				body["request_concurrency"] = concurrency
			}
			if fl.Changed("history-since") {
				body["history_since"] = since
			}
			if fl.Changed("keep-lost-project-data") {
				body["keep_lost_project_data"] = keepLost
			}
			if fl.Changed("allow-insecure-http") {
				body["allow_insecure_http"] = insecure
			}
			if len(body) == 0 {
				return errors.New("set: nothing to change: give --concurrency, --history-since, --keep-lost-project-data or --allow-insecure-http")
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "PATCH", "/api/v1/integrations/"+id, body, &raw); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, raw)
			}
			var res struct {
				Integration integrationView `json:"integration"`
				Changed     []string        `json:"changed"`
				Notices     []string        `json:"notices"`
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			if len(res.Changed) == 0 {
				fmt.Fprintf(out, "Nothing changed for %q: the settings already had these values.\n", res.Integration.Alias)
			} else {
				fmt.Fprintf(out, "Changed %s of %q.\n", strings.Join(res.Changed, ", "), res.Integration.Alias)
			}
			printIntegration(out, res.Integration)
			for _, n := range res.Notices {
				fmt.Fprintf(out, "! %s\n", n)
			}
			return nil
		},
	}
	sf := set.Flags()
	sf.IntVar(&concurrency, "concurrency", 0, "simultaneous requests to this GitLab (0 = the default; lower it if GitLab answers 429)")
	sf.StringVar(&since, "history-since", "", "earliest date the backfill fetches, YYYY-MM-DD (\"\" = the whole history)")
	sf.BoolVar(&keepLost, "keep-lost-project-data", false, "keep the data of projects the credential can no longer see instead of purging it")
	sf.BoolVar(&insecure, "allow-insecure-http", false, "allow plain http to this self-managed GitLab (its URL must be http://; never GitLab.com)")
	cmd.AddCommand(list, show, test, disconnect, setToken, set, newProjectsCmd(&af, &asJSON, printJSON, idArg), newMirrorsCmd(&af, &asJSON),
		newWebhookHealthCmd(&af, &asJSON, printJSON, idArg))
	return withAPIErrors(cmd)
}

// newProjectsCmd is `labsync integrations projects ID`: how fresh each
// selected project's data is, and the projects that are gone, with why.
func newProjectsCmd(af *apiFlags, asJSON *bool, printJSON func(io.Writer, any) error, idArg func([]string) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use: "projects ID", Short: "Per selected or gone project: last webhook, last poll, fresh as of, CI/CD, gone reason", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "GET", "/api/v1/integrations/"+id+"/freshness", nil, &raw); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if *asJSON {
				return printJSON(out, raw)
			}
			var res struct {
				Projects []syncer.ProjectFreshness `json:"projects"`
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			when := func(t *time.Time) string {
				if t == nil {
					return "never"
				}
				return t.UTC().Format(time.RFC3339)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROJECT\tLAST WEBHOOK\tLAST POLL\tFRESH AS OF\tSTATE")
			for _, p := range res.Projects {
				state := fmt.Sprintf("polled every %s", time.Duration(p.Plan.EverySecs)*time.Second)
				switch {
				case p.Gone != "":
					state = "gone: " + p.GoneReason
					if p.DataPurgedAt != nil {
						state += "; data purged " + when(p.DataPurgedAt)
					}
				case p.Archived:
					state = "archived; " + state
				}
				if p.Gone == "" && !p.CIEnabled {
					state += "; CI/CD disabled — pipelines skipped"
				}
				if p.PreviousPath != "" {
					state += "; was " + p.PreviousPath
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Path, when(p.LastWebhookAt), when(p.LastPollAt), when(p.FreshAsOf), state)
			}
			if len(res.Projects) == 0 {
				fmt.Fprintln(tw, "(no selected project: select some with the web UI or PUT /api/v1/integrations/{id}/selection)")
			}
			return tw.Flush()
		},
	}
}
