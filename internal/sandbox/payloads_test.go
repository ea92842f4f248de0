package sandbox

import (
	"encoding/json"
	"regexp"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// The keys and time formats of the payload examples in GitLab's
// doc/user/project/integrations/webhook_events.md (EE-only and
// incident-only keys left out).
var (
	isoTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	utcTime = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`)
	rfcTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$`)

	hookKeys = map[string]struct{ top, attrs []string }{
		"Merge Request Hook": {
			top: []string{"object_kind", "event_type", "user", "project", "repository", "object_attributes", "labels", "changes", "assignees"},
			attrs: []string{"id", "iid", "target_branch", "source_branch", "source_project_id", "author_id", "assignee_ids", "assignee_id", "reviewer_ids",
				"title", "created_at", "updated_at", "last_edited_at", "last_edited_by_id", "milestone_id", "state_id", "state",
				"blocking_discussions_resolved", "work_in_progress", "draft", "first_contribution", "merge_status", "target_project_id",
				"description", "prepared_at", "total_time_spent", "time_change", "human_total_time_spent", "human_time_change",
				"human_time_estimate", "url", "source", "target", "last_commit", "labels", "action", "detailed_merge_status"},
		},
		"Issue Hook": {
			top: []string{"object_kind", "event_type", "user", "project", "object_attributes", "repository", "labels", "changes"},
			attrs: []string{"id", "title", "assignee_ids", "assignee_id", "author_id", "project_id", "created_at", "updated_at", "updated_by_id",
				"last_edited_at", "last_edited_by_id", "relative_position", "description", "milestone_id", "state_id", "confidential",
				"discussion_locked", "due_date", "moved_to_id", "duplicated_to_id", "time_estimate", "total_time_spent", "time_change",
				"human_total_time_spent", "human_time_estimate", "human_time_change", "weight", "type", "iid", "url", "state", "action",
				"severity", "labels"},
		},
		"Push Hook": {
			top: []string{"object_kind", "event_name", "before", "after", "ref", "ref_protected", "checkout_sha", "user_id", "user_name",
				"user_username", "user_email", "user_avatar", "project_id", "project", "repository", "commits", "total_commits_count"},
		},
		"Pipeline Hook": {
			top: []string{"object_kind", "object_attributes", "merge_request", "user", "project", "commit", "builds"},
			attrs: []string{"id", "iid", "name", "ref", "tag", "sha", "before_sha", "source", "status", "stages", "created_at", "finished_at",
				"duration", "variables", "url"},
		},
	}
)

func TestWebhookPayloadsCarryTheFieldsAndTimeFormatsOfGitLabsExamples(t *testing.T) {
	sb := start(t, Config{Version: "19.0", Seed: 2, Groups: 1, Projects: 20, MRs: 2, Issues: 2, Pipelines: 1, Commits: 3})
	srv, wait := receiver(t)
	gl := client(t, sb, sb.AdminToken())
	var p *project
	for _, x := range sb.projects {
		if x.ciEnabled && !x.archived {
			p = x
			break
		}
	}
	if _, _, err := gl.Projects.AddProjectHook(p.id, &gitlab.AddProjectHookOptions{URL: gitlab.Ptr(srv.URL + "/hook"),
		PushEvents: gitlab.Ptr(true), MergeRequestsEvents: gitlab.Ptr(true), IssuesEvents: gitlab.Ptr(true), PipelineEvents: gitlab.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	mr, err := sb.OpenMR(p.id, "Payload check")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.UpdateMR(p.id, mr.IID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.OpenIssue(p.id, "Payload check"); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Push(p.id, "", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.RunPipeline(p.id, "", "failed"); err != nil {
		t.Fatal(err)
	}
	got := wait(5)
	seen := map[string]bool{}
	for _, r := range got {
		event := r.header.Get("X-Gitlab-Event")
		want, ok := hookKeys[event]
		if !ok {
			t.Fatalf("unexpected event %q", event)
		}
		seen[event] = true
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		attrs, _ := body["object_attributes"].(map[string]any)
		top := want.top
		if event == "Issue Hook" && attrs["assignee_id"] != nil {
			top = append(top, "assignees", "assignee")
		}
		for _, k := range top {
			if _, ok := body[k]; !ok {
				t.Errorf("%s lacks %s", event, k)
			}
		}
		for _, k := range want.attrs {
			if _, ok := attrs[k]; !ok {
				t.Errorf("%s object_attributes lack %s", event, k)
			}
		}
		timeRe := map[string]*regexp.Regexp{"Merge Request Hook": isoTime, "Issue Hook": isoTime, "Pipeline Hook": utcTime}[event]
		for _, k := range []string{"created_at", "updated_at", "finished_at"} {
			if v, ok := attrs[k].(string); ok && !timeRe.MatchString(v) {
				t.Errorf("%s object_attributes.%s = %q, not in the form of GitLab's example", event, k, v)
			}
		}
		changes, _ := body["changes"].(map[string]any)
		if ch, ok := changes["updated_at"].(map[string]any); ok {
			if v, _ := ch["current"].(string); !utcTime.MatchString(v) {
				t.Errorf("%s changes.updated_at.current = %q, want the UTC form", event, v)
			}
		}
		switch event {
		case "Push Hook":
			for _, c := range body["commits"].([]any) {
				if ts := c.(map[string]any)["timestamp"].(string); !rfcTime.MatchString(ts) {
					t.Errorf("push commit timestamp %q", ts)
				}
			}
		case "Pipeline Hook":
			proj := body["project"].(map[string]any)
			if _, ok := proj["homepage"]; ok {
				t.Error("pipeline event project carries the legacy homepage key")
			}
			if c := body["commit"].(map[string]any); c["added"] != nil {
				t.Error("pipeline event commit lists changed files")
			}
			if b := body["builds"].([]any); len(b) == 0 {
				t.Error("pipeline event lists no builds")
			}
		case "Merge Request Hook":
			if c := attrs["last_commit"].(map[string]any); c["added"] != nil {
				t.Error("merge request last_commit lists changed files")
			}
			for _, a := range body["assignees"].([]any) {
				if _, ok := a.(map[string]any)["email"]; ok {
					t.Error("merge request assignees carry email")
				}
			}
		}
	}
	if len(seen) != 4 {
		t.Errorf("events seen %v, want merge request, issue, push and pipeline", seen)
	}
}
