package sandbox

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var dotcomConfig = Config{Profile: ProfileGitLabCom, Seed: 5, Groups: 4, Projects: 12, MRs: 2, Issues: 2, Pipelines: 1, Commits: 2, PublicProjects: 300}

// fixedClock keeps rate-limit windows from turning over during a test.
func fixedClock() time.Time { return time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC) }

func TestGitLabComProfileHandsOutAnOrdinaryUsersTokenAndASeparateControlCredential(t *testing.T) {
	sb := start(t, dotcomConfig)
	if sb.AdminToken() != "" {
		t.Error("the gitlab.com profile hands out an administrator token")
	}
	u := get(t, sb, "/api/v4/user", sb.UserToken()).json(t)
	if _, admin := u["is_admin"]; u["username"] != "alice" || admin { // UserWithAdmin only for administrators
		t.Errorf("the user token is %v's (is_admin %v), want alice's, not an administrator", u["username"], u["is_admin"])
	}
	if r := get(t, sb, "/api/v4/user", sb.ControlToken()); r.status != http.StatusUnauthorized {
		t.Errorf("the control credential on GitLab's API: %d, want 401", r.status)
	}
	if r := get(t, sb, "/-/sandbox/manifest", sb.UserToken()); r.status != http.StatusForbidden {
		t.Errorf("the user token on the control API: %d, want 403", r.status)
	}
	r := get(t, sb, "/-/sandbox/manifest", sb.ControlToken())
	var m Manifest
	mustJSON(t, r.body, &m)
	if r.status != 200 || m.Profile != ProfileGitLabCom || m.UserToken != sb.UserToken() || m.ControlToken != sb.ControlToken() || m.User != "alice" {
		t.Errorf("manifest: %d profile %q user %q, tokens present %v/%v", r.status, m.Profile, m.User, m.UserToken != "", m.ControlToken != "")
	}
	if m.Projects != 12 || m.Public == nil || m.Public.Projects != 300 || m.Public.Visible == 0 || m.Public.Visible == 300 {
		t.Errorf("manifest counts seeded %d, public %+v; want 12 seeded and 300 public, some private", m.Projects, m.Public)
	}
	for _, path := range []string{"/api/v4/projects?per_page=100", "/api/v4/groups?all_available=true&per_page=100"} {
		if strings.Contains(string(get(t, sb, path, sb.UserToken()).body), `"visibility":"internal"`) {
			t.Errorf("%s lists internal visibility, which GitLab.com does not have", path)
		}
	}
}

// readableIDs walks every offset page of path and returns the ids listed.
func readableIDs(t *testing.T, sb *Sandbox, path, token string) map[int64]bool {
	t.Helper()
	seen := map[int64]bool{}
	for page := 1; page < 100; page++ {
		r := get(t, sb, path+"&per_page=100&page="+strconv.Itoa(page), token)
		if r.status != 200 {
			t.Fatalf("%s page %d: %d %s", path, page, r.status, r.body)
		}
		var items []struct{ ID int64 }
		mustJSON(t, r.body, &items)
		for _, it := range items {
			seen[it.ID] = true
		}
		if r.header.Get("X-Next-Page") == "" {
			return seen
		}
	}
	t.Fatalf("%s: more than 100 pages", path)
	return nil
}

func TestGitLabComListsThePublicWorldToNonMembersButNeverPrivateProjects(t *testing.T) {
	sb := start(t, dotcomConfig)
	tok := sb.UserToken()
	alice := sb.users[1]
	all := readableIDs(t, sb, "/api/v4/projects?order_by=id", tok)
	mine := readableIDs(t, sb, "/api/v4/projects?membership=true", tok)
	public, private := 0, 0
	for _, p := range sb.projects {
		switch {
		case all[p.id] != canRead(p, alice):
			t.Errorf("project %d (%s, member %v): listed %v", p.id, p.vis, accessLevel(p, alice) > 0, all[p.id])
		case mine[p.id] != (accessLevel(p, alice) > 0):
			t.Errorf("project %d: membership=true lists it %v, alice's level %d", p.id, mine[p.id], accessLevel(p, alice))
		}
		if sb.isPublicWorld(p) && p.vis == "public" && all[p.id] {
			public++
		}
		if sb.isPublicWorld(p) && p.vis == "private" {
			private++
			if r := get(t, sb, "/api/v4/projects/"+strconv.FormatInt(p.id, 10), tok); r.status != http.StatusNotFound {
				t.Errorf("private project %d of another user: %d, want 404", p.id, r.status)
			}
		}
	}
	if public == 0 || private == 0 || len(mine) == 0 {
		t.Fatalf("want public and private projects of others and some of alice's: %d public, %d private, %d hers", public, private, len(mine))
	}

	mineGroups := readableIDs(t, sb, "/api/v4/groups?order_by=id", tok)
	allGroups := readableIDs(t, sb, "/api/v4/groups?all_available=true", tok)
	publicGroups := 0
	for _, g := range sb.groups {
		if mineGroups[g.id] != (groupAccess(g, alice.id) > 0) {
			t.Errorf("group %s: listed by default %v, alice's level %d", g.fullPath, mineGroups[g.id], groupAccess(g, alice.id))
		}
		if allGroups[g.id] != canReadGroup(g, alice) {
			t.Errorf("group %s (%s): all_available=true lists it %v", g.fullPath, g.vis, allGroups[g.id])
		}
		if g.id > int64(sb.seededGroups) && g.vis == "public" && allGroups[g.id] {
			publicGroups++
		}
	}
	if publicGroups == 0 {
		t.Error("all_available=true lists no public group of other users")
	}
}

func TestGitLabComPublicActivityMovesOthersProjectsWithoutWebhooks(t *testing.T) {
	cfg := dotcomConfig
	cfg.PublicActivityPerMin = 60000
	cfg.PublicActivityMix = ActivityMix{MergeRequests: 1, Issues: 1}
	since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
	sb := start(t, cfg)
	deadline := time.Now().Add(10 * time.Second)
	for sb.Manifest().Public.Changes < 40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	m := sb.Manifest()
	if m.Public.Changes < 40 || m.Public.Totals.MergeRequests == 0 || m.Public.Totals.Issues == 0 {
		t.Fatalf("public activity made %d changes, %+v", m.Public.Changes, m.Public.Totals)
	}
	if m.Public.Totals.Pipelines != 0 {
		t.Errorf("the mix has no pipelines, yet %d ran", m.Public.Totals.Pipelines)
	}
	if d := sb.Deliveries(); len(d) != 0 {
		t.Errorf("%d webhook deliveries for public activity nobody subscribed to", len(d))
	}
	var mrs []struct {
		ProjectID int64 `json:"project_id"`
		Author    struct{ Username string }
	}
	mustJSON(t, get(t, sb, "/api/v4/merge_requests?scope=all&per_page=100&updated_after="+since, sb.UserToken()).body, &mrs)
	if len(mrs) == 0 {
		t.Fatal("scope=all lists no fresh merge request of the public world")
	}
	for _, mr := range mrs {
		p := sb.projects[mr.ProjectID-1]
		if !sb.isPublicWorld(p) || p.vis != "public" || mr.Author.Username == "alice" {
			t.Errorf("MR in project %d (%s, public world %v) by %s", mr.ProjectID, p.vis, sb.isPublicWorld(p), mr.Author.Username)
		}
	}
	var mine []struct{ ID int64 }
	mustJSON(t, get(t, sb, "/api/v4/merge_requests?updated_after="+since, sb.UserToken()).body, &mine)
	if len(mine) != 0 {
		t.Errorf("the default scope (created_by_me) lists %d of other users' merge requests", len(mine))
	}
}

func TestGitLabComRateLimitsAnswerAsGitLabComDoes(t *testing.T) {
	cfg := dotcomConfig
	cfg.Now = fixedClock
	sb := start(t, cfg)
	tok := sb.UserToken()
	tests := []struct {
		path  string
		limit int
		retry string
	}{
		{"/api/v4/groups", 200, "60"},
		{"/api/v4/groups/1/projects", 600, "60"},
		{"/api/v4/projects/1", 400, "60"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			for i := 1; i <= tt.limit; i++ {
				if r := get(t, sb, tt.path, tok); r.status != 200 {
					t.Fatalf("request %d of %d: %d %s", i, tt.limit, r.status, r.body)
				}
			}
			r := get(t, sb, tt.path, tok)
			want := `{"message":{"error":"This endpoint has been requested too many times. Try again later."}}` + "\n"
			if r.status != http.StatusTooManyRequests || string(r.body) != want || r.header.Get("Retry-After") != tt.retry {
				t.Errorf("request %d: %d %s Retry-After %q; want 429 %s Retry-After %s", tt.limit+1, r.status, r.body, r.header.Get("Retry-After"), want, tt.retry)
			}
			other := sb.CreateToken(TokenSpec{User: "bob"})
			if r := get(t, sb, tt.path, other); r.status == http.StatusTooManyRequests {
				t.Errorf("another user is throttled by alice's requests")
			}
		})
	}
	r := get(t, sb, "/api/v4/version", tok)
	if r.header.Get("RateLimit-Limit") != "2000" {
		t.Errorf("RateLimit-Limit %q, want GitLab.com's 2000 per minute", r.header.Get("RateLimit-Limit"))
	}
	var routes int
	for _, e := range sb.Requests() {
		if e.Route == "GET /api/v4/groups/{id}/projects" {
			routes++
		}
	}
	if routes != 600+1+1 {
		t.Errorf("request log counts %d requests on route GET /api/v4/groups/{id}/projects, want 602", routes)
	}
}

func TestGitLabComProjectsListDropsTotalsAboveTenThousandRows(t *testing.T) {
	cfg := dotcomConfig
	cfg.PublicProjects = 14000
	sb := start(t, cfg)
	r := get(t, sb, "/api/v4/projects?per_page=1", sb.UserToken())
	if _, ok := r.header["X-Total"]; ok || r.status != 200 || r.header.Get("X-Next-Page") != "2" {
		t.Errorf("%d, X-Total %q, X-Next-Page %q: want no total above 10,000 rows", r.status, r.header.Get("X-Total"), r.header.Get("X-Next-Page"))
	}
	r = get(t, sb, "/api/v4/projects?per_page=1&membership=true", sb.UserToken())
	if r.header.Get("X-Total") == "" {
		t.Error("membership=true lists few projects but carries no X-Total")
	}
}

func TestSelfManagedProfileIsUnchangedByTheGitLabComWorld(t *testing.T) {
	sb := start(t, Config{Seed: 5, Groups: 4, Projects: 12, PublicProjects: 300, PublicActivityPerMin: 100})
	m := sb.Manifest()
	if m.Public != nil || len(sb.projects) != 12 || sb.AdminToken() == "" || sb.ControlToken() != sb.AdminToken() || sb.UserToken() != sb.AdminToken() {
		t.Errorf("self-managed profile: public %v, %d projects, admin token set %v", m.Public, len(sb.projects), sb.AdminToken() != "")
	}
	if r := get(t, sb, "/api/v4/projects", sb.AdminToken()); r.header.Get("RateLimit-Limit") != "" {
		t.Error("self-managed profile rate-limits without RateLimitPerMin")
	}
}

// BenchmarkStartGitLabCom measures starting the gitlab.com profile with the
// default 20,000-project public world (allocations show its memory cost).
func BenchmarkStartGitLabCom(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sb, err := Start(b.Context(), Config{Profile: ProfileGitLabCom, Seed: 1, Groups: 3, Projects: 10, MRs: 10, Issues: 10, Pipelines: 5, Commits: 20})
		if err != nil {
			b.Fatal(err)
		}
		sb.Close()
	}
}

// BenchmarkStartSelfManaged is the same with the default dataset only, to
// compare.
func BenchmarkStartSelfManaged(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sb, err := Start(b.Context(), Config{Seed: 1, Groups: 3, Projects: 10, MRs: 10, Issues: 10, Pipelines: 5, Commits: 20})
		if err != nil {
			b.Fatal(err)
		}
		sb.Close()
	}
}
