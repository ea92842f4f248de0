package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
)

// world is a simulated GitLab with a project hook pointing at a loopback
// receiver, and the means to read both shapes of one object.
type world struct {
	sb   *sandbox.Sandbox
	proj int64
	seen int // deliveries already handed out
}

func newWorld(t *testing.T, version string) *world {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), sandbox.Config{Version: version, Seed: 11, Groups: 1, Projects: 3, MRs: 1, Issues: 1,
		Pipelines: 1, Commits: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	w := &world{sb: sb}
	for _, p := range sb.Manifest().PerProject {
		if p.CIEnabled && !p.Archived {
			w.proj = p.ID
			break
		}
	}
	if w.proj == 0 {
		t.Fatal("no project with CI in the sandbox")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	t.Cleanup(srv.Close)
	hook, _ := json.Marshal(map[string]any{"url": srv.URL + "/hook", "merge_requests_events": true, "issues_events": true,
		"pipeline_events": true, "push_events": false})
	res := w.call(t, http.MethodPost, fmt.Sprintf("/api/v4/projects/%d/hooks", w.proj), hook)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("registering a hook: %s", res.Status)
	}
	return w
}

func (w *world) call(t *testing.T, method, path string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, w.sb.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("PRIVATE-TOKEN", w.sb.AdminToken())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// api returns the API's JSON for path.
func (w *world) api(t *testing.T, path string) json.RawMessage {
	t.Helper()
	res := w.call(t, http.MethodGet, path, nil)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", path, res.Status, err)
	}
	return b
}

// hook waits for the next delivery, which must be of event, and returns its
// payload.
func (w *world) hook(t *testing.T, event string) []byte {
	t.Helper()
	for range 500 {
		ds := w.sb.Deliveries()
		if len(ds) > w.seen && ds[w.seen].Status != 0 {
			d := ds[w.seen]
			w.seen++
			if d.Event != event || d.Status != http.StatusOK {
				t.Fatalf("delivery %d is a %q answered %d, want a %q answered 200", w.seen, d.Event, d.Status, event)
			}
			return d.Body
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s delivered", event)
	return nil
}

// sameRow compares two rows field by field. Times compare to the second
// (payloads carry seconds, API items milliseconds). Fields in notCarried
// are those the webhook payload does not carry (or the API item, where
// said), with the reason; Raw, the JSON each was read from, always differs.
func sameRow(t *testing.T, fromAPI, fromHook any, notCarried map[string]string) {
	t.Helper()
	sameRowAtLeast(t, fromAPI, fromHook, notCarried, 8)
}

// sameRowAtLeast is sameRow for rows with few fields: at least min of them
// must be compared.
func sameRowAtLeast(t *testing.T, fromAPI, fromHook any, notCarried map[string]string, min int) {
	t.Helper()
	a, h := reflect.ValueOf(fromAPI), reflect.ValueOf(fromHook)
	typ := a.Type()
	for name := range notCarried {
		if _, ok := typ.FieldByName(name); !ok {
			t.Fatalf("%s has no field %s", typ, name)
		}
	}
	compared := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Raw" || notCarried[f.Name] != "" {
			continue
		}
		compared++
		av, hv := norm(a.Field(i).Interface()), norm(h.Field(i).Interface())
		if !reflect.DeepEqual(av, hv) {
			t.Errorf("%s.%s: from the API %#v, from the webhook %#v", typ.Name(), f.Name, av, hv)
		}
	}
	if compared < min {
		t.Fatalf("only %d fields of %s compared", compared, typ)
	}
}

func norm(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Truncate(time.Second)
	case *time.Time:
		if x == nil {
			return x
		}
		t := x.UTC().Truncate(time.Second)
		return &t
	}
	return v
}

// TestOneObjectArrivingAsAPIItemAndAsWebhookPayloadBecomesTheSameRow feeds
// a merge request (opened, then merged), an issue (opened, then closed) and
// a pipeline through both of ingest's readers — the API JSON the sandbox
// serves and the webhook payload it sends for the same object — and
// compares the rows, across versions with the renamed fields
// (work_in_progress/draft, merged_by/merge_user, detailed_merge_status).
func TestOneObjectArrivingAsAPIItemAndAsWebhookPayloadBecomesTheSameRow(t *testing.T) {
	for _, v := range []string{"12.10", "14.10", "15.11", "19.0"} {
		t.Run(v, func(t *testing.T) {
			w := newWorld(t, v)
			const integ = 7
			notOnOpen := map[string]string{}
			mrPayload := func(event string) store.MergeRequest {
				h, err := ingest.ParseHook("merge_request", w.hook(t, event))
				if err != nil {
					t.Fatal(err)
				}
				row, err := h.(*ingest.MergeRequestHook).Row(integ)
				if err != nil {
					t.Fatal(err)
				}
				return row
			}

			mr, err := w.sb.OpenMR(w.proj, "Add a feature")
			if err != nil {
				t.Fatal(err)
			}
			hookRow := mrPayload("Merge Request Hook")
			apiRow, err := ingest.MergeRequest(integ, w.api(t, fmt.Sprintf("/api/v4/projects/%d/merge_requests/%d", w.proj, mr.IID)))
			if err != nil {
				t.Fatal(err)
			}
			t.Run("merge request opened", func(t *testing.T) { sameRow(t, apiRow, hookRow, notOnOpen) })

			if _, err := w.sb.MergeMR(w.proj, mr.IID); err != nil {
				t.Fatal(err)
			}
			hookRow = mrPayload("Merge Request Hook")
			apiRow, err = ingest.MergeRequest(integ, w.api(t, fmt.Sprintf("/api/v4/projects/%d/merge_requests/%d", w.proj, mr.IID)))
			if err != nil {
				t.Fatal(err)
			}
			if apiRow.MergedAt == nil || apiRow.MergeUser == "" {
				t.Fatalf("merged merge request from the API without merged_at or merge user: %+v", apiRow)
			}
			t.Run("merge request merged", func(t *testing.T) {
				sameRow(t, apiRow, hookRow, map[string]string{
					"Author": "a payload names the author by id; only the delivery that opens it names the user",
					// The sandbox renders detailed_merge_status "not_open" in a
					// merged merge request's payload and "merged" in its API
					// item; GitLab computes both with one service.
					"DetailedMergeStatus": "the sandbox's payload and API item differ",
				})
				if hookRow.Author != "" {
					t.Errorf("a merge payload's row names author %q; the processor fills it from what it stored", hookRow.Author)
				}
			})

			is, err := w.sb.OpenIssue(w.proj, "Something is off")
			if err != nil {
				t.Fatal(err)
			}
			issuePayload := func() store.Issue {
				h, err := ingest.ParseHook("issue", w.hook(t, "Issue Hook"))
				if err != nil {
					t.Fatal(err)
				}
				row, err := h.(*ingest.IssueHook).Row(integ)
				if err != nil {
					t.Fatal(err)
				}
				return row
			}
			issueAPI := func() store.Issue {
				row, err := ingest.Issue(integ, w.api(t, fmt.Sprintf("/api/v4/projects/%d/issues/%d", w.proj, is.IID)))
				if err != nil {
					t.Fatal(err)
				}
				return row
			}
			hookIssue := issuePayload()
			t.Run("issue opened", func(t *testing.T) { sameRow(t, issueAPI(), hookIssue, nil) })
			if _, err := w.sb.CloseIssue(w.proj, is.IID); err != nil {
				t.Fatal(err)
			}
			hookIssue, apiIssue := issuePayload(), issueAPI()
			if apiIssue.ClosedAt == nil {
				t.Fatalf("closed issue from the API without closed_at: %+v", apiIssue)
			}
			t.Run("issue closed", func(t *testing.T) {
				sameRow(t, apiIssue, hookIssue, map[string]string{"Author": "named only by the delivery that opens it"})
			})

			ref := "main"
			pc, err := w.sb.RunPipeline(w.proj, ref, "success")
			if err != nil {
				ref = "master"
				pc, err = w.sb.RunPipeline(w.proj, ref, "success")
			}
			if err != nil {
				t.Fatal(err)
			}
			h, err := ingest.ParseHook("pipeline", w.hook(t, "Pipeline Hook"))
			if err != nil {
				t.Fatal(err)
			}
			hookPipe, err := h.(*ingest.PipelineHook).Row(integ)
			if err != nil {
				t.Fatal(err)
			}
			// What sync reads: the project's pipeline list.
			var items []json.RawMessage
			if err := json.Unmarshal(w.api(t, fmt.Sprintf("/api/v4/projects/%d/pipelines?ref=%s", w.proj, ref)), &items); err != nil {
				t.Fatal(err)
			}
			var apiPipe store.Pipeline
			for _, raw := range items {
				p, err := ingest.Pipeline(integ, w.proj, raw)
				if err != nil {
					t.Fatal(err)
				}
				if p.GitLabID == pc.ID {
					apiPipe = p
				}
			}
			if apiPipe.GitLabID == 0 {
				t.Fatalf("pipeline %d not in the list", pc.ID)
			}
			t.Run("pipeline", func(t *testing.T) {
				notCarried := map[string]string{"FinishedAt": "list items carry no finished_at (payloads do)"}
				if v == "12.10" {
					notCarried["Source"] = "list items carry source from 14.3 (payloads before)"
				}
				sameRow(t, apiPipe, hookPipe, notCarried)
				if hookPipe.FinishedAt == nil {
					t.Error("the payload's finished_at was not read")
				}
			})
		})
	}
}
