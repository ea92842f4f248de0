package dora_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/dora"
	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// getList reads one page (up to 100 items) of a sandbox list endpoint.
func getList(t *testing.T, sb *sandbox.Sandbox, path string) []json.RawMessage {
	t.Helper()
	req, _ := http.NewRequest("GET", sb.URL()+"/api/v4"+path, nil)
	req.Header.Set("PRIVATE-TOKEN", sb.AdminToken())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var out []json.RawMessage
	if res.StatusCode != 200 || json.Unmarshal(body, &out) != nil || len(out) >= 100 {
		t.Fatalf("GET %s: %d %.300s", path, res.StatusCode, body)
	}
	return out
}

// TestGitLabShapedDataOfEachVersionFlowsIntoTheMetrics: on a simulated
// GitLab of 12.10 (no environment tiers, no issue types: the incident is a
// label) and of 17.11, a merge request is merged, a pipeline deploys the
// default branch to staging and production, and an incident is opened and
// closed. The API's deployments, merge requests and issues, normalised as
// the sync does and stored, give a report in which the new production
// deployment is counted, ships the merge request, and the incident is
// counted as a failure and as restored.
func TestGitLabShapedDataOfEachVersionFlowsIntoTheMetrics(t *testing.T) {
	for _, v := range []string{"12.10", "17.11"} {
		t.Run(v, func(t *testing.T) {
			ctx := context.Background()
			sb, err := sandbox.Start(ctx, sandbox.Config{Version: v, Seed: 11, Groups: 1, Projects: 2, MRs: 2, Issues: 2, Pipelines: 2, Commits: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			var pid int64
			for _, p := range sb.Manifest().PerProject {
				if p.CIEnabled && !p.Archived {
					pid = p.ID
					break
				}
			}
			if pid == 0 {
				t.Fatal("no project with CI in the sandbox")
			}
			from := time.Now().UTC().Add(-time.Minute)
			mr, err := sb.OpenMR(pid, "a change")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sb.MergeMR(pid, mr.IID); err != nil {
				t.Fatal(err)
			}
			if _, err := sb.RunPipeline(pid, "", "success"); err != nil {
				t.Fatal(err)
			}
			inc, err := sb.OpenIncident(pid, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sb.CloseIssue(pid, inc.IID); err != nil {
				t.Fatal(err)
			}

			st := storetest.Open(t)
			b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a.test", "x")
			if err != nil {
				t.Fatal(err)
			}
			org := b.Org.ID
			in := &store.Integration{OrgID: org, Alias: "sb", BaseURL: sb.URL(), AuthMethod: store.AuthMethodToken}
			if err := st.CreateIntegration(ctx, nil, in); err != nil {
				t.Fatal(err)
			}
			praw := getOne(t, sb, fmt.Sprintf("/projects/%d", pid))
			p, err := ingest.Project(praw)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.UpsertDiscoveredProjects(ctx, org, in.ID, []store.Project{p}); err != nil {
				t.Fatal(err)
			}
			var ds []store.Deployment
			var prodIDs []int64
			for _, raw := range getList(t, sb, fmt.Sprintf("/projects/%d/deployments?per_page=100", pid)) {
				d, _, err := ingest.Deployment(in.ID, pid, raw, nil)
				if err != nil {
					t.Fatal(err)
				}
				ds = append(ds, d)
				if d.EnvironmentTier == "production" && d.Status == "success" && d.FinishedAt != nil && !d.FinishedAt.Before(from) {
					prodIDs = append(prodIDs, d.GitLabID)
				}
			}
			if len(prodIDs) != 1 {
				t.Fatalf("production deployments of the new pipeline: %v (of %d)", prodIDs, len(ds))
			}
			var ms []store.MergeRequest
			for _, raw := range getList(t, sb, fmt.Sprintf("/projects/%d/merge_requests?state=all&per_page=100", pid)) {
				m, err := ingest.MergeRequest(in.ID, raw)
				if err != nil {
					t.Fatal(err)
				}
				ms = append(ms, m)
			}
			var is []store.Issue
			for _, raw := range getList(t, sb, fmt.Sprintf("/projects/%d/issues?state=all&per_page=100", pid)) {
				i, err := ingest.Issue(in.ID, raw)
				if err != nil {
					t.Fatal(err)
				}
				is = append(is, i)
			}
			for _, err := range []error{
				upsertErr(st.UpsertDeployments(ctx, nil, org, in.ID, store.SourceSync, ds)),
				upsertErr(st.UpsertMergeRequests(ctx, nil, org, in.ID, store.SourceSync, ms)),
				upsertErr(st.UpsertIssues(ctx, nil, org, in.ID, store.SourceSync, is)),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}

			q, err := dora.ParseQuery(url.Values{"integration_id": {fmt.Sprint(in.ID)}, "from": {from.Format(time.RFC3339)},
				"to": {time.Now().UTC().Add(48 * time.Hour).Format(time.RFC3339)}, "interval": {"month"}, "explain": {"true"}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			r, err := dora.New(st).Report(ctx, org, q)
			if err != nil {
				t.Fatal(err)
			}
			var deps, shipped, incidents, restored []int64
			var shippedBy []int64
			for i := range r.DeploymentFrequency.Points {
				for _, d := range r.DeploymentFrequency.Points[i].Rows.Deployments {
					deps = append(deps, d.ID)
				}
				for _, m := range r.LeadTimeForChanges.Points[i].Rows.MergeRequests {
					shipped, shippedBy = append(shipped, m.ID), append(shippedBy, m.DeploymentID)
				}
				for _, x := range r.ChangeFailureRate.Points[i].Rows.Incidents {
					incidents = append(incidents, x.ID)
				}
				for _, x := range r.TimeToRestoreService.Points[i].Rows.Incidents {
					restored = append(restored, x.ID)
				}
			}
			if !slices.Equal(deps, prodIDs) {
				t.Errorf("deployments counted = %v, want the new production one %v", deps, prodIDs)
			}
			if k := slices.Index(shipped, mr.ID); k < 0 || shippedBy[k] != prodIDs[0] {
				t.Errorf("merge requests shipped = %v by %v, want %d shipped by %d", shipped, shippedBy, mr.ID, prodIDs[0])
			}
			if !slices.Contains(incidents, inc.ID) || !slices.Contains(restored, inc.ID) {
				t.Errorf("incidents opened %v, restored %v; want %d in both", incidents, restored, inc.ID)
			}
		})
	}
}

func getOne(t *testing.T, sb *sandbox.Sandbox, path string) json.RawMessage {
	t.Helper()
	req, _ := http.NewRequest("GET", sb.URL()+"/api/v4"+path, nil)
	req.Header.Set("PRIVATE-TOKEN", sb.AdminToken())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %.300s", path, res.StatusCode, body)
	}
	return body
}

func upsertErr(_ store.UpsertResult, err error) error { return err }
