package webhook

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// deliveryFixture reads ingest's per-version API items and payloads of one
// note, job, deployment and release of project 7.
func deliveryFixture(t *testing.T, version, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "ingest", "testdata", "delivery", version, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// comparable clears what differs between two reads of one row by nature:
// labsync's row id, the JSON it was read from, the project path.
func comparable(v any) any {
	rv := reflect.ValueOf(v)
	c := reflect.New(rv.Type()).Elem()
	c.Set(rv)
	for _, f := range []string{"ID", "Raw", "ProjectPath", "IntegrationID"} {
		if fv := c.FieldByName(f); fv.IsValid() {
			fv.Set(reflect.Zero(fv.Type()))
		}
	}
	return c.Interface()
}

// TestAPayloadAndAnAPIPageOfOneObjectEndAsOneRow processes the webhook
// payload of a note, a job, a deployment and a release, stores the API item
// of the same object as the sync does, and replays the payload: the stored
// row is the API item's (a payload never empties what it lacks), and the
// replay adds no change-feed entry.
func TestAPayloadAndAnAPIPageOfOneObjectEndAsOneRow(t *testing.T) {
	const v = "19.0"
	type kind struct {
		event, hook string
		entity      string
		fromAPI     func(t *testing.T, st *store.Store, org, integ int64) any
		stored      func(t *testing.T, st *store.Store, org int64) any
	}
	one := func(t *testing.T, n int, err error) {
		t.Helper()
		if err != nil || n != 1 {
			t.Fatalf("%d rows, %v", n, err)
		}
	}
	kinds := []kind{
		{"Note Hook", "note_hook", store.EntityNote,
			func(t *testing.T, st *store.Store, org, integ int64) any {
				ns, _, err := ingest.Discussion(integ, 7, deliveryFixture(t, v, "discussion_api"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.UpsertNotes(context.Background(), nil, org, integ, store.SourceSync, ns); err != nil {
					t.Fatal(err)
				}
				return ns[0]
			},
			func(t *testing.T, st *store.Store, org int64) any {
				ns, err := st.Notes(context.Background(), org, store.DataQuery{})
				one(t, len(ns), err)
				return ns[0]
			}},
		{"Job Hook", "job_hook", store.EntityJob,
			func(t *testing.T, st *store.Store, org, integ int64) any {
				j, _, err := ingest.Job(integ, 7, deliveryFixture(t, v, "job_api"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.UpsertJobs(context.Background(), nil, org, integ, store.SourceSync, []store.Job{j}); err != nil {
					t.Fatal(err)
				}
				return j
			},
			func(t *testing.T, st *store.Store, org int64) any {
				js, err := st.Jobs(context.Background(), org, store.DataQuery{})
				one(t, len(js), err)
				return js[0]
			}},
		{"Deployment Hook", "deployment_hook", store.EntityDeployment,
			func(t *testing.T, st *store.Store, org, integ int64) any {
				d, _, err := ingest.Deployment(integ, 7, deliveryFixture(t, v, "deployment_api"), func(int64) string { return "production" })
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.UpsertDeployments(context.Background(), nil, org, integ, store.SourceSync, []store.Deployment{d}); err != nil {
					t.Fatal(err)
				}
				return d
			},
			func(t *testing.T, st *store.Store, org int64) any {
				ds, err := st.Deployments(context.Background(), org, store.DataQuery{})
				one(t, len(ds), err)
				return ds[0]
			}},
		{"Release Hook", "release_hook", store.EntityRelease,
			func(t *testing.T, st *store.Store, org, integ int64) any {
				r, _, err := ingest.Release(integ, 7, deliveryFixture(t, v, "release_api"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.UpsertReleases(context.Background(), nil, org, integ, store.SourceSync, []store.Release{r}); err != nil {
					t.Fatal(err)
				}
				return r
			},
			func(t *testing.T, st *store.Store, org int64) any {
				rs, err := st.Releases(context.Background(), org, store.DataQuery{})
				one(t, len(rs), err)
				return rs[0]
			}},
	}
	for _, k := range kinds {
		t.Run(k.event, func(t *testing.T) {
			r := newRig(t, false)
			r.discover(t, true, 7)
			ctx := context.Background()
			p := NewProcessor(r.st, nil)
			deliver := func(uuid string) {
				t.Helper()
				code, body := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", k.event, "X-Gitlab-Event-UUID", uuid),
					deliveryFixture(t, v, k.hook))
				if code != 200 {
					t.Fatalf("delivery answered %d %s", code, body)
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
			}
			deliver("first")
			if st := r.status(t); st["processed"] != 1 {
				t.Fatalf("inbox %v", st)
			}
			api := k.fromAPI(t, r.st, r.org, r.integ)
			entries := func() int {
				fe, err := r.st.Feed(ctx, r.org, r.integ, 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range fe {
					if e.Entity == k.entity {
						n++
					}
				}
				return n
			}
			before := entries()
			deliver("replay")
			if after := entries(); after != before {
				t.Errorf("the replayed payload added %d feed entries", after-before)
			}
			got := comparable(k.stored(t, r.st, r.org))
			want := comparable(api)
			if !reflect.DeepEqual(normTimes(got), normTimes(want)) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Fatalf("stored row differs from the API item's\n got %s\nwant %s", g, w)
			}
		})
	}
}

// normTimes renders a row as JSON and back, so times compare by instant
// (the database returns UTC; ingest may hold another zone).
func normTimes(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	json.Unmarshal(b, &m)
	for k, x := range m {
		if s, ok := x.(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				m[k] = t.UTC().Format(time.RFC3339Nano)
			}
		}
	}
	return m
}

// TestAnApprovalDeliveryAddsTheApproverAndAnUnapprovalRemovesThem: merge
// request deliveries with action approved/unapproved change the approvals
// (and still the merge request), unless the reviews service is off.
func TestAnApprovalDeliveryAddsTheApproverAndAnUnapprovalRemovesThem(t *testing.T) {
	withAction := func(t *testing.T, action string) []byte {
		var m map[string]any
		if err := json.Unmarshal(fixture(t, "merge_request.json"), &m); err != nil {
			t.Fatal(err)
		}
		m["object_attributes"].(map[string]any)["action"] = action
		b, _ := json.Marshal(m)
		return b
	}
	for _, reviews := range []bool{true, false} {
		t.Run(map[bool]string{true: "reviews on", false: "reviews off"}[reviews], func(t *testing.T) {
			r := newRig(t, false)
			r.discover(t, true, 1, 15)
			ctx := context.Background()
			sv := store.AllServices
			sv.Reviews = reviews
			if err := r.st.SaveSelection(ctx, r.org, r.integ, store.Selection{Projects: []int64{1, 15}, Services: sv}); err != nil {
				t.Fatal(err)
			}
			p := NewProcessor(r.st, nil)
			approvals := func(action string) []store.Approval {
				t.Helper()
				r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", "Merge Request Hook", "X-Gitlab-Event-UUID", action), withAction(t, action))
				for {
					n, err := p.ProcessOnce(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						break
					}
				}
				as, err := r.st.Approvals(ctx, r.org, store.DataQuery{})
				if err != nil {
					t.Fatal(err)
				}
				return as
			}
			as := approvals("approved")
			if !reviews {
				if len(as) != 0 {
					t.Fatalf("approvals stored with reviews off: %+v", as)
				}
			} else if len(as) != 1 || as[0].Username != "user1" || as[0].UserGitLabID != 1 || as[0].MergeRequestIID != 1 ||
				as[0].ApprovedAt == nil || as[0].Source != store.ApprovalFromWebhook {
				t.Fatalf("approvals after approved: %+v", as)
			}
			if as := approvals("unapproved"); len(as) != 0 {
				t.Fatalf("approvals after unapproved: %+v", as)
			}
			if mrs, _ := r.st.MergeRequests(ctx, r.org, store.DataQuery{}); len(mrs) != 1 {
				t.Fatalf("the merge request was not stored: %+v", mrs)
			}
			if st := r.status(t); st["processed"] != 2 {
				t.Fatalf("inbox %v", st)
			}
		})
	}
}
