package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
)

// TestBrowserANewUserCompletesTheOAuthPathAgainstTheSandbox does in
// Chromium what a new user does with the sandbox's own OAuth application
// (the one `labsync sandbox` prints, its redirect URI at labsync's public
// URL): first sign-in, install GitLab with OAuth, GitLab's consent page
// (asking for read_repository among the scopes), back in labsync at the
// project picker, select, watch the sync progress move (at least two
// different values), find rows on the data pages, disconnect and read what
// was destroyed. Each step leaves a screenshot oauth-NN-<step>.png in the
// test's artifact directory (go test -artifacts keeps them).
func TestBrowserANewUserCompletesTheOAuthPathAgainstTheSandbox(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)

	ls := startLabsync(t, ctx)
	// Latency as a GitLab across a network has: the sync takes long
	// enough for the bars to be seen moving.
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 16, Groups: 1, Projects: 6, MRs: 220, Issues: 120,
		Pipelines: 20, Commits: 5, Latency: 250 * time.Millisecond, RedirectURIs: []string{ls.url + integrations.CallbackPath}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	clientID, clientSecret := sb.OAuthApp()
	oneTime, _ := accounts.RandomPassword()
	h, _ := accounts.HashPassword(oneTime)
	boot, _, err := ls.st.BootstrapIfEmpty(ctx, "Default", "owner@localhost", h)
	if err != nil {
		t.Fatal(err)
	}

	bctx := startChromium(t, ctx, chromium, 1280, 900)
	shots := newShots(t)
	n := 0
	shot := func(name string) {
		t.Helper()
		n++
		shots.save(bctx, fmt.Sprintf("oauth-%02d-%s.png", n, name))
	}
	const short = 30 * time.Second

	step(t, bctx, "sign in with the one-time password", short,
		chromedp.Navigate(ls.url+"/"), chromedp.WaitVisible("#email", chromedp.ByID),
		chromedp.SendKeys("#email", "owner@localhost", chromedp.ByID),
		chromedp.SendKeys("#password", oneTime, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#new_password", chromedp.ByID))
	shot("first-password")
	step(t, bctx, "choose a password", short,
		chromedp.SendKeys("#current_password", oneTime, chromedp.ByID),
		chromedp.SendKeys("#new_password", "my own first-hour password", chromedp.ByID),
		chromedp.SendKeys("#confirm_password", "my own first-hour password", chromedp.ByID),
		chromedp.Click("#change-password", chromedp.ByID),
		chromedp.WaitVisible("#install-gitlab", chromedp.ByID))
	shot("connectors-empty")

	step(t, bctx, "install GitLab with OAuth", short,
		chromedp.Click("#install-gitlab", chromedp.ByID),
		chromedp.WaitVisible("#connect-form", chromedp.ByID),
		chromedp.Click("#hosting-self", chromedp.ByID),
		chromedp.WaitVisible("#base_url", chromedp.ByID),
		chromedp.Click("#method-oauth", chromedp.ByID),
		chromedp.SendKeys("#base_url", sb.URL(), chromedp.ByID),
		chromedp.SendKeys("#client_id", clientID, chromedp.ByID),
		chromedp.SendKeys("#client_secret", clientSecret, chromedp.ByID),
		chromedp.SendKeys("#alias", "sandbox", chromedp.ByID))
	var redirect string
	step(t, bctx, "read the redirect URI", short, chromedp.Value("#redirect_uri", &redirect, chromedp.ByID))
	if redirect != ls.url+integrations.CallbackPath {
		t.Fatalf("the install page gives the redirect URI %q; the sandbox's application has %q", redirect, ls.url+integrations.CallbackPath)
	}
	shot("install-form")

	var scopes []string
	step(t, bctx, "continue to the sandbox's consent page", short,
		chromedp.Click("#continue-oauth", chromedp.ByID),
		chromedp.WaitVisible("#authorize", chromedp.ByID),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("li.scope")).map(function(e){return e.textContent})`, &scopes))
	shot("consent")
	for _, want := range integrations.DefaultScopes {
		if !contains(scopes, want) {
			t.Errorf("the consent page asks for %v, without %s", scopes, want)
		}
	}
	if !contains(scopes, "read_repository") {
		t.Fatalf("the consent page does not ask for read_repository: %v", scopes)
	}

	step(t, bctx, "authorize and land on the project picker", short,
		chromedp.Click("#authorize", chromedp.ByID),
		chromedp.WaitVisible("#picker-form", chromedp.ByID))
	shot("picker")
	var loc string
	step(t, bctx, "picker location", short, chromedp.Location(&loc))
	m := regexp.MustCompile(`/integrations/(\d+)/projects`).FindStringSubmatch(loc)
	if m == nil || !strings.HasPrefix(loc, ls.url) {
		t.Fatalf("the OAuth round trip ended at %s, not at labsync's picker", loc)
	}
	integrationURL := ls.url + "/integrations/" + m[1]

	step(t, bctx, "select the group and start the sync", short,
		chromedp.Click(`input[name="group"]`, chromedp.ByQuery),
		chromedp.Click("#save-and-sync", chromedp.ByID),
		chromedp.WaitVisible("#sync", chromedp.ByID))
	shot("sync-started")

	// Watch the overall bar as a person would: its value and words, until
	// the sync is idle with every project done. The page reloads itself
	// when the sync ends, so an evaluation may meet a page being replaced.
	seen := map[string]bool{}
	var order []string
	shotMid := false
	step(t, bctx, "watch the sync progress", 3*time.Minute, chromedp.ActionFunc(func(ctx context.Context) error {
		for {
			var st struct {
				State string `json:"state"`
				Value int    `json:"value"`
				Text  string `json:"text"`
			}
			err := chromedp.Evaluate(`(function(){
				var s = document.getElementById("sync-state"), b = document.getElementById("bar-all");
				var c = b ? b.parentElement.querySelector(".count") : null;
				return {state: s ? s.textContent : "", value: b ? b.value : -1, text: c ? c.textContent : ""};
			})()`, &st).Do(ctx)
			if err == nil && st.Value >= 0 {
				key := fmt.Sprintf("%s: %d%% %s", st.State, st.Value, st.Text)
				if !seen[key] {
					seen[key] = true
					order = append(order, key)
				}
				if !shotMid && st.Value > 0 && st.Value < 100 {
					// The page may be reloading itself: try again at the
					// next value rather than fail on a blank page.
					shotMid = shots.trySave(ctx, fmt.Sprintf("oauth-%02d-sync-moving.png", n+1))
					if shotMid {
						n++
					}
				}
				if st.State == "idle" && st.Value == 100 {
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the sync did not end (seen %q, last evaluation error %v)", order, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	shot("sync-done")
	t.Logf("overall progress seen: %q", order)
	values := map[string]bool{}
	for _, k := range order {
		values[k[strings.Index(k, ":")+1:]] = true
	}
	if len(values) < 2 {
		t.Fatalf("the progress never moved: one value seen, %q", order)
	}
	var bars string
	step(t, bctx, "read the finished bars", short, chromedp.Text("#sync", &bars, chromedp.ByID))
	if !regexp.MustCompile(`6 of 6 projects`).MatchString(bars) {
		t.Errorf("the finished sync does not say it counted the 6 projects: %s", bars)
	}

	for _, kind := range []string{"merge_requests", "issues", "pipelines"} {
		var rows int
		step(t, bctx, "data page "+kind, short,
			chromedp.Navigate(ls.url+"/data/"+kind),
			chromedp.WaitVisible("#data-table", chromedp.ByID),
			chromedp.Evaluate(`document.querySelectorAll("#data-table tbody tr").length`, &rows))
		shot("data-" + kind)
		if rows == 0 {
			t.Errorf("the %s page shows no rows after the sync", kind)
		}
	}

	// GitLab refuses the refresh token one day (an admin revoked the
	// grant): the list warns, and the page offers the way back.
	id, _ := strconv.ParseInt(m[1], 10, 64)
	if err := ls.st.SetIntegrationStatus(ctx, boot.Org.ID, id, store.StatusNeedsReauthorization, "GitLab refused the refresh token (invalid_grant)"); err != nil {
		t.Fatal(err)
	}
	var warning string
	step(t, bctx, "the connectors list warns", short,
		chromedp.Navigate(ls.url+"/connectors"),
		chromedp.WaitVisible("#connected ul.warnings", chromedp.ByQuery),
		chromedp.Text("#connected ul.warnings", &warning, chromedp.ByQuery))
	shot("connectors-warning")
	if !strings.Contains(warning, "re-authorisation") {
		t.Errorf("the connectors list warns: %q", warning)
	}
	var status string
	step(t, bctx, "authorise again", short,
		chromedp.Click("#connected ul.warnings a", chromedp.ByQuery),
		chromedp.WaitVisible("#reauthorize", chromedp.ByID))
	shot("needs-reauthorization")
	step(t, bctx, "authorise again at the sandbox", short,
		chromedp.Click("#reauthorize", chromedp.ByID),
		chromedp.WaitVisible("#authorize", chromedp.ByID),
		chromedp.Click("#authorize", chromedp.ByID),
		chromedp.WaitVisible("#integration-status", chromedp.ByID),
		chromedp.Text("#integration-status", &status, chromedp.ByID))
	shot("reauthorized")
	if status != "connected" {
		t.Errorf("after authorising again the status is %q", status)
	}

	step(t, bctx, "disconnect", short,
		chromedp.Navigate(integrationURL),
		chromedp.WaitVisible("#disconnect", chromedp.ByID),
		chromedp.Click("#disconnect", chromedp.ByID),
		chromedp.WaitVisible("#confirm-disconnect", chromedp.ByID))
	shot("disconnect-confirm")
	var ended string
	step(t, bctx, "disconnected", short,
		chromedp.Click("#confirm-disconnect", chromedp.ByID),
		chromedp.WaitVisible("#ended", chromedp.ByID),
		chromedp.Text("#ended", &ended, chromedp.ByID))
	shot("disconnected")
	for _, want := range []string{"owner@localhost", "OAuth token: revoked at GitLab", "webhook secret", "purge"} {
		if !strings.Contains(ended, want) {
			t.Errorf("the disconnected page does not say %q: %s", want, ended)
		}
	}
	var body string
	step(t, bctx, "the whole disconnected page", short, chromedp.Text("main", &body, chromedp.ByQuery))
	for _, never := range []string{"receiving deliveries", "polls every minute", "polling every", "disconnected by user"} {
		if strings.Contains(body, never) {
			t.Errorf("the disconnected page still says %q", never)
		}
	}
	step(t, bctx, "connectors after the disconnect", short,
		chromedp.Navigate(ls.url+"/connectors"), chromedp.WaitVisible("#disconnected", chromedp.ByID))
	shot("connectors-disconnected")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// TestBrowserTheMembersTableScrollsInItsOwnBoxOnA375PixelScreen opens the
// members page at 375 px wide: the page does not scroll sideways, the
// table scrolls inside its own box, every date stays on one line and the
// role control is reachable by scrolling the box. It saves
// members-375.png and members-375-scrolled.png.
func TestBrowserTheMembersTableScrollsInItsOwnBoxOnA375PixelScreen(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	f := newFixture(t, accounts.Options{})
	bctx := startChromium(t, ctx, chromium, 375, 812)
	shots := newShots(t)
	const short = 30 * time.Second
	step(t, bctx, "phone viewport", short, chromedp.EmulateViewport(375, 812))
	step(t, bctx, "sign in", short,
		chromedp.Navigate(f.srv.URL+"/signin"), chromedp.WaitVisible("#email", chromedp.ByID),
		chromedp.SendKeys("#email", "owner@a.test", chromedp.ByID),
		chromedp.SendKeys("#password", ownerPassword, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#install-gitlab", chromedp.ByID),
		chromedp.Navigate(f.srv.URL+"/members"), chromedp.WaitVisible("#members", chromedp.ByID))
	shots.save(bctx, "members-375.png")
	var got struct {
		PageWide   bool     `json:"pageWide"`
		BoxScrolls bool     `json:"boxScrolls"`
		Wrapped    []string `json:"wrapped"`
	}
	step(t, bctx, "measure", short, chromedp.Evaluate(`(function(){
		var box = document.getElementById("members").parentElement;
		var wrapped = [];
		document.querySelectorAll("#members tbody td:nth-child(4), #members tbody td:nth-child(5)").forEach(function(td){
			var lh = parseFloat(getComputedStyle(td).lineHeight) || 20;
			var r = document.createRange(); r.selectNodeContents(td);
			if (r.getBoundingClientRect().height > lh * 1.5) wrapped.push(td.textContent.trim());
		});
		return {pageWide: document.documentElement.scrollWidth > window.innerWidth,
			boxScrolls: getComputedStyle(box).overflowX === "auto" && box.scrollWidth > box.clientWidth,
			wrapped: wrapped};
	})()`, &got))
	if got.PageWide {
		t.Error("the page scrolls sideways at 375 px")
	}
	if !got.BoxScrolls {
		t.Error("the members table does not scroll inside its own box")
	}
	if len(got.Wrapped) > 0 {
		t.Errorf("dates wrap over several lines: %q", got.Wrapped)
	}
	var visible bool
	step(t, bctx, "scroll the box to the actions", short,
		chromedp.Evaluate(`(function(){ var b = document.getElementById("members").parentElement; b.scrollLeft = b.scrollWidth; return true; })()`, &visible),
		chromedp.Evaluate(`(function(){ var s = document.querySelector("#members select"); var r = s.getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth; })()`, &visible))
	shots.save(bctx, "members-375-scrolled.png")
	if !visible {
		t.Error("the role control cannot be brought into view by scrolling the table's box")
	}
}

// trySave saves a screenshot if the page can be captured now (not while
// it reloads itself) and reports whether it did.
func (s *shots) trySave(ctx context.Context, name string) bool {
	var buf []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&buf, 100)); err != nil {
		return false
	}
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("screenshot: %s", path)
	return true
}
