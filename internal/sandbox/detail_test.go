package sandbox

import (
	"slices"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

func TestSinglePipelineMergeRequestAndUserHaveGitLabsDetailShapes(t *testing.T) {
	for _, version := range []string{"10.8", "12.10", "17.11", "19.0"} {
		t.Run(version, func(t *testing.T) {
			cfg := fidelityConfig
			cfg.Version = version
			sb := start(t, cfg)
			gl := client(t, sb, sb.AdminToken())
			var p *project
			for _, x := range sb.projects {
				if x.ciEnabled && !x.archived && len(x.mrs) > 0 && x.mrs[0].state == stateOpened {
					p = x
					break
				}
			}
			if p == nil {
				t.Fatal("no project with CI/CD and an open first MR")
			}
			mr := p.mrs[0]
			ch, err := sb.RunPipeline(p.id, mr.source, "failed")
			if err != nil {
				t.Fatal(err)
			}

			pl, _, err := gl.Pipelines.GetPipeline(p.id, ch.ID)
			if err != nil {
				t.Fatal(err)
			}
			if pl.User == nil || pl.User.Username != "root" || pl.DetailedStatus == nil || pl.DetailedStatus.Group != "failed" ||
				pl.DetailedStatus.Text != "failed" || pl.StartedAt == nil || pl.FinishedAt == nil || pl.SHA != mr.sha {
				t.Errorf("pipeline detail %+v", pl)
			}
			raw := get(t, sb, "/api/v4/projects/"+itoa(int(p.id))+"/pipelines/"+itoa(int(ch.ID)), sb.AdminToken()).json(t)
			for _, k := range []string{"before_sha", "tag", "yaml_errors", "user", "started_at", "finished_at", "committed_at", "duration", "coverage", "detailed_status"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("pipeline detail lacks %s", k)
				}
			}
			if _, ok := raw["queued_duration"]; ok != (version != "12.10" && version != "10.8") {
				t.Errorf("queued_duration present %v on %s", ok, version)
			}
			var list []map[string]any
			mustJSON(t, get(t, sb, "/api/v4/projects/"+itoa(int(p.id))+"/pipelines", sb.AdminToken()).body, &list)
			if _, ok := list[0]["detailed_status"]; ok {
				t.Error("the pipeline list carries the detail shape")
			}

			m, _, err := gl.MergeRequests.GetMergeRequest(p.id, mr.iid, nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.DiffRefs.HeadSha != mr.sha || m.DiffRefs.BaseSha == "" || m.DiffRefs.StartSha == "" {
				t.Errorf("diff_refs %+v, head %s", m.DiffRefs, mr.sha)
			}
			if m.HeadPipeline == nil || m.HeadPipeline.ID != ch.ID || m.HeadPipeline.Status != "failed" || m.HeadPipeline.DetailedStatus == nil {
				t.Errorf("head_pipeline %+v, want pipeline %d", m.HeadPipeline, ch.ID)
			}
			var mrs []map[string]any
			mustJSON(t, get(t, sb, "/api/v4/projects/"+itoa(int(p.id))+"/merge_requests", sb.AdminToken()).body, &mrs)
			if _, ok := mrs[0]["diff_refs"]; ok {
				t.Error("the merge request list carries diff_refs")
			}

			u, _, err := gl.Users.CurrentUser()
			if err != nil {
				t.Fatal(err)
			}
			if !u.IsAdmin || u.Email == "" || u.ProjectsLimit == 0 || u.CurrentSignInAt == nil || u.ConfirmedAt == nil {
				t.Errorf("current user %+v", u)
			}
			alice := get(t, sb, "/api/v4/user", sb.CreateToken(TokenSpec{User: "alice"})).json(t)
			for _, k := range []string{"bio", "location", "skype", "linkedin", "twitter", "website_url", "organization", "job_title",
				"bot", "followers", "following", "last_sign_in_at", "confirmed_at", "theme_id", "color_scheme_id", "projects_limit",
				"current_sign_in_at", "identities", "can_create_group", "can_create_project", "two_factor_enabled", "external",
				"private_profile", "commit_email", "email", "last_activity_on"} {
				if _, ok := alice[k]; !ok {
					t.Errorf("/user lacks %s", k)
				}
			}
			if _, ok := alice["is_admin"]; ok {
				t.Error("/user of a non-administrator carries is_admin (Entities::UserWithAdmin only)")
			}
		})
	}
}

func TestPublicGroupsAreListedToNonMembersWithAllAvailable(t *testing.T) {
	sb := start(t, Config{Seed: 11, Groups: 16, Projects: 16})
	bob := sb.users[2]
	tok := sb.CreateToken(TokenSpec{User: "bob"})
	var listed []struct{ ID int64 }
	mustJSON(t, get(t, sb, "/api/v4/groups?all_available=true&per_page=100", tok).body, &listed)
	var anon []struct{ ID int64 }
	mustJSON(t, get(t, sb, "/api/v4/groups?per_page=100", "").body, &anon)
	ids := func(xs []struct{ ID int64 }) []int64 {
		out := []int64{}
		for _, x := range xs {
			out = append(out, x.ID)
		}
		return out
	}
	publicNonMember := 0
	for _, g := range sb.groups {
		if g.vis == "public" && groupAccess(g, bob.id) == 0 {
			publicNonMember++
			if !slices.Contains(ids(listed), g.id) {
				t.Errorf("public group %s not listed to bob with all_available=true", g.fullPath)
			}
		}
		if slices.Contains(ids(anon), g.id) != (g.vis == "public") {
			t.Errorf("group %s (%s): anonymous listing %v", g.fullPath, g.vis, slices.Contains(ids(anon), g.id))
		}
	}
	if publicNonMember == 0 {
		t.Fatal("no public group bob is not a member of")
	}
	var groups []*gitlab.Group
	mustJSON(t, get(t, sb, "/api/v4/groups?per_page=100", tok).body, &groups)
	for _, g := range groups {
		if groupAccess(sb.groups[g.ID-1], bob.id) == 0 {
			t.Errorf("group %s listed to bob without all_available although he is not a member (GitLab's default for non-administrators)", g.FullPath)
		}
	}
}
