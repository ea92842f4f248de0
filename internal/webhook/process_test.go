package webhook

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
)

func (r *rig) discover(t *testing.T, selected bool, ids ...int64) {
	t.Helper()
	var ps []store.Project
	for _, id := range ids {
		ps = append(ps, store.Project{GitLabID: id, PathWithNamespace: "g/p" + strings.Repeat("x", int(id%3)) + string(rune('a'+id%26)), Name: "p", ObjectFormat: "sha1"})
	}
	if err := r.st.UpsertDiscoveredProjects(context.Background(), r.org, r.integ, ps); err != nil {
		t.Fatal(err)
	}
	if selected {
		var rows []int64
		for _, id := range ids {
			pr, err := r.st.ProjectByGitLabID(context.Background(), r.org, r.integ, id)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, pr.ID)
		}
		if err := r.st.SetSelectedProjects(context.Background(), r.org, r.integ, rows); err != nil {
			t.Fatal(err)
		}
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "gitlab", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *rig) status(t *testing.T) map[string]int64 {
	t.Helper()
	c, err := r.st.InboxCounts(context.Background(), r.org, r.integ)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGitLabPayloadsAreNormalised posts GitLab's documented example
// payloads with real headers and checks each lands in its table.
func TestGitLabPayloadsAreNormalised(t *testing.T) {
	r := newRig(t, false)
	r.discover(t, true, 1, 15)
	p := NewProcessor(r.st, nil)
	ctx := context.Background()
	cases := []struct{ file, event string }{
		{"merge_request.json", "Merge Request Hook"},
		{"issue.json", "Issue Hook"},
		{"pipeline.json", "Pipeline Hook"},
		{"push.json", "Push Hook"},
		{"tag_push.json", "Tag Push Hook"},
		{"note_issue.json", "Note Hook"},
		{"job.json", "Job Hook"},
		{"note_merge_request.json", "Note Hook"},
		{"deployment.json", "Deployment Hook"},
		{"release.json", "Release Hook"},
	}
	for i, c := range cases {
		code, body := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", c.event, "X-Gitlab-Event-UUID", "uuid-"+string(rune('a'+i))), fixture(t, c.file))
		if code != 200 {
			t.Fatalf("%s: %d %s", c.file, code, body)
		}
	}
	for {
		n, err := p.ProcessOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	counts, err := r.st.CountData(ctx, r.org, r.integ)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("counts %+v, inbox %v", counts, r.status(t))
	mrs, _ := r.st.MergeRequests(ctx, r.org, store.DataQuery{})
	if len(mrs) != 1 || mrs[0].GitLabID != 99 || mrs[0].IID != 1 || mrs[0].SourceBranch == "" || mrs[0].State == "" {
		t.Fatalf("merge requests: %+v", mrs)
	}
	issues, _ := r.st.Issues(ctx, r.org, store.DataQuery{})
	if len(issues) != 1 || issues[0].GitLabID != 301 {
		t.Fatalf("issues: %+v", issues)
	}
	pls, _ := r.st.Pipelines(ctx, r.org, store.DataQuery{})
	if len(pls) != 1 || pls[0].GitLabID != 31 || pls[0].Status == "" || pls[0].SHA == "" {
		t.Fatalf("pipelines: %+v", pls)
	}
	pushes, _ := r.st.Pushes(ctx, r.org, store.DataQuery{})
	if len(pushes) != 2 {
		t.Fatalf("pushes (branch and tag): %+v", pushes)
	}
	notes, _ := r.st.Notes(ctx, r.org, store.DataQuery{})
	if len(notes) != 1 || notes[0].GitLabID != 1244 || notes[0].NoteableIID == nil || *notes[0].NoteableIID != 1 || notes[0].Author != "root" {
		t.Fatalf("notes: %+v", notes)
	}
	jobs, _ := r.st.Jobs(ctx, r.org, store.DataQuery{})
	if len(jobs) != 1 || jobs[0].GitLabID != 3580121225 || jobs[0].Status != "success" || jobs[0].RunnerGitLabID == nil {
		t.Fatalf("jobs: %+v", jobs)
	}
	deps, _ := r.st.Deployments(ctx, r.org, store.DataQuery{})
	if len(deps) != 1 || deps[0].GitLabID != 15 || deps[0].EnvironmentTier != store.TierStaging || deps[0].FinishedAt == nil ||
		deps[0].SHA != "279484c09fbe69ededfced8c1bb6e6d24616b468" {
		t.Fatalf("deployments: %+v", deps)
	}
	rels, _ := r.st.Releases(ctx, r.org, store.DataQuery{})
	if len(rels) != 1 || rels[0].TagName != "1.0.0" || rels[0].CommitSHA == "" {
		t.Fatalf("releases: %+v", rels)
	}
	tags, _ := r.st.Tags(ctx, r.org, store.DataQuery{})
	if len(tags) != 1 || tags[0].TargetSHA == "" {
		t.Fatalf("tags: %+v", tags)
	}
	people, _ := r.st.People(ctx, r.org, store.DataQuery{})
	if len(people) < 3 {
		t.Fatalf("people: %+v", people)
	}
	st := r.status(t)
	// The note on an issue is of project 5, which labsync does not know.
	if st["processed"] != 9 || st["ignored"] != 1 || st["pending"] != 0 || st["failed"] != 0 {
		t.Fatalf("inbox outcome %v", st)
	}

	// Processing is idempotent: the same payloads again change nothing.
	feed, _ := r.st.Feed(ctx, r.org, 0, 0, 1000)
	for i, c := range cases {
		r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", c.event, "X-Gitlab-Event-UUID", "again-"+string(rune('a'+i))), fixture(t, c.file))
	}
	for {
		if n, _ := p.ProcessOnce(ctx); n == 0 {
			break
		}
	}
	feed2, _ := r.st.Feed(ctx, r.org, 0, 0, 1000)
	if len(feed2) != len(feed) {
		t.Fatalf("replayed payloads added %d feed entries: %+v", len(feed2)-len(feed), feed2[len(feed):])
	}
}

func TestUnselectedAndUnknownProjectsAreIgnored(t *testing.T) {
	r := newRig(t, false)
	r.discover(t, false, 1)
	r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", "Issue Hook"), fixture(t, "issue.json"))                          // project 1: not selected
	r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", "Push Hook"), fixture(t, "push.json"))                            // project 15: unknown
	r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", "Merge Request Hook"), []byte(`{"object_kind":"merge_request"}`)) // no ids
	p := NewProcessor(r.st, nil)
	if _, err := p.ProcessOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := r.status(t)
	if st["ignored"] != 2 || st["failed"] != 1 {
		t.Fatalf("inbox outcome %v", st)
	}
	counts, _ := r.st.CountData(context.Background(), r.org, r.integ)
	if counts != (store.DataCounts{}) {
		t.Fatalf("data stored for unselected projects: %+v", counts)
	}
}

func TestOlderPayloadDoesNotOverwriteNewer(t *testing.T) {
	r := newRig(t, false)
	r.discover(t, true, 1)
	newer := strings.ReplaceAll(string(fixture(t, "merge_request.json")), "2013-12-03T17:23:34Z", "2014-01-01T00:00:00Z")
	newer = strings.Replace(newer, `"title": "MS-Viewport"`, `"title": "Newer title"`, 1)
	r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event-UUID", "n"), []byte(newer))
	r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event-UUID", "o"), fixture(t, "merge_request.json"))
	p := NewProcessor(r.st, nil)
	if _, err := p.ProcessOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	mrs, _ := r.st.MergeRequests(context.Background(), r.org, store.DataQuery{})
	if len(mrs) != 1 || mrs[0].Title != "Newer title" {
		t.Fatalf("older payload won: %+v", mrs)
	}
}

func TestTwoProcessorsDrainOnceInOrder(t *testing.T) {
	r := newRig(t, false)
	r.discover(t, true, 1)
	base := string(fixture(t, "merge_request.json"))
	const n = 60
	for i := range n {
		// The same merge request updated n times: the last update must win.
		body := strings.ReplaceAll(base, "2013-12-03T17:23:34Z", time.Date(2020, 1, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339))
		body = strings.Replace(body, `"title": "MS-Viewport"`, fmt.Sprintf(`"title": "rev %d"`, i), 1)
		if code, _ := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event-UUID", fmt.Sprint(i)), []byte(body)); code != 200 {
			t.Fatal("refused")
		}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 2 {
		p := NewProcessor(r.st, nil)
		p.batch = 7
		wg.Go(func() {
			for range 1000 {
				if _, err := p.ProcessOnce(ctx); err != nil {
					t.Error(err)
					return
				}
				if r.status(t)["pending"] == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if st := r.status(t); st["processed"] != n {
		t.Fatalf("inbox %v", st)
	}
	mrs, _ := r.st.MergeRequests(ctx, r.org, store.DataQuery{})
	if len(mrs) != 1 || mrs[0].Title != fmt.Sprintf("rev %d", n-1) {
		t.Fatalf("final state %+v", mrs)
	}
	feed, _ := r.st.Feed(ctx, r.org, 0, 0, 1000)
	if len(feed) != n {
		t.Fatalf("%d feed entries for %d changes", len(feed), n)
	}
}

// A delivery whose stored body no longer decodes is recorded as failed,
// with why, and does not hold up the deliveries around it.
func TestAnUnreadableStoredBodyFailsOnlyItsDelivery(t *testing.T) {
	r := newRig(t, false)
	r.discover(t, true, 1)
	if code, _ := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", "Merge Request Hook"), fixture(t, "merge_request.json")); code != 200 {
		t.Fatalf("post: %d", code)
	}
	if _, err := r.st.DB().Exec(`UPDATE webhook_inbox SET body = $1, body_codec = 's2'`, []byte("\xffdamaged")); err != nil {
		t.Fatal(err)
	}
	if code, _ := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", "Issue Hook"), fixture(t, "issue.json")); code != 200 {
		t.Fatalf("post: %d", code)
	}
	if _, err := NewProcessor(r.st, nil).ProcessOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var why string
	if err := r.st.DB().QueryRow(`SELECT error FROM webhook_inbox WHERE status = 'failed'`).Scan(&why); err != nil || !strings.Contains(why, "corrupt") {
		t.Fatalf("damaged delivery: %q %v", why, err)
	}
	if st := r.status(t); st["processed"] != 1 || st["failed"] != 1 {
		t.Fatalf("inbox outcome %v", st)
	}
}

// A delivery for a service the integration has switched off is answered
// 2xx and kept in the inbox, marked ignored with the reason, and stores no
// merge request, issue, pipeline or push. The toggle is read when the
// delivery is processed, so a service switched off after the delivery
// arrived is honoured too.
func TestDeliveriesForASwitchedOffServiceAreKeptButIgnored(t *testing.T) {
	cases := []struct {
		name, event, file string
		off               store.Services // every service on except the one under test
		reason            string
	}{
		{"merge request while merge requests are off", "Merge Request Hook", "merge_request.json",
			store.Services{Issues: true, Pipelines: true, Pushes: true}, "the merge requests service is switched off for this integration"},
		{"issue while issues are off", "Issue Hook", "issue.json",
			store.Services{MergeRequests: true, Pipelines: true, Pushes: true}, "the issues service is switched off for this integration"},
		{"confidential issue while issues are off", "Confidential Issue Hook", "issue.json",
			store.Services{MergeRequests: true, Pipelines: true, Pushes: true}, "the issues service is switched off for this integration"},
		{"pipeline while pipelines are off", "Pipeline Hook", "pipeline.json",
			store.Services{MergeRequests: true, Issues: true, Pushes: true}, "the pipelines service is switched off for this integration"},
		{"push while pushes are off", "Push Hook", "push.json",
			store.Services{MergeRequests: true, Issues: true, Pipelines: true}, "the pushes service is switched off for this integration"},
		{"tag push while pushes and releases are off", "Tag Push Hook", "tag_push.json",
			store.Services{MergeRequests: true, Issues: true, Pipelines: true, Reviews: true, Jobs: true, Deployments: true},
			"the pushes and releases services are switched off for this integration"},
		{"note while reviews are off", "Note Hook", "note_merge_request.json",
			allBut(func(s *store.Services) { s.Reviews = false }), "the reviews service is switched off for this integration"},
		{"job while jobs are off", "Job Hook", "job.json",
			allBut(func(s *store.Services) { s.Jobs = false }), "the jobs service is switched off for this integration"},
		{"deployment while deployments are off", "Deployment Hook", "deployment.json",
			allBut(func(s *store.Services) { s.Deployments = false }), "the deployments service is switched off for this integration"},
		{"release while releases are off", "Release Hook", "release.json",
			allBut(func(s *store.Services) { s.Releases = false }), "the releases service is switched off for this integration"},
	}
	for _, c := range cases {
		for _, when := range []string{"before receipt", "between receipt and processing"} {
			t.Run(c.name+", switched off "+when, func(t *testing.T) {
				r := newRig(t, false)
				r.discover(t, true, 1, 15)
				ctx := context.Background()
				save := func(s store.Services) {
					t.Helper()
					if err := r.st.SaveSelection(ctx, r.org, r.integ, store.Selection{Projects: []int64{1, 15}, Services: s}); err != nil {
						t.Fatal(err)
					}
				}
				if when == "before receipt" {
					save(c.off)
				} else {
					save(store.AllServices)
				}
				code, body := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", c.event), fixture(t, c.file))
				if code < 200 || code > 299 {
					t.Fatalf("delivery answered %d %s, want 2xx", code, body)
				}
				if when != "before receipt" {
					save(c.off)
				}
				if _, err := NewProcessor(r.st, nil).ProcessOnce(ctx); err != nil {
					t.Fatal(err)
				}
				counts, err := r.st.CountData(ctx, r.org, r.integ)
				if err != nil {
					t.Fatal(err)
				}
				if counts != (store.DataCounts{}) {
					t.Fatalf("rows stored for a switched-off service: %+v", counts)
				}
				var status, why string
				if err := r.st.DB().QueryRow(`SELECT status, error FROM webhook_inbox`).Scan(&status, &why); err != nil {
					t.Fatal(err)
				}
				if status != "ignored" || why != c.reason {
					t.Fatalf("inbox row: status %q, reason %q; want ignored, %q", status, why, c.reason)
				}
			})
		}
	}
}

// allBut is every service on but what off switches off.
func allBut(off func(*store.Services)) store.Services {
	s := store.AllServices
	off(&s)
	return s
}

// Switching one service off leaves the others flowing.
func TestOtherServicesAreStillStoredWhileOneIsOff(t *testing.T) {
	r := newRig(t, false)
	r.discover(t, true, 1, 15)
	ctx := context.Background()
	if err := r.st.SaveSelection(ctx, r.org, r.integ, store.Selection{Projects: []int64{1, 15},
		Services: store.Services{Issues: true, Pipelines: true, Pushes: true}}); err != nil {
		t.Fatal(err)
	}
	r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", "Merge Request Hook", "X-Gitlab-Event-UUID", "mr"), fixture(t, "merge_request.json"))
	r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", "Issue Hook", "X-Gitlab-Event-UUID", "is"), fixture(t, "issue.json"))
	if _, err := NewProcessor(r.st, nil).ProcessOnce(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := r.st.CountData(ctx, r.org, r.integ)
	if err != nil {
		t.Fatal(err)
	}
	if counts.MergeRequests != 0 || counts.Issues != 1 {
		t.Fatalf("counts %+v, want the issue and no merge request", counts)
	}
	if st := r.status(t); st["processed"] != 1 || st["ignored"] != 1 {
		t.Fatalf("inbox outcome %v", st)
	}
}

// The processor plans the next batch while it writes one. A service
// switched off before that planned batch is written, once the processor has
// paused, is still honoured: a plan is only taken by a call that follows at
// once, and otherwise made again.
func TestAServiceSwitchedOffWhileTheProcessorPausedIsHonouredForTheBatchItPlannedAhead(t *testing.T) {
	r := newRig(t, false)
	r.discover(t, true, 1)
	ctx := context.Background()
	for i := range 2 {
		body := strings.Replace(string(fixture(t, "merge_request.json")), `"iid": 1`, fmt.Sprintf(`"iid": %d`, i+1), 1)
		body = strings.Replace(body, `"id": 99`, fmt.Sprintf(`"id": %d`, 99+i), 1)
		if code, _ := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event-UUID", fmt.Sprint(i)), []byte(body)); code != 200 {
			t.Fatal("refused")
		}
	}
	p := NewProcessor(r.st, nil)
	p.batch = 1
	if n, err := p.ProcessOnce(ctx); n != 1 || err != nil {
		t.Fatalf("first batch: %d, %v", n, err)
	}
	if p.ahead == nil || len(p.ahead.plans) != 1 {
		t.Fatalf("the second delivery was not planned ahead: %+v", p.ahead)
	}
	if err := r.st.SaveSelection(ctx, r.org, r.integ, store.Selection{Projects: []int64{1},
		Services: store.Services{Issues: true, Pipelines: true, Pushes: true}}); err != nil {
		t.Fatal(err)
	}
	p.ahead.at = p.ahead.at.Add(-aheadFresh) // the processor paused
	if n, err := p.ProcessOnce(ctx); n != 1 || err != nil {
		t.Fatalf("second batch: %d, %v", n, err)
	}
	if st := r.status(t); st["processed"] != 1 || st["ignored"] != 1 {
		t.Fatalf("inbox outcome %v, want the first processed and the second ignored", st)
	}
}

// Deliveries of several merge requests, one of them changed twice, are
// written together and still give every change its own feed entry, in
// inbox order.
func TestABatchGivesEveryChangeItsFeedEntryInInboxOrder(t *testing.T) {
	r := newRig(t, false)
	r.discover(t, true, 1)
	ctx := context.Background()
	base := string(fixture(t, "merge_request.json"))
	ids := []int{99, 100, 99, 101} // 99 changes twice
	for i, id := range ids {
		body := strings.Replace(base, `"id": 99`, fmt.Sprintf(`"id": %d`, id), 1)
		body = strings.ReplaceAll(body, "2013-12-03T17:23:34Z", time.Date(2020, 1, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339))
		if code, _ := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event-UUID", fmt.Sprint(i)), []byte(body)); code != 200 {
			t.Fatal("refused")
		}
	}
	if n, err := NewProcessor(r.st, nil).ProcessOnce(ctx); n != len(ids) || err != nil {
		t.Fatalf("processed %d, %v", n, err)
	}
	feed, err := r.st.Feed(ctx, r.org, 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range feed {
		got = append(got, e.GitLabID+":"+e.Action)
	}
	want := []string{"99:created", "100:created", "99:updated", "101:created"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("feed %v, want %v", got, want)
	}
}
