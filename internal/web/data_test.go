package web_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/store"
)

// seedTwoGitLabs gives organisation A a second integration and, in each,
// two selected projects with merge requests: 40 in a-gitlab's
// "team/alpha", 20 in "team/beta", and 5 in the other GitLab's
// "team/alpha". Merge request n of a project was updated n minutes after
// base (the other GitLab's a second later than a-gitlab's).
func seedTwoGitLabs(t *testing.T, f *fixture, base time.Time) (other int64) {
	t.Helper()
	ctx := context.Background()
	in := &store.Integration{OrgID: f.org, Alias: "second-gitlab", BaseURL: "https://gitlab.second.test", AuthMethod: store.AuthMethodToken}
	if err := f.st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	seed := func(integ int64, projects map[string]int, gitlabBase int64, offset time.Duration) {
		var ps []store.Project
		i := int64(0)
		for path := range projects {
			ns, name, _ := strings.Cut(path, "/")
			i++
			ps = append(ps, store.Project{GitLabID: gitlabBase + i, NamespacePath: ns, Name: name, PathWithNamespace: path,
				WebURL: "https://gitlab.test/" + path, DefaultBranch: "main", Visibility: "private"})
		}
		if err := f.st.UpsertDiscoveredProjects(ctx, f.org, integ, ps); err != nil {
			t.Fatal(err)
		}
		all, err := f.st.AllProjects(ctx, f.org, integ)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, p := range all {
			ids = append(ids, p.ID)
		}
		if err := f.st.SetSelectedProjects(ctx, f.org, integ, ids); err != nil {
			t.Fatal(err)
		}
		var mrs []store.MergeRequest
		for _, p := range ps {
			for n := 1; n <= projects[p.PathWithNamespace]; n++ {
				at := base.Add(time.Duration(n)*time.Minute + offset)
				mrs = append(mrs, store.MergeRequest{ProjectGitLabID: p.GitLabID, GitLabID: p.GitLabID*1000 + int64(n), IID: int64(n),
					Title: fmt.Sprintf("%s %s mr %02d", integTag(integ, f.integA), p.PathWithNamespace, n), State: "opened", Author: "a",
					WebURL: fmt.Sprintf("https://gitlab.test/%s/-/merge_requests/%d", p.PathWithNamespace, n), CreatedAt: &at, UpdatedAt: at})
			}
		}
		if _, err := f.st.UpsertMergeRequests(ctx, nil, f.org, integ, store.SourceSync, mrs); err != nil {
			t.Fatal(err)
		}
	}
	seed(f.integA, map[string]int{"team/alpha": 40, "team/beta": 20}, 500, 0)
	seed(in.ID, map[string]int{"team/alpha": 5}, 900, time.Second)
	return in.ID
}

func integTag(id, a int64) string {
	if id == a {
		return "A"
	}
	return "S"
}

var dataRowRE = regexp.MustCompile(`<tr>(?:<td>([^<]*)</td>)?<td>([^<]+)</td><td><a href="[^"]*" rel="noreferrer">![0-9]+</a></td><td>([^<]+)</td>`)

type shownRow struct{ gitlab, project, title string }

func shownRows(p page) []shownRow {
	var out []shownRow
	for _, m := range dataRowRE.FindAllStringSubmatch(p.body, -1) {
		out = append(out, shownRow{m[1], m[2], m[3]})
	}
	return out
}

func TestDataPagesShowNewestFirstWithTheGitLabOfEachRow(t *testing.T) {
	f := newFixture(t, accounts.Options{})
	base := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	other := seedTwoGitLabs(t, f, base)
	b := f.browser(t)
	b.mustSignin("member@a.test")

	p := b.get("/data/merge_requests")
	rows := shownRows(p)
	if p.status != 200 || len(rows) != 50 || !strings.Contains(p.body, `<th scope="col">GitLab</th>`) {
		t.Fatalf("all GitLabs: %d, %d rows, GitLab column: %v", p.status, len(rows), strings.Contains(p.body, `<th scope="col">GitLab</th>`))
	}
	want := []shownRow{
		{"a-gitlab", "team/alpha", "A team/alpha mr 40"}, {"a-gitlab", "team/alpha", "A team/alpha mr 39"},
	}
	for i, w := range want {
		if rows[i] != w {
			t.Fatalf("row %d: %+v, want %+v (newest first)", i, rows[i], w)
		}
	}
	// The next page continues exactly where the first ended.
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(p.body)
	if next == nil {
		t.Fatal("no link to older rows")
	}
	p2 := b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	rows2 := shownRows(p2)
	if p2.status != 200 || len(rows2) != 15 {
		t.Fatalf("second page: %d, %d rows, want 15", p2.status, len(rows2))
	}
	seen := map[string]bool{}
	for _, r := range append(rows, rows2...) {
		if seen[r.title] {
			t.Fatalf("%q is on both pages", r.title)
		}
		seen[r.title] = true
	}
	if last := rows2[len(rows2)-1]; last.title != "A team/alpha mr 01" && last.title != "A team/beta mr 01" {
		t.Fatalf("the oldest row is %+v", last)
	}
	var sawOther bool
	for _, r := range append(rows, rows2...) {
		if r.gitlab == "second-gitlab" {
			sawOther = true
			if !strings.HasPrefix(r.title, "S ") {
				t.Fatalf("a row of a-gitlab is labelled second-gitlab: %+v", r)
			}
		} else if r.gitlab != "a-gitlab" || strings.HasPrefix(r.title, "S ") {
			t.Fatalf("row with the wrong GitLab: %+v", r)
		}
	}
	if !sawOther {
		t.Fatal("the second GitLab's rows are not shown")
	}

	cases := []struct {
		name, query string
		rows        int
		gitlabCol   bool
		first       string
	}{
		{"project by path", "?project=team/beta", 20, true, "A team/beta mr 20"},
		{"project path in another case, with slashes around", "?project=%2FTeam%2FBeta%2F", 20, true, "A team/beta mr 20"},
		{"a path in both GitLabs", "?project=team/alpha", 45, true, "A team/alpha mr 40"},
		{"one GitLab hides the column", fmt.Sprintf("?integration_id=%d", other), 5, false, "S team/alpha mr 05"},
		{"a path nobody has", "?project=team/gamma", 0, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.get("/data/merge_requests" + c.query)
			rows := shownRows(p)
			total := len(rows)
			if total == 50 { // one more page at most in these cases
				if next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(p.body); next != nil {
					total += len(shownRows(b.get(strings.ReplaceAll(next[1], "&amp;", "&"))))
				}
			}
			if p.status != 200 || total != c.rows {
				t.Fatalf("%d, %d rows, want %d", p.status, total, c.rows)
			}
			if c.rows == 0 && !strings.Contains(p.body, "Nothing matches.") {
				t.Fatal("an empty result does not say so")
			}
			if has := strings.Contains(p.body, `<th scope="col">GitLab</th>`); has != c.gitlabCol {
				t.Fatalf("GitLab column shown: %v, want %v", has, c.gitlabCol)
			}
			if c.first != "" && rows[0].title != c.first {
				t.Fatalf("first row %+v, want %q", rows[0], c.first)
			}
		})
	}
	if p := b.get("/data/merge_requests?cursor=yesterday"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "page link is not valid") {
		t.Fatalf("a broken cursor: %d", p.status)
	}
}
