package cli

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/vault"
)

// TestConnectAndIntegrationsCommands connects the sandbox by token and by
// OAuth with the CLI through a running API, then lists, shows, tests and
// disconnects.
func TestConnectAndIntegrationsCommands(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	st := storetest.Open(t)
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, prefix, hash, _ := accounts.NewAPIToken()
	if _, err := st.CreateAPIToken(ctx, b.Org.ID, b.Owner.ID, "cli", prefix, hash); err != nil {
		t.Fatal(err)
	}
	kek, _, _ := vault.GenerateKEK()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := config.Config{PublicURL: srv.URL, AllowLoopbackGitLab: true}
	svc := integrations.New(st, vault.New(kek, st.OrgKeys()), nil, cfg, slog.New(slog.DiscardHandler), nil)
	api.New(api.Deps{Store: st, Log: slog.New(slog.DiscardHandler), Integrations: svc}).Register(mux)

	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "15.11", TLS: sandbox.TLSCA, Groups: 1, Projects: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", string(sb.CAPEM()))
	tokFile := write("token", sb.CreateToken(sandbox.TokenSpec{Scopes: []string{"read_api"}})+"\n")
	appID, appSecret := sb.RegisterOAuthApp(srv.URL+integrations.CallbackPath, "read_api", "read_user", "read_repository")
	secretFile := write("secret", appSecret)
	t.Setenv(envAPIToken, tok)
	server := "--server=" + srv.URL

	code, out, errOut := run(t, ctx, "connect", "token", server, "--url", sb.URL(), "--gitlab-token-file", tokFile, "--ca-file", caFile, "--alias", "prod")
	if code != 0 || !strings.Contains(out, `Connected "prod"`) || !strings.Contains(out, "15.11") ||
		!strings.Contains(out, "token         personal access token; scopes read_api") || !strings.Contains(out, "token sees    labsync sees what its owner sees") {
		t.Fatalf("connect token: %d\n%s\n%s", code, out, errOut)
	}
	// A wrong CA: the check's steps are printed and nothing is saved.
	code, _, errOut = run(t, ctx, "connect", "token", server, "--url", sb.URL(), "--gitlab-token-file", tokFile, "--alias", "nope")
	if code == 0 || !strings.Contains(errOut, "TLS certificate") || !strings.Contains(errOut, "CA") {
		t.Fatalf("connect without CA: %d\n%s", code, errOut)
	}
	// The steps come once, ahead of the one line that names the failure.
	if steps, last := strings.Index(errOut, "The connection check:"), strings.LastIndex(errOut, "labsync: "); code != 1 || steps != 0 ||
		strings.Count(errOut, "The connection check:") != 1 || last < 0 || strings.Count(errOut, "labsync: ") != 1 {
		t.Fatalf("connect without CA: exit %d\n%s", code, errOut)
	}

	code, out, errOut = run(t, ctx, "connect", "oauth", server, "--url", sb.URL(), "--client-id", appID, "--client-secret-file", secretFile,
		"--ca-file", caFile, "--alias", "oauth", "--wait", "0")
	if code != 0 || !strings.Contains(out, srv.URL+integrations.CallbackPath) {
		t.Fatalf("connect oauth: %d\n%s\n%s", code, out, errOut)
	}
	authURL := regexp.MustCompile(`https://\S+/oauth/authorize\S+`).FindString(out)
	state := regexp.MustCompile(`state: (\S+)`).FindStringSubmatch(out)
	if authURL == "" || state == nil {
		t.Fatalf("no authorize URL or state:\n%s", out)
	}
	u, _ := url.Parse(authURL)
	c, ok := sb.AuthorizeCode(u.Query().Get("client_id"), u.Query().Get("redirect_uri"), "root", u.Query().Get("code_challenge"))
	if !ok {
		t.Fatal("consent refused")
	}
	code, out, errOut = run(t, ctx, "connect", "oauth", server, "--code", c, "--state", state[1])
	if code != 0 || !strings.Contains(out, "with OAuth") || !strings.Contains(out, "@root") {
		t.Fatalf("complete oauth: %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, c) {
		t.Fatal("the code is printed back")
	}

	code, out, _ = run(t, ctx, "integrations", "list", server)
	if code != 0 || !strings.Contains(out, "prod") || !strings.Contains(out, "oauth") || !strings.Contains(out, "auto-renewed") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	code, out, _ = run(t, ctx, "integrations", "show", server, "1")
	if code != 0 || !strings.Contains(out, "Community Edition") || !strings.Contains(out, "read_api") {
		t.Fatalf("show: %d\n%s", code, out)
	}
	code, out, _ = run(t, ctx, "integrations", "test", server, "2")
	if code != 0 || !strings.Contains(out, "Visible projects") {
		t.Fatalf("test: %d\n%s", code, out)
	}
	start := time.Now()
	code, out, _ = run(t, ctx, "integrations", "disconnect", server, "2")
	if code != 0 || !strings.Contains(out, "revoked at GitLab") {
		t.Fatalf("disconnect: %d\n%s", code, out)
	}
	t.Logf("CLI disconnect took %s", time.Since(start).Round(time.Millisecond))
	code, _, errOut = run(t, ctx, "integrations", "show", server, "99")
	if code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("show unknown: %d %s", code, errOut)
	}
}
