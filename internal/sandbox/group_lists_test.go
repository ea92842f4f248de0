package sandbox

import (
	"net/http"
	"sort"
	"strconv"
	"testing"
	"time"
)

var groupConfig = Config{Seed: 11, Groups: 6, Projects: 24, MRs: 3, Issues: 3, Commits: 2}

// subtreeIDs returns the ids of g's MRs and issues over g and its
// descendants, counting only non-archived projects unless withArchived.
func subtreeIDs(sb *Sandbox, g *group, u *user, withArchived bool) (mrs, issues []int64) {
	sb.mu.RLock()
	defer sb.mu.RUnlock()
	for _, p := range groupProjects(g) {
		if (p.archived && !withArchived) || !canRead(p, u) {
			continue
		}
		for _, m := range p.mrs {
			mrs = append(mrs, m.id)
		}
		for _, is := range p.issues {
			issues = append(issues, is.id)
		}
	}
	sort.Slice(mrs, func(i, j int) bool { return mrs[i] < mrs[j] })
	sort.Slice(issues, func(i, j int) bool { return issues[i] < issues[j] })
	return mrs, issues
}

func listIDs(t *testing.T, sb *Sandbox, path, token string) []int64 {
	t.Helper()
	r := get(t, sb, path, token)
	if r.status != http.StatusOK {
		t.Fatalf("%s: %d %s", path, r.status, r.body)
	}
	var items []struct{ ID int64 }
	mustJSON(t, r.body, &items)
	ids := make([]int64, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGroupListingsIncludeSubgroupProjectsAndSkipArchivedByDefault(t *testing.T) {
	sb := start(t, groupConfig)
	admin := sb.AdminToken()
	root := sb.users[0]
	checked := 0
	for _, g := range sb.groups {
		if g.parent != nil || len(g.children) == 0 {
			continue
		}
		checked++
		id := strconv.FormatInt(g.id, 10)
		for _, withArchived := range []bool{false, true} {
			name := g.fullPath + " non_archived=" + strconv.FormatBool(!withArchived)
			t.Run(name, func(t *testing.T) {
				wantMRs, wantIssues := subtreeIDs(sb, g, root, withArchived)
				q := "?per_page=100"
				if withArchived {
					q += "&non_archived=false"
				}
				if got := listIDs(t, sb, "/api/v4/groups/"+id+"/merge_requests"+q, admin); !equalIDs(got, wantMRs) {
					t.Errorf("merge requests %v, want %v", got, wantMRs)
				}
				if got := listIDs(t, sb, "/api/v4/groups/"+id+"/issues"+q, admin); !equalIDs(got, wantIssues) {
					t.Errorf("issues %v, want %v", got, wantIssues)
				}
			})
		}
	}
	if checked == 0 {
		t.Fatal("the dataset has no top-level group with subgroups")
	}
}

func TestGroupListingsAnswer404ForAGroupTheUserCannotSee(t *testing.T) {
	sb := start(t, groupConfig)
	var hidden *group
	for _, g := range sb.groups {
		if !canReadGroup(g, sb.users[2]) {
			hidden = g
			break
		}
	}
	if hidden == nil {
		t.Fatal("bob can see every group of the dataset")
	}
	bob := sb.CreateToken(TokenSpec{User: "bob", Scopes: []string{"read_api"}})
	for _, res := range []string{"merge_requests", "issues", "projects"} {
		t.Run(res, func(t *testing.T) {
			r := get(t, sb, "/api/v4/groups/"+strconv.FormatInt(hidden.id, 10)+"/"+res, bob)
			if r.status != http.StatusNotFound || string(r.body) != `{"message":"404 Group Not Found"}`+"\n" {
				t.Errorf("%d %s, want GitLab's 404 Group Not Found", r.status, r.body)
			}
			r = get(t, sb, "/api/v4/groups/"+hidden.fullPath+"/"+res, "")
			if r.status != http.StatusNotFound {
				t.Errorf("anonymous by path: %d, want 404", r.status)
			}
		})
	}
}

func TestGroupListingsShowANonMemberOnlyTheProjectsTheyCanRead(t *testing.T) {
	sb := start(t, groupConfig)
	bob := sb.users[2]
	tok := sb.CreateToken(TokenSpec{User: "bob"})
	checked := 0
	for _, g := range sb.groups {
		if !canReadGroup(g, bob) || groupAccess(g, bob.id) > 0 {
			continue
		}
		checked++
		wantMRs, _ := subtreeIDs(sb, g, bob, false)
		if got := listIDs(t, sb, "/api/v4/groups/"+strconv.FormatInt(g.id, 10)+"/merge_requests?per_page=100", tok); !equalIDs(got, wantMRs) {
			t.Errorf("group %s: bob lists %v, want %v", g.fullPath, got, wantMRs)
		}
	}
	if checked == 0 {
		t.Fatal("no group bob can see without being a member")
	}
}

func TestGroupListingsFilterByUpdatedAfter(t *testing.T) {
	sb := start(t, groupConfig)
	admin := sb.AdminToken()
	var top, sub *group
	for _, g := range sb.groups {
		if g.parent != nil && len(g.projects) > 0 {
			top, sub = g.parent, g
			break
		}
	}
	if sub == nil {
		t.Fatal("no subgroup with projects")
	}
	var p *project
	for _, x := range sub.projects {
		if !x.archived {
			p = x
			break
		}
	}
	if p == nil {
		t.Fatal("subgroup has only archived projects")
	}
	since := sb.Now().Add(-time.Second).UTC().Format(time.RFC3339)
	mr, err := sb.OpenMR(p.id, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	is, err := sb.OpenIssue(p.id, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(top.id, 10)
	if got := listIDs(t, sb, "/api/v4/groups/"+id+"/merge_requests?updated_after="+since, admin); !equalIDs(got, []int64{mr.ID}) {
		t.Errorf("merge requests updated after %s: %v, want [%d]", since, got, mr.ID)
	}
	if got := listIDs(t, sb, "/api/v4/groups/"+id+"/issues?updated_after="+since+"&scope=all&state=opened", admin); !equalIDs(got, []int64{is.ID}) {
		t.Errorf("issues updated after %s: %v, want [%d]", since, got, is.ID)
	}
	r := get(t, sb, "/api/v4/groups/"+id+"/merge_requests?order_by=updated_at&sort=desc&per_page=1", admin)
	var first []struct{ ID int64 }
	mustJSON(t, r.body, &first)
	if len(first) != 1 || first[0].ID != mr.ID {
		t.Errorf("order_by=updated_at desc starts with %v, want the new MR %d", first, mr.ID)
	}
	// The project moves to the front of its group's projects by last activity.
	var ps []struct{ ID int64 }
	mustJSON(t, get(t, sb, "/api/v4/groups/"+id+"/projects?include_subgroups=true&order_by=last_activity_at&per_page=1", admin).body, &ps)
	if len(ps) != 1 || ps[0].ID != p.id {
		t.Errorf("group projects by last activity start with %v, want project %d", ps, p.id)
	}
	mustJSON(t, get(t, sb, "/api/v4/groups/"+id+"/projects?order_by=last_activity_at&per_page=100", admin).body, &ps)
	for _, x := range ps {
		if x.ID == p.id {
			t.Errorf("project %d of subgroup %s listed without include_subgroups", p.id, sub.fullPath)
		}
	}
}

func TestGroupListingsPaginateWithGitLabHeaders(t *testing.T) {
	sb := start(t, groupConfig)
	admin := sb.AdminToken()
	g := sb.groups[0]
	wantMRs, _ := subtreeIDs(sb, g, sb.users[0], false)
	if len(wantMRs) < 3 {
		t.Fatalf("group %s has %d MRs, want at least 3", g.fullPath, len(wantMRs))
	}
	r := get(t, sb, "/api/v4/groups/"+strconv.FormatInt(g.id, 10)+"/merge_requests?per_page=2&page=1", admin)
	pages := (len(wantMRs) + 1) / 2
	for k, want := range map[string]string{"X-Total": strconv.Itoa(len(wantMRs)), "X-Total-Pages": strconv.Itoa(pages), "X-Page": "1", "X-Per-Page": "2", "X-Next-Page": "2"} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	seen := map[int64]bool{}
	for page := 1; page <= pages; page++ {
		for _, id := range listIDs(t, sb, "/api/v4/groups/"+strconv.FormatInt(g.id, 10)+"/merge_requests?per_page=2&page="+strconv.Itoa(page), admin) {
			if seen[id] {
				t.Fatalf("MR %d on two pages", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != len(wantMRs) {
		t.Errorf("pages listed %d MRs, want %d", len(seen), len(wantMRs))
	}
	if r := get(t, sb, "/api/v4/groups/"+strconv.FormatInt(g.id, 10)+"/projects?with_shared=maybe", admin); r.status != http.StatusBadRequest {
		t.Errorf("with_shared=maybe: %d, want 400", r.status)
	}
}

func TestProjectsMembershipAndMinAccessLevelListOnlyTheUsersProjects(t *testing.T) {
	sb := start(t, groupConfig)
	tests := []struct {
		user, query string
		want        func(p *project, u *user) bool
	}{
		{"alice", "membership=true", func(p *project, u *user) bool { return accessLevel(p, u) > 0 }},
		{"bob", "membership=true", func(p *project, u *user) bool { return accessLevel(p, u) > 0 }},
		{"carol", "min_access_level=40", func(p *project, u *user) bool { return accessLevel(p, u) >= accessMaintainer }},
		{"alice", "min_access_level=30", func(p *project, u *user) bool { return accessLevel(p, u) >= accessDeveloper }},
		{"bob", "membership=true&min_access_level=20", func(p *project, u *user) bool { return accessLevel(p, u) >= accessReporter }},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.query, func(t *testing.T) {
			u := sb.userByName(tt.user)
			var want []int64
			for _, p := range sb.projects {
				if tt.want(p, u) {
					want = append(want, p.id)
				}
			}
			if len(want) == 0 {
				t.Fatalf("%s has no project matching %s in the dataset", tt.user, tt.query)
			}
			got := listIDs(t, sb, "/api/v4/projects?per_page=100&"+tt.query, sb.CreateToken(TokenSpec{User: tt.user}))
			if !equalIDs(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
			all := listIDs(t, sb, "/api/v4/projects?per_page=100", sb.CreateToken(TokenSpec{User: tt.user}))
			if len(all) <= len(want) && tt.user == "bob" {
				t.Errorf("without the filter bob lists %d projects, with it %d: the filter removed nothing", len(all), len(want))
			}
		})
	}
}

func TestProjectsFilterByLastActivityAndUpdatedAt(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 3, Groups: 2, Projects: 10, MRs: 1, Commits: 1})
	admin := sb.AdminToken()
	since := sb.Now().Add(-time.Second).UTC().Format(time.RFC3339)
	if _, err := sb.OpenIssue(4, "active"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		status      int
		want        []int64
	}{
		{"last activity after", "last_activity_after=" + since, 200, []int64{4}},
		{"updated after, paired with updated_at order", "updated_after=" + since + "&order_by=updated_at", 200, []int64{4}},
		{"updated after without order_by", "updated_after=" + since, 400, nil},
		{"updated before with another order", "updated_before=" + since + "&order_by=id", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, sb, "/api/v4/projects?"+tt.query, admin)
			if r.status != tt.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tt.status)
			}
			if tt.status == 400 {
				if want := `{"message":"400 Bad request - ` + "`updated_at` filter and `updated_at` sorting must be paired" + `"}` + "\n"; string(r.body) != want {
					t.Errorf("body %s, want %s", r.body, want)
				}
				return
			}
			if got := listIDs(t, sb, "/api/v4/projects?"+tt.query, admin); !equalIDs(got, tt.want) {
				t.Errorf("listed %v, want %v", got, tt.want)
			}
		})
	}
}
