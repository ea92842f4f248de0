package sandbox

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"
)

// debianPython is Debian's interpreter, where python3-gitlab installs; the
// first python3 on PATH may be another one without it.
const debianPython = "/usr/bin/python3"

// TestPythonGitlab lists the sandbox with python-gitlab, a client nobody
// here wrote, and compares its counts with the manifest.
func TestPythonGitlab(t *testing.T) {
	if err := exec.Command(debianPython, "-c", "import gitlab").Run(); err != nil {
		msg := "python3-gitlab is not installed (apt-get update && apt-get install -y python3-gitlab): " + err.Error()
		if os.Getenv("LABSYNC_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, version := range []string{"10.8", "12.10", "15.11", "19.0"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			cfg := fidelityConfig
			cfg.Version = version
			sb := start(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, debianPython, "testdata/list_counts.py", sb.URL(), sb.AdminToken(), "4").Output()
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					t.Fatalf("list_counts.py: %v\n%s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			var got map[string]int
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			m := sb.Manifest()
			want := map[string]int{"projects": m.Projects, "merge_requests": m.Totals.MergeRequests, "issues": m.Totals.Issues,
				"pipelines": m.Totals.Pipelines, "pipelines_forbidden": m.CIDisabled,
				"all_merge_requests": m.NonArchived.MergeRequests, "all_issues": m.NonArchived.Issues,
				"pages": (m.Projects + 3) / 4, "notes": m.Totals.Notes, "merge_request_commits": m.Totals.MergeRequestCommits,
				"jobs": m.Totals.Jobs, "environments": m.Totals.Environments, "deployments": m.Totals.Deployments,
				"releases": m.Totals.Releases, "tags": m.Totals.Tags}
			for _, g := range sb.groups {
				if g.parent == nil {
					mrs, issues := subtreeIDs(sb, g, sb.users[0], false)
					want["group_merge_requests"] += len(mrs)
					want["group_issues"] += len(issues)
				}
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: python-gitlab listed %d, manifest %d", k, got[k], v)
				}
			}
		})
	}
}
