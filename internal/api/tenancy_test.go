package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/vault"
)

// snapshot renders every labsync row except the columns that record
// harmless reads (an API token's last use), so two snapshots are equal
// exactly when no request changed anything.
func snapshot(t *testing.T, st *store.Store) string {
	t.Helper()
	tables := []string{"organizations", "org_keys", "users", "memberships", "oauth_apps", "integrations",
		"credentials", "projects", "merge_requests", "issues", "pipelines", "pushes", "commits", "webhook_inbox",
		"events", "sync_runs", "sync_progress", "audit_log", "oauth_states", "gitlab_groups", "sync_selections",
		"sync_state", "webhook_endpoints", "webhook_registrations", "webhook_secret_fingerprints"}
	var b strings.Builder
	dump := func(name, q string) {
		rows, err := st.DB().Query(q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprint(vals...))
		}
		sort.Strings(lines)
		fmt.Fprintf(&b, "%s %d\n%s\n", name, len(lines), strings.Join(lines, "\n"))
	}
	for _, tb := range tables {
		dump(tb, `SELECT * FROM `+tb)
	}
	dump("api_tokens", `SELECT id, org_id, user_id, name, prefix, token_hash, created_at, expires_at, revoked_at FROM api_tokens`)
	return b.String()
}

// connectAndSync connects org A to a small sandbox by access token, syncs
// everything and issues a webhook endpoint; it returns the integration id
// and the webhook URL and secret.
func connectAndSync(t *testing.T, f *connectFixture, sb *sandbox.Sandbox) (int64, string, string) {
	t.Helper()
	ctx := context.Background()
	code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/token", f.owner,
		map[string]any{"base_url": sb.URL(), "token": sb.AdminToken(), "alias": "alpha-private-alias"})
	if code != 201 {
		t.Fatalf("connect: %d %v", code, body)
	}
	id := int64(body["integration"].(map[string]any)["id"].(float64))
	syncAll(t, f, id)
	code, body = f.call(t, "POST", "/api/v1/integrations/"+itoa(id)+"/webhook", f.owner, nil)
	if code != 201 {
		t.Fatalf("issue webhook: %d %v", code, body)
	}
	if n, _ := f.st.DerivedRows(ctx, f.org, id); n["merge_requests"] == 0 || n["issues"] == 0 {
		t.Fatalf("the sync brought nothing: %v", n)
	}
	return id, body["url"].(string), body["secret"].(string)
}

func syncAll(t *testing.T, f *connectFixture, id int64) {
	t.Helper()
	ctx := context.Background()
	if err := f.sync.Discover(ctx, f.org, id); err != nil {
		t.Fatal(err)
	}
	gs, err := f.st.Groups(ctx, f.org, id)
	if err != nil {
		t.Fatal(err)
	}
	sel := store.Selection{IncludeArchived: true, Services: store.AllServices}
	for _, g := range gs {
		sel.Groups = append(sel.Groups, store.GroupSelection{GitLabID: g.GitLabID, AutoImport: true})
	}
	if _, err := f.sync.SaveSelection(ctx, f.org, id, sel); err != nil {
		t.Fatal(err)
	}
	if err := f.sync.Run(ctx, f.org, id, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
}

// policy is who may call each endpoint, written here independently of the
// routes' own declarations: owners and admins connect, change and
// disconnect integrations, manage members and register OAuth apps;
// members read data and status and manage their own API tokens; only an
// owner deletes the organisation. A new endpoint must be added here.
var policy = map[string]string{
	"DELETE /api/v1/integrations/{id}":                       "admin",
	"DELETE /api/v1/members/{user_id}":                       "admin",
	"DELETE /api/v1/organization":                            "owner",
	"DELETE /api/v1/tokens/{id}":                             "member",
	"GET /api/v1/audit":                                      "admin",
	"GET /api/v1/events/stream":                              "member",
	"GET /api/v1/events":                                     "member",
	"GET /api/v1/integrations/{id}/groups":                   "member",
	"GET /api/v1/integrations/{id}/repositories":             "member",
	"GET /api/v1/integrations/{id}/selection":                "member",
	"GET /api/v1/integrations/{id}/sync":                     "member",
	"GET /api/v1/integrations/{id}/webhook":                  "member",
	"GET /api/v1/integrations/{id}":                          "member",
	"GET /api/v1/integrations":                               "member",
	"GET /api/v1/issues":                                     "member",
	"GET /api/v1/members":                                    "member",
	"GET /api/v1/merge_requests":                             "member",
	"GET /api/v1/me":                                         "member",
	"GET /api/v1/oauth-apps":                                 "member",
	"GET /api/v1/organization":                               "member",
	"GET /api/v1/pipelines":                                  "member",
	"GET /api/v1/pushes":                                     "member",
	"GET /api/v1/notes":                                      "member",
	"GET /api/v1/approvals":                                  "member",
	"GET /api/v1/jobs":                                       "member",
	"GET /api/v1/deployments":                                "member",
	"GET /api/v1/environments":                               "member",
	"GET /api/v1/releases":                                   "member",
	"GET /api/v1/tags":                                       "member",
	"GET /api/v1/people":                                     "member",
	"GET /api/v1/tokens":                                     "member",
	"PATCH /api/v1/integrations/{id}":                        "admin",
	"PATCH /api/v1/members/{user_id}":                        "admin",
	"POST /api/v1/integrations/gitlab/authorize":             "admin",
	"POST /api/v1/integrations/gitlab/start":                 "admin",
	"POST /api/v1/integrations/gitlab/test":                  "admin",
	"POST /api/v1/integrations/gitlab/token":                 "admin",
	"POST /api/v1/integrations/{id}/refresh":                 "admin",
	"POST /api/v1/integrations/{id}/sync":                    "admin",
	"GET /api/v1/integrations/{id}/mirrors":                  "member",
	"POST /api/v1/integrations/{id}/mirrors/{project}/fetch": "admin",
	"POST /api/v1/integrations/{id}/test":                    "member",
	"POST /api/v1/integrations/{id}/webhook/register":        "admin",
	"POST /api/v1/integrations/{id}/webhook":                 "admin",
	"POST /api/v1/members":                                   "admin",
	"POST /api/v1/invitations/accept":                        "member",
	"POST /api/v1/tokens":                                    "member",
	"PUT /api/v1/integrations/{id}/selection":                "admin",
	"PUT /api/v1/integrations/{id}/webhook/signing":          "admin",
	"PUT /api/v1/oauth-apps":                                 "admin",
}

// TestAccessMatrix calls every authenticated endpoint as each kind of
// caller that must be refused — no token, a revoked token, an expired
// token, a removed member's token, a member where an admin is required, an
// admin where an owner is required, and another organisation's owner on
// this organisation's objects — and checks the status and that the
// database did not change. Then each readable endpoint is called by the
// owner, so the matrix cannot pass by refusing everyone.
func TestAccessMatrix(t *testing.T) {
	ctx := context.Background()
	f := newConnectFixture(t)
	sb := startSB(t, small(sandbox.Config{Version: "17.11"}))
	integ, _, _ := connectAndSync(t, f, sb)

	tokOf := func(tok string) int64 {
		t.Helper()
		at, _, err := f.st.APITokenByHash(ctx, accounts.HashAPIToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		return at.ID
	}
	memberTokenID := tokOf(f.member)
	owner, _ := f.st.UserByEmail(ctx, "owner@a")
	revoked := mintToken(t, f.st, f.org, owner.ID)
	if err := f.st.RevokeAPIToken(ctx, f.org, tokOf(revoked)); err != nil {
		t.Fatal(err)
	}
	past := f.st.Now().Add(-time.Hour)
	expired, prefix, hash, _ := accounts.NewAPIToken()
	if _, err := f.st.CreateExpiringAPIToken(ctx, f.org, owner.ID, "expired", prefix, hash, &past); err != nil {
		t.Fatal(err)
	}
	leaver, _ := f.st.CreateUser(ctx, "leaver@a", "L", "")
	f.st.AddMember(ctx, f.org, leaver.ID, store.RoleAdmin)
	removed := mintToken(t, f.st, f.org, leaver.ID)
	if err := f.st.RemoveMember(ctx, f.org, leaver.ID); err != nil {
		t.Fatal(err)
	}

	fill := func(pattern string) (method, path string, hasObject bool) {
		method, path, _ = strings.Cut(pattern, " ")
		hasObject = strings.Contains(path, "{")
		if strings.HasPrefix(path, "/api/v1/tokens/") {
			path = strings.ReplaceAll(path, "{id}", itoa(memberTokenID))
		}
		path = strings.ReplaceAll(path, "{id}", itoa(integ))
		path = strings.ReplaceAll(path, "{user_id}", itoa(f.memberID))
		path = strings.ReplaceAll(path, "{project}", "1")
		return method, path, hasObject
	}
	send := func(method, path, token string) (int, string) {
		t.Helper()
		var rd *bytes.Reader
		if method == "GET" || method == "DELETE" {
			rd = bytes.NewReader(nil)
		} else {
			rd = bytes.NewReader([]byte(`{}`))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, f.srv.URL+path, rd)
		if method != "GET" && method != "DELETE" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
			return res.StatusCode, ""
		}
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		return res.StatusCode, b.String()
	}

	type who struct {
		name, token string
		// want is the status this caller must get on a route, or 0 when
		// this caller is allowed there (not part of the refusals).
		want func(access string, hasObject bool, method string) int
	}
	always := func(code int) func(string, bool, string) int {
		return func(string, bool, string) int { return code }
	}
	callers := []who{
		{"no token", "", always(401)},
		{"revoked token", revoked, always(401)},
		{"expired token", expired, always(401)},
		{"removed member's token", removed, always(401)},
		{"malformed token", "lsk_" + strings.Repeat("x", 40), always(401)},
		{"member", f.member, func(access string, _ bool, _ string) int {
			if access != "member" {
				return 403
			}
			return 0
		}},
		{"admin", f.admin, func(access string, _ bool, _ string) int {
			if access == "owner" {
				return 403
			}
			return 0
		}},
		{"other organisation", f.other, func(_ string, hasObject bool, _ string) int {
			if hasObject {
				return 404
			}
			return 0
		}},
	}

	routes := f.api.Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		seen[rt.Pattern] = true
		if want, ok := policy[rt.Pattern]; !ok {
			t.Errorf("%s is not in the access policy table", rt.Pattern)
		} else if rt.Access != want {
			t.Errorf("%s is open to %s, the policy says %s", rt.Pattern, rt.Access, want)
		}
	}
	for p := range policy {
		if !seen[p] {
			t.Errorf("%s is in the policy but not mounted", p)
		}
	}
	cells, refusals := 0, 0
	for _, rt := range routes {
		method, path, hasObject := fill(rt.Pattern)
		for _, c := range callers {
			cells++
			want := c.want(rt.Access, hasObject, method)
			if want == 0 {
				continue
			}
			refusals++
			before := snapshot(t, f.st)
			got, body := send(method, path, c.token)
			if got != want {
				t.Errorf("%s as %s: got %d, want %d: %s", rt.Pattern, c.name, got, want, body)
				continue
			}
			if !strings.Contains(body, `"message"`) {
				t.Errorf("%s as %s: %d without a message: %s", rt.Pattern, c.name, got, body)
			}
			if after := snapshot(t, f.st); after != before {
				t.Errorf("%s as %s was refused with %d but changed the database", rt.Pattern, c.name, got)
			}
		}
	}

	// Another organisation's lists hold nothing of this one.
	for _, rt := range routes {
		method, path, hasObject := fill(rt.Pattern)
		if method != "GET" || hasObject || strings.HasSuffix(path, "/stream") {
			continue
		}
		code, body := send(method, path, f.other)
		if code != 200 {
			t.Errorf("%s as the other organisation: %d %s", rt.Pattern, code, body)
		}
		for _, mark := range []string{"alpha-private-alias", "owner@a", "member@a", sb.URL()} {
			if strings.Contains(body, mark) {
				t.Errorf("%s shows the other organisation %q", rt.Pattern, mark)
			}
		}
	}
	// The owner may read every GET route (the matrix is not vacuous).
	for _, rt := range routes {
		method, path, _ := fill(rt.Pattern)
		if method != "GET" {
			continue
		}
		if code, body := send(method, path, f.owner); code != 200 {
			t.Errorf("%s as the owner: %d %s", rt.Pattern, code, body)
		}
	}
	// The OpenAPI document lists every route with a summary.
	code, doc := send("GET", "/api/v1/openapi.json", "")
	if code != 200 || !strings.Contains(doc, `"openapi":"3.1.0"`) {
		t.Fatalf("openapi: %d %.200s", code, doc)
	}
	var parsed struct {
		Paths map[string]map[string]struct {
			Summary string `json:"summary"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if op, ok := parsed.Paths[path][strings.ToLower(method)]; !ok || op.Summary == "" {
			t.Errorf("%s is missing from the OpenAPI document or has no summary", rt.Pattern)
		}
	}
	t.Logf("access matrix: %d routes × %d callers = %d cells, %d refusals checked with a database snapshot before and after",
		len(routes), len(callers), cells, refusals)
}

// TestDisconnectDestroysThenPurges connects by OAuth, syncs, and
// disconnects: the OAuth tokens stop working at GitLab before the DELETE
// returns, the credentials, client secret and webhook secret are gone from
// the database at once, a delivery with the old secret is refused and
// stores nothing, and the purge — failing once, retried by the sweep with
// the clock moved on — leaves no derived row, inside the deadline.
func TestDisconnectDestroysThenPurges(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newConnectFixtureAt(t, clock)
	sb := startSB(t, small(sandbox.Config{Version: "17.11"}))

	clientID, clientSecret := sb.RegisterOAuthApp(f.redirectURI(), "read_api", "read_user")
	if code, body := f.call(t, "PUT", "/api/v1/oauth-apps", f.owner, map[string]any{"base_url": sb.URL(), "client_id": clientID, "client_secret": clientSecret}); code != 200 {
		t.Fatalf("save app: %d %v", code, body)
	}
	code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/start", f.owner, map[string]any{"base_url": sb.URL(), "alias": "oauth"})
	if code != 200 {
		t.Fatalf("start: %d %v", code, body)
	}
	u, _ := url.Parse(body["authorize_url"].(string))
	c, ok := sb.AuthorizeCode(u.Query().Get("client_id"), body["redirect_uri"].(string), "root", u.Query().Get("code_challenge"))
	if !ok {
		t.Fatal("consent refused")
	}
	code, body = f.call(t, "POST", "/api/v1/integrations/gitlab/authorize", f.owner, map[string]any{"code": c, "state": body["state"]})
	if code != 201 {
		t.Fatalf("authorize: %d %v", code, body)
	}
	id := int64(body["integration"].(map[string]any)["id"].(float64))
	syncAll(t, f, id)
	code, body = f.call(t, "POST", "/api/v1/integrations/"+itoa(id)+"/webhook", f.owner, nil)
	if code != 201 {
		t.Fatalf("webhook: %d %v", code, body)
	}
	hookURL, hookSecret := body["url"].(string), body["secret"].(string)
	deliver := func() int {
		req, _ := http.NewRequest("POST", hookURL, strings.NewReader(`{"object_kind":"push","project":{"id":1}}`))
		req.Header.Set("X-Gitlab-Token", hookSecret)
		req.Header.Set("X-Gitlab-Event", "Push Hook")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := deliver(); code != 200 {
		t.Fatalf("a delivery before disconnecting: %d", code)
	}
	pair := openPair(t, f, id)
	tokenWorks := func(tok string) bool {
		req, _ := http.NewRequest("GET", sb.URL()+"/api/v4/user", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode == 200
	}
	if !tokenWorks(pair[0]) {
		t.Fatal("the OAuth access token does not work before disconnecting: the check proves nothing")
	}
	derived, _ := f.st.DerivedRows(ctx, f.org, id)
	if derived["merge_requests"] == 0 || derived["webhook_inbox"] == 0 || derived["events"] == 0 {
		t.Fatalf("not enough data to purge: %v", derived)
	}

	start := time.Now()
	code, body = f.call(t, "DELETE", "/api/v1/integrations/"+itoa(id), f.owner, nil)
	returned := time.Since(start)
	if code != 200 || body["revoked"] != true || body["oauth_app_deleted"] != true {
		t.Fatalf("disconnect: %d %v", code, body)
	}
	revokedAfter := time.Duration(-1)
	for range 100 {
		if !tokenWorks(pair[0]) {
			revokedAfter = time.Since(start)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if revokedAfter < 0 {
		t.Fatal("the OAuth access token still works at GitLab after disconnecting")
	}
	t.Logf("DELETE answered in %v; the access token was refused by GitLab %v after the DELETE was sent", returned, revokedAfter)
	// Secrets are deleted, not flagged.
	for table, q := range map[string]string{
		"credentials":       `SELECT COUNT(*) FROM credentials WHERE integration_id = $1`,
		"webhook_endpoints": `SELECT COUNT(*) FROM webhook_endpoints WHERE integration_id = $1`,
		"oauth_apps":        `SELECT COUNT(*) FROM oauth_apps WHERE org_id = (SELECT org_id FROM integrations WHERE id = $1)`,
	} {
		var n int
		if err := f.st.DB().QueryRow(q, id).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows left after disconnecting (%v)", table, n, err)
		}
	}
	inboxBefore, _ := f.st.DerivedRows(ctx, f.org, id)
	if code := deliver(); code != 404 {
		t.Fatalf("a delivery with the old secret after disconnecting: %d", code)
	}
	if inboxAfter, _ := f.st.DerivedRows(ctx, f.org, id); inboxAfter["webhook_inbox"] != inboxBefore["webhook_inbox"] {
		t.Fatalf("a refused delivery was stored: %v -> %v", inboxBefore, inboxAfter)
	}
	// The deadline is recorded and shown.
	_, view := f.call(t, "GET", "/api/v1/integrations/"+itoa(id), f.member, nil)
	purge, _ := view["purge"].(map[string]any)
	if purge == nil || purge["deadline"] != clock().Add(integrations.PurgeWindow).Format(time.RFC3339) || purge["purged_at"] != nil {
		t.Fatalf("purge state not shown: %v", view)
	}

	// The first purge attempt fails (its context is already cancelled);
	// the failure is recorded and shown, nothing half-reported.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.svc.Purge(cancelled, f.org, id); err == nil {
		t.Fatal("a purge with a cancelled context succeeded")
	}
	in, _ := f.st.Integration(ctx, f.org, id)
	if in.Purge == nil || in.Purge.Attempts != 1 || in.Purge.LastError == "" || in.Purge.PurgedAt != nil {
		t.Fatalf("failed purge not recorded: %+v", in.Purge)
	}
	// Twenty-three hours later the sweep retries it.
	mu.Lock()
	now = now.Add(23 * time.Hour)
	mu.Unlock()
	n, err := f.svc.PurgeDue(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d purged, %v", n, err)
	}
	left, err := f.st.DerivedRows(ctx, f.org, id)
	if err != nil || left.Total() != 0 {
		t.Fatalf("rows left after the purge: %v %v", left, err)
	}
	in, _ = f.st.Integration(ctx, f.org, id)
	if in.Purge == nil || in.Purge.PurgedAt == nil || in.Purge.PurgedAt.After(in.Purge.Deadline) || in.Purge.LastError != "" {
		t.Fatalf("purge not recorded as done inside the deadline: %+v", in.Purge)
	}
	if n, err := f.svc.PurgeDue(ctx); err != nil || n != 0 {
		t.Fatalf("a second sweep found work: %d %v", n, err)
	}
	code, body = f.call(t, "GET", "/api/v1/audit", f.owner, nil)
	for _, a := range []string{"integration.disconnected", "integration.purge_failed", "integration.purged"} {
		if !strings.Contains(mustJSON(body), a) {
			t.Errorf("audit log lacks %s", a)
		}
	}
}

// TestDeleteOrganizationShredsItsKeysFirst deletes an organisation: its
// data keys are gone (so what was sealed cannot be opened, even from a
// copy of the rows taken before), then its rows; its tokens stop working;
// the other organisation is untouched.
func TestDeleteOrganizationShredsItsKeysFirst(t *testing.T) {
	ctx := context.Background()
	f := newConnectFixture(t)
	sb := startSB(t, small(sandbox.Config{Version: "17.11"}))
	id, _, _ := connectAndSync(t, f, sb)
	cred, err := f.st.Credential(ctx, f.org, id)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := f.call(t, "DELETE", "/api/v1/organization", f.admin, map[string]any{"confirm": "A"}); code != 403 {
		t.Fatalf("an admin deleted the organisation: %d %v", code, body)
	}
	if code, body := f.call(t, "DELETE", "/api/v1/organization", f.owner, map[string]any{"confirm": "a"}); code != 400 || !strings.Contains(mustJSON(body), "confirm") {
		t.Fatalf("wrong confirmation: %d %v", code, body)
	}
	otherBefore, _ := f.call(t, "GET", "/api/v1/me", f.other, nil)
	if code, body := f.call(t, "DELETE", "/api/v1/organization", f.owner, map[string]any{"confirm": "A"}); code != 200 {
		t.Fatalf("delete: %d %v", code, body)
	}
	f.vault.Forget(f.org) // as a restarted replica: nothing cached
	if _, err := f.vault.Open(ctx, f.org, vault.Binding{Table: "credentials", Row: "integration:" + itoa(id), Field: cred.Kind}, cred.Ciphertext); err == nil {
		t.Fatal("a credential copied before the deletion can still be opened")
	}
	for _, table := range []string{"organizations", "org_keys", "integrations", "credentials", "merge_requests", "memberships", "api_tokens", "audit_log"} {
		var n int
		col := "org_id"
		if table == "organizations" {
			col = "id"
		}
		if err := f.st.DB().QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE `+col+` = $1`, f.org).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows of the deleted organisation (%v)", table, n, err)
		}
	}
	if code, _ := f.call(t, "GET", "/api/v1/me", f.owner, nil); code != 401 {
		t.Fatalf("the deleted organisation's token: %d", code)
	}
	if code, _ := f.call(t, "GET", "/api/v1/me", f.other, nil); code != otherBefore {
		t.Fatalf("the other organisation was affected: %d", code)
	}
}

// TestTokensAndMembers: tokens are shown once, listed without their
// value, revocable by their holder; members see only their own; an admin
// cannot make owners; the last owner cannot leave.
func TestTokensAndMembers(t *testing.T) {
	f := newConnectFixture(t)
	code, body := f.call(t, "POST", "/api/v1/tokens", f.member, map[string]any{"name": "laptop", "expires_in_days": 30})
	if code != 201 || !strings.HasPrefix(body["token"].(string), accounts.APITokenPrefix) {
		t.Fatalf("create: %d %v", code, body)
	}
	tok := body["token"].(string)
	tokID := int64(body["api_token"].(map[string]any)["id"].(float64))
	if code, _ := f.call(t, "GET", "/api/v1/me", tok, nil); code != 200 {
		t.Fatalf("new token: %d", code)
	}
	_, list := f.call(t, "GET", "/api/v1/tokens", f.owner, nil)
	if s := mustJSON(list); strings.Contains(s, tok) || !strings.Contains(s, "laptop") || !strings.Contains(s, "last_used_at") {
		t.Fatalf("owner's list: %s", s)
	}
	_, mine := f.call(t, "GET", "/api/v1/tokens", f.member, nil)
	for _, x := range mine["tokens"].([]any) {
		if int64(x.(map[string]any)["user_id"].(float64)) != f.memberID {
			t.Fatalf("a member sees another's token: %v", x)
		}
	}
	// The admin's own token, seen by the member: not found.
	_, adminList := f.call(t, "GET", "/api/v1/tokens", f.admin, nil)
	var adminTok int64
	for _, x := range adminList["tokens"].([]any) {
		if x.(map[string]any)["name"] == "t" && int64(x.(map[string]any)["user_id"].(float64)) != f.memberID {
			adminTok = int64(x.(map[string]any)["id"].(float64))
		}
	}
	if code, _ := f.call(t, "DELETE", "/api/v1/tokens/"+itoa(adminTok), f.member, nil); code != 404 {
		t.Fatalf("a member revoked another's token: %d", code)
	}
	if code, _ := f.call(t, "DELETE", "/api/v1/tokens/"+itoa(tokID), f.member, nil); code != 200 {
		t.Fatalf("revoke own: %d", code)
	}
	if code, _ := f.call(t, "GET", "/api/v1/me", tok, nil); code != 401 {
		t.Fatalf("revoked token still works: %d", code)
	}
	for _, bad := range []map[string]any{{"name": ""}, {"name": "x", "expires_in_days": 1000}, {"name": "x", "scope": "all"}} {
		if code, body := f.call(t, "POST", "/api/v1/tokens", f.member, bad); code != 400 {
			t.Fatalf("bad token request %v: %d %v", bad, code, body)
		}
	}

	// Members.
	code, body = f.call(t, "POST", "/api/v1/members", f.admin, map[string]any{"email": "new@a", "role": "owner"})
	if code != 403 {
		t.Fatalf("an admin made an owner: %d %v", code, body)
	}
	code, body = f.call(t, "POST", "/api/v1/members", f.admin, map[string]any{"email": "new@example.com", "name": "New", "role": "member"})
	if c, _ := body["code"].(string); code != 201 || !strings.HasPrefix(c, "lsi_") || len(c) < 40 {
		t.Fatalf("add: %d %v", code, body)
	}
	if code, body := f.call(t, "POST", "/api/v1/invitations/redeem", "", map[string]any{"code": body["code"], "password": "chosen by the new user"}); code != 200 {
		t.Fatalf("redeem: %d %v", code, body)
	}
	if code, body := f.call(t, "POST", "/api/v1/members", f.admin, map[string]any{"email": "not an email"}); code != 400 {
		t.Fatalf("bad email: %d %v", code, body)
	}
	if code, _ := f.call(t, "POST", "/api/v1/members", f.admin, map[string]any{"email": "new@example.com"}); code != 409 {
		t.Fatalf("adding twice: %d", code)
	}
	owner, _ := f.st.UserByEmail(context.Background(), "owner@a")
	if code, _ := f.call(t, "PATCH", "/api/v1/members/"+itoa(owner.ID), f.admin, map[string]any{"role": "member"}); code != 403 {
		t.Fatalf("an admin demoted the owner: %d", code)
	}
	if code, body := f.call(t, "DELETE", "/api/v1/members/"+itoa(owner.ID), f.owner, nil); code != 409 {
		t.Fatalf("the last owner left: %d %v", code, body)
	}
	if code, _ := f.call(t, "PATCH", "/api/v1/members/"+itoa(f.memberID), f.owner, map[string]any{"role": "admin"}); code != 200 {
		t.Fatalf("promote: %d", code)
	}
	if code, _ := f.call(t, "GET", "/api/v1/audit", f.member, nil); code != 200 {
		t.Fatalf("the promoted member cannot read the audit log: %d", code)
	}
	if code, _ := f.call(t, "DELETE", "/api/v1/members/"+itoa(f.memberID), f.owner, nil); code != 200 {
		t.Fatalf("remove: %d", code)
	}
	if code, _ := f.call(t, "GET", "/api/v1/me", f.member, nil); code != 401 {
		t.Fatalf("a removed member's token still works: %d", code)
	}
	_, audit := f.call(t, "GET", "/api/v1/audit", f.owner, nil)
	for _, a := range []string{"api_token.created", "api_token.revoked", "member.invited", "member.added", "member.role_changed", "member.removed"} {
		if !strings.Contains(mustJSON(audit), a) {
			t.Errorf("audit log lacks %s", a)
		}
	}
}
