package dora_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/dora"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// ts is a UTC time written as in the comments: "2006-01-02 15:04".
func ts(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func tp(s string) *time.Time { t := ts(s); return &t }

func ip(n int64) *int64 { return &n }

// world is the hand-built dataset: organisation A with integration in
// (projects 7 "g/app" and 8 "g/api") and organisation B, whose
// integration has the same GitLab ids and rows in the same weeks, so that
// any leak between organisations changes A's figures.
type world struct {
	st         *store.Store
	orgA, orgB int64
	inA, inB   int64
}

func setup(t *testing.T) world {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a.test", "x")
	if err != nil {
		t.Fatal(err)
	}
	ownerB, err := st.CreateUser(ctx, "owner@b.test", "B", "x")
	if err != nil {
		t.Fatal(err)
	}
	orgB, err := st.CreateOrganization(ctx, "B", ownerB.ID)
	if err != nil {
		t.Fatal(err)
	}
	w := world{st: st, orgA: b.Org.ID, orgB: orgB.ID}
	w.inA = w.integration(t, w.orgA, "a")
	w.inB = w.integration(t, w.orgB, "b")

	dep := func(id int64, project int64, env, tier, status, ref, finished string) store.Deployment {
		f := ts(finished)
		return store.Deployment{ProjectGitLabID: project, GitLabID: id, IID: ip(id - 1000), EnvironmentName: env, EnvironmentTier: tier,
			Status: status, Ref: ref, SHA: "abc", CreatedAt: &f, FinishedAt: &f, UpdatedAt: f}
	}
	// Deployments of A (status success unless said; tier "" = a GitLab
	// before 13.10, guessed from the name):
	w.deployments(t, w.orgA, w.inA, []store.Deployment{
		dep(1001, 7, "production", "production", "success", "main", "2026-02-27 10:00"),    // before the weeks: D1
		dep(1002, 7, "production", "production", "success", "main", "2026-03-03 12:00"),    // week 1
		dep(1003, 7, "production", "production", "success", "main", "2026-03-05 09:00"),    // week 1
		dep(1004, 7, "production", "production", "failed", "main", "2026-03-04 10:00"),     // failed: never counts
		dep(1005, 7, "staging", "staging", "success", "main", "2026-03-04 11:00"),          // staging tier
		dep(1006, 7, "prod-eu", "", "success", "main", "2026-03-10 15:00"),                 // week 2, tier guessed production
		dep(1007, 7, "preprod", "", "success", "main", "2026-03-11 10:00"),                 // tier guessed staging
		dep(1008, 8, "production", "production", "success", "release", "2026-03-12 08:00"), // week 2, project 8
		dep(1009, 7, "production", "production", "success", "main", "2026-03-16 00:00"),    // the weeks' end: outside
	})
	// B: a production deployment in week 1 of the same GitLab ids.
	w.deployments(t, w.orgB, w.inB, []store.Deployment{dep(1002, 7, "production", "production", "success", "main", "2026-03-04 12:00"),
		dep(1010, 7, "production", "production", "success", "main", "2026-03-05 12:00")})

	mr := func(id, project int64, state, target, merged string) store.MergeRequest {
		m := store.MergeRequest{ProjectGitLabID: project, GitLabID: id, IID: id - 2000, Title: "mr", State: state, TargetBranch: target,
			SourceBranch: "topic", UpdatedAt: ts("2026-03-20 00:00")}
		if merged != "" {
			m.MergedAt = tp(merged)
		}
		return m
	}
	w.mergeRequests(t, w.orgA, w.inA, []store.MergeRequest{
		mr(2001, 7, "merged", "main", "2026-02-26 10:00"),    // M1 → D1 (no deployment before it)
		mr(2002, 7, "merged", "main", "2026-02-28 12:00"),    // M2 → D2
		mr(2003, 7, "merged", "main", "2026-03-03 11:00"),    // M3 → D2
		mr(2004, 7, "merged", "main", "2026-03-03 12:00"),    // M4 → D2 (merged the second D2 finished)
		mr(2005, 7, "merged", "main", "2026-03-04 09:00"),    // M5 → D3 (D4 failed, D5 is staging)
		mr(2006, 7, "merged", "main", "2026-03-06 00:00"),    // M6 → D6 (prod-eu)
		mr(2007, 7, "merged", "feature", "2026-03-04 00:00"), // M7: no deployment of its branch
		mr(2008, 8, "merged", "release", "2026-03-11 08:00"), // M8 → D8
		mr(2009, 7, "opened", "main", ""),                    // M9: not merged
		mr(2010, 7, "merged", "main", "2026-03-12 00:00"),    // M10 → D9
		mr(2011, 7, "merged", "main", "2026-02-27 10:00"),    // M11 → D1 (merged the second D1 finished)
	})
	w.mergeRequests(t, w.orgB, w.inB, []store.MergeRequest{mr(2003, 7, "merged", "main", "2026-03-04 11:00")})

	issue := func(id int64, typ, state, created, closed string) store.Issue {
		is := store.Issue{ProjectGitLabID: 7, GitLabID: id, IID: id - 3000, Title: "incident", State: state, IssueType: typ,
			CreatedAt: tp(created), UpdatedAt: ts("2026-03-20 00:00")}
		if closed != "" {
			is.ClosedAt = tp(closed)
		}
		return is
	}
	w.issues(t, w.orgA, w.inA, []store.Issue{
		issue(3001, "incident", "closed", "2026-03-03 13:00", "2026-03-03 15:00"), // I1
		issue(3002, "incident", "closed", "2026-03-08 22:00", "2026-03-09 02:00"), // I2: opened Sunday, closed Monday
		issue(3003, "incident", "closed", "2026-02-20 00:00", "2026-03-10 00:00"), // I3: opened before the weeks
		issue(3004, "incident", "opened", "2026-03-11 00:00", ""),                 // I4: still open
		issue(3005, "issue", "closed", "2026-03-04 00:00", "2026-03-04 01:00"),    // I5: not an incident
		issue(3006, "incident", "opened", "2026-03-05 00:00", "2026-03-06 00:00"), // I6: reopened after its close
	})
	w.issues(t, w.orgB, w.inB, []store.Issue{issue(3001, "incident", "closed", "2026-03-04 13:00", "2026-03-04 14:00")})
	return w
}

func (w world) integration(t *testing.T, org int64, alias string) int64 {
	t.Helper()
	ctx := context.Background()
	in := &store.Integration{OrgID: org, Alias: alias, BaseURL: "https://" + alias + ".gitlab.test", AuthMethod: store.AuthMethodToken}
	if err := w.st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	if err := w.st.UpsertDiscoveredProjects(ctx, org, in.ID, []store.Project{
		{GitLabID: 7, NamespacePath: "g", Name: "app", PathWithNamespace: "g/app", Visibility: "private"},
		{GitLabID: 8, NamespacePath: "g", Name: "api", PathWithNamespace: "g/api", Visibility: "private"}}); err != nil {
		t.Fatal(err)
	}
	return in.ID
}

func (w world) deployments(t *testing.T, org, in int64, ds []store.Deployment) {
	t.Helper()
	if r, err := w.st.UpsertDeployments(context.Background(), nil, org, in, store.SourceSync, ds); err != nil || r.SkippedUnknownProject != 0 {
		t.Fatalf("deployments: %+v %v", r, err)
	}
}

func (w world) mergeRequests(t *testing.T, org, in int64, ms []store.MergeRequest) {
	t.Helper()
	if r, err := w.st.UpsertMergeRequests(context.Background(), nil, org, in, store.SourceSync, ms); err != nil || r.SkippedUnknownProject != 0 {
		t.Fatalf("merge requests: %+v %v", r, err)
	}
}

func (w world) issues(t *testing.T, org, in int64, is []store.Issue) {
	t.Helper()
	if r, err := w.st.UpsertIssues(context.Background(), nil, org, in, store.SourceSync, is); err != nil || r.SkippedUnknownProject != 0 {
		t.Fatalf("issues: %+v %v", r, err)
	}
}

func (w world) report(t *testing.T, org int64, v url.Values) *dora.Report {
	t.Helper()
	q, err := dora.ParseQuery(v, ts("2026-03-20 00:00"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := dora.New(w.st).Report(context.Background(), org, q)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// values returns a series' point values, -1 standing for null.
func values(s dora.Series) []float64 {
	out := make([]float64, len(s.Points))
	for i, p := range s.Points {
		out[i] = -1
		if p.Value != nil {
			out[i] = *p.Value
		}
	}
	return out
}

func counts(s dora.Series) []int {
	out := make([]int, len(s.Points))
	for i, p := range s.Points {
		out[i] = p.Count
	}
	return out
}

func val(p dora.Point) float64 {
	if p.Value == nil {
		return -1
	}
	return *p.Value
}

func eqf(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return x-y < 1e-9 && y-x < 1e-9 })
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestDORAFiguresOfTwoWeeksEqualTheArithmeticByHand: the four series of
// integration A, production, by week over Monday 2026-03-02 to Sunday
// 2026-03-15, on the hand-built dataset; every figure is worked out below.
func TestDORAFiguresOfTwoWeeksEqualTheArithmeticByHand(t *testing.T) {
	w := setup(t)
	r := w.report(t, w.orgA, url.Values{"integration_id": {itoa(w.inA)}, "from": {"2026-03-02"}, "to": {"2026-03-15"}, "interval": {"week"}})
	// Buckets: week 1 = [03-02, 03-09), week 2 = [03-09, 03-16) (to
	// 2026-03-15 includes that Sunday).
	if len(r.DeploymentFrequency.Points) != 2 || !r.DeploymentFrequency.Points[1].Start.Equal(ts("2026-03-09 00:00")) ||
		!r.DeploymentFrequency.Points[1].End.Equal(ts("2026-03-16 00:00")) {
		t.Fatalf("buckets = %+v", r.DeploymentFrequency.Points)
	}

	// Deployment frequency. Week 1: D2 (03-03), D3 (03-05) = 2 (D4
	// failed, D5 staging, B's two are another organisation's). Week 2: D6
	// (prod-eu, guessed production), D8 (project 8) = 2 (D7 preprod is
	// staging; D9 finished at 03-16 00:00, the end, which is outside).
	// Per day: 2/7 each; the whole range: 4 in 14 days = 0.2857….
	if got := values(r.DeploymentFrequency); !eqf(got, []float64{2, 2}) {
		t.Errorf("deployment frequency = %v, want [2 2]", got)
	}
	if pd := *r.DeploymentFrequency.Points[0].PerDay; pd-2.0/7 > 1e-9 || 2.0/7-pd > 1e-9 {
		t.Errorf("week 1 per day = %v, want 2/7", pd)
	}
	if tot := r.DeploymentFrequency.Total; val(tot) != 4 || *tot.PerDay-4.0/14 > 1e-9 || 4.0/14-*tot.PerDay > 1e-9 {
		t.Errorf("deployment frequency total = %v (%v a day), want 4 (4/14 a day)", val(tot), *tot.PerDay)
	}

	// Lead time for changes (seconds from merge to the end of the first
	// production deployment of the target branch at or after it):
	//   week 1: M2 02-28 12:00 → D2 03-03 12:00 = 3 days = 259200
	//           M3 03-03 11:00 → D2 03-03 12:00 = 1 h     =   3600
	//           M4 03-03 12:00 → D2 03-03 12:00 =            0
	//           M5 03-04 09:00 → D3 03-05 09:00 = 1 day   =  86400
	//     median of [0 3600 86400 259200] = (3600 + 86400) / 2 = 45000
	//   week 2: M6 03-06 00:00 → D6 03-10 15:00 = 4 d 15 h = 399600
	//           M8 03-11 08:00 → D8 03-12 08:00 (project 8, release) = 86400
	//     median of [86400 399600] = 243000
	//   M1 and M11 went out with D1 (before the range), M7's branch was never
	//   deployed, M9 is not merged, M10 goes out with D9 (after the range).
	//   whole range: [0 3600 86400 86400 259200 399600] → (86400+86400)/2 = 86400
	if got := values(r.LeadTimeForChanges); !eqf(got, []float64{45000, 243000}) {
		t.Errorf("lead time = %v, want [45000 243000]", got)
	}
	if got := counts(r.LeadTimeForChanges); !slices.Equal(got, []int{4, 2}) {
		t.Errorf("lead time counts = %v, want [4 2]", got)
	}
	if got := val(r.LeadTimeForChanges.Total); got != 86400 {
		t.Errorf("lead time total = %v, want 86400", got)
	}

	// Change failure rate = incidents opened / deployments:
	//   week 1: I1 (03-03), I2 (Sunday 03-08 22:00), I6 (03-05, reopened)
	//           = 3 / 2 deployments = 1.5 (I5 is an issue, not an incident)
	//   week 2: I4 (03-11) = 1 / 2 = 0.5 (I3 was opened in February)
	//   whole range: 4 / 4 = 1
	if got := values(r.ChangeFailureRate); !eqf(got, []float64{1.5, 0.5}) {
		t.Errorf("change failure rate = %v, want [1.5 0.5]", got)
	}
	if p := r.ChangeFailureRate.Points[0]; p.Count != 3 || p.Deployments == nil || *p.Deployments != 2 {
		t.Errorf("week 1 failure rate rests on %d incidents and %v deployments, want 3 and 2", p.Count, p.Deployments)
	}
	if got := val(r.ChangeFailureRate.Total); got != 1 {
		t.Errorf("change failure rate total = %v, want 1", got)
	}

	// Time to restore service = median of closed_at - created_at over the
	// incidents closed in the bucket:
	//   week 1: I1 13:00 → 15:00 = 7200 (I6 was reopened: no restore)
	//   week 2: I2 03-08 22:00 → 03-09 02:00 = 14400
	//           I3 02-20 00:00 → 03-10 00:00 = 18 days = 1555200
	//     median = (14400 + 1555200) / 2 = 784800
	//   whole range: [7200 14400 1555200] → 14400
	if got := values(r.TimeToRestoreService); !eqf(got, []float64{7200, 784800}) {
		t.Errorf("time to restore = %v, want [7200 784800]", got)
	}
	if got := val(r.TimeToRestoreService.Total); got != 14400 {
		t.Errorf("time to restore total = %v, want 14400", got)
	}
	if len(r.Missing) != 0 {
		t.Errorf("a report with data says data is missing: %v", r.Missing)
	}
}

// TestExplainListsExactlyTheRowsBehindEachPoint: with explain, every point
// of the weekly report names the GitLab ids it was computed from, no more
// and no fewer; without it no rows are listed.
func TestExplainListsExactlyTheRowsBehindEachPoint(t *testing.T) {
	w := setup(t)
	base := url.Values{"integration_id": {itoa(w.inA)}, "from": {"2026-03-02"}, "to": {"2026-03-15"}, "interval": {"week"}}
	if r := w.report(t, w.orgA, base); r.DeploymentFrequency.Points[0].Rows != nil {
		t.Fatal("rows listed without explain")
	}
	v := url.Values{}
	for k, x := range base {
		v[k] = x
	}
	v.Set("explain", "true")
	r := w.report(t, w.orgA, v)
	depIDs := func(p dora.Point) (out []int64) {
		for _, d := range p.Rows.Deployments {
			out = append(out, d.ID)
		}
		return
	}
	mrIDs := func(p dora.Point) (out []int64) {
		for _, m := range p.Rows.MergeRequests {
			out = append(out, m.ID)
		}
		return
	}
	incIDs := func(p dora.Point) (out []int64) {
		for _, i := range p.Rows.Incidents {
			out = append(out, i.ID)
		}
		return
	}
	cases := []struct {
		name string
		got  []int64
		want []int64
	}{
		{"deployments of week 1", depIDs(r.DeploymentFrequency.Points[0]), []int64{1002, 1003}},
		{"deployments of week 2", depIDs(r.DeploymentFrequency.Points[1]), []int64{1006, 1008}},
		{"merge requests of week 1", mrIDs(r.LeadTimeForChanges.Points[0]), []int64{2002, 2003, 2004, 2005}},
		{"merge requests of week 2", mrIDs(r.LeadTimeForChanges.Points[1]), []int64{2006, 2008}},
		{"incidents opened in week 1", incIDs(r.ChangeFailureRate.Points[0]), []int64{3001, 3006, 3002}},
		{"deployments under week 1's failure rate", depIDs(r.ChangeFailureRate.Points[0]), []int64{1002, 1003}},
		{"incidents opened in week 2", incIDs(r.ChangeFailureRate.Points[1]), []int64{3004}},
		{"incidents restored in week 1", incIDs(r.TimeToRestoreService.Points[0]), []int64{3001}},
		{"incidents restored in week 2", incIDs(r.TimeToRestoreService.Points[1]), []int64{3003, 3002}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !slices.Equal(c.got, c.want) {
				t.Errorf("ids = %v, want %v", c.got, c.want)
			}
		})
	}
	// Each merge request names the deployment that shipped it and its
	// lead time; a deployment stored without a tier shows the guessed one.
	m := r.LeadTimeForChanges.Points[1].Rows.MergeRequests[0]
	if m.DeploymentID != 1006 || m.LeadTimeS != 399600 || m.ProjectPath != "g/app" {
		t.Errorf("M6 = %+v, want deployment 1006, 399600 s, g/app", m)
	}
	if d := r.DeploymentFrequency.Points[1].Rows.Deployments[0]; d.Tier != "production" || d.Environment != "prod-eu" {
		t.Errorf("D6 = %+v, want prod-eu stored without a tier to read production", d)
	}
}

// TestDaysWithoutRowsHaveNoValueExceptACountOfZero: by day over
// 03-03..03-05, the day without a production deployment (03-04) counts 0
// deployments and has no lead time, failure rate or restore time (null),
// where GitLab would divide by 1.
func TestDaysWithoutRowsHaveNoValueExceptACountOfZero(t *testing.T) {
	w := setup(t)
	r := w.report(t, w.orgA, url.Values{"integration_id": {itoa(w.inA)}, "from": {"2026-03-03"}, "to": {"2026-03-05"}, "interval": {"day"}})
	// 03-03: D2; M3, M4 → D2 (M2 too: merged 02-28, first deployed by D2):
	//        leads [0 3600 259200] → median 3600; I1 opened → 1/1; I1 closed → 7200.
	// 03-04: no production deployment (D4 failed, D5 staging): 0, null, null, null.
	// 03-05: D3; M5 → D3 = 86400; I6 opened → 1/1; nothing closed → null.
	checks := []struct {
		name string
		got  []float64
		want []float64
	}{
		{"deployment frequency", values(r.DeploymentFrequency), []float64{1, 0, 1}},
		{"lead time", values(r.LeadTimeForChanges), []float64{3600, -1, 86400}},
		{"change failure rate", values(r.ChangeFailureRate), []float64{1, -1, 1}},
		{"time to restore", values(r.TimeToRestoreService), []float64{7200, -1, -1}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !eqf(c.got, c.want) {
				t.Errorf("%v, want %v (-1 = null)", c.got, c.want)
			}
		})
	}
}

// TestMonthsTakeEveryMergeRequestBeforeABranchsFirstDeployment: by month
// over February and March, D1 (02-27) is main's first deployment, so it
// ships every merge request merged into main before it (M1, and M11,
// merged the second it finished), as GitLab's fallback does; D9 (03-16)
// now falls in the range and ships M10.
func TestMonthsTakeEveryMergeRequestBeforeABranchsFirstDeployment(t *testing.T) {
	w := setup(t)
	r := w.report(t, w.orgA, url.Values{"integration_id": {itoa(w.inA)}, "from": {"2026-02-01"}, "to": {"2026-03-31"}, "interval": {"month"}})
	// February: D1 = 1. March: D2 D3 D6 D8 D9 = 5.
	// Lead, February: M1 02-26 10:00 → D1 02-27 10:00 = 86400,
	//   M11 02-27 10:00 → D1 = 0; median (0 + 86400) / 2 = 43200.
	// Lead, March: M2 259200, M3 3600, M4 0, M5 86400, M6 399600, M8 86400,
	//   M10 03-12 00:00 → D9 03-16 00:00 = 345600;
	//   sorted [0 3600 86400 86400 259200 345600 399600] → the 4th = 86400.
	// Failure rate: February I3 opened / D1 = 1/1; March I1 I2 I6 I4 = 4/5 = 0.8.
	// Restore: February none closed (null); March I1 7200, I2 14400,
	//   I3 1555200 → 14400.
	checks := []struct {
		name string
		got  []float64
		want []float64
	}{
		{"deployment frequency", values(r.DeploymentFrequency), []float64{1, 5}},
		{"lead time", values(r.LeadTimeForChanges), []float64{43200, 86400}},
		{"change failure rate", values(r.ChangeFailureRate), []float64{1, 0.8}},
		{"time to restore", values(r.TimeToRestoreService), []float64{-1, 14400}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !eqf(c.got, c.want) {
				t.Errorf("%v, want %v (-1 = null)", c.got, c.want)
			}
		})
	}
	if got := counts(r.LeadTimeForChanges); !slices.Equal(got, []int{2, 7}) {
		t.Errorf("lead time counts = %v, want [2 7]", got)
	}
}

// TestOneProjectAndAnotherTierSelectTheirOwnRows: project 8 alone has D8
// and M8 and no incident; the staging tier has D5 and D7 (guessed from
// "preprod") and no failure rate or restore time, with a note, as GitLab.
func TestOneProjectAndAnotherTierSelectTheirOwnRows(t *testing.T) {
	w := setup(t)
	weeks := url.Values{"integration_id": {itoa(w.inA)}, "from": {"2026-03-02"}, "to": {"2026-03-15"}}
	p8 := url.Values{"project_id": {"8"}}
	for k, v := range weeks {
		p8[k] = v
	}
	r := w.report(t, w.orgA, p8)
	// Week 1: nothing in project 8: 0 deployments, null lead, null rate
	// (no deployment to divide by). Week 2: D8; M8 86400; 0 incidents / 1.
	if got := values(r.DeploymentFrequency); !eqf(got, []float64{0, 1}) {
		t.Errorf("project 8 deployments = %v, want [0 1]", got)
	}
	if got := values(r.LeadTimeForChanges); !eqf(got, []float64{-1, 86400}) {
		t.Errorf("project 8 lead time = %v, want [null 86400]", got)
	}
	if got := values(r.ChangeFailureRate); !eqf(got, []float64{-1, 0}) {
		t.Errorf("project 8 failure rate = %v, want [null 0]", got)
	}
	if len(r.Missing) != 1 {
		t.Errorf("project 8 has no incidents at all; missing = %v", r.Missing)
	}

	staging := url.Values{"environment_tier": {"staging"}}
	for k, v := range weeks {
		staging[k] = v
	}
	r = w.report(t, w.orgA, staging)
	// Week 1: D5 (staging) = 1; week 2: D7 (preprod → staging) = 1.
	// D5 (03-04 11:00) is main's first staging deployment, so it ships
	// every merge request merged into main before it:
	//   M1  02-26 10:00 → 6 d 1 h  = 522000 (February 2026 has 28 days)
	//   M11 02-27 10:00 → 5 d 1 h  = 435600
	//   M2  02-28 12:00 → 3 d 23 h = 342000
	//   M3  03-03 11:00 → 1 d      =  86400
	//   M4  03-03 12:00 → 23 h     =  82800
	//   M5  03-04 09:00 → 2 h      =   7200
	//   median of [7200 82800 86400 342000 435600 522000]
	//     = (86400 + 342000) / 2 = 214200
	// D7 (03-11 10:00) ships what was merged after D5: M6 (03-06 00:00)
	//   = 5 d 10 h = 468000.
	if got := values(r.DeploymentFrequency); !eqf(got, []float64{1, 1}) {
		t.Errorf("staging deployments = %v, want [1 1]", got)
	}
	if got := values(r.LeadTimeForChanges); !eqf(got, []float64{214200, 468000}) {
		t.Errorf("staging lead time = %v, want [214200 468000]", got)
	}
	if got := values(r.ChangeFailureRate); !eqf(got, []float64{-1, -1}) || r.ChangeFailureRate.Note == "" {
		t.Errorf("staging failure rate = %v (note %q), want nulls and a note", got, r.ChangeFailureRate.Note)
	}
}

// TestAnotherOrganisationsIntegrationIsNotFound: B cannot read A's
// integration (it is not found, naming the field), and B's own report
// holds only B's rows although they share GitLab ids with A's.
func TestAnotherOrganisationsIntegrationIsNotFound(t *testing.T) {
	w := setup(t)
	q, err := dora.ParseQuery(url.Values{"integration_id": {itoa(w.inA)}}, ts("2026-03-20 00:00"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = dora.New(w.st).Report(context.Background(), w.orgB, q)
	var p *problem.Error
	if !errors.As(err, &p) || p.Kind != problem.NotFound || p.Field != "integration_id" {
		t.Fatalf("B asking for A's integration: %v, want not found on integration_id", err)
	}
	r := w.report(t, w.orgB, url.Values{"from": {"2026-03-02"}, "to": {"2026-03-08"}, "interval": {"week"}})
	// B: 2 deployments (03-04, 03-05), 1 incident opened (03-04) → 0.5.
	if got := values(r.DeploymentFrequency); !eqf(got, []float64{2}) {
		t.Errorf("B's deployments = %v, want [2]", got)
	}
	if got := values(r.ChangeFailureRate); !eqf(got, []float64{0.5}) {
		t.Errorf("B's failure rate = %v, want [0.5]", got)
	}
}

// TestAnEmptyReportSaysWhatDataIsMissing: a report without some figures
// says, per case, which data is missing and what exists instead.
func TestAnEmptyReportSaysWhatDataIsMissing(t *testing.T) {
	w := setup(t)
	f := ts("2026-03-04 10:00")
	staging := store.Deployment{ProjectGitLabID: 7, GitLabID: 1, EnvironmentName: "staging", EnvironmentTier: "staging",
		Status: "success", Ref: "main", FinishedAt: &f, UpdatedAt: f}
	production := staging
	production.GitLabID, production.EnvironmentName, production.EnvironmentTier = 2, "production", "production"
	early := ts("2026-01-05 10:00")
	old := production
	old.GitLabID, old.FinishedAt, old.UpdatedAt = 3, &early, early
	incident := store.Issue{ProjectGitLabID: 7, GitLabID: 1, IID: 1, State: "opened", IssueType: "incident", CreatedAt: &f, UpdatedAt: f}
	unshipped := store.MergeRequest{ProjectGitLabID: 7, GitLabID: 1, IID: 1, State: "merged", TargetBranch: "feature", MergedAt: &f, UpdatedAt: f}
	const noIncidents = "No incidents have been synced for this integration: change failure rate and time to restore service count issues of type incident (or, before GitLab 13.0, issues labelled incident)."
	cases := []struct {
		name        string
		deployments []store.Deployment
		mrs         []store.MergeRequest
		issues      []store.Issue
		want        []string
	}{
		{"nothing at all", nil, nil, nil, []string{
			"No successful deployments have been synced for this integration. GitLab records a deployment when a CI/CD job with an environment runs; check that the deployments service is on and that a sync has run.",
			noIncidents}},
		{"staging deployments only", []store.Deployment{staging}, nil, nil, []string{
			"No deployments to a production-tier environment yet (1 to staging). Set environment:deployment_tier in .gitlab-ci.yml, or name the environment so that GitLab's rules give it this tier.",
			noIncidents}},
		{"production deployments before the range", []store.Deployment{old}, nil, []store.Issue{incident}, []string{
			"No successful deployments to a production-tier environment finished in this range (1 at other times)."}},
		{"no merge request merged", []store.Deployment{production}, nil, []store.Issue{incident}, []string{
			"No merged merge requests have been synced for this integration, so there is no lead time for changes."}},
		{"no merge request into a deployed branch", []store.Deployment{production}, []store.MergeRequest{unshipped}, []store.Issue{incident}, []string{
			"No merged merge request was deployed in this range: lead time counts a merge request when a deployment of its target branch finishes after its merge."}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := w.integration(t, w.orgA, fmt.Sprint("c", i))
			if c.deployments != nil {
				w.deployments(t, w.orgA, in, c.deployments)
			}
			if c.mrs != nil {
				w.mergeRequests(t, w.orgA, in, c.mrs)
			}
			if c.issues != nil {
				w.issues(t, w.orgA, in, c.issues)
			}
			r := w.report(t, w.orgA, url.Values{"integration_id": {itoa(in)}, "from": {"2026-03-02"}, "to": {"2026-03-08"}})
			if !slices.Equal(r.Missing, c.want) {
				t.Errorf("missing = %q\nwant %q", r.Missing, c.want)
			}
		})
	}
}

// TestTheStoresTierRulesAreGuessTiers: deployments stored without a tier
// are selected per tier by the SQL form of GitLab's name rules, which
// must agree with dora.GuessTier (the normaliser's rules) for every name.
func TestTheStoresTierRulesAreGuessTiers(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	in := w.integration(t, w.orgA, "tiers")
	names := []string{"production", "PROD-eu", "live", "prd", "staging", "Stg", "preprod", "model", "demo", "non-prod", "review/x",
		"dev-live", "trunk", "QA", "integration", "acceptance", "acpt", "quality", "control", "tst", "test", "customer-portal", "x"}
	f := ts("2026-03-04 10:00")
	var ds []store.Deployment
	for i, n := range names {
		ds = append(ds, store.Deployment{ProjectGitLabID: 7, GitLabID: int64(i + 1), EnvironmentName: n, Status: "success", Ref: "main",
			FinishedAt: &f, UpdatedAt: f})
	}
	w.deployments(t, w.orgA, in, ds)
	for _, tier := range dora.Tiers() {
		got, err := w.st.DoraDeployments(ctx, w.orgA, store.DoraQuery{IntegrationID: in, Tier: tier, From: ts("2026-03-01 00:00"), To: ts("2026-03-05 00:00")})
		if err != nil {
			t.Fatal(err)
		}
		var gotNames, want []string
		for _, d := range got {
			gotNames = append(gotNames, d.EnvironmentName)
		}
		for _, n := range names {
			if dora.GuessTier(n) == tier {
				want = append(want, n)
			}
		}
		slices.Sort(gotNames)
		slices.Sort(want)
		if !slices.Equal(gotNames, want) {
			t.Errorf("tier %s: the store selects %v, GuessTier %v", tier, gotNames, want)
		}
	}
}
