package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestWebhookHealthAndDoctorSayWhyWebhooksCannotArriveAndRefuseATestWithoutTheOptIn:
// an integration without an issued webhook is failing with what to do,
// both through `integrations webhook-health` and `doctor --integration`;
// --test is refused (exit 1, the API's remedy) where hook registration is
// not allowed.
func TestWebhookHealthAndDoctorSayWhyWebhooksCannotArriveAndRefuseATestWithoutTheOptIn(t *testing.T) {
	a := apiServerFor(t, false, "https://gitlab.example.com", nil)
	id := fmt.Sprint(a.integration)
	cases := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   string
		notInOut string
	}{
		{"webhook-health names the missing webhook and what to do", []string{"integrations", "webhook-health", id},
			1, []string{"FAIL", "No webhook URL and secret have been issued", "→ Issue the webhook", "last delivery  never"}, "", "--test"},
		{"doctor --integration shows the same without --url", []string{"doctor", "--integration", id},
			1, []string{"Webhooks of integration " + id + ": FAIL", "labsync does not read or test hooks at GitLab"}, "", ""},
		{"the test delivery is refused without the hook opt-in", []string{"integrations", "webhook-health", id, "--test"},
			1, nil, "allow hook registration", ""},
		{"webhook-health --json prints the API's answer", []string{"integrations", "webhook-health", id, "--json"},
			1, []string{`"status": "failing"`, `"code": "not_issued"`}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolate(t)
			t.Setenv(envAPIToken, a.token)
			code, out, errOut := run(t, context.Background(), append(c.args, "--server", a.url)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.code, out, errOut)
			}
			for _, w := range c.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if c.stderr != "" && !strings.Contains(errOut, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, errOut)
			}
			if c.notInOut != "" && strings.Contains(out, c.notInOut) {
				t.Errorf("stdout offers %q:\n%s", c.notInOut, out)
			}
		})
	}

	t.Run("doctor --json with --url and --integration prints one document holding both", func(t *testing.T) {
		isolate(t)
		t.Setenv(envAPIToken, a.token)
		code, out, errOut := run(t, context.Background(), "doctor", "--url", deadURL(t), "--allow-loopback-gitlab", "--allow-insecure-http",
			"--timeout", "2s", "--integration", id, "--json", "--server", a.url)
		var doc struct {
			Diagnosis     map[string]any `json:"diagnosis"`
			WebhookHealth map[string]any `json:"webhook_health"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Diagnosis == nil || doc.WebhookHealth["status"] != "failing" {
			t.Fatalf("exit %d, not one document with both reports (%v):\n%s\n%s", code, err, out, errOut)
		}
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
}
