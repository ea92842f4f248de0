package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/integrations"
)

// newWebhookHealthCmd is `labsync integrations webhook-health ID [--test]`:
// why webhooks may not arrive, and GitLab's own test delivery where the
// integration allows hook registration.
func newWebhookHealthCmd(af *apiFlags, asJSON *bool, printJSON func(io.Writer, any) error, idArg func([]string) (string, error)) *cobra.Command {
	var test bool
	var project int64
	var trigger string
	cmd := &cobra.Command{
		Use:   "webhook-health ID [--test [--project GITLAB_ID] [--trigger push_events]]",
		Short: "Why webhooks may not arrive: GitLab's state of each hook, the public URL, what to do; --test asks GitLab for a test delivery",
		Long: `webhook-health shows whether GitLab's webhooks can reach labsync: when labsync last
received one, whether labsync's public URL is an address GitLab refuses by default
(naming GitLab's "` + integrations.LocalNetworkSetting + `" setting),
and — where the integration allows labsync to register its webhooks — the state GitLab
reports of each hook labsync registered (disabled, temporarily disabled, its last error),
each with what to do.

--test asks GitLab to send one test delivery through the hook of --project (default the
first registered); a successful one re-enables a disabled hook. It is offered only where
the integration allows hook registration (owner or admin).

Exit status: 0 when nothing is failing (or the test delivery arrived), 1 otherwise.`,
		Example: "  labsync integrations webhook-health 1\n  labsync integrations webhook-health 1 --test --project 42 --trigger merge_requests_events",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if test {
				var raw json.RawMessage
				body := map[string]any{"trigger": trigger}
				if project != 0 {
					body["project_id"] = project
				}
				if err := c.do(cmd.Context(), "POST", "/api/v1/integrations/"+id+"/webhook/test", body, &raw); err != nil {
					return err
				}
				var res integrations.WebhookTestResult
				if err := json.Unmarshal(raw, &res); err != nil {
					return err
				}
				if *asJSON {
					if err := printJSON(out, raw); err != nil {
						return err
					}
				} else {
					printWebhookTest(out, res)
				}
				if !res.Delivered {
					return exitError{code: 1}
				}
				return nil
			}
			h, raw, err := fetchWebhookHealth(cmd, c, id)
			if err != nil {
				return err
			}
			if *asJSON {
				if err := printJSON(out, raw); err != nil {
					return err
				}
			} else {
				printWebhookHealth(out, h)
			}
			if h.Status == "failing" {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&test, "test", false, "ask GitLab to send a test delivery through labsync's hook (integrations that allow hook registration)")
	f.Int64Var(&project, "project", 0, "GitLab id of the project whose hook to test (default: the first registered)")
	f.StringVar(&trigger, "trigger", "push_events", "event of the test delivery: push_events, tag_push_events, merge_requests_events, issues_events or pipeline_events")
	return cmd
}

func fetchWebhookHealth(cmd *cobra.Command, c *apiClient, id string) (integrations.WebhookHealth, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(cmd.Context(), "GET", "/api/v1/integrations/"+id+"/webhook/health", nil, &raw); err != nil {
		return integrations.WebhookHealth{}, nil, err
	}
	var h integrations.WebhookHealth
	if err := json.Unmarshal(raw, &h); err != nil {
		return integrations.WebhookHealth{}, nil, err
	}
	return h, raw, nil
}

// printWebhookHealth writes the webhook health as text: the verdict, each
// finding with its remedy, and each registered hook.
func printWebhookHealth(w io.Writer, h integrations.WebhookHealth) {
	mark := map[string]string{"ok": "ok", "warning": "WARN", "failing": "FAIL"}[h.Status]
	fmt.Fprintf(w, "Webhooks of integration %d: %s — %s\n", h.IntegrationID, mark, h.Summary)
	if h.URL != "" {
		fmt.Fprintf(w, "  %-14s %s\n", "webhook URL", h.URL)
	}
	last := "never"
	if h.LastDeliveryAt != nil {
		last = h.LastDeliveryAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "  %-14s %s\n", "last delivery", last)
	for _, f := range h.Findings {
		fmt.Fprintf(w, "  [%s] %s\n", strings.ToUpper(f.Severity), f.Message)
		if f.Remedy != "" {
			fmt.Fprintf(w, "         → %s\n", f.Remedy)
		}
	}
	for _, hk := range h.Hooks {
		name := hk.Path
		if name == "" {
			name = "project " + strconv.FormatInt(hk.ProjectID, 10)
		}
		state := strings.ReplaceAll(hk.State, "_", " ")
		if hk.DisabledUntil != nil {
			state += " until " + hk.DisabledUntil.UTC().Format(time.RFC3339)
		}
		if hk.EventsKnown {
			state += fmt.Sprintf(" (%d of the last %d deliveries failed)", hk.Failures, hk.Deliveries)
		}
		fmt.Fprintf(w, "  hook %d in %s: %s\n", hk.HookID, name, state)
		if hk.LastError != "" {
			fmt.Fprintf(w, "         last error: %s\n", hk.LastError)
		}
		if hk.Remedy != "" {
			fmt.Fprintf(w, "         → %s\n", hk.Remedy)
		}
	}
	if h.CanTest {
		fmt.Fprintf(w, "  Send a test delivery: labsync integrations webhook-health %d --test\n", h.IntegrationID)
	}
}

func printWebhookTest(w io.Writer, r integrations.WebhookTestResult) {
	name := r.Path
	if name == "" {
		name = "project " + strconv.FormatInt(r.ProjectID, 10)
	}
	if r.Delivered {
		fmt.Fprintf(w, "GitLab's test %s delivery through hook %d in %s reached labsync (a disabled hook is enabled again).\n", r.Trigger, r.HookID, name)
		return
	}
	fmt.Fprintf(w, "GitLab's test %s delivery through hook %d in %s failed: %s\n", r.Trigger, r.HookID, name, r.Message)
	if r.Remedy != "" {
		fmt.Fprintf(w, "  → %s\n", r.Remedy)
	}
}
