package cli

import (
	"context"
	"strings"
	"testing"
)

// TestAdminOrganisations creates two organisations from the CLI, refuses
// to delete one without its name as confirmation, deletes it with it, and
// manages tokens of the other.
func TestAdminOrganisations(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	if code, out, errOut := run(t, ctx, "admin", "org", "create", "--name", "Acme", "--owner-email", "ada@acme.test"); code != 0 ||
		!strings.Contains(out, `Created organisation "Acme" (id 1)`) || !strings.Contains(out, "One-time password") {
		t.Fatalf("create: %d %s %s", code, out, errOut)
	}
	if code, out, _ := run(t, ctx, "admin", "org", "create", "--name", "Beta", "--owner-email", "ada@acme.test"); code != 0 || strings.Contains(out, "password") {
		t.Fatalf("an existing user got a new password: %d %s", code, out)
	}
	if code, _, errOut := run(t, ctx, "admin", "org", "create", "--name", "Gamma"); code == 0 || !strings.Contains(errOut, "--owner-email") {
		t.Fatalf("create without owner: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, ctx, "admin", "org", "delete", "1"); code == 0 || !strings.Contains(errOut, `--confirm "Acme"`) {
		t.Fatalf("delete without confirmation: %d %s", code, errOut)
	}
	if code, out, errOut := run(t, ctx, "admin", "org", "delete", "1", "--confirm", "Acme"); code != 0 || !strings.Contains(out, "keys are destroyed") {
		t.Fatalf("delete: %d %s %s", code, out, errOut)
	}
	if _, out, _ := run(t, ctx, "admin", "org", "list"); strings.Contains(out, "Acme") || !strings.Contains(out, "Beta") {
		t.Fatalf("list after delete: %s", out)
	}
	if code, out, errOut := run(t, ctx, "admin", "token", "create", "--name", "ci"); code != 0 || !strings.HasPrefix(out, "lsk_") {
		t.Fatalf("token create: %d %s %s", code, out, errOut)
	}
	if _, out, _ := run(t, ctx, "admin", "token", "list"); !strings.Contains(out, "ci") || !strings.Contains(out, "active") {
		t.Fatalf("token list: %s", out)
	}
	if code, out, _ := run(t, ctx, "admin", "token", "revoke", "1"); code != 0 || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	if _, out, _ := run(t, ctx, "admin", "token", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("token list after revoke: %s", out)
	}
	if code, _, errOut := run(t, ctx, "admin", "token", "revoke", "1"); code == 0 || !strings.Contains(errOut, "no live token") {
		t.Fatalf("second revoke: %d %s", code, errOut)
	}
}
