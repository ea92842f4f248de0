package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/server"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/web"
	"github.com/labsync/labsync/internal/webhook"
)

// chromiumPath finds the browser; it never downloads one.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("LABSYNC_TEST_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("Chromium not found at %s (install Debian's chromium package or set LABSYNC_TEST_CHROMIUM)", p)
		if os.Getenv("CI") != "" || os.Getenv("LABSYNC_TEST_REQUIRE_TOOLS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// labsyncServer is labsync built as `labsync serve` builds it, on loopback.
type labsyncServer struct {
	url string
	st  *store.Store
}

func startLabsync(t *testing.T, ctx context.Context) *labsyncServer {
	t.Helper()
	st := storetest.Open(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	publicURL := "http://" + ln.Addr().String()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	kek, _, _ := vault.GenerateKEK()
	vlt := vault.New(kek, st.OrgKeys())
	cfg := config.Config{PublicURL: publicURL, AllowLoopbackGitLab: true, ShutdownTimeout: 5 * time.Second}
	srv := server.New(st, log)
	runner := jobs.New(st, log, jobs.Options{})
	deps := api.Deps{Store: st, Log: log}
	deps.Webhooks = webhook.New(st, vlt, log, webhook.Options{PublicURL: publicURL, Registerer: srv.Registry()})
	processor := webhook.NewProcessor(st, log)
	deps.Webhooks.OnStored(processor.Wake)
	deps.Webhooks.Start()
	processor.Start()
	deps.Integrations = integrations.New(st, vlt, runner, cfg, log, nil)
	deps.Integrations.RegisterJobs()
	deps.Sync = syncer.New(st, syncer.Options{Log: log, Clients: deps.Integrations.Client})
	deps.Sync.Register(runner)
	deps.Integrations.SetPeers(deps.Webhooks, deps.Sync)
	deps.Accounts = accounts.New(st, log, deps.Integrations, accounts.Options{})
	api.New(deps, deps.Accounts.SessionAuthenticator()).Register(srv)
	web.New(uiDeps(deps, cfg)).Register(srv)
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		runner.Stop(sctx)
		processor.Stop()
		deps.Webhooks.Stop()
	})
	return &labsyncServer{url: publicURL, st: st}
}

// startChromium starts a headless Chromium with a fresh profile and a
// window of w×h pixels; it closes when the test ends, so ctx must stay
// live until then (cancel it with t.Cleanup, not defer).
func startChromium(t *testing.T, ctx context.Context, chromium string, w, h int) context.Context {
	t.Helper()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	)
	t.Cleanup(acancel)
	bctx, _ := chromedp.NewContext(actx)
	// Close the browser gracefully (and wait for it) before its profile
	// directory is removed; ctx must still be live then.
	t.Cleanup(func() { chromedp.Cancel(bctx) })
	// The first Run starts the browser; it must run on bctx itself, or
	// the browser would close with the first step's context.
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// shots saves PNG screenshots of the browser into the test's artifact
// directory.
type shots struct {
	t   *testing.T
	dir string
	n   int
}

func newShots(t *testing.T) *shots {
	dir := os.Getenv("LABSYNC_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.ArtifactDir()
	} else {
		dir = filepath.Join(dir, t.Name())
		os.MkdirAll(dir, 0o755)
	}
	return &shots{t: t, dir: dir}
}

func (s *shots) take(ctx context.Context, name string) {
	s.t.Helper()
	var buf []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&buf, 100)); err != nil { // quality 100 means PNG
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	s.n++
	path := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.n, name))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("screenshot: %s", path)
}

// step runs chromedp actions within a bounded time.
func step(t *testing.T, ctx context.Context, what string, d time.Duration, actions ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		var loc, body string
		chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Text("main", &body, chromedp.ByQuery))
		t.Fatalf("%s: %v\nat %s\n%.2000s", what, err, loc, body)
	}
}

// TestBrowserInstallSyncWebhookDisconnect walks the product in Chromium:
// first sign-in and password change, install GitLab with OAuth against the
// sandbox (its consent page included), pick projects, sync to the end,
// receive a merge request by webhook and find it in the data browser,
// disconnect; then the token path with a wrong token and its diagnosis.
func TestBrowserInstallSyncWebhookDisconnect(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)

	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 7, Groups: 1, Projects: 3, MRs: 2, Issues: 2, Pipelines: 1, Commits: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ls := startLabsync(t, ctx)
	oneTime, _ := accounts.RandomPassword()
	h, _ := accounts.HashPassword(oneTime)
	if _, _, err := ls.st.BootstrapIfEmpty(ctx, "Default", "owner@localhost", h); err != nil {
		t.Fatal(err)
	}
	clientID, clientSecret := sb.RegisterOAuthApp(ls.url+integrations.CallbackPath, "api", "read_api", "read_user", "read_repository")

	bctx := startChromium(t, ctx, chromium, 1280, 900)
	shot := newShots(t)
	const short = 30 * time.Second

	// Sign in with the one-time password; labsync asks for a new one.
	step(t, bctx, "sign-in page", short, chromedp.Navigate(ls.url+"/"), chromedp.WaitVisible("#email", chromedp.ByID))
	shot.take(bctx, "signin")
	step(t, bctx, "sign in", short,
		chromedp.SendKeys("#email", "owner@localhost", chromedp.ByID),
		chromedp.SendKeys("#password", oneTime, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#new_password", chromedp.ByID))
	shot.take(bctx, "first-run-password")
	newPassword := "a password of my own"
	step(t, bctx, "change password", short,
		chromedp.SendKeys("#current_password", oneTime, chromedp.ByID),
		chromedp.SendKeys("#new_password", newPassword, chromedp.ByID),
		chromedp.SendKeys("#confirm_password", newPassword, chromedp.ByID),
		chromedp.Click("#change-password", chromedp.ByID),
		chromedp.WaitVisible("#install-gitlab", chromedp.ByID))
	shot.take(bctx, "connectors")

	// Install with OAuth against the sandbox.
	step(t, bctx, "install dialog", short,
		chromedp.Click("#install-gitlab", chromedp.ByID),
		chromedp.WaitVisible("#connect-form", chromedp.ByID),
		chromedp.Click("#hosting-self", chromedp.ByID),
		chromedp.WaitVisible("#base_url", chromedp.ByID),
		chromedp.SendKeys("#base_url", sb.URL(), chromedp.ByID),
		chromedp.SendKeys("#client_id", clientID, chromedp.ByID),
		chromedp.SendKeys("#client_secret", clientSecret, chromedp.ByID),
		chromedp.SendKeys("#alias", "sandbox", chromedp.ByID))
	var redirect string
	step(t, bctx, "redirect URI", short, chromedp.Value("#redirect_uri", &redirect, chromedp.ByID))
	if redirect != ls.url+integrations.CallbackPath {
		t.Fatalf("redirect URI shown: %q", redirect)
	}
	shot.take(bctx, "install-oauth")
	step(t, bctx, "test the OAuth connection", short,
		chromedp.Click("#test-connection", chromedp.ByID),
		chromedp.WaitVisible("#diagnosis", chromedp.ByID))
	shot.take(bctx, "install-oauth-tested")
	step(t, bctx, "continue to GitLab", short,
		chromedp.SendKeys("#client_secret", clientSecret, chromedp.ByID),
		chromedp.Click("#continue-oauth", chromedp.ByID),
		chromedp.WaitVisible("#authorize", chromedp.ByID))
	shot.take(bctx, "sandbox-consent")
	step(t, bctx, "approve at GitLab", short,
		chromedp.Click("#authorize", chromedp.ByID),
		chromedp.WaitVisible("#picker-form", chromedp.ByID))
	shot.take(bctx, "project-picker")

	var loc string
	step(t, bctx, "picker location", short, chromedp.Location(&loc))
	m := regexp.MustCompile(`/integrations/(\d+)/projects`).FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("the OAuth round trip did not land on the picker: %s", loc)
	}
	integrationURL := ls.url + "/integrations/" + m[1]

	// Pick every project (the group, with auto-import) and sync.
	step(t, bctx, "pick and sync", short,
		chromedp.Click(`input[name="group"]`, chromedp.ByQuery),
		chromedp.Click("#save-and-sync", chromedp.ByID),
		chromedp.WaitVisible("#sync", chromedp.ByID))
	// The page reloads itself when the sync ends (or a resource gets its
	// first bar), so an evaluation may meet a page being replaced: retry.
	step(t, bctx, "sync reaches done", 2*time.Minute, chromedp.ActionFunc(func(ctx context.Context) error {
		for {
			var done bool
			err := chromedp.Evaluate(`(function(){
				var s = document.getElementById("sync-state"), b = document.getElementById("bar-all");
				return !!s && !!b && s.textContent === "idle" && b.max > 1 && b.value === b.max;
			})()`, &done).Do(ctx)
			if err == nil && done {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the sync did not reach done (last evaluation: %v)", err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}))
	shot.take(bctx, "integration-synced")

	// The webhook: issue it, add it in the sandbox as a user would, open an MR.
	var hookURL, hookSecret string
	step(t, bctx, "issue webhook", short,
		chromedp.Click("#issue-webhook", chromedp.ByID),
		chromedp.WaitVisible("#webhook_secret", chromedp.ByID),
		chromedp.Value("#webhook_secret", &hookSecret, chromedp.ByID),
		chromedp.Value("#webhook_url", &hookURL, chromedp.ByID))
	shot.take(bctx, "webhook-secret-once")
	project := sb.Manifest().PerProject[0]
	addSandboxHook(t, sb, project.ID, hookURL, hookSecret)
	title := "Opened while the browser watched"
	if _, err := sb.OpenMR(project.ID, title); err != nil {
		t.Fatal(err)
	}
	step(t, bctx, "the MR arrives in the data browser", time.Minute, chromedp.ActionFunc(func(ctx context.Context) error {
		for {
			var body string
			if err := chromedp.Run(ctx, chromedp.Navigate(ls.url+"/data/merge_requests?state=opened"),
				chromedp.Text("main", &body, chromedp.ByQuery)); err != nil {
				return err
			}
			if strings.Contains(body, title) {
				return nil
			}
			select {
			case <-ctx.Done():
				return errors.New("the merge request never appeared")
			case <-time.After(300 * time.Millisecond):
			}
		}
	}))
	shot.take(bctx, "data-browser")

	// Reload: the secret is not shown again.
	var html string
	step(t, bctx, "integration page again", short, chromedp.Navigate(integrationURL),
		chromedp.WaitVisible("#sync", chromedp.ByID), chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, hookSecret) {
		t.Fatal("the webhook secret is shown a second time")
	}
	step(t, bctx, "disconnect dialog", short,
		chromedp.Click("#disconnect", chromedp.ByID),
		chromedp.WaitVisible("#confirm-disconnect", chromedp.ByID))
	shot.take(bctx, "disconnect-confirm")
	step(t, bctx, "disconnect", short,
		chromedp.Click("#confirm-disconnect", chromedp.ByID),
		chromedp.WaitVisible("#ended", chromedp.ByID))
	shot.take(bctx, "disconnected")

	// The token path with a wrong token: the diagnosis says what is wrong.
	step(t, bctx, "token install", short,
		chromedp.Navigate(ls.url+"/connect?method=token&hosting=self-managed"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#base_url", sb.URL(), chromedp.ByID),
		chromedp.SendKeys("#token", "glpat-thisisnotarealtoken00", chromedp.ByID),
		chromedp.Click("#test-connection", chromedp.ByID),
		chromedp.WaitVisible(`#diagnosis li[data-step="token"].step-fail`, chromedp.ByQuery))
	var diag string
	step(t, bctx, "read diagnosis", short, chromedp.Text("#diagnosis", &diag, chromedp.ByID))
	if !strings.Contains(diag, "What to do") {
		t.Errorf("the diagnosis gives no remedy: %s", diag)
	}
	shot.take(bctx, "token-diagnosis")
}

// addSandboxHook adds a project webhook in the sandbox, as a maintainer
// would in GitLab's settings.
func addSandboxHook(t *testing.T, sb *sandbox.Sandbox, projectID int64, url, token string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"url": url, "token": token, "merge_requests_events": true, "push_events": true,
		"issues_events": true, "pipeline_events": true, "enable_ssl_verification": true})
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v4/projects/%d/hooks", sb.URL(), projectID), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("PRIVATE-TOKEN", sb.AdminToken())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("add hook in the sandbox: %d", res.StatusCode)
	}
}
