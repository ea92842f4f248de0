package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// collect is a webhook receiver; wait polls (up to a minute, the machine
// is loaded) until n deliveries arrived.
func collect(t *testing.T) (*httptest.Server, func(n int) []received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Header.Clone(), b})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, func(n int) []received {
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			out := slices.Clone(got)
			mu.Unlock()
			if len(out) >= n || time.Now().After(deadline) {
				return out
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestDeliveryWebhooksCarryEachVersionsFieldsAndMatchTheAPI comments,
// approves, runs a pipeline and releases on three versions, and checks that
// Note, Merge Request, Job, Deployment, Tag Push and Release Hooks come with
// the version's fields and name the same objects the API lists.
func TestDeliveryWebhooksCarryEachVersionsFieldsAndMatchTheAPI(t *testing.T) {
	type keys struct{ present, absent []string }
	tests := []struct {
		version string
		// per event: top-level keys (object_attributes keys for notes)
		want  map[string]keys
		hooks map[string]int // deliveries per event
	}{
		{"12.10", map[string]keys{
			"Note Hook":     {[]string{"id", "note", "noteable_type", "discussion_id", "type", "url"}, []string{"action", "internal", "confidential"}},
			"Job Hook":      {[]string{"build_id", "build_name", "build_stage", "build_status", "build_duration", "pipeline_id", "runner", "commit"}, []string{"retries_count", "build_queued_duration", "environment", "build_created_at_iso"}},
			"Tag Push Hook": {[]string{"object_kind", "ref", "after", "checkout_sha", "total_commits_count"}, []string{"ref_protected"}},
			"Release Hook":  {[]string{"id", "tag", "name", "released_at", "action", "assets", "commit"}, nil},
		}, map[string]int{"Note Hook": 1, "Tag Push Hook": 1, "Release Hook": 1}},
		{"15.11", map[string]keys{
			"Note Hook":       {[]string{"id", "note", "discussion_id", "confidential", "internal"}, []string{"action"}},
			"Job Hook":        {[]string{"build_queued_duration", "environment"}, []string{"retries_count", "build_created_at_iso", "project"}},
			"Deployment Hook": {[]string{"status", "status_changed_at", "deployment_id", "deployable_id", "environment", "environment_slug", "short_sha", "commit_title"}, []string{"environment_tier"}},
			"Tag Push Hook":   {[]string{"ref_protected"}, nil},
		}, map[string]int{"Note Hook": 1, "Merge Request Hook": 1, "Deployment Hook": 2, "Tag Push Hook": 1, "Release Hook": 1}},
		{"19.0", map[string]keys{
			"Note Hook":       {[]string{"action", "internal"}, nil},
			"Job Hook":        {[]string{"retries_count", "build_created_at_iso", "build_queued_duration", "project"}, nil},
			"Deployment Hook": {[]string{"environment_tier", "deployment_id"}, nil},
		}, map[string]int{"Note Hook": 1, "Merge Request Hook": 1, "Deployment Hook": 2, "Tag Push Hook": 1, "Release Hook": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.version, func(t *testing.T) {
			cfg := fidelityConfig
			cfg.Version = tc.version
			sb := start(t, cfg)
			gl := client(t, sb, sb.AdminToken())
			var p *project
			for _, x := range sb.projects {
				if x.ciEnabled && len(x.commits) > 0 {
					p = x
					break
				}
			}
			srv, wait := collect(t)
			if _, _, err := gl.Projects.AddProjectHook(p.id, &gitlab.AddProjectHookOptions{URL: gitlab.Ptr(srv.URL), PushEvents: gitlab.Ptr(false),
				NoteEvents: gitlab.Ptr(true), MergeRequestsEvents: gitlab.Ptr(true), JobEvents: gitlab.Ptr(true), DeploymentEvents: gitlab.Ptr(true),
				ReleasesEvents: gitlab.Ptr(true), TagPushEvents: gitlab.Ptr(true)}); err != nil {
				t.Fatal(err)
			}
			before := sb.Manifest().PerProject[p.id-1]
			var open int64
			for _, m := range p.mrs {
				if m.state == stateOpened && m.authorID != 2 {
					open = m.iid
				}
			}
			if _, err := sb.CommentMR(p.id, open, "Please add a test."); err != nil {
				t.Fatal(err)
			}
			_, err := sb.ApproveMR(p.id, open, "alice")
			if (err == nil) != sb.approvalsExist() {
				t.Fatalf("ApproveMR on %s: %v", tc.version, err)
			}
			if _, err := sb.RunPipeline(p.id, "", "success"); err != nil {
				t.Fatal(err)
			}
			if _, err := sb.CreateRelease(p.id, "v9.9.9"); err != nil {
				t.Fatal(err)
			}
			after := sb.Manifest().PerProject[p.id-1]
			jobs := after.Jobs - before.Jobs
			want := tc.hooks
			want["Job Hook"] = jobs
			total := 0
			for _, n := range want {
				total += n
			}
			got := wait(total)
			count := map[string]int{}
			for _, r := range got {
				event := r.header.Get("X-Gitlab-Event")
				count[event]++
				var body map[string]any
				mustJSON(t, r.body, &body)
				fields := body
				if event == "Note Hook" {
					fields = body["object_attributes"].(map[string]any)
				}
				for _, k := range tc.want[event].present {
					if _, ok := fields[k]; !ok {
						t.Errorf("%s on %s lacks %s", event, tc.version, k)
					}
				}
				for _, k := range tc.want[event].absent {
					if _, ok := fields[k]; ok {
						t.Errorf("%s on %s carries %s, which came later", event, tc.version, k)
					}
				}
				// The same object over the API.
				switch event {
				case "Note Hook":
					id := int64(fields["id"].(float64))
					var notes []struct{ ID int64 }
					mustJSON(t, get(t, sb, fmt.Sprintf("/api/v4/projects/%d/merge_requests/%d/notes?per_page=100", p.id, open), sb.AdminToken()).body, &notes)
					if !slices.ContainsFunc(notes, func(n struct{ ID int64 }) bool { return n.ID == id }) {
						t.Errorf("note %d of the Note Hook is not listed", id)
					}
				case "Job Hook":
					id := strconv.FormatInt(int64(body["build_id"].(float64)), 10)
					var j struct {
						Name   string `json:"name"`
						Status string `json:"status"`
					}
					var jobsPage []json.RawMessage
					mustJSON(t, get(t, sb, fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/jobs?include_retried=true&per_page=100", p.id, int64(body["pipeline_id"].(float64))), sb.AdminToken()).body, &jobsPage)
					found := false
					for _, raw := range jobsPage {
						var x struct {
							ID int64 `json:"id"`
						}
						mustJSON(t, raw, &x)
						if strconv.FormatInt(x.ID, 10) == id {
							mustJSON(t, raw, &j)
							found = true
						}
					}
					if !found || j.Name != body["build_name"] || j.Status != body["build_status"] {
						t.Errorf("job %s of the Job Hook: listed %v as %+v, hook says %v %v", id, found, j, body["build_name"], body["build_status"])
					}
				case "Deployment Hook":
					var ds []struct {
						ID     int64  `json:"id"`
						Status string `json:"status"`
					}
					mustJSON(t, get(t, sb, fmt.Sprintf("/api/v4/projects/%d/deployments?per_page=100", p.id), sb.AdminToken()).body, &ds)
					if id, ok := body["deployment_id"].(float64); ok && !slices.ContainsFunc(ds, func(d struct {
						ID     int64  `json:"id"`
						Status string `json:"status"`
					}) bool {
						return d.ID == int64(id) && d.Status == body["status"]
					}) {
						t.Errorf("deployment %v of the Deployment Hook is not listed", id)
					}
				case "Release Hook":
					if body["tag"] != "v9.9.9" || body["action"] != "create" {
						t.Errorf("release hook %v %v", body["tag"], body["action"])
					}
				case "Merge Request Hook":
					if attrs := body["object_attributes"].(map[string]any); attrs["action"] != "approved" {
						t.Errorf("merge request hook action %v, want approved", attrs["action"])
					}
				}
			}
			for event, n := range count {
				if _, ok := want[event]; !ok {
					t.Errorf("%d unexpected %s deliveries on %s", n, event, tc.version)
				}
			}
			for event, n := range want {
				if count[event] != n {
					t.Errorf("%d %s deliveries, want %d (all: %v)", count[event], event, n, count)
				}
			}
			if after.Notes <= before.Notes || after.Tags != before.Tags+1 || after.Releases != before.Releases+1 || after.Deployments != before.Deployments+2 {
				t.Errorf("manifest before %+v, after %+v", before.Counts, after.Counts)
			}
		})
	}
}

// TestHookTestsSendTheLatestNoteJobTagAndRelease: the hook test endpoint
// (16.11+) sends the project's latest note, job, tag or release.
func TestHookTestsSendTheLatestNoteJobTagAndRelease(t *testing.T) {
	f := newHookFixture(t, Config{Version: "17.11", Seed: 7, Projects: 1, MRs: 3, Pipelines: 8, Commits: 4})
	p := f.sb.projects[0]
	if !p.ciEnabled || len(p.view().tags) == 0 {
		t.Fatal("the fixture's project 1 lost CI/CD or tags: pick another seed")
	}
	want := map[string]string{"note_events": "Note Hook", "job_events": "Job Hook", "tag_push_events": "Tag Push Hook", "releases_events": "Release Hook"}
	for trigger, event := range want {
		r := do(t, nil, http.MethodPost, f.sb.URL()+"/api/v4/projects/1/hooks/"+f.hookID+"/test/"+trigger, f.token(), "")
		if r.status != http.StatusCreated {
			t.Errorf("%s: %d %s", trigger, r.status, r.body)
			continue
		}
		ds := f.sb.Deliveries()
		if last := ds[len(ds)-1]; last.Event != event {
			t.Errorf("%s delivered %s, want %s", trigger, last.Event, event)
		}
	}
}
