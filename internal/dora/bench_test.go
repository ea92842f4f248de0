package dora_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/dora"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// BenchmarkReportOfAQuarter measures a weekly production report over 90
// days of an integration with 20 projects, each with two years of history:
// 2000 merged merge requests (one every ~8.8 hours) and 500 production
// deployments of main (one every ~35 hours), plus 1000 issues of which
// 100 incidents. It prints the rows read per report.
func BenchmarkReportOfAQuarter(b *testing.B) {
	ctx := context.Background()
	st := storetest.Open(b)
	bs, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a.test", "x")
	if err != nil {
		b.Fatal(err)
	}
	org := bs.Org.ID
	in := &store.Integration{OrgID: org, Alias: "g", BaseURL: "https://gitlab.test", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		b.Fatal(err)
	}
	const projects, mrsPer, depsPer, issuesPer = 20, 2000, 500, 50
	var ps []store.Project
	for p := 1; p <= projects; p++ {
		ps = append(ps, store.Project{GitLabID: int64(p), NamespacePath: "g", Name: fmt.Sprint("p", p), PathWithNamespace: fmt.Sprint("g/p", p)})
	}
	if err := st.UpsertDiscoveredProjects(ctx, org, in.ID, ps); err != nil {
		b.Fatal(err)
	}
	end := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	start := end.AddDate(-2, 0, 0)
	span := end.Sub(start)
	for p := int64(1); p <= projects; p++ {
		var ms []store.MergeRequest
		for i := int64(0); i < mrsPer; i++ {
			at := start.Add(span / mrsPer * time.Duration(i))
			ms = append(ms, store.MergeRequest{ProjectGitLabID: p, GitLabID: p*100000 + i, IID: i + 1, State: "merged", TargetBranch: "main",
				MergedAt: &at, UpdatedAt: at})
		}
		var ds []store.Deployment
		for i := int64(0); i < depsPer; i++ {
			at := start.Add(span/depsPer*time.Duration(i) + time.Hour)
			ds = append(ds, store.Deployment{ProjectGitLabID: p, GitLabID: p*100000 + i, EnvironmentName: "production", EnvironmentTier: "production",
				Status: "success", Ref: "main", FinishedAt: &at, UpdatedAt: at})
		}
		var is []store.Issue
		for i := int64(0); i < issuesPer; i++ {
			at := start.Add(span / issuesPer * time.Duration(i))
			closed := at.Add(3 * time.Hour)
			typ := "issue"
			if i%10 == 9 {
				typ = "incident"
			}
			is = append(is, store.Issue{ProjectGitLabID: p, GitLabID: p*100000 + i, IID: i + 1, State: "closed", IssueType: typ,
				CreatedAt: &at, ClosedAt: &closed, UpdatedAt: closed})
		}
		if _, err := st.UpsertMergeRequests(ctx, nil, org, in.ID, store.SourceSync, ms); err != nil {
			b.Fatal(err)
		}
		if r, err := st.UpsertDeployments(ctx, nil, org, in.ID, store.SourceSync, ds); err != nil || r.Changed != depsPer {
			b.Fatalf("deployments: %+v %v", r, err)
		}
		if false {
			b.Fatal(err)
		}
		if _, err := st.UpsertIssues(ctx, nil, org, in.ID, store.SourceSync, is); err != nil {
			b.Fatal(err)
		}
	}
	q, err := dora.ParseQuery(url.Values{"integration_id": {strconv.FormatInt(in.ID, 10)}, "from": {"2025-12-01"}, "to": {"2026-02-28"},
		"interval": {"week"}}, end)
	if err != nil {
		b.Fatal(err)
	}
	svc := dora.New(st)
	sq := store.DoraQuery{IntegrationID: in.ID, Tier: "production", From: q.From, To: q.To}
	timeIt(b, "deployments", func() error { _, err := st.DoraDeployments(ctx, org, sq); return err })
	timeIt(b, "changes", func() error { _, err := st.DoraChanges(ctx, org, sq); return err })
	timeIt(b, "incidents", func() error { _, err := st.DoraIncidents(ctx, org, sq); return err })
	var r *dora.Report
	b.ResetTimer()
	for b.Loop() {
		if r, err = svc.Report(ctx, org, q); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.Logf("%s: %d deployments, %d merge requests, %d incidents in the report (of %d, %d, %d stored)", storetest.Dialect(b),
		r.DeploymentFrequency.Total.Count, r.LeadTimeForChanges.Total.Count, r.ChangeFailureRate.Total.Count,
		projects*depsPer, projects*mrsPer, projects*issuesPer/10)
}

func timeIt(b *testing.B, what string, f func() error) {
	t0 := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %v", what, time.Since(t0))
}
