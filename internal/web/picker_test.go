package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
)

// seedPicker fills an integration's discovery cache with projects spread
// over groups as discovery would (groups group-000 … with every tenth one
// nested under the previous group, projects group-NNN/project-NNNNN), marks
// it discovered and saves a selection, so the picker opens without asking
// GitLab. Every 50th project is archived.
func seedPicker(t testing.TB, st *store.Store, orgID, integrationID int64, projects, groups int) {
	t.Helper()
	ctx := context.Background()
	gs := make([]store.Group, 0, groups)
	path := make([]string, groups)
	for i := range groups {
		g := store.Group{GitLabID: int64(1000 + i), Name: fmt.Sprintf("group-%03d", i), Visibility: "private"}
		g.FullPath = g.Name
		if i%10 == 9 {
			parent := int64(1000 + i - 1)
			g.ParentGitLabID = &parent
			g.FullPath = path[i-1] + "/" + g.Name
		}
		path[i] = g.FullPath
		g.WebURL = "https://gitlab.example.com/" + g.FullPath
		gs = append(gs, g)
	}
	if err := st.ReplaceGroups(ctx, orgID, integrationID, gs); err != nil {
		t.Fatal(err)
	}
	ps := make([]store.Project, 0, projects)
	for i := range projects {
		ns := path[i%groups]
		name := fmt.Sprintf("project-%05d", i)
		p := store.Project{GitLabID: int64(100000 + i), NamespacePath: ns, Name: name, PathWithNamespace: ns + "/" + name,
			WebURL: "https://gitlab.example.com/" + ns + "/" + name, DefaultBranch: "main", Visibility: "private",
			Archived: i%50 == 49, CIEnabled: i%7 != 0}
		if i%13 == 0 {
			p.ObjectFormat = "sha256"
		}
		ps = append(ps, p)
	}
	// UpsertDiscoveredProjects is one transaction; batches keep each
	// transaction (and PostgreSQL's lock table) small.
	for len(ps) > 0 {
		n := min(len(ps), 5000)
		if err := st.UpsertDiscoveredProjects(ctx, orgID, integrationID, ps[:n]); err != nil {
			t.Fatal(err)
		}
		ps = ps[n:]
	}
	now := time.Now().UTC()
	if err := st.SaveSyncState(ctx, orgID, store.SyncState{IntegrationID: integrationID, State: store.SyncIdle, DiscoveredAt: &now}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSelection(ctx, orgID, integrationID, store.Selection{Projects: []int64{100000, 100001}, Services: store.AllServices}); err != nil {
		t.Fatal(err)
	}
}

var (
	pickerRowRE  = regexp.MustCompile(`name="project" value="(\d+)"`)
	pickerNextRE = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
)

// TestPickerPagesTwentyThousandProjects opens the picker of an integration
// with 20,000 projects: a page lists a bounded number of them, following
// "Next page" reaches every unarchived project exactly once, archived ones
// are hidden unless asked for, and a search finds one project by name.
func TestPickerPagesTwentyThousandProjects(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 projects take a few seconds to insert")
	}
	const total, groups = 20000, 200
	f := newFixture(t, accounts.Options{})
	seedPicker(t, f.st, f.org, f.integA, total, groups)
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	base := "/integrations/" + strconv.FormatInt(f.integA, 10) + "/projects"

	seen, pages := walkPicker(t, b, base)
	if want := total - total/50; len(seen) != want {
		t.Fatalf("the pages list %d projects in all; want the %d unarchived ones", len(seen), want)
	}
	for id := range seen {
		if n, _ := strconv.Atoi(id); (n-100000)%50 == 49 {
			t.Fatalf("project %d is archived but listed without 'show archived'", n)
		}
	}
	t.Logf("%d projects on %d pages", len(seen), pages)
	first := b.get(base).body
	if !regexp.MustCompile(`value="100000"[^<]*>\s*<span class="path">group-000/project-00000</span></label>\s*<span class="badge sha256"`).MatchString(first) {
		t.Error("the first page does not show project-00000 (a SHA-256 repository) with its SHA-256 badge")
	}

	// The pager keeps the search: group-042 has 100 projects, two pages.
	if seen, pages := walkPicker(t, b, base+"?q="+url.QueryEscape("Group-042/")); len(seen) != 100 || pages != 2 {
		t.Errorf("searching group-042/ lists %d projects on %d pages; want 100 on 2", len(seen), pages)
	}

	// A search in the database: one project by name, another with archived shown.
	for _, c := range []struct {
		name, query string
		want        int64
	}{
		{"by name", "q=PROJECT-12345", 112345},
		{"archived shown", "q=project-00049&archived=1", 100049},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := b.get(base + "?" + c.query)
			rows := pickerRowRE.FindAllStringSubmatch(p.body, -1)
			if p.status != http.StatusOK || len(rows) != 1 || rows[0][1] != strconv.FormatInt(c.want, 10) {
				t.Fatalf("search %s: %d, rows %v; want only %d", c.query, p.status, rows, c.want)
			}
		})
	}
	if p := b.get(base + "?q=project-00049"); pickerRowRE.MatchString(p.body) {
		t.Error("a search lists an archived project without 'show archived'")
	}
}

// walkPicker follows the picker's "Next page" links from path and returns
// the GitLab ids of the projects listed and the number of pages. Every page
// must list between 1 and 100 projects, and no project twice.
func walkPicker(t *testing.T, b *browser, path string) (map[string]bool, int) {
	t.Helper()
	seen := map[string]bool{}
	pages := 0
	for next := path; next != ""; pages++ {
		if pages > 1000 {
			t.Fatal("the pager does not end")
		}
		p := b.get(next)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d %.300s", next, p.status, p.body)
		}
		rows := pickerRowRE.FindAllStringSubmatch(p.body, -1)
		if len(rows) == 0 || len(rows) > 100 {
			t.Fatalf("page %d of %s lists %d projects; want 1 to 100", pages+1, path, len(rows))
		}
		for _, r := range rows {
			if seen[r[1]] {
				t.Fatalf("page %d of %s lists project %s a second time", pages+1, path, r[1])
			}
			seen[r[1]] = true
		}
		next = ""
		if m := pickerNextRE.FindStringSubmatch(p.body); m != nil {
			next = html.UnescapeString(m[1])
		}
	}
	return seen, pages
}

// BenchmarkProjectPicker20000 measures the picker page of an integration
// with 20,000 projects in 200 groups, as a signed-in owner opens it.
func BenchmarkProjectPicker20000(b *testing.B) {
	f := newFixture(b, accounts.Options{})
	seedPicker(b, f.st, f.org, f.integA, 20000, 200)
	br := f.browser(b)
	br.mustSignin("owner@a.test")
	base := "/integrations/" + strconv.FormatInt(f.integA, 10) + "/projects"

	// The last page: walk the pager once, outside the measurement.
	last := base
	for {
		m := pickerNextRE.FindStringSubmatch(br.get(last).body)
		if m == nil {
			break
		}
		last = html.UnescapeString(m[1])
	}
	for _, c := range []struct{ name, path string }{
		{"first-page", base},
		{"search-100", base + "?q=" + url.QueryEscape("group-042/")},
		{"search-1", base + "?q=project-12345"},
		{"last-page", last},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if p := br.get(c.path); p.status != http.StatusOK {
					b.Fatalf("%s: %d", c.path, p.status)
				}
			}
		})
	}
}

// TestThePickerAfterATokenConnectSaysWhatKindOfTokenItIs: connecting with a
// project access token in the UI lands on the picker, which says the
// integration is connected, as which bot, that the token is a project
// access token and what that means for what labsync sees; the token itself
// is not on the page, and a later visit of the picker does not repeat it.
func TestThePickerAfterATokenConnectSaysWhatKindOfTokenItIs(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 3, Groups: 1, Projects: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	tok, err := sb.CreateAccessToken(sandbox.AccessTokenSpec{Kind: sandbox.TokenProject, ProjectID: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	p := b.post("/connect/token", url.Values{"csrf_token": {csrfOf(t, b.get("/connect"))}, "hosting": {"self-managed"},
		"method": {"token"}, "base_url": {sb.URL()}, "token": {tok.Token}, "alias": {"bots"}})
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasSuffix(loc, "/projects?notice=connected") {
		t.Fatalf("connect: %d to %q: %.600s", p.status, loc, p.body)
	}
	p = b.get(loc)
	if p.status != http.StatusOK {
		t.Fatalf("picker: %d %.300s", p.status, p.body)
	}
	panel := between(p.body, `id="connected"`, "</section>")
	for _, want := range []string{"Connected “bots”", "GitLab 17.11", "@" + tok.Username, "project access token", "labsync sees only that project"} {
		if !strings.Contains(panel, want) {
			t.Errorf("the connected panel lacks %q: %s", want, panel)
		}
	}
	if strings.Contains(p.body, tok.Token) {
		t.Error("the picker shows the token")
	}
	if again := b.get(strings.TrimSuffix(loc, "?notice=connected")); strings.Contains(again.body, `id="connected"`) {
		t.Error("the picker says 'connected' on a later visit")
	}
}
