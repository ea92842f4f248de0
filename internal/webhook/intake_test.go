package webhook

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/labsync/labsync/internal/store"
)

// settle is what happens after the answers: nothing more where deliveries
// are processed at intake (SQLite), where the processor finds nothing
// left; otherwise (PostgreSQL) the processor drains the inbox.
func (r *rig) settle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if r.svc.ProcessesAtIntake() {
		if n, err := r.proc.ProcessOnce(ctx); n != 0 || err != nil {
			t.Fatalf("the processor found %d deliveries (%v) after intake processed them", n, err)
		}
		return
	}
	for {
		n, err := r.proc.ProcessOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// outcomes is each stored delivery's status and error, by dedupe key.
func (r *rig) outcomes(t *testing.T) map[string][2]string {
	t.Helper()
	rows, err := r.st.DB().Query(`SELECT dedupe_key, status, error FROM webhook_inbox WHERE org_id = $1`, r.org)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var k, status, why string
		if err := rows.Scan(&k, &status, &why); err != nil {
			t.Fatal(err)
		}
		out[k] = [2]string{status, why}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// With a processor attached, each kind labsync normalises is processed:
// on SQLite by the transaction that stores it (when the 200 comes, its rows
// and change-feed entry are there and no processor has run), on PostgreSQL
// by the processor. Push deliveries reach OnPush once committed.
func TestWithAProcessorAttachedEveryDeliveryIsProcessedOnSQLiteAsItIsStored(t *testing.T) {
	r := newInlineRig(t)
	if r.st.Dialect() == store.SQLite && !r.svc.ProcessesAtIntake() {
		t.Fatal("on SQLite the inbox does not process deliveries as it stores them")
	}
	r.discover(t, true, 1, 15)
	var mu sync.Mutex
	var pushed []string
	r.proc.OnPush(func(_ context.Context, d store.Delivery) {
		mu.Lock()
		defer mu.Unlock()
		pushed = append(pushed, d.EventKind)
	})
	ctx := context.Background()
	cases := []struct{ file, event string }{
		{"merge_request.json", "Merge Request Hook"},
		{"issue.json", "Issue Hook"},
		{"pipeline.json", "Pipeline Hook"},
		{"push.json", "Push Hook"},
		{"tag_push.json", "Tag Push Hook"},
		{"note_issue.json", "Note Hook"},
		{"job.json", "Job Hook"},
	}
	for i, c := range cases {
		code, body := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", c.event, "Idempotency-Key", "k"+string(rune('a'+i))), fixture(t, c.file))
		if code != 200 || !strings.Contains(body, "accepted") {
			t.Fatalf("%s: %d %s", c.file, code, body)
		}
	}
	r.settle(t)
	st := r.status(t)
	// The job is normalised too (issue 20); the note is of project 5,
	// which labsync does not know.
	if st["processed"] != 6 || st["ignored"] != 1 || st["pending"] != 0 || st["failed"] != 0 {
		t.Fatalf("inbox after the answers (processed at intake: %v): %v", r.svc.ProcessesAtIntake(), st)
	}
	counts, err := r.st.CountData(ctx, r.org, r.integ)
	if err != nil {
		t.Fatal(err)
	}
	if counts.MergeRequests != 1 || counts.Issues != 1 || counts.Pipelines != 1 || counts.Pushes != 2 || counts.Jobs != 1 || counts.Tags != 1 {
		t.Fatalf("rows after the answers: %+v", counts)
	}
	feed, err := r.st.Feed(ctx, r.org, 0, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) < 5 {
		t.Fatalf("change feed after the answers: %d entries, want one per row at least", len(feed))
	}
	mu.Lock()
	if strings.Join(pushed, ",") != "push,tag_push" {
		t.Fatalf("OnPush saw %v, want the push and the tag push", pushed)
	}
	mu.Unlock()
}

// Routing at intake keeps what the processor does: a delivery for a
// switched-off service, an unknown or an unselected project is stored as
// ignored with the reason, and answered 2xx.
func TestAtIntakeSwitchedOffServicesAndUnselectedProjectsAreKeptAsIgnored(t *testing.T) {
	cases := []struct {
		name, event, file string
		services          store.Services
		selected          bool
		reason            string
	}{
		{"merge request while merge requests are off", "Merge Request Hook", "merge_request.json",
			store.Services{Issues: true, Pipelines: true, Pushes: true}, true, "the merge requests service is switched off for this integration"},
		{"push while pushes are off", "Push Hook", "push.json",
			store.Services{MergeRequests: true, Issues: true, Pipelines: true}, true, "the pushes service is switched off for this integration"},
		{"issue of a project not selected", "Issue Hook", "issue.json", store.AllServices, false, "project g/pxb is not selected"},
		{"push of a project labsync does not know", "Push Hook", "push.json", store.AllServices, false,
			"project 15 is not known to labsync for this integration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newInlineRig(t)
			ctx := context.Background()
			r.discover(t, c.selected, 1)
			if err := r.st.SaveSelection(ctx, r.org, r.integ, store.Selection{Projects: []int64{1}, Services: c.services}); err != nil {
				t.Fatal(err)
			}
			code, body := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", c.event, "Idempotency-Key", "k"), fixture(t, c.file))
			if code < 200 || code > 299 {
				t.Fatalf("answered %d %s, want 2xx", code, body)
			}
			r.settle(t)
			if got := r.outcomes(t)["idem:k"]; got != [2]string{"ignored", c.reason} {
				t.Fatalf("stored as %q, want ignored, %q", got, c.reason)
			}
			counts, _ := r.st.CountData(ctx, r.org, r.integ)
			if counts != (store.DataCounts{}) {
				t.Fatalf("rows stored: %+v", counts)
			}
		})
	}
}

// A retry (same Idempotency-Key) of a delivery processed at intake is a
// duplicate and writes nothing, even when its body differs.
func TestARetryOfADeliveryProcessedAtIntakeWritesNothing(t *testing.T) {
	r := newInlineRig(t)
	r.discover(t, true, 1)
	ctx := context.Background()
	first := fixture(t, "merge_request.json")
	retry := []byte(strings.Replace(string(first), `"title": "MS-Viewport"`, `"title": "Changed on the way"`, 1))
	if code, body := r.post(t, r.issued.HookID, r.headers("Idempotency-Key", "same"), first); code != 200 || !strings.Contains(body, "accepted") {
		t.Fatalf("first: %d %s", code, body)
	}
	r.settle(t)
	feed, _ := r.st.Feed(ctx, r.org, 0, 0, 1000)
	if code, body := r.post(t, r.issued.HookID, r.headers("Idempotency-Key", "same"), retry); code != 200 || !strings.Contains(body, "duplicate") {
		t.Fatalf("retry: %d %s", code, body)
	}
	r.settle(t)
	mrs, _ := r.st.MergeRequests(ctx, r.org, store.DataQuery{})
	if len(mrs) != 1 || mrs[0].Title != "MS-Viewport" {
		t.Fatalf("merge requests after the retry: %+v", mrs)
	}
	if feed2, _ := r.st.Feed(ctx, r.org, 0, 0, 1000); len(feed2) != len(feed) {
		t.Fatalf("the retry added %d change-feed entries", len(feed2)-len(feed))
	}
	if st := r.status(t); st["processed"] != 1 || len(st) != 1 {
		t.Fatalf("inbox %v, want the one delivery processed", st)
	}
}

// An older delivery processed at intake after a newer one leaves the
// newer row in place.
func TestAtIntakeAnOlderDeliveryDoesNotOverwriteANewerRow(t *testing.T) {
	r := newInlineRig(t)
	r.discover(t, true, 1)
	newer := strings.ReplaceAll(string(fixture(t, "merge_request.json")), "2013-12-03T17:23:34Z", "2014-01-01T00:00:00Z")
	newer = strings.Replace(newer, `"title": "MS-Viewport"`, `"title": "Newer title"`, 1)
	r.post(t, r.issued.HookID, r.headers("Idempotency-Key", "n"), []byte(newer))
	r.settle(t)
	r.post(t, r.issued.HookID, r.headers("Idempotency-Key", "o"), fixture(t, "merge_request.json"))
	r.settle(t)
	mrs, _ := r.st.MergeRequests(context.Background(), r.org, store.DataQuery{})
	if len(mrs) != 1 || mrs[0].Title != "Newer title" {
		t.Fatalf("older payload won: %+v", mrs)
	}
	if st := r.status(t); st["processed"] != 2 {
		t.Fatalf("inbox %v, want both processed", st)
	}
}

// A delivery that parses but yields no row is not decided at intake: the
// batch is stored as received, answered 200, and the processor records the
// failure.
func TestADeliveryThatCannotBeProcessedAtIntakeIsLeftToTheProcessor(t *testing.T) {
	r := newInlineRig(t)
	r.discover(t, true, 1)
	noTime := []byte(`{"object_kind":"merge_request","project":{"id":1},"object_attributes":{"id":7,"iid":1,"action":"update"}}`)
	if code, body := r.post(t, r.issued.HookID, r.headers("Idempotency-Key", "k"), noTime); code != 200 {
		t.Fatalf("answered %d %s", code, body)
	}
	if got := r.outcomes(t)["idem:k"]; got[0] != "pending" {
		t.Fatalf("stored as %q, want pending", got)
	}
	if _, err := r.proc.ProcessOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.outcomes(t)["idem:k"]; got[0] != "failed" || !strings.Contains(got[1], "updated_at") {
		t.Fatalf("after the processor: %q, want failed for the missing updated_at", got)
	}
}

// Parsing at intake replaces the validating pass: what is not a JSON
// object is still refused, and stores nothing.
func TestAtIntakeBodiesThatAreNotJSONObjectsAreRefused(t *testing.T) {
	r := newInlineRig(t)
	r.discover(t, true, 1)
	cases := []struct {
		name string
		body string
	}{
		{"truncated", `{"object_kind":`},
		{"an array", `[1,2]`},
		{"null", `null`},
		{"an object followed by more", `{"object_kind":"merge_request"} {}`},
		{"an object followed by garbage", `{"object_kind":"merge_request"}x`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code, body := r.post(t, r.issued.HookID, r.headers(), []byte(c.body)); code != 400 {
				t.Fatalf("answered %d %s, want 400", code, body)
			}
			if n := r.inboxRows(t); n != 0 {
				t.Fatalf("%d deliveries stored", n)
			}
		})
	}
}
