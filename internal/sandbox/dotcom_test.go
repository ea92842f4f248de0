package sandbox

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	if m := sb.Manifest(); len(m.UserProjects) != len(mine) || len(m.UserGroups) == 0 {
		t.Errorf("manifest lists %d user projects and %d groups; membership=true lists %d projects", len(m.UserProjects), len(m.UserGroups), len(mine))
	}
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
	if r := get(t, sb, "/api/v4/projects/1", ""); r.header.Get("RateLimit-Limit") != "500" {
		t.Errorf("anonymous RateLimit-Limit %q, want GitLab.com's 500 per minute", r.header.Get("RateLimit-Limit"))
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
	var byRoute map[string]int
	mustJSON(t, get(t, sb, "/-/sandbox/requests?by=route", sb.ControlToken()).body, &byRoute)
	if byRoute["GET /api/v4/groups/{id}/projects"] != 602 || byRoute["GET /api/v4/groups"] != 200+1+1 {
		t.Errorf("requests by route %v", byRoute)
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

func TestGitLabComOAuthSignsInTheConnectedUserAndOffersNoPublicWorldUsers(t *testing.T) {
	sb := start(t, dotcomConfig)
	cfg := oauthConfig(sb)
	page := get(t, sb, "/oauth/authorize?"+strings.SplitN(cfg.AuthCodeURL("s"), "?", 2)[1], "")
	if page.status != 200 || strings.Contains(string(page.body), "user-1") || !strings.Contains(string(page.body), `<option value="alice">`) {
		t.Errorf("consent page %d offers public-world users or lacks alice", page.status)
	}
	id, _ := sb.OAuthApp()
	code, ok := sb.AuthorizeCode(id, testRedirect, "", "")
	if !ok {
		t.Fatal("AuthorizeCode refused the default app")
	}
	tok, err := cfg.Exchange(t.Context(), code)
	if err != nil {
		t.Fatal(err)
	}
	if u := get(t, sb, "/api/v4/user", tok.AccessToken).json(t); u["username"] != "alice" {
		t.Errorf("OAuth token of %v, want alice", u["username"])
	}
}

func TestGitLabComWorldIsDeterministicAndTheGeneratorKeepsToTheSeededDataset(t *testing.T) {
	cfg := dotcomConfig
	a, b := start(t, cfg), start(t, cfg)
	for _, path := range []string{"/api/v4/projects?order_by=id&per_page=100&page=3", "/api/v4/groups?all_available=true&per_page=100&page=2"} {
		ra := strings.ReplaceAll(string(get(t, a, path, a.UserToken()).body), a.URL(), "")
		rb := strings.ReplaceAll(string(get(t, b, path, b.UserToken()).body), b.URL(), "")
		if ra != rb {
			t.Errorf("%s differs between equal seeds", path)
		}
	}
	cfg.Generator = 60000
	g := start(t, cfg)
	before := a.Manifest().Totals
	for deadline := time.Now().Add(5 * time.Second); g.Manifest().Totals == before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // some more changes, to catch any in the public world
	if m := g.Manifest(); m.Totals == a.Manifest().Totals || m.Public.Totals != (Counts{}) {
		t.Errorf("generator: seeded totals %+v (before %+v), public world %+v; want seeded activity only", m.Totals, a.Manifest().Totals, m.Public.Totals)
	}
}

func TestGitLabComMovesLastActivityAtMostOnceAnHour(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	cfg := dotcomConfig
	cfg.Now = func() time.Time { return now }
	sb := start(t, cfg)
	var pid int64
	for _, p := range sb.projects[:sb.seededProjects] {
		if canRead(p, sb.users[1]) && !p.archived && p.ciEnabled && p.branch(p.defBranch) != nil {
			pid = p.id
			break
		}
	}
	if pid == 0 {
		t.Fatal("alice can read no seeded project with CI/CD and a default branch")
	}
	lastActivity := func() string {
		t.Helper()
		return get(t, sb, "/api/v4/projects/"+strconv.FormatInt(pid, 10), sb.UserToken()).json(t)["last_activity_at"].(string)
	}
	steps := []struct {
		after time.Duration
		want  string
	}{
		{0, "2026-03-02T10:00:00.000Z"},
		{10 * time.Minute, "2026-03-02T10:00:00.000Z"},
		{50 * time.Minute, "2026-03-02T10:00:00.000Z"},
		{61 * time.Minute, "2026-03-02T11:01:00.000Z"},
	}
	// A pipeline records no event: last_activity_at stays where it was.
	before := lastActivity()
	if _, err := sb.RunPipeline(pid, "", ""); err != nil {
		t.Fatal(err)
	}
	if got := lastActivity(); got != before {
		t.Errorf("a pipeline moved last_activity_at from %s to %s", before, got)
	}
	for _, st := range steps {
		now = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).Add(st.after)
		ch, err := sb.OpenIssue(pid, "tick")
		if err != nil {
			t.Fatal(err)
		}
		if got := lastActivity(); got != st.want {
			t.Errorf("after an issue at +%v: last_activity_at %s, want %s", st.after, got, st.want)
		}
		if !ch.UpdatedAt.Equal(now) {
			t.Errorf("the issue's updated_at %v, want %v", ch.UpdatedAt, now)
		}
	}
}

func TestGitLabComEndpointLimitsResetWithTheirWindow(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	cfg := dotcomConfig
	cfg.RateLimitPerMin = -1 // the per-endpoint limit alone
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sb := start(t, cfg)
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	for i := 0; i < 400; i++ {
		if r := get(t, sb, "/api/v4/projects?per_page=1", ""); r.status != 200 {
			t.Fatalf("anonymous request %d: %d", i+1, r.status)
		}
	}
	if r := get(t, sb, "/api/v4/projects?per_page=1", ""); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "600" {
		t.Fatalf("anonymous request 401 in 10 minutes: %d Retry-After %q, want 429 and 600", r.status, r.header.Get("Retry-After"))
	}
	advance(9 * time.Minute)
	if r := get(t, sb, "/api/v4/projects?per_page=1", ""); r.status != http.StatusTooManyRequests {
		t.Errorf("9 minutes later: %d, want still 429", r.status)
	}
	advance(time.Minute)
	if r := get(t, sb, "/api/v4/projects?per_page=1", ""); r.status != 200 {
		t.Errorf("in the next 10-minute window: %d, want 200", r.status)
	}
	if r := get(t, sb, "/api/v4/projects?per_page=1", sb.UserToken()); r.status != 200 {
		t.Errorf("an authenticated user is throttled by anonymous requests: %d", r.status)
	}
}

// BenchmarkGitLabComListings measures what the listings a poller uses cost
// the sandbox with the default 20,000-project public world.
func BenchmarkGitLabComListings(b *testing.B) {
	sb, err := Start(b.Context(), Config{Profile: ProfileGitLabCom, Seed: 1, Groups: 3, Projects: 10, MRs: 10, Issues: 10, Pipelines: 5, Commits: 20, RateLimitPerMin: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	for _, path := range []string{"/api/v4/projects?per_page=100", "/api/v4/projects?per_page=100&membership=true",
		"/api/v4/projects?per_page=100&order_by=last_activity_at", "/api/v4/groups/1/merge_requests?per_page=100&updated_after=2024-01-01T00:00:00Z",
		"/api/v4/merge_requests?scope=all&per_page=100"} {
		b.Run(path, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, sb.URL()+path, nil)
			req.Header.Set("Private-Token", sb.UserToken())
			for b.Loop() {
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("%s: %d", path, res.StatusCode)
				}
			}
		})
	}
}
