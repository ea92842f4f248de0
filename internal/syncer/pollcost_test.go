package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
)

// memberProjects lists, as GitLab does for token, the ids of the projects
// its user is a member of (/projects?membership=true).
func memberProjects(t *testing.T, base, token string) map[int64]bool {
	t.Helper()
	out := map[int64]bool{}
	for page := 1; page < 100; page++ {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v4/projects?membership=true&per_page=100&page=%d", base, page), nil)
		req.Header.Set("PRIVATE-TOKEN", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ps []struct {
			ID int64 `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ps)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			out[p.ID] = true
		}
		if resp.Header.Get("X-Next-Page") == "" {
			break
		}
	}
	return out
}

func apiCount(rs []sandbox.RequestLogEntry) (int, map[string]int) {
	n := 0
	by := map[string]int{}
	for _, r := range rs {
		if strings.HasPrefix(r.Path, "/api/v4/") || r.Path == "/api/graphql" {
			n++
			by[r.Path]++
		}
	}
	return n, by
}

// TestPollCostFollowsTheSelectionNotTheInstance: a user who is a member of
// a few groups and projects selects one group (auto-import, a subgroup
// inside) and two projects of another group one by one. While the
// selection is quiet a poll costs at most 3 × (groups + loose projects) +
// 2 requests, however busy the rest of the instance is (activity on
// projects the user can see but is not a member of costs nothing), and no
// project the user is not a member of is ever stored — on 17.11
// self-managed and on the gitlab.com profile with its public world. Every
// service is on, the review and delivery ones (issue 20) included: the
// bound is the same, and a quiet poll asks nothing of their endpoints.
func TestPollCostFollowsTheSelectionNotTheInstance(t *testing.T) {
	cases := []struct {
		name string
		cfg  sandbox.Config
	}{
		{"17.11 self-managed", sandbox.Config{Version: "17.11", Seed: 5, Groups: 6, Projects: 24, MRs: 3, Issues: 3, Pipelines: 2, Commits: 4}},
		{"gitlab.com", sandbox.Config{Profile: sandbox.ProfileGitLabCom, PublicProjects: 2000, Seed: 5, Groups: 6, Projects: 24, MRs: 3,
			Issues: 3, Pipelines: 2, Commits: 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			sb, err := sandbox.Start(ctx, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sb.Close() })
			f := attach(t, sb, storetest.Open(t))
			token := sb.UserToken()
			if sb.Profile() != sandbox.ProfileGitLabCom {
				token = sb.CreateToken(sandbox.TokenSpec{User: "alice", Scopes: []string{"read_api"}})
			}
			f.setToken(token)
			svc := f.service(syncer.Options{Concurrency: 3, PerPage: 20})
			if err := svc.Discover(ctx, f.org, f.integ); err != nil {
				t.Fatal(err)
			}
			members := memberProjects(t, sb.URL(), token)
			gs, _ := f.st.Groups(ctx, f.org, f.integ)
			all, _ := f.st.AllProjects(ctx, f.org, f.integ)
			var top []store.Group
			for _, g := range gs {
				if g.ParentGitLabID == nil {
					top = append(top, g)
				}
			}
			if len(top) < 2 {
				t.Fatalf("the user sees %d top-level groups, want 2", len(top))
			}
			sel := store.Selection{Services: store.AllServices, Groups: []store.GroupSelection{{GitLabID: top[0].GitLabID, AutoImport: true}}}
			for _, p := range all {
				if strings.HasPrefix(p.NamespacePath, top[1].FullPath) && !p.Archived && len(sel.Projects) < 2 {
					sel.Projects = append(sel.Projects, p.GitLabID)
				}
			}
			if len(sel.Projects) != 2 {
				t.Fatalf("%d loose projects, want 2", len(sel.Projects))
			}
			if _, err := svc.SaveSelection(ctx, f.org, f.integ, sel); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []syncer.Mode{syncer.ModeFull, syncer.ModePoll} {
				if err := svc.Run(ctx, f.org, f.integ, mode); err != nil {
					t.Fatal(err)
				}
			}
			selectedIDs := map[int64]bool{}
			ps, _ := f.st.AllProjects(ctx, f.org, f.integ)
			for _, p := range ps {
				if p.Selected {
					selectedIDs[p.GitLabID] = true
				}
			}
			bound := 3*(1+2) + 2

			// Quiet: nothing changes anywhere.
			sb.ResetRequests()
			if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
				t.Fatal(err)
			}
			quiet, byPath := apiCount(sb.Requests())
			if quiet > bound {
				t.Fatalf("a quiet poll made %d requests, bound %d: %v", quiet, bound, byPath)
			}
			if d := deliveryRequests(sb.Requests()); len(d) > 0 {
				t.Fatalf("a quiet poll asked for review or delivery data: %v", d)
			}
			for path := range byPath {
				if path == "/api/v4/projects" || path == "/api/v4/merge_requests" || path == "/api/v4/issues" {
					t.Fatalf("a poll listed %s instance-wide", path)
				}
			}

			// Busy elsewhere: merge requests opened in projects the user
			// can see but did not select and is not a member of.
			busy := 0
			for _, p := range sb.Manifest().PerProject {
				if selectedIDs[p.ID] || members[p.ID] || p.Archived {
					continue
				}
				if _, err := sb.OpenMR(p.ID, "Someone else's change"); err == nil {
					busy++
				}
			}
			if busy == 0 {
				t.Fatal("no project outside the selection to be busy in")
			}
			sb.ResetRequests()
			if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
				t.Fatal(err)
			}
			busyCost, byPath := apiCount(sb.Requests())
			if busyCost != quiet {
				t.Fatalf("with %d changes outside the selection a poll made %d requests, quiet %d: %v", busy, busyCost, quiet, byPath)
			}

			// A change inside the selection arrives.
			var target int64
			for id := range selectedIDs {
				target = id
				break
			}
			ch, err := sb.OpenMR(target, "Inside the selection")
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
				t.Fatal(err)
			}
			mrs, _ := f.st.MergeRequests(ctx, f.org, store.DataQuery{IntegrationID: f.integ, ProjectGitLabID: target, Limit: 1000})
			found := false
			for _, m := range mrs {
				found = found || m.GitLabID == ch.ID
			}
			if !found {
				t.Fatal("the change inside the selection was not polled")
			}

			// No leak: every stored project is the user's or was picked.
			ps, _ = f.st.AllProjects(ctx, f.org, f.integ)
			for _, p := range ps {
				if !members[p.GitLabID] && !selectedIDs[p.GitLabID] {
					t.Fatalf("stored %s, whose user is not a member and which was not selected", p.PathWithNamespace)
				}
			}
			t.Logf("quiet poll %d requests (bound %d), busy elsewhere (%d changes) %d requests, %d projects stored", quiet, bound, busy, busyCost, len(ps))
		})
	}
}
