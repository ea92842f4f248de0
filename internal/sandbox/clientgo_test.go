package sandbox

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

var fidelityConfig = Config{Seed: 7, Groups: 4, Projects: 14, MRs: 7, Issues: 6, Pipelines: 5, Commits: 9}

// TestClientGoListsEverything lists every resource with the official Go
// client, across pages, and compares with the manifest.
func TestClientGoListsEverything(t *testing.T) {
	// 9.5 to 11.11 have no keyset pagination: the keyset request falls back
	// to offset pages (GitLab ignored the parameter) and lists the same.
	for _, version := range []string{"9.5", "10.8", "11.11", "12.10", "15.11", "19.0"} {
		t.Run(version, func(t *testing.T) {
			cfg := fidelityConfig
			cfg.Version = version
			sb := start(t, cfg)
			gl := client(t, sb, sb.AdminToken())
			// Some hooks so that hook listing has something to page through.
			for range 4 {
				if _, _, err := gl.Projects.AddProjectHook(2, &gitlab.AddProjectHookOptions{URL: gitlab.Ptr("http://127.0.0.1:1/hook")}); err != nil {
					t.Fatalf("AddProjectHook: %v", err)
				}
			}
			m := sb.Manifest()
			lo := gitlab.ListOptions{PerPage: 3}

			t.Run("projects offset", func(t *testing.T) {
				n := scan(t, "projects", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Project, *gitlab.Response, error) {
					return gl.Projects.ListProjects(&gitlab.ListProjectsOptions{ListOptions: lo}, p)
				})
				if n != m.Projects {
					t.Errorf("listed %d projects, manifest %d", n, m.Projects)
				}
			})
			t.Run("projects keyset", func(t *testing.T) {
				for _, sort := range []string{"asc", "desc"} {
					seen := map[int64]bool{}
					for pr, err := range gitlab.Scan2(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Project, *gitlab.Response, error) {
						return gl.Projects.ListProjects(&gitlab.ListProjectsOptions{ListOptions: gitlab.ListOptions{PerPage: 4, Pagination: "keyset", OrderBy: "id", Sort: sort}}, p)
					}) {
						if err != nil {
							t.Fatal(err)
						}
						if seen[pr.ID] {
							t.Fatalf("%s: project %d listed twice", sort, pr.ID)
						}
						seen[pr.ID] = true
					}
					if len(seen) != m.Projects {
						t.Errorf("%s: listed %d projects, manifest %d", sort, len(seen), m.Projects)
					}
				}
			})
			t.Run("groups and subgroups", func(t *testing.T) {
				n := scan(t, "groups", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Group, *gitlab.Response, error) {
					return gl.Groups.ListGroups(&gitlab.ListGroupsOptions{ListOptions: lo}, p)
				})
				if n != m.Groups {
					t.Errorf("listed %d groups, manifest %d", n, m.Groups)
				}
				for _, g := range m.PerGroup {
					sub := scan(t, "subgroups", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Group, *gitlab.Response, error) {
						return gl.Groups.ListSubGroups(g.ID, &gitlab.ListSubGroupsOptions{ListOptions: gitlab.ListOptions{PerPage: 1}}, p)
					})
					projects := scan(t, "group projects", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Project, *gitlab.Response, error) {
						return gl.Groups.ListGroupProjects(g.ID, &gitlab.ListGroupProjectsOptions{ListOptions: gitlab.ListOptions{PerPage: 2}}, p)
					})
					if sub != g.Subgroups || projects != g.Projects {
						t.Errorf("group %s: %d subgroups, %d projects; manifest %d, %d", g.FullPath, sub, projects, g.Subgroups, g.Projects)
					}
				}
			})
			t.Run("group merge requests and issues", func(t *testing.T) {
				for i, g := range sb.groups {
					wantMRs, wantIssues := subtreeIDs(sb, g, sb.users[0], false)
					if mg := m.PerGroup[i].NonArchived; mg.MergeRequests != len(wantMRs) || mg.Issues != len(wantIssues) {
						t.Errorf("manifest group %s: %d MRs, %d issues; listing wants %d, %d", g.fullPath, mg.MergeRequests, mg.Issues, len(wantMRs), len(wantIssues))
					}
					mrs := scan(t, "group MRs", func(p gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
						return gl.MergeRequests.ListGroupMergeRequests(g.id, &gitlab.ListGroupMergeRequestsOptions{ListOptions: lo}, p)
					})
					issues := scan(t, "group issues", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Issue, *gitlab.Response, error) {
						return gl.Issues.ListGroupIssues(g.id, &gitlab.ListGroupIssuesOptions{ListOptions: lo}, p)
					})
					if mrs != len(wantMRs) || issues != len(wantIssues) {
						t.Errorf("group %s: listed %d MRs, %d issues; want %d, %d", g.fullPath, mrs, issues, len(wantMRs), len(wantIssues))
					}
				}
			})
			t.Run("instance-wide merge requests and issues", func(t *testing.T) {
				mrs := scan(t, "merge requests", func(p gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
					return gl.MergeRequests.ListMergeRequests(&gitlab.ListMergeRequestsOptions{ListOptions: gitlab.ListOptions{PerPage: 20}, Scope: gitlab.Ptr("all")}, p)
				})
				issues := scan(t, "issues", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Issue, *gitlab.Response, error) {
					return gl.Issues.ListIssues(&gitlab.ListIssuesOptions{ListOptions: gitlab.ListOptions{PerPage: 20}, Scope: gitlab.Ptr("all")}, p)
				})
				if mrs != m.NonArchived.MergeRequests || issues != m.NonArchived.Issues {
					t.Errorf("listed %d MRs, %d issues; manifest (non-archived) %d, %d", mrs, issues, m.NonArchived.MergeRequests, m.NonArchived.Issues)
				}
			})
			t.Run("per project", func(t *testing.T) {
				var got Counts
				for _, pc := range m.PerProject {
					id := pc.ID
					c := Counts{
						MergeRequests: scan(t, "project MRs", func(p gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
							return gl.MergeRequests.ListProjectMergeRequests(id, &gitlab.ListProjectMergeRequestsOptions{ListOptions: lo}, p)
						}),
						Issues: scan(t, "project issues", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Issue, *gitlab.Response, error) {
							return gl.Issues.ListProjectIssues(id, &gitlab.ListProjectIssuesOptions{ListOptions: lo}, p)
						}),
						Commits: scan(t, "commits", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Commit, *gitlab.Response, error) {
							return gl.Commits.ListCommits(id, &gitlab.ListCommitsOptions{ListOptions: lo}, p)
						}),
						Branches: scan(t, "branches", func(p gitlab.PaginationOptionFunc) ([]*gitlab.Branch, *gitlab.Response, error) {
							return gl.Branches.ListBranches(id, &gitlab.ListBranchesOptions{ListOptions: lo}, p)
						}),
						Events: scan(t, "events", func(p gitlab.PaginationOptionFunc) ([]*gitlab.ProjectEvent, *gitlab.Response, error) {
							return gl.Events.ListProjectVisibleEvents(id, &gitlab.ListProjectVisibleEventsOptions{ListOptions: lo}, p)
						}),
						Hooks: scan(t, "hooks", func(p gitlab.PaginationOptionFunc) ([]*gitlab.ProjectHook, *gitlab.Response, error) {
							return gl.Projects.ListProjectHooks(id, &gitlab.ListProjectHooksOptions{ListOptions: lo}, p)
						}),
					}
					if pc.CIEnabled {
						c.Pipelines = scan(t, "pipelines", func(p gitlab.PaginationOptionFunc) ([]*gitlab.PipelineInfo, *gitlab.Response, error) {
							return gl.Pipelines.ListProjectPipelines(id, &gitlab.ListProjectPipelinesOptions{ListOptions: lo}, p)
						})
					} else {
						_, _, err := gl.Pipelines.ListProjectPipelines(id, nil)
						var er *gitlab.ErrorResponse
						if !errors.As(err, &er) || er.Response.StatusCode != http.StatusForbidden {
							t.Errorf("project %d has CI/CD disabled: pipelines answered %v, want 403", id, err)
						}
					}
					if c != legacyCounts(pc.Counts) { // the newer resources: reviews_test.go
						t.Errorf("project %d: listed %+v, manifest %+v", id, c, pc.Counts)
					}
					got.add(c)
				}
				if got != legacyCounts(m.Totals) {
					t.Errorf("totals %+v, manifest %+v", got, m.Totals)
				}
			})
		})
	}
}

// TestVersionProfiles checks fields and endpoints that come and go with versions.
func TestVersionProfiles(t *testing.T) {
	tests := []struct {
		version                                                     string
		draft, mergeUser, detailed, objectFormat, metadata, patSelf bool
		defaultBranch                                               string
		commitLen                                                   []int
	}{
		{"9.5", false, false, false, false, false, false, "master", []int{40}},
		{"10.8", false, false, false, false, false, false, "master", []int{40}},
		{"11.11", false, false, false, false, false, false, "master", []int{40}},
		{"12.10", false, false, false, false, false, false, "master", []int{40}},
		{"14.10", true, true, false, false, false, false, "main", []int{40}},
		{"15.11", true, true, true, false, true, true, "main", []int{40}},
		{"16.11", true, true, true, true, true, true, "main", []int{40, 64}},
		{"19.0", true, true, true, true, true, true, "main", []int{40, 64}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			sb := start(t, Config{Version: tt.version, Seed: 3, Groups: 1, Projects: 12, MRs: 2, Commits: 1})
			tok := sb.AdminToken()
			mr := get(t, sb, "/api/v4/projects/1/merge_requests/1", tok).json(t)
			for field, want := range map[string]bool{"draft": tt.draft, "work_in_progress": true, "merge_user": tt.mergeUser,
				"merged_by": true, "detailed_merge_status": tt.detailed, "merge_status": true} {
				if _, ok := mr[field]; ok != want {
					t.Errorf("merge request field %s present=%v, want %v", field, ok, want)
				}
			}
			formats := map[string]int{}
			for id := 1; id <= 12; id++ {
				p := get(t, sb, "/api/v4/projects/"+itoa(id), tok).json(t)
				f, ok := p["repository_object_format"]
				if ok != tt.objectFormat {
					t.Fatalf("repository_object_format present=%v, want %v", ok, tt.objectFormat)
				}
				if ok {
					formats[f.(string)]++
				}
				if p["default_branch"] != tt.defaultBranch {
					t.Errorf("default_branch %v, want %s", p["default_branch"], tt.defaultBranch)
				}
				cs := get(t, sb, "/api/v4/projects/"+itoa(id)+"/repository/commits", tok)
				var commits []map[string]any
				mustJSON(t, cs.body, &commits)
				if len(commits) != 1 {
					t.Fatalf("want 1 commit, got %d", len(commits))
				}
				n := len(commits[0]["id"].(string))
				if (n == 64) != (f == "sha256") || !contains(tt.commitLen, n) {
					t.Errorf("project %d (%v): commit id of %d hex", id, f, n)
				}
			}
			if tt.objectFormat && (formats["sha1"] == 0 || formats["sha256"] == 0) {
				t.Errorf("want both object formats among projects, got %v", formats)
			}
			for path, want := range map[string]bool{"/api/v4/metadata": tt.metadata, "/api/v4/personal_access_tokens/self": tt.patSelf} {
				r := get(t, sb, path, tok)
				if (r.status == http.StatusOK) != want {
					t.Errorf("%s: status %d, want present=%v", path, r.status, want)
				}
				if !want && (r.status != http.StatusNotFound || string(r.body) != "{\"error\":\"404 Not Found\"}\n") {
					t.Errorf("%s: %d %s, want GitLab's unknown-route 404", path, r.status, r.body)
				}
			}
		})
	}
}

func TestProfilesBefore12_10AnswerAsTheOldAPIDid(t *testing.T) {
	for _, version := range []string{"9.5", "10.8", "11.11"} {
		t.Run(version, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)}
			sb := start(t, Config{Version: version, Seed: 3, Groups: 1, Projects: 4, MRs: 2, Issues: 2, Commits: 1, RateLimitPerMin: 30, Now: clock.Now})
			tok := sb.AdminToken()
			if strings.HasPrefix(tok, "glpat-") {
				t.Errorf("token %q has the 14.5 prefix", tok[:6])
			}
			mr := get(t, sb, "/api/v4/projects/1/merge_requests/1", tok).json(t)
			for _, f := range []string{"references", "reviewers", "squash_commit_sha", "draft", "detailed_merge_status", "merge_user"} {
				if _, ok := mr[f]; ok {
					t.Errorf("merge request field %s present", f)
				}
			}
			if mr["merge_status"] == nil || mr["work_in_progress"] == nil {
				t.Errorf("merge_status %v, work_in_progress %v", mr["merge_status"], mr["work_in_progress"])
			}
			if _, ok := get(t, sb, "/api/v4/projects/1/issues/1", tok).json(t)["references"]; ok {
				t.Error("issue references present")
			}
			// pagination=keyset is an unknown parameter: offset pages with totals.
			r := get(t, sb, "/api/v4/projects?pagination=keyset&order_by=id&per_page=2", tok)
			if r.status != http.StatusOK || r.header.Get("X-Total") != "4" || r.header.Get("X-Next-Page") != "2" {
				t.Errorf("keyset request: %d, X-Total %q, X-Next-Page %q", r.status, r.header.Get("X-Total"), r.header.Get("X-Next-Page"))
			}
			if r := get(t, sb, "/api/v4/projects?page=600&per_page=100", tok); r.status != http.StatusOK {
				t.Errorf("a page past the 50,000 offset cap: %d, want 200 (no cap without keyset)", r.status)
			}
			readAPI := sb.CreateToken(TokenSpec{User: "root", Scopes: []string{"read_api"}})
			if r := get(t, sb, "/api/v4/projects", readAPI); r.status != http.StatusForbidden || !strings.Contains(string(r.body), `"scope":"api"`) {
				t.Errorf("a read_api token (a scope 12.10 brought): %d %s", r.status, r.body)
			}
			readUser := sb.CreateToken(TokenSpec{User: "root", Scopes: []string{"read_user"}})
			if r := get(t, sb, "/api/v4/user", readUser); r.status != http.StatusOK {
				t.Errorf("read_user on /user: %d", r.status)
			}
			if r.header.Get("RateLimit-Limit") != "" {
				t.Errorf("RateLimit-Limit %q before GitLab sent rate-limit headers", r.header.Get("RateLimit-Limit"))
			}
			var last rawResponse
			for range 40 {
				if last = get(t, sb, "/api/v4/version", tok); last.status == http.StatusTooManyRequests {
					break
				}
			}
			if last.status != http.StatusTooManyRequests || string(last.body) != "Retry later\n" || last.header.Get("Retry-After") != "" || last.header.Get("RateLimit-Name") != "" {
				t.Errorf("throttled: %d %q, Retry-After %q", last.status, last.body, last.header.Get("Retry-After"))
			}
		})
	}
	t.Run("before 9.5 there is no instance-wide or group merge request listing", func(t *testing.T) {
		sb := start(t, Config{Version: "9.2", Seed: 3, Groups: 1, Projects: 2, MRs: 1})
		for _, path := range []string{"/api/v4/merge_requests", "/api/v4/groups/1/merge_requests"} {
			if r := get(t, sb, path, sb.AdminToken()); r.status != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", path, r.status)
			}
		}
	})
}
