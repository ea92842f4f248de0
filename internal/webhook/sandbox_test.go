package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
)

// TestSandboxDeliveriesAcrossVersions registers a project hook at a
// simulated GitLab of each version profile, makes activity there, and checks
// every delivery (GitLab's headers and payload shapes for that version, and
// 19.0's signature) is accepted, normalised, and none fails.
func TestSandboxDeliveriesAcrossVersions(t *testing.T) {
	for _, v := range []string{"12.10", "14.10", "15.11", "16.11", "17.11", "19.0"} {
		t.Run(v, func(t *testing.T) {
			ctx := context.Background()
			signing := v == "19.0"
			r := newRig(t, signing)
			sb, err := sandbox.Start(ctx, sandbox.Config{Version: v, Seed: 7, Groups: 1, Projects: 3, MRs: 2, Issues: 2, Pipelines: 1, Commits: 3})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			var proj sandbox.ProjectCounts
			for _, p := range sb.Manifest().PerProject {
				if p.CIEnabled && !p.Archived {
					proj = p
					break
				}
			}
			if proj.ID == 0 {
				t.Fatal("no project with CI in the sandbox")
			}
			r.discover(t, true, proj.ID)

			hook := map[string]any{"url": r.srv.URL + "/api/v1/webhooks/gitlab/" + r.issued.HookID, "token": r.issued.Secret.Reveal(),
				"push_events": true, "tag_push_events": true, "merge_requests_events": true, "issues_events": true,
				"confidential_issues_events": true, "pipeline_events": true, "enable_ssl_verification": true}
			if signing {
				hook["signing_token"] = r.issued.SigningToken.Reveal()
			}
			body, _ := json.Marshal(hook)
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v4/projects/%d/hooks", sb.URL(), proj.ID), bytes.NewReader(body))
			req.Header.Set("PRIVATE-TOKEN", sb.AdminToken())
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil || res.StatusCode != 201 {
				t.Fatalf("register hook: %v %v", err, res)
			}
			res.Body.Close()
			r.now = time.Now() // signatures are checked against the rig's clock

			// queued counts the deliveries the activity queued, to wait for
			// every one of them.
			queued := 0
			act := func(c sandbox.Change, err error) (sandbox.Change, error) {
				queued += c.Hooks
				return c, err
			}
			mr, err := act(sb.OpenMR(proj.ID, "Add a feature"))
			check(t, err)
			_, err = act(sb.UpdateMR(proj.ID, mr.IID, "Add a feature, reviewed"))
			check(t, err)
			_, err = act(sb.MergeMR(proj.ID, mr.IID))
			check(t, err)
			is, err := act(sb.OpenIssue(proj.ID, "Something is off"))
			check(t, err)
			_, err = act(sb.CloseIssue(proj.ID, is.IID))
			check(t, err)
			_, err = act(sb.Push(proj.ID, "main", 2))
			if err != nil {
				_, err = act(sb.Push(proj.ID, "master", 2))
			}
			check(t, err)
			_, err = act(sb.RunPipeline(proj.ID, "main", "success"))
			if err != nil {
				_, err = act(sb.RunPipeline(proj.ID, "master", "success"))
			}
			check(t, err)
			if queued < 7 {
				t.Fatalf("the activity queued %d deliveries", queued)
			}

			var delivered int
			for range 1000 {
				delivered = 0
				for _, d := range sb.Deliveries() {
					if d.Status == 200 {
						delivered++
					}
				}
				if delivered >= queued {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, d := range sb.Deliveries() {
				if d.Status != 200 {
					t.Errorf("delivery %+v answered %d", d.Event, d.Status)
				}
			}
			p := NewProcessor(r.st, nil)
			for {
				n, err := p.ProcessOnce(ctx)
				check(t, err)
				if n == 0 {
					break
				}
			}
			st := r.status(t)
			if st["failed"] != 0 || st["pending"] != 0 || st["processed"] < 7 {
				t.Fatalf("inbox %v after %d deliveries", st, delivered)
			}
			mrs, _ := r.st.MergeRequests(ctx, r.org, store.DataQuery{})
			if len(mrs) != 1 || mrs[0].State != "merged" || mrs[0].Title != "Add a feature, reviewed" {
				t.Fatalf("merge request: %+v", mrs)
			}
			issues, _ := r.st.Issues(ctx, r.org, store.DataQuery{})
			if len(issues) != 1 || issues[0].State != "closed" {
				t.Fatalf("issue: %+v", issues)
			}
			counts, _ := r.st.CountData(ctx, r.org, r.integ)
			if counts.Pipelines < 1 || counts.Pushes < 1 || counts.Commits < 2 {
				t.Fatalf("counts %+v", counts)
			}
		})
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
