package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/store"
)

// TestBrowserOwnerManagesMembersTokensAndTheAuditLog walks the owner's
// pages in Chromium at a phone's width, from the navigation: invites
// someone with the keyboard (the code shows once, a reload shows it no
// more), makes a member an admin and then removes them (after a question),
// creates an API token (it works on the API) and revokes it, reads the
// audit log (newest first) and opens an integration's credentials. Every screen passes the label, name,
// contrast and no-sideways-scroll checks of TestBrowserNarrowAndAccessible,
// and Tab walks the token form in order. It saves admin-<screen>.png.
func TestBrowserOwnerManagesMembersTokensAndTheAuditLog(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)

	f := newFixture(t, accounts.Options{})
	base := f.srv.URL
	bctx := startChromium(t, ctx, chromium, 390, 844)
	shot := newShots(t)
	const short = 30 * time.Second
	step(t, bctx, "phone viewport", short, chromedp.EmulateViewport(390, 844))
	checks := func(screen string) {
		t.Helper()
		shot.save(bctx, "admin-"+screen+".png")
		var problems []string
		step(t, bctx, screen+": checks", short, chromedp.Evaluate(a11yChecksJS, &problems))
		for _, p := range problems {
			t.Errorf("%s: %s", screen, p)
		}
	}

	step(t, bctx, "sign in", short,
		chromedp.Navigate(base+"/signin"), chromedp.WaitVisible("#email", chromedp.ByID),
		chromedp.SendKeys("#email", "owner@a.test", chromedp.ByID),
		chromedp.SendKeys("#password", ownerPassword, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#install-gitlab", chromedp.ByID))

	// Members, reached from the navigation; the invitation is sent with Enter.
	step(t, bctx, "members from the navigation", short,
		chromedp.Click(`nav a[href="/members"]`, chromedp.ByQuery), chromedp.WaitVisible("#members", chromedp.ByID))
	checks("members")
	var code string
	step(t, bctx, "invite with the keyboard", short,
		chromedp.SetValue("#invite-role", "admin", chromedp.ByID),
		chromedp.SendKeys("#invite-email", "ada@example.com"+kb.Enter, chromedp.ByID),
		chromedp.WaitVisible("#invitation", chromedp.ByID),
		chromedp.Value("#invitation_code", &code, chromedp.ByID))
	if !strings.HasPrefix(code, accounts.InvitationPrefix) {
		t.Fatalf("invitation code shown: %q", code)
	}
	checks("invited")
	var html string
	step(t, bctx, "reload after the invitation", short, chromedp.Reload(),
		chromedp.WaitVisible("#invitation-gone", chromedp.ByID), chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, code) {
		t.Fatal("a reload shows the invitation code again")
	}
	member := strconv.FormatInt(f.member.ID, 10)
	step(t, bctx, "make the member an admin", short,
		chromedp.SetValue("#role-"+member, "admin", chromedp.ByID),
		chromedp.Click(`form[action="/members/`+member+`/role"] button`, chromedp.ByQuery),
		// The page before says "#invitation-gone" in a notice too: wait for the next one.
		chromedp.WaitNotPresent("#invitation-gone", chromedp.ByID),
		chromedp.WaitVisible(`p.notice[role="status"]`, chromedp.ByQuery))
	if r, err := f.st.MemberRole(ctx, f.org, f.member.ID); err != nil || r != store.RoleAdmin {
		t.Fatalf("the member's role after the change: %s %v", r, err)
	}
	step(t, bctx, "ask to remove the member", short,
		chromedp.Click(`#members a[href="/members/`+member+`/remove"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#confirm-remove", chromedp.ByID))
	checks("member-remove")
	step(t, bctx, "remove the member", short,
		chromedp.Click("#confirm-remove", chromedp.ByID),
		chromedp.WaitVisible("#members", chromedp.ByID))
	if _, err := f.st.MemberRole(ctx, f.org, f.member.ID); err == nil {
		t.Fatal("the member is still a member after the removal")
	}

	// API tokens: create one, use it, revoke it.
	step(t, bctx, "tokens from the navigation", short,
		chromedp.Click(`nav a[href="/tokens"]`, chromedp.ByQuery), chromedp.WaitVisible("#token-form", chromedp.ByID))
	checks("tokens")
	tabWalk(t, bctx, "tokens", "token-name", "token-days", ".primary")
	var tok string
	step(t, bctx, "create a token", short,
		chromedp.SendKeys("#token-name", "ci runner", chromedp.ByID),
		chromedp.SetValue("#token-days", "30", chromedp.ByID),
		chromedp.Click(`#token-form button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#new-token", chromedp.ByID),
		chromedp.Value("#api_token", &tok, chromedp.ByID))
	checks("token-created")
	if st := apiStatus(t, f, "/api/v1/tokens", tok); st != http.StatusOK {
		t.Fatalf("the token the page showed does not work: %d", st)
	}
	step(t, bctx, "revoke the token", short,
		chromedp.Click(`#tokens form[action$="/revoke"] button`, chromedp.ByQuery),
		chromedp.WaitNotPresent("#new-token", chromedp.ByID),
		chromedp.WaitVisible(`p.notice[role="status"]`, chromedp.ByQuery),
		chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, tok) {
		t.Fatal("the token is shown again after revoking it")
	}
	if st := apiStatus(t, f, "/api/v1/tokens", tok); st != http.StatusUnauthorized {
		t.Fatalf("the revoked token still works: %d", st)
	}

	// The audit log shows what was just done, newest first.
	var first, who string
	step(t, bctx, "audit log from the navigation", short,
		chromedp.Click(`nav a[href="/audit"]`, chromedp.ByQuery), chromedp.WaitVisible("#audit", chromedp.ByID),
		chromedp.Text(`#audit tbody tr:first-child td:nth-child(3)`, &first, chromedp.ByQuery),
		chromedp.Text(`#audit tbody tr:first-child td:nth-child(2)`, &who, chromedp.ByQuery))
	if first != "api_token.revoked" || who != "owner@a.test" {
		t.Fatalf("the newest audit entry is %q by %q, want api_token.revoked by owner@a.test", first, who)
	}
	checks("audit")

	// Credentials of an integration, from the navigation.
	integ := strconv.FormatInt(f.integA, 10)
	step(t, bctx, "credentials from the navigation", short,
		chromedp.Click(`nav a[href="/credentials"]`, chromedp.ByQuery), chromedp.WaitVisible("#credentials", chromedp.ByID),
		chromedp.Click(`#credentials a[href="/integrations/`+integ+`/credentials"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#token-form", chromedp.ByID))
	checks("credentials")
}
