package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// reviewFixture is an organisation with one integration whose project 7
// (g/p) is discovered.
type reviewFixture struct {
	st    *store.Store
	org   int64
	integ int64
}

func newReviewFixture(t *testing.T) reviewFixture {
	t.Helper()
	ctx := context.Background()
	st, org, integ := newOrgIntegration(t)
	if err := st.UpsertDiscoveredProjects(ctx, org, integ, []store.Project{{GitLabID: 7, NamespacePath: "g", Name: "p",
		PathWithNamespace: "g/p", WebURL: "https://gitlab.test/g/p", Visibility: "private"}}); err != nil {
		t.Fatal(err)
	}
	return reviewFixture{st: st, org: org, integ: integ}
}

// feed returns the change-feed entries of entity, oldest first.
func (f reviewFixture) feed(t *testing.T, entity string) []store.FeedEntry {
	t.Helper()
	all, err := f.st.Feed(context.Background(), f.org, f.integ, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.FeedEntry
	for _, e := range all {
		if e.Entity == entity {
			out = append(out, e)
		}
	}
	return out
}

func changed(t *testing.T, want int) func(store.UpsertResult, error) {
	t.Helper()
	return func(r store.UpsertResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if r.Changed != want {
			t.Fatalf("changed %d rows, want %d", r.Changed, want)
		}
	}
}

func at(min int) *time.Time {
	x := time.Date(2026, 11, 2, 9, min, 0, 0, time.UTC)
	return &x
}

func i64(v int64) *int64 { return &v }

func TestNotesAreStoredOnceAndOlderStatesNeverWin(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	n := store.Note{ProjectGitLabID: 7, GitLabID: 501, NoteableType: "MergeRequest", NoteableIID: i64(3), DiscussionID: "d1",
		AuthorGitLabID: i64(42), Author: "ana", Body: "looks good", Resolvable: true, CreatedAt: at(0), UpdatedAt: *at(0),
		Raw: json.RawMessage(`{"id":501}`)}
	changed(t, 1)(f.st.UpsertNotes(ctx, nil, f.org, f.integ, store.SourceSync, []store.Note{n}))
	changed(t, 0)(f.st.UpsertNotes(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Note{n}))
	resolved := n
	resolved.Resolved, resolved.ResolvedBy, resolved.ResolvedAt, resolved.UpdatedAt = true, "bo", at(5), *at(5)
	changed(t, 1)(f.st.UpsertNotes(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Note{resolved}))
	changed(t, 0)(f.st.UpsertNotes(ctx, nil, f.org, f.integ, store.SourcePoll, []store.Note{n}))

	got, err := f.st.Notes(ctx, f.org, store.DataQuery{ProjectPath: "G/P", MergeRequestIID: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Resolved || got[0].ResolvedBy != "bo" || got[0].ProjectPath != "g/p" || *got[0].NoteableIID != 3 {
		t.Fatalf("notes = %+v", got)
	}
	if other, _ := f.st.Notes(ctx, f.org, store.DataQuery{MergeRequestIID: 4}); len(other) != 0 {
		t.Fatalf("merge request 4 has notes: %+v", other)
	}
	fe := f.feed(t, store.EntityNote)
	if len(fe) != 2 || fe[0].Action != store.ActionCreated || fe[1].Action != store.ActionUpdated || fe[1].GitLabID != "501" {
		t.Fatalf("feed = %+v", fe)
	}
}

func TestAnApprovalIsOneRowWhateverSourceSawItAndAnUnapprovalDeletesIt(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	fromAPI := store.Approval{ProjectGitLabID: 7, MergeRequestIID: 3, UserGitLabID: 42, Username: "ana", Source: store.ApprovalFromAPI}
	changed(t, 1)(f.st.UpsertApprovals(ctx, nil, f.org, f.integ, store.SourceSync, []store.Approval{fromAPI}))
	changed(t, 0)(f.st.UpsertApprovals(ctx, nil, f.org, f.integ, store.SourceSync, []store.Approval{fromAPI}))
	fromEvent := fromAPI
	fromEvent.ApprovedAt, fromEvent.Source = at(7), store.ApprovalFromEvent
	changed(t, 1)(f.st.UpsertApprovals(ctx, nil, f.org, f.integ, store.SourceSync, []store.Approval{fromEvent}))
	// The approvals endpoint again, without a time: the time stays.
	changed(t, 0)(f.st.UpsertApprovals(ctx, nil, f.org, f.integ, store.SourcePoll, []store.Approval{fromAPI}))
	got, err := f.st.Approvals(ctx, f.org, store.DataQuery{MergeRequestIID: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ApprovedAt == nil || !got[0].ApprovedAt.Equal(*at(7)) || got[0].Source != store.ApprovalFromEvent {
		t.Fatalf("approvals = %+v", got)
	}

	bo := store.Approval{ProjectGitLabID: 7, MergeRequestIID: 3, UserGitLabID: 43, Username: "bo", Source: store.ApprovalFromAPI}
	// ana's approval goes, bo's comes.
	changed(t, 2)(f.st.ReplaceMergeRequestApprovals(ctx, nil, f.org, f.integ, store.SourcePoll, 7, 3, []store.Approval{bo}))
	got, _ = f.st.Approvals(ctx, f.org, store.DataQuery{})
	if len(got) != 1 || got[0].Username != "bo" {
		t.Fatalf("after replace: %+v", got)
	}
	changed(t, 1)(f.st.RemoveApproval(ctx, nil, f.org, f.integ, store.SourceWebhook, 7, 3, 43))
	changed(t, 0)(f.st.RemoveApproval(ctx, nil, f.org, f.integ, store.SourceWebhook, 7, 3, 43))
	if got, _ = f.st.Approvals(ctx, f.org, store.DataQuery{}); len(got) != 0 {
		t.Fatalf("after unapproval: %+v", got)
	}
	var actions []string
	for _, e := range f.feed(t, store.EntityApproval) {
		actions = append(actions, e.Action+" "+e.GitLabID)
	}
	want := []string{"created 3:42", "updated 3:42", "deleted 3:42", "created 3:43", "deleted 3:43"}
	if len(actions) != len(want) {
		t.Fatalf("feed = %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("feed = %v, want %v", actions, want)
		}
	}
}

func TestAJobKeepsItsRetriedFlagAndItsLatestState(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	running := store.Job{ProjectGitLabID: 7, GitLabID: 900, PipelineGitLabID: i64(80), Name: "test", Stage: "test", Status: "running",
		Ref: "main", SHA: "ABCDEF0123456789abcdef0123456789abcdef01", CreatedAt: at(0), StartedAt: at(1)}
	changed(t, 1)(f.st.UpsertJobs(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Job{running}))
	done := running
	d := 61.5
	done.Status, done.FinishedAt, done.DurationS, done.Retried = "failed", at(3), &d, true
	changed(t, 1)(f.st.UpsertJobs(ctx, nil, f.org, f.integ, store.SourceSync, []store.Job{done}))
	changed(t, 0)(f.st.UpsertJobs(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Job{running}))
	// A webhook for the same final state does not say retried.
	hook := done
	hook.Retried = false
	hook.RunnerDescription = "shared-1"
	changed(t, 1)(f.st.UpsertJobs(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Job{hook}))
	got, err := f.st.Jobs(ctx, f.org, store.DataQuery{PipelineGitLabID: 80, State: "failed"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Retried || got[0].DurationS == nil || *got[0].DurationS != 61.5 || !got[0].UpdatedAt.Equal(*at(3)) ||
		got[0].RunnerDescription != "shared-1" {
		t.Fatalf("jobs = %+v", got)
	}
}

func TestDeploymentsAndEnvironmentsListByTier(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	changed(t, 2)(f.st.UpsertEnvironments(ctx, nil, f.org, f.integ, store.SourceSync, []store.Environment{
		{ProjectGitLabID: 7, GitLabID: 1, Name: "production", Tier: store.TierProduction, State: "available", UpdatedAt: *at(0)},
		{ProjectGitLabID: 7, GitLabID: 2, Name: "review/x", Tier: store.TierDevelopment, State: "available", UpdatedAt: *at(0)}}))
	dep := store.Deployment{ProjectGitLabID: 7, GitLabID: 70, IID: i64(4), EnvironmentName: "production", EnvironmentTier: store.TierProduction,
		Status: "running", Ref: "main", SHA: "abc", CreatedAt: at(1), UpdatedAt: *at(1)}
	changed(t, 1)(f.st.UpsertDeployments(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Deployment{dep}))
	dep.Status, dep.FinishedAt, dep.UpdatedAt = "success", at(4), *at(4)
	changed(t, 1)(f.st.UpsertDeployments(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Deployment{dep}))
	envs, err := f.st.Environments(ctx, f.org, store.DataQuery{Tier: store.TierProduction})
	if err != nil || len(envs) != 1 || envs[0].Name != "production" {
		t.Fatalf("environments = %+v, %v", envs, err)
	}
	ds, err := f.st.Deployments(ctx, f.org, store.DataQuery{Tier: store.TierProduction, State: "success"})
	if err != nil || len(ds) != 1 || ds[0].FinishedAt == nil || !ds[0].FinishedAt.Equal(*at(4)) {
		t.Fatalf("deployments = %+v, %v", ds, err)
	}
	if ds, _ := f.st.Deployments(ctx, f.org, store.DataQuery{Tier: store.TierStaging}); len(ds) != 0 {
		t.Fatalf("staging deployments = %+v", ds)
	}
}

func TestReleasesAndTagsAreKeyedByNameAndDeletable(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	rel := store.Release{ProjectGitLabID: 7, TagName: "v1.0", Name: "One", CommitSHA: "abc", CreatedAt: at(0), ReleasedAt: at(0)}
	changed(t, 1)(f.st.UpsertReleases(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Release{rel}))
	changed(t, 0)(f.st.UpsertReleases(ctx, nil, f.org, f.integ, store.SourceSync, []store.Release{rel}))
	rel.Description = "notes"
	changed(t, 1)(f.st.UpsertReleases(ctx, nil, f.org, f.integ, store.SourceSync, []store.Release{rel}))

	pushed := store.Tag{ProjectGitLabID: 7, Name: "v1.0", TargetSHA: "ABC", CreatedAt: at(0)}
	changed(t, 1)(f.st.UpsertTags(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Tag{pushed}))
	prot := true
	listed := store.Tag{ProjectGitLabID: 7, Name: "v1.0", TargetSHA: "abc", Protected: &prot, UpdatedAt: *at(30)}
	changed(t, 1)(f.st.UpsertTags(ctx, nil, f.org, f.integ, store.SourceSync, []store.Tag{listed}))
	changed(t, 0)(f.st.UpsertTags(ctx, nil, f.org, f.integ, store.SourceSync, []store.Tag{listed}))
	tags, err := f.st.Tags(ctx, f.org, store.DataQuery{})
	if err != nil || len(tags) != 1 || tags[0].CreatedAt == nil || !tags[0].CreatedAt.Equal(*at(0)) || tags[0].Protected == nil || !*tags[0].Protected {
		t.Fatalf("tags = %+v, %v", tags, err)
	}
	changed(t, 1)(f.st.DeleteTag(ctx, nil, f.org, f.integ, store.SourceWebhook, 7, "v1.0"))
	changed(t, 1)(f.st.DeleteRelease(ctx, nil, f.org, f.integ, store.SourceWebhook, 7, "v1.0"))
	if tags, _ := f.st.Tags(ctx, f.org, store.DataQuery{}); len(tags) != 0 {
		t.Fatalf("tags after delete = %+v", tags)
	}
	if rs, _ := f.st.Releases(ctx, f.org, store.DataQuery{}); len(rs) != 0 {
		t.Fatalf("releases after delete = %+v", rs)
	}
	fe := f.feed(t, store.EntityTag)
	if len(fe) != 3 || fe[2].Action != store.ActionDeleted || fe[2].GitLabID != "v1.0" {
		t.Fatalf("tag feed = %+v", fe)
	}
}

func TestMergeRequestCommitsAreStoredOncePerMergeRequest(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	cs := []store.MergeRequestCommit{{ProjectGitLabID: 7, MergeRequestIID: 3, SHA: "AAA", Position: 0},
		{ProjectGitLabID: 7, MergeRequestIID: 3, SHA: "bbb", Position: 1}, {ProjectGitLabID: 7, MergeRequestIID: 4, SHA: "aaa"}}
	changed(t, 3)(f.st.UpsertMergeRequestCommits(ctx, nil, f.org, f.integ, store.SourceSync, cs))
	changed(t, 0)(f.st.UpsertMergeRequestCommits(ctx, nil, f.org, f.integ, store.SourceSync, cs))
	cs[0].Position, cs[1].Position = 1, 2
	changed(t, 2)(f.st.UpsertMergeRequestCommits(ctx, nil, f.org, f.integ, store.SourceSync, cs[:2]))
	c, err := f.st.CountData(ctx, f.org, f.integ)
	if err != nil || c.MergeRequestCommits != 3 {
		t.Fatalf("counts = %+v, %v", c, err)
	}
}

func TestPeopleWidenWhenSeenAndChangeOnlyWhenTheirNamesDo(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	changed(t, 2)(f.st.UpsertPeople(ctx, nil, f.org, f.integ, store.SourceSync, []store.Person{
		{GitLabID: 42, Username: "ana", Name: "Ana", SeenAt: *at(10)},
		{GitLabID: 42, Username: "ana", SeenAt: *at(2)},
		{GitLabID: 99, Username: "project_7_bot_0a1b", Bot: true, SeenAt: *at(3)}}))
	// Seen again later, with no name in that payload: no change to report.
	changed(t, 0)(f.st.UpsertPeople(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Person{{GitLabID: 42, Username: "ana", SeenAt: *at(20)}}))
	changed(t, 1)(f.st.UpsertPeople(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Person{{GitLabID: 42, Username: "ana.b", SeenAt: *at(1)}}))
	ps, err := f.st.People(ctx, f.org, store.DataQuery{IntegrationID: f.integ})
	if err != nil || len(ps) != 2 {
		t.Fatalf("people = %+v, %v", ps, err)
	}
	ana, bot := ps[0], ps[1]
	if ana.Username != "ana.b" || ana.Name != "Ana" || !ana.FirstSeenAt.Equal(*at(1)) || !ana.LastSeenAt.Equal(*at(20)) || ana.Bot {
		t.Fatalf("ana = %+v", ana)
	}
	if !bot.Bot {
		t.Fatalf("bot = %+v", bot)
	}
	for _, e := range f.feed(t, store.EntityPerson) {
		if e.ProjectID != nil {
			t.Fatalf("a person's feed entry names a project: %+v", e)
		}
	}
}

func TestIssueTypeIsStoredAndDefaultsToIssue(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	changed(t, 2)(f.st.UpsertIssues(ctx, nil, f.org, f.integ, store.SourceSync, []store.Issue{
		{ProjectGitLabID: 7, GitLabID: 1, IID: 1, Title: "outage", State: "opened", IssueType: "incident", UpdatedAt: *at(0)},
		{ProjectGitLabID: 7, GitLabID: 2, IID: 2, Title: "bug", State: "opened", UpdatedAt: *at(0)}}))
	is, err := f.st.Issues(ctx, f.org, store.DataQuery{})
	if err != nil || len(is) != 2 || is[0].IssueType != "incident" || is[1].IssueType != "issue" {
		t.Fatalf("issues = %+v, %v", is, err)
	}
}

func TestServicesSavedBeforeIssue20ReadTheNewServicesAsOn(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	// What a selection saved before the new keys existed looks like.
	if _, err := f.st.DB().ExecContext(ctx, `INSERT INTO sync_selections (integration_id, org_id, services, updated_at) VALUES ($1, $2, $3, $4)`,
		f.integ, f.org, `{"merge_requests":true,"issues":false,"pipelines":true,"pushes":true,"repository":false}`, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	sel, err := f.st.SelectionFor(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	sv := sel.Services
	if !sv.Reviews || !sv.Jobs || !sv.Deployments || !sv.Releases || sv.Issues || !sv.MergeRequests || sv.Repository {
		t.Fatalf("services = %+v", sv)
	}
	sv.Jobs = false
	sel.Services = sv
	if err := f.st.SaveSelection(ctx, f.org, f.integ, sel); err != nil {
		t.Fatal(err)
	}
	sel, _ = f.st.SelectionFor(ctx, f.org, f.integ)
	if sel.Services.Jobs || !sel.Services.Reviews {
		t.Fatalf("after switching jobs off: %+v", sel.Services)
	}
}

func TestNewDataStaysInsideItsOrganization(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	changed(t, 1)(f.st.UpsertJobs(ctx, nil, f.org, f.integ, store.SourceSync, []store.Job{{ProjectGitLabID: 7, GitLabID: 1, CreatedAt: at(0)}}))
	u, err := f.st.CreateUser(ctx, "b@localhost", "B", "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.st.CreateOrganization(ctx, "B", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Another organisation naming this integration stores nothing.
	r, err := f.st.UpsertJobs(ctx, nil, other.ID, f.integ, store.SourceSync, []store.Job{{ProjectGitLabID: 7, GitLabID: 2, CreatedAt: at(0)}})
	if err != nil || r.Changed != 0 || r.SkippedUnknownProject != 1 {
		t.Fatalf("foreign upsert: %+v, %v", r, err)
	}
	if js, _ := f.st.Jobs(ctx, other.ID, store.DataQuery{}); len(js) != 0 {
		t.Fatalf("another organisation sees jobs: %+v", js)
	}
}

func TestWhatAPayloadLacksKeepsWhatAnAPIPageStored(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	fromAPI := store.Note{ProjectGitLabID: 7, GitLabID: 501, NoteableType: "MergeRequest", NoteableIID: i64(3), DiscussionID: "d1",
		AuthorGitLabID: i64(42), Author: "ana", Body: "x", Resolvable: true, Resolved: true, ResolvedBy: "bo", ResolvedAt: at(5),
		CreatedAt: at(0), UpdatedAt: *at(5)}
	fromHook := fromAPI
	fromHook.Author, fromHook.ResolvedBy, fromHook.DiscussionID = "", "", "d1"
	changed(t, 1)(f.st.UpsertNotes(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Note{fromHook}))
	// The API page fills the author and resolver the payload lacked.
	changed(t, 1)(f.st.UpsertNotes(ctx, nil, f.org, f.integ, store.SourceSync, []store.Note{fromAPI}))
	// The same payload again changes nothing and empties nothing.
	changed(t, 0)(f.st.UpsertNotes(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Note{fromHook}))
	ns, _ := f.st.Notes(ctx, f.org, store.DataQuery{})
	if len(ns) != 1 || ns[0].Author != "ana" || ns[0].ResolvedBy != "bo" {
		t.Fatalf("notes = %+v", ns)
	}

	dep := store.Deployment{ProjectGitLabID: 7, GitLabID: 70, IID: i64(4), EnvironmentGitLabID: i64(1), EnvironmentName: "production",
		EnvironmentTier: "production", Status: "success", SHA: "abc", CreatedAt: at(1), FinishedAt: at(4), UpdatedAt: *at(4)}
	changed(t, 1)(f.st.UpsertDeployments(ctx, nil, f.org, f.integ, store.SourceSync, []store.Deployment{dep}))
	hook := dep
	hook.IID, hook.EnvironmentGitLabID, hook.CreatedAt = nil, nil, nil
	changed(t, 0)(f.st.UpsertDeployments(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Deployment{hook}))
	ds, _ := f.st.Deployments(ctx, f.org, store.DataQuery{})
	if len(ds) != 1 || ds[0].IID == nil || ds[0].CreatedAt == nil || ds[0].EnvironmentGitLabID == nil {
		t.Fatalf("deployments = %+v", ds)
	}

	rel := store.Release{ProjectGitLabID: 7, TagName: "v1", Author: "ana", CreatedAt: at(2), ReleasedAt: at(2)}
	changed(t, 1)(f.st.UpsertReleases(ctx, nil, f.org, f.integ, store.SourceSync, []store.Release{rel}))
	rel.Author = ""
	changed(t, 0)(f.st.UpsertReleases(ctx, nil, f.org, f.integ, store.SourceWebhook, []store.Release{rel}))
	if rs, _ := f.st.Releases(ctx, f.org, store.DataQuery{}); len(rs) != 1 || rs[0].Author != "ana" {
		t.Fatalf("releases = %+v", rs)
	}
}

func TestTheDataFingerprintCoversTheNewResources(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	fp := func() string {
		t.Helper()
		s, err := f.st.DataFingerprint(ctx, f.org, f.integ)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	empty := fp()
	job := store.Job{ProjectGitLabID: 7, GitLabID: 1, Status: "running", CreatedAt: at(0)}
	changed(t, 1)(f.st.UpsertJobs(ctx, nil, f.org, f.integ, store.SourceSync, []store.Job{job}))
	withJob := fp()
	if withJob == empty {
		t.Fatal("a job did not change the fingerprint")
	}
	changed(t, 0)(f.st.UpsertJobs(ctx, nil, f.org, f.integ, store.SourceSync, []store.Job{job}))
	if fp() != withJob {
		t.Fatal("an unchanged job changed the fingerprint")
	}
	changed(t, 1)(f.st.UpsertTags(ctx, nil, f.org, f.integ, store.SourceSync, []store.Tag{{ProjectGitLabID: 7, Name: "v1", TargetSHA: "abc"}}))
	if fp() == withJob {
		t.Fatal("a tag did not change the fingerprint")
	}
}
