package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// total reads X-Total of a listing, failing the test when it is not 200.
func total(t *testing.T, sb *Sandbox, path, token string) int {
	t.Helper()
	r := get(t, sb, path, token)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	n, err := strconv.Atoi(r.header.Get("X-Total"))
	if err != nil {
		t.Fatalf("GET %s: X-Total %q", path, r.header.Get("X-Total"))
	}
	return n
}

func listedIDs(t *testing.T, sb *Sandbox, path, token string) map[int64]bool {
	t.Helper()
	r := get(t, sb, path, token)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var xs []struct {
		ID int64 `json:"id"`
	}
	mustJSON(t, r.body, &xs)
	out := map[int64]bool{}
	for _, x := range xs {
		out[x.ID] = true
	}
	return out
}

func TestADeletedProjectAnswers404EverywhereAndLeavesEveryListing(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 3, Groups: 2, Projects: 6, MRs: 2, Issues: 3, Pipelines: 1, Commits: 2})
	tok := sb.AdminToken()
	p := sb.projects[0]
	path, gid := url.PathEscape(p.fullPath()), p.group.id
	projects, issues := total(t, sb, "/api/v4/projects", tok), total(t, sb, "/api/v4/issues?scope=all", tok)
	groupProjects := total(t, sb, fmt.Sprintf("/api/v4/groups/%d/projects", gid), tok)

	if _, err := sb.DeleteProject(p.id); err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{"/api/v4/projects/1", "/api/v4/projects/" + path, "/api/v4/projects/1/issues", "/api/v4/projects/1/merge_requests",
		"/api/v4/projects/1/repository/commits", "/api/v4/projects/1/hooks", "/api/v4/projects/1/issues/1"} {
		if r := get(t, sb, route, tok); r.status != http.StatusNotFound || r.json(t)["message"] != "404 Project Not Found" {
			t.Errorf("GET %s: %d %s, want 404 Project Not Found", route, r.status, r.body)
		}
	}
	if got := total(t, sb, "/api/v4/projects", tok); got != projects-1 {
		t.Errorf("/projects X-Total %d, want %d", got, projects-1)
	}
	if listedIDs(t, sb, "/api/v4/projects?per_page=100", tok)[p.id] {
		t.Error("/projects still lists the deleted project")
	}
	if got := total(t, sb, fmt.Sprintf("/api/v4/groups/%d/projects", gid), tok); got != groupProjects-1 {
		t.Errorf("group projects X-Total %d, want %d", got, groupProjects-1)
	}
	want := issues - 3
	if p.archived { // non_archived=true by default: they were not counted
		want = issues
	}
	if got := total(t, sb, "/api/v4/issues?scope=all", tok); got != want {
		t.Errorf("/issues?scope=all X-Total %d, want %d", got, want)
	}
	if _, err := sb.OpenIssue(p.id, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("activity on a deleted project: %v, want ErrNotFound", err)
	}
	for _, pc := range sb.Manifest().PerProject {
		if pc.ID == p.id {
			t.Error("the manifest still counts the deleted project")
		}
	}
	if _, ok := sb.projectByRefForTest(p.fullPath()); ok {
		t.Error("the deleted project's path still resolves")
	}
}

func (s *Sandbox) projectByRefForTest(ref string) (*project, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p := s.projectByRef(ref)
	return p, p != nil && !p.deleted
}

func TestDeletionIsDelayedWhereGitLabDelaysIt(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		suffix  string
		delayed bool
	}{
		{"self-managed 17.11 deletes at once", Config{Version: "17.11"}, "", false},
		{"self-managed 18.6 marks first", Config{Version: "18.6"}, "-deletion_scheduled-", true},
		{"gitlab.com marks first", Config{Profile: ProfileGitLabCom, PublicProjects: 20}, "-deletion_scheduled-", true},
		{"gitlab.com on 17.11 suffixes -deleted-", Config{Profile: ProfileGitLabCom, PublicProjects: 20, Version: "17.11"}, "-deleted-", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			cfg := tt.cfg
			cfg.Seed, cfg.Groups, cfg.Projects, cfg.Issues, cfg.Now = 2, 2, 4, 1, clock.Now
			sb := start(t, cfg)
			tok := sb.ControlToken()
			if sb.Profile() == ProfileGitLabCom {
				tok = sb.UserToken()
			}
			// A project the caller is a member of.
			var p *project
			for _, q := range sb.projects[:sb.seededProjects] {
				if accessLevel(q, sb.userByName(sb.connectedUser())) > 0 {
					p = q
					break
				}
			}
			if p == nil {
				t.Fatal("no project of the connected user")
			}
			oldPath, oldName := p.path, p.name
			before := get(t, sb, fmt.Sprintf("/api/v4/projects/%d", p.id), tok).json(t)
			if _, has := before["marked_for_deletion_at"]; has != tt.delayed {
				t.Errorf("marked_for_deletion_at present: %v, want %v", has, tt.delayed)
			}
			if tt.delayed && (before["marked_for_deletion_at"] != nil || before["marked_for_deletion_on"] != nil) {
				t.Errorf("an unmarked project: %v %v, want null", before["marked_for_deletion_at"], before["marked_for_deletion_on"])
			}
			oldFull := url.PathEscape(p.fullPath())
			ch, err := sb.DeleteProject(p.id)
			if err != nil {
				t.Fatal(err)
			}
			r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d", p.id), tok)
			if !tt.delayed {
				if r.status != http.StatusNotFound || ch.Action != "delete" {
					t.Fatalf("after delete: %d (%s), want 404", r.status, ch.Action)
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("marked project: %d %s, want 200 until the delay passes", r.status, r.body)
			}
			m := r.json(t)
			suffix := tt.suffix + strconv.FormatInt(p.id, 10)
			if m["marked_for_deletion_at"] != "2026-03-01" || m["marked_for_deletion_on"] != "2026-03-01" || m["archived"] != true ||
				m["path"] != oldPath+suffix || m["name"] != oldName+suffix {
				t.Errorf("marked project: at %v on %v archived %v path %v name %v", m["marked_for_deletion_at"], m["marked_for_deletion_on"], m["archived"], m["path"], m["name"])
			}
			if r := get(t, sb, "/api/v4/projects/"+oldFull, tok); r.status != http.StatusOK || r.json(t)["id"] != float64(p.id) {
				t.Errorf("old path: %d, want the project through its redirect", r.status)
			}
			if !listedIDs(t, sb, "/api/v4/projects?membership=true&per_page=100", tok)[p.id] {
				t.Error("a marked project is still listed")
			}
			clock.Add(DefaultDeletionDelay - time.Second)
			if r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d", p.id), tok); r.status != http.StatusOK {
				t.Errorf("a second before the delay ends: %d, want 200", r.status)
			}
			clock.Add(time.Second)
			for _, route := range []string{fmt.Sprintf("/api/v4/projects/%d", p.id), "/api/v4/projects/" + oldFull, fmt.Sprintf("/api/v4/projects/%d/issues", p.id)} {
				if r := get(t, sb, route, tok); r.status != http.StatusNotFound {
					t.Errorf("GET %s after the delay: %d, want 404", route, r.status)
				}
			}
			if listedIDs(t, sb, "/api/v4/projects?membership=true&per_page=100", tok)[p.id] {
				t.Error("a project past its deletion delay is still listed")
			}
		})
	}
}

func TestDeletingAMarkedProjectDeletesItAtOnce(t *testing.T) {
	sb := start(t, Config{Version: "18.6", Seed: 1, Projects: 2})
	if ch, err := sb.DeleteProject(1); err != nil || ch.Action != "mark_for_deletion" {
		t.Fatalf("first delete: %+v %v", ch, err)
	}
	if ch, err := sb.DeleteProject(1); err != nil || ch.Action != "delete" {
		t.Fatalf("second delete: %+v %v", ch, err)
	}
	if r := get(t, sb, "/api/v4/projects/1", sb.AdminToken()); r.status != http.StatusNotFound {
		t.Errorf("after the second delete: %d, want 404", r.status)
	}
}

func TestARenamedProjectKeepsItsIDAndAnswersOnItsOldPath(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 1, Groups: 1, Projects: 3})
	tok := sb.AdminToken()
	old := url.PathEscape(sb.projects[0].fullPath())
	if _, err := sb.RenameProject(1, "renamed", "Renamed"); err != nil {
		t.Fatal(err)
	}
	m := get(t, sb, "/api/v4/projects/1", tok).json(t)
	if m["path"] != "renamed" || m["name"] != "Renamed" || m["path_with_namespace"] != "group-1/renamed" || m["name_with_namespace"] != "Group 1 / Renamed" ||
		m["http_url_to_repo"] != sb.URL()+"/group-1/renamed.git" {
		t.Errorf("renamed project: %v %v %v %v %v", m["path"], m["name"], m["path_with_namespace"], m["name_with_namespace"], m["http_url_to_repo"])
	}
	for _, ref := range []string{old, url.PathEscape("group-1/renamed")} {
		if r := get(t, sb, "/api/v4/projects/"+ref, tok); r.status != 200 || r.json(t)["id"] != float64(1) {
			t.Errorf("GET /projects/%s: %d, want project 1", ref, r.status)
		}
	}
	for _, tc := range []struct{ name, path string }{{"a taken path", sb.projects[1].path}, {"an invalid path", "-bad"}, {"a .git path", "x.git"}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sb.RenameProject(1, tc.path, ""); !errors.Is(err, ErrInvalid) {
				t.Errorf("rename to %q: %v, want ErrInvalid", tc.path, err)
			}
		})
	}
	body := `{"action":"rename_project","project_id":1,"path":"again","name":"Again"}`
	if r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/activity", sb.ControlToken(), body); r.status != 200 {
		t.Fatalf("control API rename: %d %s", r.status, r.body)
	}
	if m := get(t, sb, "/api/v4/projects/1", tok).json(t); m["path_with_namespace"] != "group-1/again" {
		t.Errorf("after the control API rename: %v", m["path_with_namespace"])
	}
}

func TestATransferredProjectChangesNamespaceAndWhoCanSeeIt(t *testing.T) {
	// On the gitlab.com profile alice belongs to groups 1 and 3 (every other
	// group), not to group 2.
	sb := start(t, Config{Profile: ProfileGitLabCom, PublicProjects: 10, Seed: 1, Groups: 3, Projects: 6, Issues: 2})
	tok := sb.UserToken()
	var p *project
	for _, q := range sb.projects[:sb.seededProjects] {
		if q.group.id == 1 && q.vis == "private" && q.members[2] == 0 {
			p = q
			break
		}
	}
	if p == nil {
		t.Fatal("no private project that alice sees only through group 1")
	}
	if r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d", p.id), tok); r.status != 200 {
		t.Fatalf("before: %d", r.status)
	}
	old := url.PathEscape(p.fullPath())
	body := fmt.Sprintf(`{"action":"transfer_project","project_id":%d,"group_id":2}`, p.id)
	if r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/activity", sb.ControlToken(), body); r.status != 200 {
		t.Fatalf("control API transfer: %d %s", r.status, r.body)
	}
	// Alice lost the access group 1 gave her: 404 by id and by either path.
	for _, ref := range []string{strconv.FormatInt(p.id, 10), old, url.PathEscape("group-2/" + p.path)} {
		if r := get(t, sb, "/api/v4/projects/"+ref, tok); r.status != http.StatusNotFound {
			t.Errorf("alice GET /projects/%s: %d, want 404", ref, r.status)
		}
	}
	if listedIDs(t, sb, "/api/v4/groups/1/projects?per_page=100", tok)[p.id] {
		t.Error("the old group still lists the project")
	}
	// Root (a member of group 2) sees it under its new namespace.
	root := sb.CreateToken(TokenSpec{User: "root", Scopes: []string{"read_api"}})
	m := get(t, sb, fmt.Sprintf("/api/v4/projects/%d", p.id), root).json(t)
	ns, _ := m["namespace"].(map[string]any)
	if m["path_with_namespace"] != "group-2/"+p.path || ns["full_path"] != "group-2" || ns["id"] != float64(1002) {
		t.Errorf("transferred project: %v namespace %v", m["path_with_namespace"], ns)
	}
	if !listedIDs(t, sb, "/api/v4/groups/2/projects?per_page=100", root)[p.id] {
		t.Error("the new group does not list the project")
	}
	if _, err := sb.TransferProject(p.id, 2); !errors.Is(err, ErrInvalid) {
		t.Errorf("transfer into its own group: %v, want ErrInvalid", err)
	}
	if _, err := sb.TransferProject(p.id, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("transfer into no group: %v, want ErrNotFound", err)
	}
}

func TestAnArchivedProjectStaysReadableAndLeavesNonArchivedListings(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 1, Groups: 1, Projects: 3, Issues: 4, MRs: 2})
	tok := sb.AdminToken()
	var p *project
	for _, q := range sb.projects {
		if !q.archived {
			p = q
			break
		}
	}
	groupIssues := total(t, sb, "/api/v4/groups/1/issues", tok)
	active := total(t, sb, "/api/v4/projects?archived=false", tok)
	if _, err := sb.ArchiveProject(p.id, true); err != nil {
		t.Fatal(err)
	}
	if m := get(t, sb, fmt.Sprintf("/api/v4/projects/%d", p.id), tok).json(t); m["archived"] != true {
		t.Errorf("archived = %v", m["archived"])
	}
	if got := total(t, sb, "/api/v4/projects?archived=false", tok); got != active-1 {
		t.Errorf("archived=false X-Total %d, want %d", got, active-1)
	}
	if got := total(t, sb, "/api/v4/groups/1/issues", tok); got != groupIssues-4 {
		t.Errorf("group issues X-Total %d, want %d (non_archived=true by default)", got, groupIssues-4)
	}
	if got := total(t, sb, fmt.Sprintf("/api/v4/projects/%d/issues", p.id), tok); got != 4 {
		t.Errorf("the archived project's own issues: %d, want 4", got)
	}
	if _, err := sb.ArchiveProject(p.id, false); err != nil {
		t.Fatal(err)
	}
	if got := total(t, sb, "/api/v4/groups/1/issues", tok); got != groupIssues {
		t.Errorf("after unarchiving: %d, want %d", got, groupIssues)
	}
}

func TestRemovingAMemberHidesPrivateProjectsButNotPublicOnes(t *testing.T) {
	sb := start(t, Config{Profile: ProfileGitLabCom, PublicProjects: 10, Seed: 5, Groups: 3, Projects: 12})
	tok := sb.UserToken()
	alice := sb.userByName("alice")
	byVis := map[string]*project{}
	for _, q := range sb.projects[:sb.seededProjects] {
		if q.members[alice.id] > 0 && groupAccess(q.group, alice.id) == 0 && byVis[q.vis] == nil {
			byVis[q.vis] = q
		}
	}
	if byVis["private"] == nil || byVis["public"] == nil {
		t.Fatalf("need a private and a public project alice is only a direct member of: %v", byVis)
	}
	tests := []struct {
		vis        string
		wantStatus int
	}{{"private", http.StatusNotFound}, {"public", http.StatusOK}}
	for _, tt := range tests {
		t.Run(tt.vis, func(t *testing.T) {
			p := byVis[tt.vis]
			if !listedIDs(t, sb, "/api/v4/projects?membership=true&per_page=100", tok)[p.id] {
				t.Fatal("not listed with membership=true before")
			}
			if _, err := sb.RemoveMember(MemberOfProject, p.id, "alice"); err != nil {
				t.Fatal(err)
			}
			if r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d", p.id), tok); r.status != tt.wantStatus {
				t.Errorf("GET: %d, want %d", r.status, tt.wantStatus)
			}
			if listedIDs(t, sb, "/api/v4/projects?membership=true&per_page=100", tok)[p.id] {
				t.Error("still listed with membership=true")
			}
			if _, err := sb.RemoveMember(MemberOfProject, p.id, "alice"); !errors.Is(err, ErrNotFound) {
				t.Errorf("removing twice: %v, want ErrNotFound", err)
			}
		})
	}
	t.Run("group membership", func(t *testing.T) {
		body := `{"action":"remove_member","group_id":1,"user":"alice"}`
		if r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/activity", sb.ControlToken(), body); r.status != 200 {
			t.Fatalf("control API: %d %s", r.status, r.body)
		}
		for _, q := range sb.projects[:sb.seededProjects] {
			if q.group.id == 1 && q.vis == "private" && q.members[alice.id] == 0 {
				if r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d", q.id), tok); r.status != http.StatusNotFound {
					t.Errorf("private project %d of the group: %d, want 404", q.id, r.status)
				}
			}
		}
		if sb.groups[0].vis == "private" {
			if r := get(t, sb, "/api/v4/groups/1", tok); r.status != http.StatusNotFound {
				t.Errorf("private group 1: %d, want 404", r.status)
			}
		}
	})
}

func TestADeletedIssueAnswers404AndLeavesListings(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 1, Projects: 1, Issues: 3})
	tok := sb.AdminToken()
	if _, err := sb.DeleteIssue(1, 2); err != nil {
		t.Fatal(err)
	}
	if r := get(t, sb, "/api/v4/projects/1/issues/2", tok); r.status != http.StatusNotFound || r.json(t)["message"] != "404 Issue Not Found" {
		t.Errorf("deleted issue: %d %s", r.status, r.body)
	}
	if got := total(t, sb, "/api/v4/projects/1/issues", tok); got != 2 {
		t.Errorf("project issues X-Total %d, want 2", got)
	}
	if got := total(t, sb, "/api/v4/issues?scope=all", tok); got != 2 {
		t.Errorf("instance issues X-Total %d, want 2", got)
	}
	if _, err := sb.DeleteIssue(1, 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
}

func TestAMovedIssueIsClosedWithMovedToIDAndReopensInTheTarget(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 1, Projects: 2, Issues: 2})
	tok := sb.AdminToken()
	gl := client(t, sb, tok)
	if _, err := sb.OpenIssue(1, "To be moved"); err != nil { // #3, open
		t.Fatal(err)
	}
	srv, wait := receiver(t)
	for _, pid := range []int{1, 2} {
		if _, _, err := gl.Projects.AddProjectHook(pid, &gitlab.AddProjectHookOptions{URL: gitlab.Ptr(srv.URL), IssuesEvents: gitlab.Ptr(true)}); err != nil {
			t.Fatal(err)
		}
	}
	title := "To be moved"
	body := `{"action":"move_issue","project_id":1,"iid":3,"to_project_id":2}`
	r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/activity", sb.ControlToken(), body)
	if r.status != 200 {
		t.Fatalf("control API move: %d %s", r.status, r.body)
	}
	ch := r.json(t)
	if ch["project_id"] != float64(2) || ch["iid"] != float64(3) {
		t.Errorf("change %v, want the new issue #3 in project 2", ch)
	}
	old := get(t, sb, "/api/v4/projects/1/issues/3", tok).json(t)
	moved := get(t, sb, "/api/v4/projects/2/issues/3", tok).json(t)
	if old["state"] != "closed" || old["moved_to_id"] != moved["id"] || moved["id"] == nil {
		t.Errorf("old issue: state %v moved_to_id %v; new id %v", old["state"], old["moved_to_id"], moved["id"])
	}
	if moved["title"] != title || moved["state"] != "opened" || moved["moved_to_id"] != nil || moved["project_id"] != float64(2) ||
		moved["created_at"] != old["created_at"] {
		t.Errorf("new issue: %v %v %v %v created %v (old %v)", moved["title"], moved["state"], moved["moved_to_id"], moved["project_id"], moved["created_at"], old["created_at"])
	}
	if got := total(t, sb, "/api/v4/projects/2/issues", tok); got != 3 {
		t.Errorf("target X-Total %d, want 3", got)
	}
	if got := wait(2); len(got) != 2 {
		t.Errorf("%d issue hook deliveries, want 2 (close in the source, open in the target)", len(got))
	}
	if _, err := sb.MoveIssue(1, 3, 2); !errors.Is(err, ErrInvalid) {
		t.Errorf("moving a moved issue: %v, want ErrInvalid", err)
	}
}

func TestOneProjectsWebhooksCanBeDroppedWhileOthersDeliver(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 1, Projects: 2, Commits: 1})
	srv, wait := receiver(t)
	gl := client(t, sb, sb.AdminToken())
	for _, pid := range []int{1, 2} {
		if _, _, err := gl.Projects.AddProjectHook(pid, &gitlab.AddProjectHookOptions{URL: gitlab.Ptr(srv.URL)}); err != nil {
			t.Fatal(err)
		}
	}
	if r := do(t, nil, http.MethodPut, sb.URL()+"/-/sandbox/faults", sb.ControlToken(), "drop-webhooks=1"); r.status != 200 {
		t.Fatalf("PUT faults: %d %s", r.status, r.body)
	}
	commits := sb.Manifest().PerProject[0].Commits
	for _, pid := range []int64{1, 2} {
		if _, err := sb.Push(pid, "", 1); err != nil {
			t.Fatal(err)
		}
	}
	got := wait(1)
	deadline := time.Now().Add(5 * time.Second)
	for len(sb.Deliveries()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(got) != 1 || got[0].header.Get("X-Gitlab-Event") != "Push Hook" {
		t.Fatalf("received %d deliveries, want project 2's push only", len(got))
	}
	var p struct {
		ProjectID int64 `json:"project_id"`
	}
	mustJSON(t, got[0].body, &p)
	if p.ProjectID != 2 {
		t.Errorf("delivered project %d's push, want project 2's", p.ProjectID)
	}
	dropped := 0
	for _, d := range sb.Deliveries() {
		if d.Dropped {
			dropped++
		}
	}
	if dropped != 1 {
		t.Errorf("%d dropped deliveries, want 1", dropped)
	}
	if after := sb.Manifest().PerProject[0].Commits; after != commits+1 {
		t.Errorf("project 1's commits %d → %d: its activity must still happen", commits, after)
	}
}
