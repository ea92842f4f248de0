package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// TestGatesCheckedInGitLabsSourceSwitchAtTheirRelease starts the sandbox on
// both sides of each version gate that was checked against GitLab's source
// and docs (the comments at the gates say where) and looks at what a
// client sees: the field, the argument or the answer must appear at the
// named release and not one release before.
func TestGatesCheckedInGitLabsSourceSwitchAtTheirRelease(t *testing.T) {
	type fact func(t *testing.T, sb *Sandbox, pid int64) bool
	has := func(m map[string]any, k string) bool { _, ok := m[k]; return ok }
	firstItem := func(t *testing.T, sb *Sandbox, path string) map[string]any {
		t.Helper()
		r := get(t, sb, path, sb.AdminToken())
		var list []map[string]any
		mustJSON(t, r.body, &list)
		if r.status != http.StatusOK || len(list) == 0 {
			t.Fatalf("%s answered %d with %d items", path, r.status, len(list))
		}
		return list[0]
	}
	gqlField := func(field string) fact {
		return func(t *testing.T, sb *Sandbox, pid int64) bool {
			q := "query($fullPath: ID!) { project(fullPath: $fullPath) { pipelines(first: 1) { nodes { id " + field + " } } } }"
			r := graphqlGET(t, sb, sb.AdminToken(), q, map[string]any{"fullPath": sb.projects[pid-1].fullPath()})
			var a struct{ Errors []any }
			mustJSON(t, r.body, &a)
			return r.status == http.StatusOK && len(a.Errors) == 0
		}
	}
	// jobHookWith and deploymentHookWith build the payloads the sandbox
	// would deliver for the project's deploying job.
	deployingJob := func(t *testing.T, sb *Sandbox, pid int64) *job {
		t.Helper()
		for _, j := range sb.projects[pid-1].view().jobs {
			if j.deploy != nil && j.env != nil {
				return j
			}
		}
		t.Fatal("no deploying job")
		return nil
	}
	jobHookWith := func(key string) fact {
		return func(t *testing.T, sb *Sandbox, pid int64) bool {
			sb.mu.RLock()
			defer sb.mu.RUnlock()
			return has(sb.jobHook(deployingJob(t, sb, pid)), key)
		}
	}
	deploymentHookWith := func(key string) fact {
		return func(t *testing.T, sb *Sandbox, pid int64) bool {
			sb.mu.RLock()
			defer sb.mu.RUnlock()
			return has(sb.deploymentHook(deployingJob(t, sb, pid).deploy), key)
		}
	}
	tests := []struct {
		name          string
		before, since string // the last release without it, the first with it
		fact          fact
	}{
		{"REST jobs carry queued_duration (gitlab!59901)", "13.11", "13.12", func(t *testing.T, sb *Sandbox, pid int64) bool {
			return has(firstItem(t, sb, fmt.Sprintf("/api/v4/projects/%d/jobs", pid)), "queued_duration")
		}},
		{"a single pipeline carries queued_duration (gitlab!59901)", "13.11", "13.12", func(t *testing.T, sb *Sandbox, pid int64) bool {
			pl := firstItem(t, sb, fmt.Sprintf("/api/v4/projects/%d/pipelines", pid))
			r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d/pipelines/%v", pid, pl["id"]), sb.AdminToken())
			return has(r.json(t), "queued_duration")
		}},
		{"GraphQL Pipeline.queuedDuration (gitlab!59901)", "13.11", "13.12", gqlField("queuedDuration")},
		{"GraphQL Pipeline.source (absent from the 14.0-era type)", "16.7", "16.8", gqlField("source")},
		{"GraphQL Project.pipelines(updatedAfter:)", "14.6", "14.7", func(t *testing.T, sb *Sandbox, pid int64) bool {
			q := `query($fullPath: ID!) { project(fullPath: $fullPath) { pipelines(first: 1, updatedAfter: "2020-01-01T00:00:00Z") { nodes { id } } } }`
			r := graphqlGET(t, sb, sb.AdminToken(), q, map[string]any{"fullPath": sb.projects[pid-1].fullPath()})
			var a struct{ Errors []any }
			mustJSON(t, r.body, &a)
			return r.status == http.StatusOK && len(a.Errors) == 0
		}},
		{"the events API takes action=approved (Event action 12)", "13.0", "13.1", func(t *testing.T, sb *Sandbox, pid int64) bool {
			r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d/events?action=approved", pid), sb.AdminToken())
			return r.status == http.StatusOK
		}},
		{"deployments refuse updated_after without order_by=updated_at", "15.11", "16.0", func(t *testing.T, sb *Sandbox, pid int64) bool {
			r := get(t, sb, fmt.Sprintf("/api/v4/projects/%d/deployments?updated_after=2020-01-01T00:00:00Z", pid), sb.AdminToken())
			return r.status == http.StatusBadRequest
		}},
		{"tags carry created_at (doc/api/tags.md)", "16.10", "16.11", func(t *testing.T, sb *Sandbox, pid int64) bool {
			return has(firstItem(t, sb, fmt.Sprintf("/api/v4/projects/%d/repository/tags", pid)), "created_at")
		}},
		{"Job Hooks carry build_queued_duration (gitlab!59901)", "13.11", "13.12", jobHookWith("build_queued_duration")},
		{"Job Hooks carry the project (gitlab!128502)", "16.2", "16.3", jobHookWith("project")},
		{"Deployment Hooks carry status_changed_at (gitlab!60518)", "13.11", "13.12", deploymentHookWith("status_changed_at")},
		{"Deployment Hooks carry deployment_id (gitlab!67577)", "14.2", "14.3", deploymentHookWith("deployment_id")},
		{"Deployment Hooks carry environment_tier (gitlab!120151)", "16.0", "16.1", deploymentHookWith("environment_tier")},
	}
	boxes := map[string]*Sandbox{}
	box := func(v string) *Sandbox {
		if boxes[v] == nil {
			cfg := fidelityConfig
			cfg.Version = v
			boxes[v] = start(t, cfg)
		}
		return boxes[v]
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, side := range []struct {
				version string
				want    bool
			}{{tc.before, false}, {tc.since, true}} {
				sb := box(side.version)
				pid := int64(0)
				for _, pc := range sb.Manifest().PerProject {
					if pc.Deployments > 0 && pc.Tags > 0 {
						pid = pc.ID
						break
					}
				}
				if pid == 0 {
					t.Fatal("no project with deployments and tags in the dataset")
				}
				if got := tc.fact(t, sb, pid); got != side.want {
					t.Errorf("on %s: %v, want %v", side.version, got, side.want)
				}
			}
		})
	}
}

// TestJobHookEnvironmentIsNameAndAction builds the Job Hook of a job with an
// environment: the environment is its name and action only, with no
// deployment_tier (Gitlab::DataBuilder::Build, every copy read).
func TestJobHookEnvironmentIsNameAndAction(t *testing.T) {
	cfg := fidelityConfig
	cfg.Version = "17.11"
	sb := start(t, cfg)
	sb.mu.RLock()
	defer sb.mu.RUnlock()
	for _, p := range sb.projects {
		for _, j := range p.view().jobs {
			if j.env == nil {
				continue
			}
			b, err := json.Marshal(sb.jobHook(j)["environment"])
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(`{"action":"start","name":%q}`, j.env.name); string(b) != want {
				t.Fatalf("environment %s, want %s", b, want)
			}
			return
		}
	}
	t.Fatal("no job with an environment")
}
