package syncer_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// deliveryRequests counts a request log's requests for review and delivery
// data, by what they ask.
func deliveryRequests(rs []sandbox.RequestLogEntry) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		q, _ := url.ParseQuery(r.Query)
		switch {
		case r.Path == "/api/graphql":
			out["graphql"]++
		case strings.HasSuffix(r.Path, "/events") && q.Get("action") == "commented":
			out["comment events"]++
		case strings.HasSuffix(r.Path, "/events") && q.Get("action") == "approved":
			out["approval events"]++
		case strings.Contains(r.Path, "/merge_requests/") && strings.HasSuffix(r.Path, "/approvals"):
			out["MR approvals"]++
		case strings.Contains(r.Path, "/merge_requests/") && strings.HasSuffix(r.Path, "/commits"):
			out["MR commits"]++
		case strings.HasSuffix(r.Path, "/jobs"):
			out["jobs"]++
		case strings.HasSuffix(r.Path, "/environments"), strings.HasSuffix(r.Path, "/deployments"),
			strings.HasSuffix(r.Path, "/releases"), strings.HasSuffix(r.Path, "/repository/tags"):
			out[r.Path[strings.LastIndexByte(r.Path, '/')+1:]]++
		}
	}
	return out
}

// TestAQuietPollCostsTheSameWithTheReviewAndDeliveryServicesOn: the
// chains of the new services follow the chain that says something changed
// (jobs, deployments, environments and pipeline times follow pipelines,
// releases and tags follow pushes, review data follows merge requests), so
// a quiet poll — every selected project's pipelines swept — makes exactly
// the requests it made with those services off, none of them for the new
// resources. A pipeline run in a selected project then brings, at the next
// poll, its jobs (one listing) and its duration (one GraphQL page), not a
// request per pipeline or per job.
func TestAQuietPollCostsTheSameWithTheReviewAndDeliveryServicesOn(t *testing.T) {
	ctx := context.Background()
	quietCost := map[bool]int{}
	for _, on := range []bool{false, true} {
		f := newFixture(t, small("17.11"))
		svc := f.service(syncer.Options{Concurrency: 3, SweepEvery: 1})
		f.selectAll(t, svc)
		if !on {
			sel, err := f.st.SelectionFor(ctx, f.org, f.integ)
			if err != nil {
				t.Fatal(err)
			}
			sel.Services.Reviews, sel.Services.Jobs, sel.Services.Deployments, sel.Services.Releases = false, false, false, false
			if _, err := svc.SaveSelection(ctx, f.org, f.integ, sel); err != nil {
				t.Fatal(err)
			}
		}
		for _, mode := range []syncer.Mode{syncer.ModeFull, syncer.ModePoll} {
			if err := svc.Run(ctx, f.org, f.integ, mode); err != nil {
				t.Fatal(err)
			}
		}
		f.sb.ResetRequests()
		if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
			t.Fatal(err)
		}
		rs := f.sb.Requests()
		n, byPath := apiCount(rs)
		quietCost[on] = n
		if d := deliveryRequests(rs); len(d) > 0 {
			t.Fatalf("services on %v: a quiet poll asked for review or delivery data: %v (all: %v)", on, d, byPath)
		}
		if !on {
			continue
		}

		// A pipeline with jobs runs in a selected project.
		var target sandbox.ProjectCounts
		for _, p := range f.sb.Manifest().PerProject {
			if p.CIEnabled && !p.Archived && p.Pipelines > 0 {
				target = p
			}
		}
		before, _ := f.st.CountData(ctx, f.org, f.integ)
		ch, err := f.sb.RunPipeline(target.ID, "", "success")
		if err != nil {
			t.Fatal(err)
		}
		f.sb.ResetRequests()
		if err := svc.Run(ctx, f.org, f.integ, syncer.ModePoll); err != nil {
			t.Fatal(err)
		}
		rs = f.sb.Requests()
		d := deliveryRequests(rs)
		// Jobs newest first until the jobs known before (PerPage 5: the new
		// pipeline's jobs and one more page), one GraphQL page.
		if d["jobs"] < 1 || d["jobs"] > 3 || d["graphql"] != 1 {
			t.Fatalf("after a pipeline ran, the poll asked %v; want one or two pages of jobs and one GraphQL page", d)
		}
		for _, r := range rs {
			if strings.Contains(r.Path, "/pipelines/") {
				t.Fatalf("a request per pipeline: %s", r.Path)
			}
		}
		after, _ := f.st.CountData(ctx, f.org, f.integ)
		m := f.sb.Manifest()
		var jobs int64
		for _, p := range m.PerProject {
			jobs += int64(p.Jobs)
		}
		if after.Jobs != jobs || after.Jobs <= before.Jobs {
			t.Fatalf("jobs stored %d (before %d), manifest %d", after.Jobs, before.Jobs, jobs)
		}
		pls, err := f.st.Pipelines(ctx, f.org, store.DataQuery{IntegrationID: f.integ, ProjectGitLabID: target.ID, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		filled := false
		for _, pl := range pls {
			if pl.GitLabID == ch.ID {
				filled = pl.DurationS != nil && pl.StartedAt != nil && pl.FinishedAt != nil
			}
		}
		if !filled {
			t.Fatalf("the new pipeline %d has no times after the poll", ch.ID)
		}
	}
	if quietCost[true] != quietCost[false] {
		t.Fatalf("a quiet poll made %d requests with the review and delivery services on, %d with them off", quietCost[true], quietCost[false])
	}
	t.Logf("quiet poll: %d requests with or without the new services", quietCost[true])
}

// TestPipelinesBackfilledFromTheListGetTheirTimesInBulk: the REST list has
// no duration, started_at or finished_at; after a backfill every finished
// pipeline has all three, read from GraphQL pages of a hundred pipelines
// (one page per project here), never one request per pipeline — where
// GitLab has GraphQL (12.1). On older versions nothing is asked and the
// progress row says why.
func TestPipelinesBackfilledFromTheListGetTheirTimesInBulk(t *testing.T) {
	for _, v := range []string{"12.0", "12.10", "19.0"} {
		t.Run(v, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, small(v))
			svc := f.service(syncer.Options{Concurrency: 3, PerPage: 100})
			f.selectAll(t, svc)
			f.sb.ResetRequests()
			if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
				t.Fatal(err)
			}
			graphql := deliveryRequests(f.sb.Requests())["graphql"]
			pls, err := f.st.Pipelines(ctx, f.org, store.DataQuery{IntegrationID: f.integ, Limit: 10000})
			if err != nil {
				t.Fatal(err)
			}
			finished, withTimes, projects := 0, 0, map[int64]bool{}
			for _, pl := range pls {
				if pl.Status == "success" || pl.Status == "failed" || pl.Status == "canceled" {
					finished++
					projects[pl.ProjectGitLabID] = true
					if pl.DurationS != nil && pl.StartedAt != nil && pl.FinishedAt != nil {
						withTimes++
					}
				}
			}
			if finished == 0 {
				t.Fatal("no finished pipeline in the dataset")
			}
			if v == "12.0" {
				if graphql != 0 || withTimes != 0 {
					t.Fatalf("GitLab %s has no GraphQL: %d requests made, %d pipelines with times", v, graphql, withTimes)
				}
				rep, _ := svc.Progress(ctx, f.org, f.integ, true)
				said := false
				for _, p := range rep.Projects {
					for _, r := range p.Resources {
						said = said || (r.Resource == syncer.ResourcePipelineTimes && strings.Contains(r.LastError, "GraphQL"))
					}
				}
				if !said {
					t.Fatal("no progress row says why pipeline times were not read")
				}
				return
			}
			if withTimes != finished {
				t.Fatalf("%d of %d finished pipelines have their times", withTimes, finished)
			}
			if graphql != len(projects) {
				t.Fatalf("%d GraphQL requests for the pipelines of %d projects (%d pipelines)", graphql, len(projects), len(pls))
			}
		})
	}
}

// TestApprovalsComeFromEventsWhereGitLabHasThemAndPerMergeRequestElsewhere:
// from 13.4 approvals are read in bulk from the project events; on 13.2
// and 13.3 (approvals in the Free tier, no approval events) one request per
// merge request is the only source; Community Edition before 13.2 has no
// approvals and nothing is asked. The count equals the manifest each time.
func TestApprovalsComeFromEventsWhereGitLabHasThemAndPerMergeRequestElsewhere(t *testing.T) {
	cases := []struct {
		version              string
		events, perMR, exist bool
	}{
		{"12.10", false, false, false},
		{"13.2", false, true, true},
		{"15.11", true, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.version, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, small(tc.version))
			svc := f.service(syncer.Options{Concurrency: 3})
			f.selectAll(t, svc)
			f.sb.ResetRequests()
			if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
				t.Fatal(err)
			}
			d := deliveryRequests(f.sb.Requests())
			m := f.sb.Manifest()
			var mrs, approvals int
			for _, p := range m.PerProject {
				mrs += p.MergeRequests
				approvals += p.Approvals
			}
			if (approvals > 0) != tc.exist {
				t.Fatalf("the sandbox has %d approvals on %s", approvals, tc.version)
			}
			if (d["approval events"] > 0) != tc.events || (d["MR approvals"] > 0) != tc.perMR {
				t.Fatalf("asked %v", d)
			}
			if tc.perMR && d["MR approvals"] != mrs {
				t.Fatalf("%d approvals requests for %d merge requests", d["MR approvals"], mrs)
			}
			got, _ := f.st.CountData(ctx, f.org, f.integ)
			if got.Approvals != int64(approvals) {
				t.Fatalf("stored %d approvals, manifest %d", got.Approvals, approvals)
			}
		})
	}
}
