package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/vault"
)

// apiServer serves labsync's API for one organisation on loopback (with the
// sync service when withSync) and returns its URL, an owner's API token and
// the id of an integration of the organisation.
func apiServer(t *testing.T, withSync bool) (url, token string, integration int64) {
	t.Helper()
	a := apiServerFor(t, withSync, "https://gitlab.example.com", nil)
	return a.url, a.token, a.integration
}

// testAPI is a server of apiServerFor and what it serves.
type testAPI struct {
	url, token       string
	org, integration int64
	st               *store.Store
	sync             *syncer.Service // nil without the sync service
}

// apiServerFor is apiServer with the integration's GitLab at baseURL and
// the sync service's options (nil: none).
func apiServerFor(t *testing.T, withSync bool, baseURL string, opts *syncer.Options) testAPI {
	t.Helper()
	return apiServerOn(t, nil, withSync, baseURL, opts)
}

// apiServerOn is apiServerFor on the store st (nil: a new one).
func apiServerOn(t *testing.T, st *store.Store, withSync bool, baseURL string, opts *syncer.Options) testAPI {
	t.Helper()
	ctx := context.Background()
	if st == nil {
		st = storetest.Open(t)
	}
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, prefix, hash, _ := accounts.NewAPIToken()
	if _, err := st.CreateAPIToken(ctx, b.Org.ID, b.Owner.ID, "cli", prefix, hash); err != nil {
		t.Fatal(err)
	}
	in := &store.Integration{OrgID: b.Org.ID, Alias: "prod", BaseURL: baseURL, AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	kek, _, _ := vault.GenerateKEK()
	log := slog.New(slog.DiscardHandler)
	deps := api.Deps{Store: st, Log: log,
		Integrations: integrations.New(st, vault.New(kek, st.OrgKeys()), nil, config.Config{}, log, nil)}
	if withSync {
		if opts == nil {
			opts = &syncer.Options{}
		}
		deps.Sync = syncer.New(st, *opts)
		deps.Integrations.SetPeers(nil, deps.Sync)
	}
	mux := http.NewServeMux()
	api.New(deps).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return testAPI{url: srv.URL, token: tok, org: b.Org.ID, integration: in.ID, st: st, sync: deps.Sync}
}

// deadURL is a loopback URL nothing listens on.
func deadURL(t *testing.T) string { return "http://" + freeAddr(t) }

// clientCommands are the commands that talk to the API, each with the
// line it prints when it reached the server of apiServer.
func clientCommands(integration int64) []struct {
	args []string
	want string
} {
	return []struct {
		args []string
		want string
	}{
		{[]string{"integrations", "list"}, "prod"},
		{[]string{"sync", "--integration", fmt.Sprint(integration), "--follow=false"}, "sync idle"},
	}
}

func TestClientCommandsFindTheServerTheSameWay(t *testing.T) {
	url, tok, integration := apiServer(t, true)
	for _, tc := range []struct {
		name string
		env  map[string]string
		flag string
	}{
		{"--server comes before every variable", map[string]string{"LABSYNC_SERVER": deadURL(t), "LABSYNC_PUBLIC_URL": deadURL(t)}, url},
		{"LABSYNC_SERVER comes before LABSYNC_PUBLIC_URL and LABSYNC_ADDR", map[string]string{"LABSYNC_SERVER": url, "LABSYNC_PUBLIC_URL": deadURL(t), "LABSYNC_ADDR": freeAddr(t)}, ""},
		{"LABSYNC_PUBLIC_URL comes before LABSYNC_ADDR", map[string]string{"LABSYNC_PUBLIC_URL": url, "LABSYNC_ADDR": freeAddr(t)}, ""},
		{"LABSYNC_ADDR is the last resort", map[string]string{"LABSYNC_ADDR": strings.TrimPrefix(url, "http://")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range clientCommands(integration) {
				isolate(t)
				t.Setenv(envAPIToken, tok)
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				args := c.args
				if tc.flag != "" {
					args = append(args, "--server", tc.flag)
				}
				code, out, errOut := run(t, context.Background(), args...)
				if code != 0 || !strings.Contains(out, c.want) {
					t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
				}
			}
		})
	}
}

func TestClientCommandsReadTheAPITokenFromTheirFileFlagBeforeLABSYNC_API_TOKEN(t *testing.T) {
	url, tok, integration := apiServer(t, true)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := map[string]string{"integrations": "--api-token-file", "sync": "--api-token-file"}
	for _, c := range clientCommands(integration) {
		t.Run(c.args[0], func(t *testing.T) {
			isolate(t)
			flag := flags[c.args[0]]
			t.Setenv(envAPIToken, "lsk_not_a_token") // refused by the server if it were used
			code, out, errOut := run(t, context.Background(), append(c.args, "--server", url, flag, file)...)
			if code != 0 || !strings.Contains(out, c.want) {
				t.Fatalf("with %s: exit %d\n%s\n%s", flag, code, out, errOut)
			}
			t.Setenv(envAPIToken, tok)
			if code, out, errOut := run(t, context.Background(), append(c.args, "--server", url)...); code != 0 || !strings.Contains(out, c.want) {
				t.Fatalf("with %s: exit %d\n%s\n%s", envAPIToken, code, out, errOut)
			}
			t.Setenv(envAPIToken, "")
			code, _, errOut = run(t, context.Background(), append(c.args, "--server", url)...)
			if code != 1 || !strings.Contains(errOut, "no API token") || !strings.Contains(errOut, flag) || !strings.Contains(errOut, envAPIToken) {
				t.Fatalf("without a token: exit %d\n%s", code, errOut)
			}
		})
	}
}

func TestClientCommandsShowAnAPIErrorAsItsMessageAndRemedyAndExitWith1(t *testing.T) {
	url, tok, integration := apiServer(t, false)
	for _, tc := range []struct {
		name, token, server string
		args                []string
		want                string
	}{
		{"a refused token, with the API's remedy", "lsk_not_a_token", url, []string{"integrations", "list"},
			"labsync: missing, unknown or revoked API token\n  → send Authorization: Bearer <token>; create one with `labsync admin token create`\n"},
		{"an unknown integration", tok, url, []string{"integrations", "show", "99"}, "labsync: not found\n"},
		{"a server without the sync service", tok, url, []string{"sync", "--integration", fmt.Sprint(integration)},
			"labsync: this server does not run the sync service\n"},
		{"an answer that is not the API's", tok, url + "/elsewhere", []string{"sync", "--integration", fmt.Sprint(integration)},
			"labsync: labsync answered 404 Not Found\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			t.Setenv(envAPIToken, tc.token)
			code, out, errOut := run(t, context.Background(), append(tc.args, "--server", tc.server)...)
			if code != 1 || errOut != tc.want {
				t.Fatalf("exit %d, stderr %q, want %q\nstdout %s", code, errOut, tc.want, out)
			}
		})
	}
	t.Run("a server that cannot be reached is named with what to check", func(t *testing.T) {
		isolate(t)
		t.Setenv(envAPIToken, tok)
		dead := deadURL(t)
		code, _, errOut := run(t, context.Background(), "sync", "--integration", fmt.Sprint(integration), "--server", dead)
		if code != 1 || !strings.HasPrefix(errOut, "labsync: cannot reach labsync at "+dead+" (is `labsync serve` running? set --server)") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestSyncStartsASyncAndFollowsItsProgressThroughTheAPI backfills two
// sandbox projects with `labsync sync --start` (the server runs the sync
// within the request, having no job queue) and reads the plain progress
// lines.
func TestSyncStartsASyncAndFollowsItsProgressThroughTheAPI(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 1, Groups: 1, Projects: 2, MRs: 3, Issues: 2, Pipelines: 1, Commits: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	admin := sb.AdminToken()
	a := apiServerFor(t, true, sb.URL(),
		&syncer.Options{Clients: syncer.StaticClients(sb.URL(), nil, func() string { return admin }, 30*time.Second)})
	// Select every project, as the picker would.
	if err := a.sync.Discover(ctx, a.org, a.integration); err != nil {
		t.Fatal(err)
	}
	projects, err := a.st.AllProjects(ctx, a.org, a.integration)
	if err != nil || len(projects) != 2 {
		t.Fatalf("discovered %d projects: %v", len(projects), err)
	}
	sel := store.Selection{Services: store.AllServices}
	for _, p := range projects {
		sel.Projects = append(sel.Projects, p.GitLabID)
	}
	if _, err := a.sync.SaveSelection(ctx, a.org, a.integration, sel); err != nil {
		t.Fatal(err)
	}

	t.Setenv(envAPIToken, a.token)
	code, out, errOut := run(t, ctx, "sync", "--server", a.url, "--integration", fmt.Sprint(a.integration), "--start")
	if code != 0 || !strings.HasPrefix(out, "sync idle\n") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	m := regexp.MustCompile(`(?m)^all items=(\d+)/(\d+) `).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("no finished total with items:\n%s", out)
	}
}
