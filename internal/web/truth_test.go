package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
)

// selectSomething saves a selection for integration id, so an admin's visit
// to its page is not sent on to the project picker.
func selectSomething(t *testing.T, f *fixture, id int64) {
	t.Helper()
	if err := f.st.SaveSelection(context.Background(), f.org, id, store.Selection{Projects: []int64{100000}}); err != nil {
		t.Fatal(err)
	}
}

// webhookDelivered records a webhook delivery at `at` for integration id.
func webhookDelivered(t *testing.T, f *fixture, id int64, at time.Time) {
	t.Helper()
	if _, err := f.st.DB().ExecContext(context.Background(), `UPDATE integrations SET webhook_last_received_at = $1 WHERE id = $2`, at, id); err != nil {
		t.Fatal(err)
	}
}

var secretRE = regexp.MustCompile(`id="webhook_secret" type="text" readonly value="([^"]+)"`)

func TestIssuingAWebhookSecretRedirectsAndTheNextPageShowsItOnceAndAReloadNeverReissuesIt(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	ctx := context.Background()
	selectSomething(t, f, f.integA)
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	path := "/integrations/" + strconv.FormatInt(f.integA, 10)
	p := b.get(path)
	if p.status != http.StatusOK {
		t.Fatalf("integration page: %d", p.status)
	}
	p = b.post(path+"/webhook", url.Values{"csrf_token": {csrfOf(t, p)}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("issuing: %d, want 303 (Post/Redirect/Get)", p.status)
	}
	if strings.Contains(p.body, "webhook_secret") {
		t.Fatal("the POST's own answer carries the secret")
	}
	loc := p.header.Get("Location")
	if !strings.HasPrefix(loc, path+"?") {
		t.Fatalf("redirected to %q", loc)
	}
	issued, err := f.st.WebhookEndpointFor(ctx, f.org, f.integA)
	if err != nil {
		t.Fatal(err)
	}

	first := b.get(loc)
	m := secretRE.FindStringSubmatch(first.body)
	if first.status != http.StatusOK || m == nil {
		t.Fatalf("the page after the redirect shows no secret: %d %.600s", first.status, first.body)
	}
	if first.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the page with the secret may be cached: Cache-Control %q", first.header.Get("Cache-Control"))
	}
	for i := range 2 {
		again := b.get(loc)
		if strings.Contains(again.body, m[1]) || strings.Contains(again.body, `id="webhook_secret"`) {
			t.Fatalf("reload %d shows the secret again", i+1)
		}
		if !strings.Contains(again.body, `id="webhook-secret-gone"`) {
			t.Fatalf("reload %d does not say the secret was shown once", i+1)
		}
	}
	now, err := f.st.WebhookEndpointFor(ctx, f.org, f.integA)
	if err != nil {
		t.Fatal(err)
	}
	if now.HookID != issued.HookID || !bytes.Equal(now.SecretSealed, issued.SecretSealed) {
		t.Fatal("a reload issued a new webhook secret")
	}
}

func TestADisconnectedIntegrationsPageSaysWhoEndedItWhatWasDestroyedAndThePurgeOnceAndClaimsNoActivity(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	ctx := context.Background()
	selectSomething(t, f, f.integA)
	// Webhooks were delivering a moment ago: the page must not say so once
	// the integration is gone.
	webhookDelivered(t, f, f.integA, f.clock.Now().Add(-time.Minute))
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	path := "/integrations/" + strconv.FormatInt(f.integA, 10)
	p := b.get(path)
	if !strings.Contains(p.body, "receiving deliveries") {
		t.Fatalf("before: the connected page does not show the delivering webhook: %.600s", p.body)
	}
	p = b.get(path + "/disconnect")
	p = b.post(path+"/disconnect", url.Values{"csrf_token": {csrfOf(t, p)}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), path) {
		t.Fatalf("disconnect: %d to %q, want a redirect to the integration page", p.status, p.header.Get("Location"))
	}
	p = b.get(p.header.Get("Location"))
	if p.status != http.StatusOK {
		t.Fatalf("the disconnected page: %d %.400s", p.status, p.body)
	}
	in, err := f.st.Integration(ctx, f.org, f.integA)
	if err != nil || in.Purge == nil {
		t.Fatalf("integration after disconnect: %+v %v", in.Purge, err)
	}
	deadline := in.Purge.Deadline.UTC().Format("2006-01-02 15:04 UTC")
	for _, want := range []string{`id="ended"`, "owner@a.test", `id="destroyed"`, "access token", "webhook secret",
		"The purge deletes", deadline} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the disconnected page lacks %q", want)
		}
	}
	if n := strings.Count(p.body, deadline); n != 1 {
		t.Errorf("the purge deadline appears %d times, want once", n)
	}
	for _, never := range []string{"receiving deliveries", "polls every minute", "polling every", "disconnected by user",
		in.Purge.Deadline.Format(time.RFC3339), `id="sync"`, `id="hook-h"`, `id="poller"`, `id="start-sync"`, `id="save-settings"`,
		`data-stream=`} {
		if strings.Contains(p.body, never) {
			t.Errorf("the disconnected page still says %q", never)
		}
	}
	// The confirmation page and the project picker of a disconnected
	// integration have nothing left to ask: they lead to the page above.
	for _, sub := range []string{"/disconnect", "/projects"} {
		if q := b.get(path + sub); q.status != http.StatusSeeOther || q.header.Get("Location") != path {
			t.Errorf("%s of a disconnected integration: %d to %q, want its page", sub, q.status, q.header.Get("Location"))
		}
	}

	// Once the purge has run, the page says when, in the same format, and
	// no longer promises a deadline.
	purged := f.clock.Now().Add(time.Minute)
	if _, err := f.st.DB().ExecContext(ctx, `UPDATE integrations SET purged_at = $1 WHERE id = $2`, purged, f.integA); err != nil {
		t.Fatal(err)
	}
	p = b.get(path)
	if !strings.Contains(p.body, "The purge ran on "+purged.UTC().Format("2006-01-02 15:04 UTC")) || strings.Contains(p.body, deadline) {
		t.Errorf("after the purge the page says: %.1500s", between(p.body, `id="ended"`, "</section>"))
	}
}

func TestAnIntegrationThatNeedsANewTokenSaysPollingIsPausedAndOffersNoSync(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	ctx := context.Background()
	selectSomething(t, f, f.integA)
	if err := f.st.SetIntegrationStatus(ctx, f.org, f.integA, store.StatusNeedsNewToken, "GitLab said the token was revoked"); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	p := b.get("/integrations/" + strconv.FormatInt(f.integA, 10))
	for _, want := range []string{`id="attention"`, "syncing and polling are paused", "Poller: paused", "/credentials"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, never := range []string{"polls every minute", "polling every", `id="start-sync"`, "data-stream="} {
		if strings.Contains(p.body, never) {
			t.Errorf("the page of a paused integration says %q", never)
		}
	}
}

func TestCapabilitiesAreListedInWordsNotAsGoValues(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	ctx := context.Background()
	selectSomething(t, f, f.integA)
	caps, _ := json.Marshal(gitlab.Capabilities(gitlab.Version{Major: 15, Minor: 0}, true))
	if err := f.st.SetIntegrationVersion(ctx, f.org, f.integA, store.IntegrationVersion{Version: "15.0.0", Capabilities: caps, CheckedAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.mustSignin("member@a.test")
	p := b.get("/integrations/" + strconv.FormatInt(f.integA, 10))
	list := between(p.body, `id="capabilities"`, "</ul>")
	if list == "" {
		t.Fatalf("no capabilities list: %.600s", p.body)
	}
	for _, want := range []string{"available", "partly", "webhooks can be signed", "merge requests carry draft"} {
		if !strings.Contains(list, want) && !strings.Contains(list, strings.ReplaceAll(want, "webhooks can be signed", "authenticated by the shared")) {
			t.Errorf("the capabilities lack %q: %s", want, list)
		}
	}
	if strings.Contains(list, "{") || strings.Contains(list, " ok ") {
		t.Errorf("a capability is printed as a Go value: %s", list)
	}
}

func TestSyncBarsNameTheirUnitsAndTheStoredTotalIsLabelledApart(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	path := integrationWithProjects(t, f)
	b := f.browser(t)
	b.mustSignin("member@a.test")
	p := b.get(path)
	bars := between(p.body, `class="bars"`, `id="sync-live"`)
	if !regexp.MustCompile(`\d+ of \d+ projects? · \d+ pipelines fetched by the latest sync`).MatchString(bars) {
		t.Errorf("the pipelines bar does not say what it counts: %s", bars)
	}
	for _, want := range []string{"items fetched by the latest sync", `max="100"`} {
		if !strings.Contains(bars, want) {
			t.Errorf("the sync bars lack %q: %s", want, bars)
		}
	}
	if regexp.MustCompile(`\d+/\d+ done`).MatchString(bars) || strings.Contains(bars, "items ·") {
		t.Errorf("a bar counts without naming what: %s", bars)
	}
	if !strings.Contains(p.body, "Stored in labsync now, from every sync and webhook so far") {
		t.Error("the stored total is not labelled as such")
	}
}

func TestTheOAuthConnectionTestDoesNotSayAllChecksPassedWhenItSkippedTheTokenChecks(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 3, Groups: 1, Projects: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	p := b.get("/connect")
	p = b.post("/connect/test", url.Values{"csrf_token": {csrfOf(t, p)}, "hosting": {"self-managed"}, "method": {"oauth"},
		"base_url": {sb.URL()}})
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="diagnosis"`) {
		t.Fatalf("connection test: %d %.500s", p.status, p.body)
	}
	verdict := between(p.body, `id="diag-verdict"`, "</span>")
	if strings.Contains(verdict, "all checks passed") || !strings.Contains(verdict, "not run") {
		t.Errorf("the verdict with the token steps skipped: %q", verdict)
	}
	if !strings.Contains(p.body, `id="diag-skipped"`) || !strings.Contains(p.body, "Continue to GitLab") {
		t.Error("the page does not say why steps were not run")
	}
}

func TestTheConnectorsListWarnsWhereToActAndListsDisconnectedIntegrationsApart(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	ctx := context.Background()
	st := f.st
	mk := func(alias string) int64 {
		in := &store.Integration{OrgID: f.org, Alias: alias, BaseURL: "https://" + alias + ".a.test", AuthMethod: store.AuthMethodToken}
		if err := st.CreateIntegration(ctx, nil, in); err != nil {
			t.Fatal(err)
		}
		selectSomething(t, f, in.ID)
		webhookDelivered(t, f, in.ID, f.clock.Now().Add(-time.Minute))
		return in.ID
	}
	expiring, failing, quiet, reauth, fine, gone := mk("expiring"), mk("failing"), mk("quiet"), mk("reauth"), mk("fine"), mk("gone")

	exp := f.clock.Now().Add(5*24*time.Hour + time.Hour)
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveCredential(ctx, tx, &store.Credential{OrgID: f.org, IntegrationID: expiring, Kind: store.CredentialAccessToken,
		Ciphertext: []byte("sealed"), TokenKind: "personal", Scopes: []string{"read_api"}, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	seedFailedSync(t, f, failing)
	webhookDelivered(t, f, quiet, f.clock.Now().Add(-2*time.Hour))
	if err := st.SetIntegrationStatus(ctx, f.org, reauth, store.StatusNeedsReauthorization, "the refresh token was refused"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.deps.Integrations.Disconnect(ctx, actorOf(f), gone); err != nil {
		t.Fatal(err)
	}

	b := f.browser(t)
	b.mustSignin("owner@a.test")
	p := b.get("/connectors")
	connected := between(p.body, `id="connected"`, `id="disconnected-h"`)
	disconnected := between(p.body, `id="disconnected"`, "</table>")
	row := func(id int64) string {
		return between(connected, `data-integration="`+strconv.FormatInt(id, 10)+`"`, "</tr>")
	}
	cases := []struct {
		name string
		id   int64
		want []string
	}{
		{"a token expiring within 14 days", expiring, []string{"expires on " + exp.UTC().Format("2006-01-02"), `/integrations/` + strconv.FormatInt(expiring, 10) + `/credentials`, "Replace the token"}},
		{"a last sync that ended with errors", failing, []string{"last sync ended with errors", "#prob-h"}},
		{"a webhook quiet while polling carries the load", quiet, []string{"No webhook delivery since", "polling carries the load", "#hook-h"}},
		{"an integration that needs re-authorisation", reauth, []string{"re-authorisation", "Authorise again", "#attention"}},
		{"an integration with nothing wrong", fine, []string{"Nothing needs attention"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := row(c.id)
			if r == "" {
				t.Fatalf("not listed among the connected: %s", connected)
			}
			for _, w := range c.want {
				if !strings.Contains(r, w) {
					t.Errorf("row lacks %q: %s", w, r)
				}
			}
		})
	}
	if strings.Contains(connected, `data-integration="`+strconv.FormatInt(gone, 10)+`"`) {
		t.Error("a disconnected integration is listed under Connected GitLabs")
	}
	if !strings.Contains(disconnected, `data-integration="`+strconv.FormatInt(gone, 10)+`"`) || !strings.Contains(disconnected, "deleted by") {
		t.Errorf("the disconnected section: %q", disconnected)
	}
	if strings.Index(p.body, `id="disconnected"`) < strings.Index(p.body, `id="connected"`) {
		t.Error("the disconnected section comes before the connected one")
	}
}

// seedFailedSync gives integration id a finished sync in which one
// project's merge requests failed.
func seedFailedSync(t *testing.T, f *fixture, id int64) {
	t.Helper()
	ctx := context.Background()
	if err := f.st.UpsertDiscoveredProjects(ctx, f.org, id, []store.Project{{GitLabID: 7001, NamespacePath: "g", Name: "p", PathWithNamespace: "g/p"}}); err != nil {
		t.Fatal(err)
	}
	ps, err := f.st.AllProjects(ctx, f.org, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetSelectedProjects(ctx, f.org, id, []int64{ps[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.EnsureProgress(ctx, f.org, id, []int64{ps[0].ID}, []string{"merge_requests"}); err != nil {
		t.Fatal(err)
	}
	rows, err := f.st.ProgressRows(ctx, f.org, id, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		r.Status, r.LastError = store.ProgressFailed, "GitLab answered 500"
		if err := f.st.SaveProgress(ctx, nil, f.org, r); err != nil {
			t.Fatal(err)
		}
	}
}

// actorOf is f's owner as the integrations service names a caller.
func actorOf(f *fixture) integrations.Actor {
	return integrations.Actor{OrgID: f.org, UserID: f.owner.ID}
}

// between returns the text of s from the first from up to the next to
// after it; "" when from is missing.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}
