package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
)

var (
	invitationRE = regexp.MustCompile(`value="(lsi_[A-Za-z0-9_-]+)"`)
	apiTokenRE   = regexp.MustCompile(`id="api_token" type="text" readonly value="([^"]+)"`)
)

// count runs a COUNT(*) query and fails the test on error.
func count(t *testing.T, f *fixture, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.st.DB().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// apiStatus is the status of GET path on the API with a bearer token.
func apiStatus(t *testing.T, f *fixture, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestAdminPagesRefuseMembersAsTheAPIDoes(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("member@a.test")
	csrf := csrfOf(t, b.get("/tokens"))
	ownerID := strconv.FormatInt(f.owner.ID, 10)
	integ := strconv.FormatInt(f.integA, 10)
	cases := []struct {
		name, method, path string
		form               url.Values
	}{
		{"members list", "GET", "/members", nil},
		{"invite", "POST", "/members/invite", url.Values{"email": {"x@a.test"}, "role": {"member"}}},
		{"change role", "POST", "/members/" + ownerID + "/role", url.Values{"role": {"member"}}},
		{"remove, the question", "GET", "/members/" + ownerID + "/remove", nil},
		{"remove", "POST", "/members/" + ownerID + "/remove", nil},
		{"audit log", "GET", "/audit", nil},
		{"credentials list", "GET", "/credentials", nil},
		{"credentials page", "GET", "/integrations/" + integ + "/credentials", nil},
		{"replace token", "POST", "/integrations/" + integ + "/credentials/token", url.Values{"token": {"glpat-x"}}},
		{"signing token", "POST", "/integrations/" + integ + "/credentials/signing", url.Values{"signing_token": {"whsec_x"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p page
			if c.method == "GET" {
				p = b.get(c.path)
			} else {
				form := url.Values{"csrf_token": {csrf}}
				for k, v := range c.form {
					form[k] = v
				}
				p = b.post(c.path, form)
			}
			if p.status != http.StatusForbidden {
				t.Fatalf("%s %s as a member: %d, want 403", c.method, c.path, p.status)
			}
		})
	}
	if n := count(t, f, `SELECT COUNT(*) FROM invitations`); n != 0 {
		t.Fatalf("a member's refused invitation was stored: %d", n)
	}
	if role, _ := f.st.MemberRole(context.Background(), f.org, f.owner.ID); role != store.RoleOwner {
		t.Fatalf("the owner's role after a member's refused change: %s", role)
	}
	// The navigation offers a member only what a member may use.
	home := b.get("/tokens")
	for _, href := range []string{`href="/members"`, `href="/audit"`, `href="/credentials"`} {
		if strings.Contains(home.body, href) {
			t.Errorf("a member's navigation links %s", href)
		}
	}
}

func TestAdminFormsWithoutTheCSRFTokenChangeNothing(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	memberID := strconv.FormatInt(f.member.ID, 10)
	cases := []struct {
		name, path string
		form       url.Values
	}{
		{"invite", "/members/invite", url.Values{"email": {"x@a.test"}}},
		{"change role", "/members/" + memberID + "/role", url.Values{"role": {"admin"}}},
		{"remove", "/members/" + memberID + "/remove", url.Values{}},
		{"create token", "/tokens", url.Values{"name": {"ci"}, "expires_in_days": {"30"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, tok := range []string{"", "forged"} {
				form := url.Values{}
				for k, v := range c.form {
					form[k] = v
				}
				if tok != "" {
					form.Set("csrf_token", tok)
				}
				if p := b.post(c.path, form); p.status != http.StatusForbidden || !strings.Contains(p.body, "Form expired") {
					t.Fatalf("POST %s with CSRF token %q: %d", c.path, tok, p.status)
				}
			}
		})
	}
	if n := count(t, f, `SELECT COUNT(*) FROM invitations`); n != 0 {
		t.Errorf("invitations made without CSRF: %d", n)
	}
	if n := count(t, f, `SELECT COUNT(*) FROM api_tokens`); n != 0 {
		t.Errorf("API tokens made without CSRF: %d", n)
	}
	if role, err := f.st.MemberRole(context.Background(), f.org, f.member.ID); err != nil || role != store.RoleMember {
		t.Errorf("the member after forged changes: %s %v", role, err)
	}
}

func TestAnInvitationCodeIsShownOnceAfterARedirect(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	p := b.get("/members")
	if p.status != 200 || !strings.Contains(p.body, "member@a.test") || !strings.Contains(p.body, "owner@a.test") {
		t.Fatalf("members page: %d %.400s", p.status, p.body)
	}
	p = b.post("/members/invite", url.Values{"csrf_token": {csrfOf(t, p)}, "email": {"ada@example.com"}, "role": {"admin"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/members?notice=invited" {
		t.Fatalf("invite: %d %q", p.status, p.header.Get("Location"))
	}
	if strings.Contains(p.body, "lsi_") {
		t.Fatal("the POST's own answer carries the code")
	}
	p = b.get("/members?notice=invited")
	m := invitationRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no invitation code after the redirect: %.600s", p.body)
	}
	h := sha256.Sum256([]byte(m[1]))
	if n := count(t, f, `SELECT COUNT(*) FROM invitations WHERE code_hash = $1 AND email = 'ada@example.com' AND role = 'admin'`, h[:]); n != 1 {
		t.Fatalf("the shown code is not the stored invitation's: %d rows", n)
	}
	if n := count(t, f, `SELECT COUNT(*) FROM invitations WHERE code_hash = $1`, []byte(m[1])); n != 0 {
		t.Fatal("the code is stored in plaintext")
	}
	again := b.get("/members?notice=invited")
	if strings.Contains(again.body, m[1]) || strings.Contains(again.body, "lsi_") || !strings.Contains(again.body, `id="invitation-gone"`) {
		t.Fatalf("a reload shows the code again or does not say it was shown: %.600s", again.body)
	}
	if n := count(t, f, `SELECT COUNT(*) FROM invitations`); n != 1 {
		t.Fatalf("a reload made another invitation: %d", n)
	}
	// Another browser of the same user does not get the code either.
	other := f.browser(t)
	other.mustSignin("owner@a.test")
	b.post("/members/invite", url.Values{"csrf_token": {csrfOf(t, b.get("/members"))}, "email": {"bob@example.com"}})
	if p := other.get("/members?notice=invited"); strings.Contains(p.body, "lsi_") {
		t.Fatal("another session was shown the invitation code")
	}
	if p := b.get("/members?notice=invited"); invitationRE.FindStringSubmatch(p.body) == nil {
		t.Fatal("the inviting session was not shown its code")
	}
}

func TestInvitingAMemberAgainOrABadAddressIsExplainedOnThePage(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	cases := []struct {
		name, email string
		status      int
		says        string
	}{
		{"not an address", "not an address", http.StatusBadRequest, "plain address"},
		{"already a member", "member@a.test", http.StatusConflict, "already a member"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.post("/members/invite", url.Values{"csrf_token": {csrfOf(t, b.get("/members"))}, "email": {c.email}})
			if p.status != c.status || !strings.Contains(p.body, `id="form-error"`) || !strings.Contains(p.body, c.says) {
				t.Fatalf("invite %q: %d %.600s", c.email, p.status, p.body)
			}
			if !strings.Contains(p.body, `id="invite-form"`) {
				t.Fatal("the page with the error has no form to try again")
			}
		})
	}
}

func TestRolesChangeOnThePageAsTheServiceAllows(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	owner := f.browser(t)
	owner.mustSignin("owner@a.test")
	post := func(b *browser, path string, form url.Values) page {
		form.Set("csrf_token", csrfOf(t, b.get("/tokens")))
		return b.post(path, form)
	}
	uid := func(id int64) string { return strconv.FormatInt(id, 10) }

	// The last owner stays an owner: neither demoted nor removed.
	p := post(owner, "/members/"+uid(f.owner.ID)+"/role", url.Values{"role": {"member"}})
	if p.status != http.StatusConflict || !strings.Contains(p.body, "at least one owner") {
		t.Fatalf("demote the last owner: %d %.400s", p.status, p.body)
	}
	p = post(owner, "/members/"+uid(f.owner.ID)+"/remove", url.Values{})
	if p.status != http.StatusConflict || !strings.Contains(p.body, "at least one owner") {
		t.Fatalf("remove the last owner: %d %.400s", p.status, p.body)
	}
	if r, _ := f.st.MemberRole(ctx, f.org, f.owner.ID); r != store.RoleOwner {
		t.Fatalf("the last owner is now %s", r)
	}

	// The owner makes the member an admin.
	p = post(owner, "/members/"+uid(f.member.ID)+"/role", url.Values{"role": {"admin"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/members?notice=role" {
		t.Fatalf("make admin: %d %q", p.status, p.header.Get("Location"))
	}
	if r, _ := f.st.MemberRole(ctx, f.org, f.member.ID); r != store.RoleAdmin {
		t.Fatalf("role after the change: %s", r)
	}

	// An admin may neither make an owner nor change one (sessions carry the
	// role they were made with, so the admin signs in afresh).
	admin := f.browser(t)
	admin.mustSignin("member@a.test")
	if p := admin.get("/members"); p.status != 200 || strings.Contains(p.body, "<option>owner</option>") {
		t.Fatalf("an admin's members page: %d, offers owner: %v", p.status, strings.Contains(p.body, "<option>owner</option>"))
	}
	other, _ := f.st.CreateUser(ctx, "c@a.test", "C", "")
	f.st.AddMember(ctx, f.org, other.ID, store.RoleMember)
	for name, c := range map[string]struct {
		path string
		form url.Values
	}{
		"make an owner":   {"/members/" + uid(other.ID) + "/role", url.Values{"role": {"owner"}}},
		"demote an owner": {"/members/" + uid(f.owner.ID) + "/role", url.Values{"role": {"member"}}},
		"remove an owner": {"/members/" + uid(f.owner.ID) + "/remove", url.Values{}},
		"invite an owner": {"/members/invite", url.Values{"email": {"d@a.test"}, "role": {"owner"}}},
	} {
		t.Run(name, func(t *testing.T) {
			if p := post(admin, c.path, c.form); p.status != http.StatusForbidden {
				t.Fatalf("%s as an admin: %d %.300s", name, p.status, p.body)
			}
		})
	}
	if r, _ := f.st.MemberRole(ctx, f.org, other.ID); r != store.RoleMember {
		t.Fatalf("an admin made %s", r)
	}
	if p := admin.get("/members/" + uid(f.owner.ID) + "/remove"); p.status != http.StatusForbidden {
		t.Fatalf("an admin asking to remove an owner: %d", p.status)
	}

	// Another organisation's user is not found.
	b, _ := f.st.CreateUser(ctx, "x@b.test", "X", "")
	f.st.AddMember(ctx, f.orgB, b.ID, store.RoleMember)
	if p := post(owner, "/members/"+uid(b.ID)+"/remove", url.Values{}); p.status != http.StatusNotFound {
		t.Fatalf("remove another organisation's member: %d", p.status)
	}

	if p := owner.get("/members/" + uid(b.ID) + "/remove"); p.status != http.StatusNotFound {
		t.Fatalf("ask to remove another organisation's member: %d", p.status)
	}

	// Removing asks first, saying what goes with the member; then it works,
	// and both changes are in the audit log, newest first.
	if _, err := f.deps.Accounts.CreateToken(ctx, accounts.Principal{OrgID: f.org, UserID: other.ID, Role: store.RoleMember}, "c's", 7); err != nil {
		t.Fatal(err)
	}
	if p := owner.get("/members"); !strings.Contains(p.body, `href="/members/`+uid(other.ID)+`/remove"`) {
		t.Fatal("the members list does not link the removal question")
	}
	q := owner.get("/members/" + uid(other.ID) + "/remove")
	if q.status != 200 || !strings.Contains(q.body, `id="confirm-remove"`) || !strings.Contains(q.body, "1 active API token here") {
		t.Fatalf("the removal question: %d %.600s", q.status, q.body)
	}
	if _, err := f.st.MemberRole(ctx, f.org, other.ID); err != nil {
		t.Fatal("asking removed the member")
	}
	if p := post(owner, "/members/"+uid(other.ID)+"/remove", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("remove: %d %.300s", p.status, p.body)
	}
	if _, err := f.st.MemberRole(ctx, f.org, other.ID); err == nil {
		t.Fatal("the removed member is still a member")
	}
	audit := owner.get("/audit")
	removed, changed := strings.Index(audit.body, "member.removed"), strings.Index(audit.body, "member.role_changed")
	if audit.status != 200 || removed < 0 || changed < 0 || removed > changed {
		t.Fatalf("audit log: %d, removed at %d, role change at %d (want both, newest first)", audit.status, removed, changed)
	}
}

func TestANewAPITokenIsShownOnceAndWorksUntilRevoked(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("member@a.test")
	p := b.post("/tokens", url.Values{"csrf_token": {csrfOf(t, b.get("/tokens"))}, "name": {"ci runner"}, "expires_in_days": {"30"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/tokens?notice=token" {
		t.Fatalf("create: %d %q %.300s", p.status, p.header.Get("Location"), p.body)
	}
	if strings.Contains(p.body, accounts.APITokenPrefix) {
		t.Fatal("the POST's own answer carries the token")
	}
	p = b.get("/tokens?notice=token")
	m := apiTokenRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no token after the redirect: %.800s", p.body)
	}
	tok := m[1]
	if st := apiStatus(t, f, "/api/v1/tokens", tok); st != 200 {
		t.Fatalf("the shown token does not work on the API: %d", st)
	}
	again := b.get("/tokens?notice=token")
	if strings.Contains(again.body, tok) || !strings.Contains(again.body, `id="token-gone"`) {
		t.Fatal("a reload shows the token again, or does not say it was shown")
	}
	if !strings.Contains(again.body, "ci runner") || !strings.Contains(again.body, "active") {
		t.Fatalf("the list does not show the token: %.800s", again.body)
	}
	if n := count(t, f, `SELECT COUNT(*) FROM api_tokens`); n != 1 {
		t.Fatalf("tokens after a reload: %d", n)
	}
	var id int64
	if err := f.st.DB().QueryRow(`SELECT id FROM api_tokens`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	p = b.post("/tokens/"+strconv.FormatInt(id, 10)+"/revoke", url.Values{"csrf_token": {csrfOf(t, again)}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %.300s", p.status, p.body)
	}
	if st := apiStatus(t, f, "/api/v1/tokens", tok); st != http.StatusUnauthorized {
		t.Fatalf("a revoked token still works: %d", st)
	}
	if p := b.get("/tokens"); !strings.Contains(p.body, "revoked") || strings.Contains(p.body, `action="/tokens/`+strconv.FormatInt(id, 10)+`/revoke"`) {
		t.Fatal("the list does not show the token revoked, or still offers to revoke it")
	}
}

func TestTokenFormsRefuseBadInputOnThePage(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("member@a.test")
	cases := []struct{ name, tokenName, days, says string }{
		{"no name", "", "30", "name must be"},
		{"days not a number", "ci", "soon", "whole number of days"},
		{"too many days", "ci", "9999", "expires_in_days must be between"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.post("/tokens", url.Values{"csrf_token": {csrfOf(t, b.get("/tokens"))}, "name": {c.tokenName}, "expires_in_days": {c.days}})
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, c.says) || !strings.Contains(p.body, `id="token-form"`) {
				t.Fatalf("%d %.600s", p.status, p.body)
			}
		})
	}
	if n := count(t, f, `SELECT COUNT(*) FROM api_tokens`); n != 0 {
		t.Fatalf("refused forms made %d tokens", n)
	}
}

func TestAMemberSeesAndRevokesOnlyTheirOwnTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	ownerTok, err := f.deps.Accounts.CreateToken(ctx, accounts.Principal{OrgID: f.org, UserID: f.owner.ID, Role: store.RoleOwner}, "owner's", 30)
	if err != nil {
		t.Fatal(err)
	}
	memberTok, err := f.deps.Accounts.CreateToken(ctx, accounts.Principal{OrgID: f.org, UserID: f.member.ID, Role: store.RoleMember}, "member's", 30)
	if err != nil {
		t.Fatal(err)
	}
	m := f.browser(t)
	m.mustSignin("member@a.test")
	p := m.get("/tokens")
	if !strings.Contains(p.body, "member&#39;s") || strings.Contains(p.body, "owner&#39;s") {
		t.Fatalf("a member's list: %.800s", p.body)
	}
	p = m.post("/tokens/"+strconv.FormatInt(ownerTok.APIToken.ID, 10)+"/revoke", url.Values{"csrf_token": {csrfOf(t, p)}})
	if p.status != http.StatusNotFound {
		t.Fatalf("a member revoking the owner's token: %d", p.status)
	}
	if st := apiStatus(t, f, "/api/v1/tokens", ownerTok.Token); st != 200 {
		t.Fatalf("the owner's token after a member's refused revocation: %d", st)
	}
	// The owner sees both, with their holders, and may revoke the member's.
	o := f.browser(t)
	o.mustSignin("owner@a.test")
	p = o.get("/tokens")
	if !strings.Contains(p.body, "member&#39;s") || !strings.Contains(p.body, "owner&#39;s") || !strings.Contains(p.body, "member@a.test") {
		t.Fatalf("the owner's list: %.800s", p.body)
	}
	p = o.post("/tokens/"+strconv.FormatInt(memberTok.APIToken.ID, 10)+"/revoke", url.Values{"csrf_token": {csrfOf(t, p)}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("the owner revoking the member's token: %d", p.status)
	}
	if st := apiStatus(t, f, "/api/v1/tokens", memberTok.Token); st != http.StatusUnauthorized {
		t.Fatalf("the member's revoked token: %d", st)
	}
}

func TestTheAuditLogIsNewestFirstAndPaged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	// Signed in first: signing in is audited too, and is then older than
	// the 60 entries below.
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	for i := 1; i <= 60; i++ {
		if err := f.st.Audit(ctx, store.AuditEntry{OrgID: f.org, Actor: "owner@a.test", Action: fmt.Sprintf("test.step%02d", i), Target: "thing:" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	f.st.Audit(ctx, store.AuditEntry{OrgID: f.orgB, Actor: "owner@b.test", Action: "test.other_org"})
	rowRE := regexp.MustCompile(`<td>(test\.[a-z_0-9]+)</td>`)
	actions := func(p page) []string {
		var out []string
		for _, m := range rowRE.FindAllStringSubmatch(p.body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	p := b.get("/audit")
	first := actions(p)
	if p.status != 200 || len(first) != 50 || first[0] != "test.step60" || first[49] != "test.step11" {
		t.Fatalf("first page: %d, %d entries from %v", p.status, len(first), first)
	}
	next := regexp.MustCompile(`href="(/audit\?before=\d+)" rel="next"`).FindStringSubmatch(p.body)
	if next == nil {
		t.Fatal("no link to older entries")
	}
	p = b.get(next[1])
	second := actions(p)
	if len(second) != 10 || second[0] != "test.step10" || second[9] != "test.step01" {
		t.Fatalf("second page: %v", second)
	}
	if strings.Contains(p.body, "test.other_org") {
		t.Fatal("another organisation's entry is shown")
	}
	for _, bad := range []string{"/audit?before=x", "/audit?before=-1"} {
		if p := b.get(bad); p.status != 200 || len(actions(p)) != 50 {
			t.Fatalf("%s: %d", bad, p.status)
		}
	}
}

func TestAnExpiringTokenIsReplacedOnlyAfterItPassesTheCheck(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 5, Groups: 1, Projects: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	expiring := sb.CreateToken(sandbox.TokenSpec{User: "root", ExpiresAt: sb.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 5)})
	res, err := f.deps.Integrations.ConnectToken(ctx, integrations.Actor{OrgID: f.org, UserID: f.owner.ID},
		integrations.TokenInput{BaseURL: sb.URL(), Token: secret.New(expiring), Alias: "sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/integrations/" + strconv.FormatInt(res.Integration.ID, 10) + "/credentials"
	sealed := func() []byte {
		var b []byte
		if err := f.st.DB().QueryRow(`SELECT ciphertext FROM credentials WHERE integration_id = $1`, res.Integration.ID).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := sealed()
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	if p := b.get("/credentials"); p.status != 200 || !strings.Contains(p.body, `href="`+path+`"`) {
		t.Fatalf("the credentials list does not link the integration: %d", p.status)
	}
	p := b.get(path)
	if p.status != 200 || !strings.Contains(p.body, `id="token-form"`) || !strings.Contains(p.body, `id="expiry-warning"`) {
		t.Fatalf("credentials page of an expiring token: %d, warning shown: %v", p.status, strings.Contains(p.body, `id="expiry-warning"`))
	}
	const wrong = "glpat-this-token-does-not-exist"
	p = b.post(path+"/token", url.Values{"csrf_token": {csrfOf(t, p)}, "token": {wrong}})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, `id="diagnosis"`) || !strings.Contains(p.body, `id="token-error"`) {
		t.Fatalf("a token GitLab refuses: %d %.800s", p.status, p.body)
	}
	if strings.Contains(p.body, wrong) {
		t.Fatal("the refused token is sent back in the page")
	}
	if string(sealed()) != string(before) {
		t.Fatal("a refused token replaced the stored one")
	}
	p = b.post(path+"/token", url.Values{"csrf_token": {csrfOf(t, p)}, "token": {sb.AdminToken()}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != path+"?done=token" {
		t.Fatalf("a good token: %d %q %.600s", p.status, p.header.Get("Location"), p.body)
	}
	if string(sealed()) == string(before) {
		t.Fatal("the good token was not saved")
	}
	if p := b.get(path + "?done=token"); !strings.Contains(p.body, `id="done"`) || strings.Contains(p.body, sb.AdminToken()) ||
		strings.Contains(p.body, `id="expiry-warning"`) {
		t.Fatal("the page after the replacement does not say so, shows the token, or still warns of the old expiry")
	}

	// Another GitLab account's token is taken, and the page says so once.
	alice := sb.CreateToken(sandbox.TokenSpec{User: "alice"})
	p = b.post(path+"/token", url.Values{"csrf_token": {csrfOf(t, b.get(path))}, "token": {alice}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("alice's token: %d %.600s", p.status, p.body)
	}
	if p := b.get(path + "?done=token"); !strings.Contains(p.body, "@alice") || strings.Contains(p.body, alice) {
		t.Fatalf("the page does not say the token belongs to another account, or shows it: %.800s", p.body)
	}
	if p := b.get(path + "?done=token"); strings.Contains(p.body, "@alice") {
		t.Fatal("a reload shows the notice again")
	}
}

func TestTheSigningTokenIsStoredSealedAndNeverShown(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	path := "/integrations/" + strconv.FormatInt(f.integA, 10) + "/credentials"
	if p := b.get(path); p.status != 200 || strings.Contains(p.body, `id="signing-form"`) {
		t.Fatalf("before a webhook is issued: %d, signing form shown: %v", p.status, strings.Contains(p.body, `id="signing-form"`))
	}
	if _, err := f.deps.Integrations.IssueWebhook(ctx, integrations.Actor{OrgID: f.org, UserID: f.owner.ID}, f.integA, false); err != nil {
		t.Fatal(err)
	}
	stored := func() []byte {
		e, err := f.st.WebhookEndpointFor(ctx, f.org, f.integA)
		if err != nil {
			t.Fatal(err)
		}
		return e.SigningSealed
	}
	p := b.get(path)
	p = b.post(path+"/signing", url.Values{"csrf_token": {csrfOf(t, p)}, "signing_token": {"not-a-signing-token"}})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, `id="signing-error"`) || stored() != nil {
		t.Fatalf("a malformed signing token: %d, stored %v: %.600s", p.status, stored() != nil, p.body)
	}
	tok := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	p = b.post(path+"/signing", url.Values{"csrf_token": {csrfOf(t, p)}, "signing_token": {tok}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != path+"?done=signing" {
		t.Fatalf("save: %d %q %.600s", p.status, p.header.Get("Location"), p.body)
	}
	s := stored()
	if s == nil || strings.Contains(string(s), tok) || strings.Contains(string(s), tok[6:]) {
		t.Fatalf("the signing token is not stored sealed: %q", s)
	}
	p = b.get(path + "?done=signing")
	if !strings.Contains(p.body, "<strong>stored</strong>") || strings.Contains(p.body, tok) {
		t.Fatal("the page does not say a token is stored, or shows it")
	}
	p = b.post(path+"/signing", url.Values{"csrf_token": {csrfOf(t, p)}, "remove": {"1"}})
	if p.status != http.StatusSeeOther || stored() != nil {
		t.Fatalf("remove: %d, still stored %v", p.status, stored() != nil)
	}
	var n int
	f.st.DB().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'webhook.signing_token_set'`).Scan(&n)
	if n != 2 {
		t.Fatalf("signing changes audited: %d, want 2", n)
	}
}
