package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/store"
)

// seedDora gives a-gitlab project g/app (GitLab id 7) eight weeks of
// delivery data from Monday 2026-01-05: in week n (0-based) n%3+1
// production deployments on main, one a day from Tuesday at 12:00, each
// shipping a merge request merged n+1 hours before it; an incident opened
// every other week on Wednesday and closed 3 hours later; and, in week 2,
// a staging deployment.
func seedDora(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	if err := f.st.UpsertDiscoveredProjects(ctx, f.org, f.integA, []store.Project{{GitLabID: 7, NamespacePath: "g", Name: "app",
		PathWithNamespace: "g/app", Visibility: "private"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var ds []store.Deployment
	var ms []store.MergeRequest
	var is []store.Issue
	id := int64(0)
	for n := 0; n < 8; n++ {
		week := start.AddDate(0, 0, 7*n)
		for k := 0; k < n%3+1; k++ {
			id++
			done := week.AddDate(0, 0, 1+k).Add(12 * time.Hour)
			merged := done.Add(-time.Duration(n+1) * time.Hour)
			ds = append(ds, store.Deployment{ProjectGitLabID: 7, GitLabID: 100 + id, EnvironmentName: "production", EnvironmentTier: "production",
				Status: "success", Ref: "main", FinishedAt: &done, UpdatedAt: done})
			ms = append(ms, store.MergeRequest{ProjectGitLabID: 7, GitLabID: 200 + id, IID: id, State: "merged", TargetBranch: "main",
				MergedAt: &merged, UpdatedAt: done})
		}
		if n%2 == 0 {
			opened := week.AddDate(0, 0, 2)
			closed := opened.Add(3 * time.Hour)
			is = append(is, store.Issue{ProjectGitLabID: 7, GitLabID: 300 + int64(n), IID: int64(n + 1), Title: "outage", State: "closed",
				IssueType: "incident", CreatedAt: &opened, ClosedAt: &closed, UpdatedAt: closed})
		}
	}
	stg := start.AddDate(0, 0, 15)
	ds = append(ds, store.Deployment{ProjectGitLabID: 7, GitLabID: 999, EnvironmentName: "staging", EnvironmentTier: "staging",
		Status: "success", Ref: "main", FinishedAt: &stg, UpdatedAt: stg})
	if _, err := f.st.UpsertDeployments(ctx, nil, f.org, f.integA, store.SourceSync, ds); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.UpsertMergeRequests(ctx, nil, f.org, f.integA, store.SourceSync, ms); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.UpsertIssues(ctx, nil, f.org, f.integA, store.SourceSync, is); err != nil {
		t.Fatal(err)
	}
}

func doraPath(v url.Values) string { return "/metrics/dora?" + v.Encode() }

// TestDoraPageShowsEachMetricAsAChartAndATable: a member sees four
// sections, each an SVG chart with a table of every week beside it; week
// 2026-01-12 reads as the data says, and the page links
// to the rows behind the figures.
func TestDoraPageShowsEachMetricAsAChartAndATable(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	seedDora(t, f)
	b := f.browser(t)
	b.mustSignin("member@a.test")
	p := b.get(doraPath(url.Values{"integration_id": {strconv.FormatInt(f.integA, 10)}, "from": {"2026-01-05"}, "to": {"2026-03-01"}}))
	if p.status != http.StatusOK {
		t.Fatalf("%d %.500s", p.status, p.body)
	}
	for _, want := range []string{
		`<a href="/metrics/dora" aria-current="page">DORA</a>`,
		`<h2 id="deployment_frequency-h">Deployment frequency</h2>`,
		`<h2 id="lead_time_for_changes-h">Lead time for changes</h2>`,
		`<h2 id="change_failure_rate-h">Change failure rate</h2>`,
		`<h2 id="time_to_restore_service-h">Time to restore service</h2>`,
		`role="img" aria-labelledby="chart-deployment_frequency-t chart-deployment_frequency-d"`,
		// Week 1 (2026-01-12): 2 deployments (Tuesday, Wednesday), lead
		// times of 2 h each, no incident: 0 of 2.
		`<tr><td>2026-01-12 – 2026-01-18</td><td>2</td><td>0.29 a day</td></tr>`,
		`<tr><td>2026-01-12 – 2026-01-18</td><td>2 h</td><td>2 merge requests</td></tr>`,
		`<tr><td>2026-01-12 – 2026-01-18</td><td>0 %</td><td>0 incidents, 2 deployments</td></tr>`,
		// Week 0: one incident over one deployment, restored in 3 hours.
		`<tr><td>2026-01-05 – 2026-01-11</td><td>100 %</td><td>1 incident, 1 deployment</td></tr>`,
		`<tr><td>2026-01-05 – 2026-01-11</td><td>3 h</td><td>1 incident closed</td></tr>`,
		`/api/v1/metrics/dora?`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(p.body, `id="dora-missing"`) {
		t.Error("a page with data says data is missing")
	}
	if n := strings.Count(p.body, "<svg"); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}
	// The link to the rows works with the page's session and lists the
	// deployments of the first week.
	m := regexp.MustCompile(`<a href="(/api/v1/metrics/dora\?[^"]+)">The rows behind these figures</a>`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatal("no link to the rows behind the figures")
	}
	rows := b.get(html.UnescapeString(m[1]))
	if rows.status != http.StatusOK || !strings.Contains(rows.body, `"deployments":[{"id":101,`) {
		t.Errorf("the rows link: %d %.600s", rows.status, rows.body)
	}
}

// TestDoraPageSaysWhatDataIsMissingAndWhatIsRefused: without production
// deployments the page says which tiers it has; a wrong interval, an
// unknown project path or another organisation's GitLab is refused in
// words beside the filters.
func TestDoraPageSaysWhatDataIsMissingAndWhatIsRefused(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	seedDora(t, f)
	b := f.browser(t)
	b.mustSignin("member@a.test")
	integ := strconv.FormatInt(f.integA, 10)
	p := b.get(doraPath(url.Values{"integration_id": {integ}, "from": {"2026-01-19"}, "to": {"2026-01-25"}, "environment_tier": {"testing"}}))
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="dora-missing"`) ||
		!strings.Contains(p.body, "No deployments to a testing-tier environment yet (15 to production, 1 to staging).") {
		t.Errorf("empty tier: %d %.3000s", p.status, p.body)
	}
	cases := []struct {
		name   string
		query  url.Values
		status int
		says   string
	}{
		{"an interval the page does not offer", url.Values{"integration_id": {integ}, "interval": {"hour"}}, 400, "interval must be day, week or month"},
		{"a project the GitLab does not have", url.Values{"integration_id": {integ}, "project": {"g/nope"}}, 400, "That GitLab has no project g/nope"},
		{"a project without its GitLab", url.Values{"project": {"g/app"}}, 400, "Choose the GitLab the project is on."},
		{"another organisation's GitLab", url.Values{"integration_id": {strconv.FormatInt(f.integB, 10)}}, 404, "there is no integration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.get(doraPath(c.query))
			if p.status != c.status || !strings.Contains(p.body, `role="alert" id="d-error"`) || !strings.Contains(p.body, c.says) {
				t.Errorf("%d, want %d saying %q: %.2000s", p.status, c.status, c.says, p.body)
			}
			if strings.Contains(p.body, "b-gitlab") {
				t.Error("the page names the other organisation's GitLab")
			}
		})
	}
	// A project given by its path narrows the figures to it.
	p = b.get(doraPath(url.Values{"integration_id": {integ}, "project": {"g/app"}, "from": {"2026-01-05"}, "to": {"2026-01-11"}}))
	if p.status != 200 || !strings.Contains(p.body, "<tr><td>2026-01-05 – 2026-01-11</td><td>1</td>") {
		t.Errorf("project g/app: %d %.2000s", p.status, p.body)
	}
}

// TestBrowserDoraPage opens the page in Chromium at a desktop's and a
// phone's width: four charts are drawn, nothing scrolls sideways, every
// control is labelled and the text is readable (the same checks as the
// other pages), and so is the empty state of a tier without deployments.
// It saves dora-wide.png, dora-narrow.png and dora-empty.png.
func TestBrowserDoraPage(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	f := newFixture(t, accounts.Options{})
	seedDora(t, f)
	path := doraPath(url.Values{"integration_id": {strconv.FormatInt(f.integA, 10)}, "from": {"2026-01-05"}, "to": {"2026-03-01"}})
	const short = 30 * time.Second
	shot := newShots(t)
	for _, size := range []struct {
		name string
		w, h int
	}{{"wide", 1280, 900}, {"narrow", 390, 844}} {
		bctx := startChromium(t, ctx, chromium, size.w, size.h)
		step(t, bctx, size.name+": viewport", short, chromedp.EmulateViewport(int64(size.w), int64(size.h)))
		step(t, bctx, size.name+": sign in", short, chromedp.Navigate(f.srv.URL+"/signin"), chromedp.WaitVisible("#email", chromedp.ByID),
			chromedp.SendKeys("#email", "member@a.test", chromedp.ByID), chromedp.SendKeys("#password", ownerPassword, chromedp.ByID),
			chromedp.Click("#signin", chromedp.ByID), chromedp.WaitVisible("nav", chromedp.ByQuery))
		step(t, bctx, size.name+": page", short, chromedp.Navigate(f.srv.URL+path),
			chromedp.WaitVisible("#time_to_restore_service svg", chromedp.ByQuery))
		var drawn struct {
			Charts int     `json:"charts"`
			Bars   int     `json:"bars"`
			Width  float64 `json:"width"`
		}
		step(t, bctx, size.name+": charts", short, chromedp.Evaluate(`(function(){
			var svgs = document.querySelectorAll("svg.chart");
			return {charts: svgs.length, bars: document.querySelectorAll("#deployment_frequency svg rect").length,
				width: svgs[0].getBoundingClientRect().width};
		})()`, &drawn))
		// Eight weeks of deployments: eight bars, a chart wider than a
		// thumbnail.
		if drawn.Charts != 4 || drawn.Bars != 8 || drawn.Width < 300 {
			t.Errorf("%s: %+v, want 4 charts, 8 bars, at least 300 px wide", size.name, drawn)
		}
		var problems []string
		step(t, bctx, size.name+": checks", short, chromedp.Evaluate(a11yChecksJS, &problems))
		for _, p := range problems {
			t.Errorf("%s: %s", size.name, p)
		}
		shot.save(bctx, "dora-"+size.name+".png")
		if size.name != "wide" {
			continue
		}
		// The empty state of a tier without deployments, checked the same way.
		empty := doraPath(url.Values{"integration_id": {strconv.FormatInt(f.integA, 10)}, "environment_tier": {"testing"}})
		step(t, bctx, "empty state", short, chromedp.Navigate(f.srv.URL+empty), chromedp.WaitVisible("#dora-missing", chromedp.ByID))
		problems = nil
		step(t, bctx, "empty state: checks", short, chromedp.Evaluate(a11yChecksJS, &problems))
		for _, p := range problems {
			t.Errorf("empty state: %s", p)
		}
		shot.save(bctx, "dora-empty.png")
	}
}
