package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

type received struct {
	header http.Header
	body   []byte
}

func receiver(t *testing.T) (*httptest.Server, func(n int) []received) {
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Header.Clone(), b})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	wait := func(n int) []received {
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			c := len(got)
			out := append([]received(nil), got...)
			mu.Unlock()
			if c >= n || time.Now().After(deadline) {
				return out
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return srv, wait
}

func TestWebhooks(t *testing.T) {
	signing := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	tests := []struct {
		version                                                  string
		eventUUID, instance, webhookUUID, idempotency, signature bool
	}{
		{"9.5", false, false, false, false, false},
		{"12.10", false, false, false, false, false},
		{"15.11", true, true, false, false, false},
		{"16.11", true, true, true, false, false},
		{"17.11", true, true, true, true, false},
		{"19.0", true, true, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			sb := start(t, Config{Version: tt.version, Seed: 2, Groups: 1, Projects: 20, MRs: 2, Issues: 2, Pipelines: 1, Commits: 3})
			srv, wait := receiver(t)
			gl := client(t, sb, sb.AdminToken())
			var pid int64
			for _, pc := range sb.Manifest().PerProject {
				if pc.CIEnabled {
					pid = pc.ID
					break
				}
			}
			opts := &gitlab.AddProjectHookOptions{URL: gitlab.Ptr(srv.URL + "/hook"), Token: gitlab.Ptr("s3cret"),
				PushEvents: gitlab.Ptr(true), MergeRequestsEvents: gitlab.Ptr(true), IssuesEvents: gitlab.Ptr(true), PipelineEvents: gitlab.Ptr(true)}
			if tt.signature {
				opts.SigningToken = gitlab.Ptr(signing)
			}
			h, _, err := gl.Projects.AddProjectHook(pid, opts)
			if err != nil {
				t.Fatalf("AddProjectHook: %v", err)
			}

			t.Run("CRUD", func(t *testing.T) {
				extra, _, err := gl.Projects.AddProjectHook(pid, &gitlab.AddProjectHookOptions{URL: gitlab.Ptr("http://127.0.0.1:9/x")})
				if err != nil {
					t.Fatal(err)
				}
				got, _, err := gl.Projects.GetProjectHook(pid, extra.ID)
				if err != nil || got.URL != "http://127.0.0.1:9/x" || !got.PushEvents || got.MergeRequestsEvents {
					t.Fatalf("GetProjectHook: %+v %v", got, err)
				}
				ed, _, err := gl.Projects.EditProjectHook(pid, extra.ID, &gitlab.EditProjectHookOptions{URL: gitlab.Ptr("http://127.0.0.1:9/y"), IssuesEvents: gitlab.Ptr(true)})
				if err != nil || ed.URL != "http://127.0.0.1:9/y" || !ed.IssuesEvents {
					t.Fatalf("EditProjectHook: %+v %v", ed, err)
				}
				if resp, err := gl.Projects.DeleteProjectHook(pid, extra.ID); err != nil || resp.StatusCode != http.StatusNoContent {
					t.Fatalf("DeleteProjectHook: %v", err)
				}
				if _, resp, err := gl.Projects.GetProjectHook(pid, extra.ID); err == nil || resp.StatusCode != 404 {
					t.Fatalf("deleted hook still there: %v", err)
				}
				hooks, _, _ := gl.Projects.ListProjectHooks(pid, nil)
				if len(hooks) != 1 || hooks[0].ID != h.ID {
					t.Fatalf("hooks %+v", hooks)
				}
				r := get(t, sb, "/api/v4/projects/"+itoa(int(pid))+"/hooks/"+itoa(int(h.ID)), sb.AdminToken()).json(t)
				if _, leaked := r["token"]; leaked {
					t.Error("hook JSON exposes its token")
				}
				if _, ok := r["signing_token_present"]; ok != tt.signature {
					t.Errorf("signing_token_present presence %v", ok)
				}
			})

			mr, err := sb.OpenMR(pid, "Hooked change")
			if err != nil {
				t.Fatal(err)
			}
			steps := []func() (Change, error){
				func() (Change, error) { return sb.UpdateMR(pid, mr.IID, "") },
				func() (Change, error) { return sb.MergeMR(pid, mr.IID) }, // MR hook + push hook
				func() (Change, error) { return sb.OpenIssue(pid, "") },
				func() (Change, error) { return sb.CloseIssue(pid, 1) },
				func() (Change, error) { return sb.Push(pid, "", 2) },
				func() (Change, error) { return sb.RunPipeline(pid, "", "failed") },
			}
			for _, step := range steps {
				if _, err := step(); err != nil {
					t.Fatal(err)
				}
			}
			got := wait(8)
			if len(got) != 8 {
				t.Fatalf("received %d deliveries, want 8", len(got))
			}
			kinds := map[string]int{}
			for _, d := range got {
				ev := gitlab.HookEventType(&http.Request{Header: d.header})
				kinds[string(ev)]++
				if _, err := gitlab.ParseWebhook(ev, d.body); err != nil {
					t.Errorf("ParseWebhook(%s): %v\n%s", ev, err, d.body)
				}
				if d.header.Get("X-Gitlab-Token") != "s3cret" || d.header.Get("User-Agent") != "GitLab/"+tt.version+".0" {
					t.Errorf("token/agent headers %v", d.header)
				}
				for name, want := range map[string]bool{"X-Gitlab-Event-UUID": tt.eventUUID, "X-Gitlab-Instance": tt.instance,
					"X-Gitlab-Webhook-UUID": tt.webhookUUID, "Idempotency-Key": tt.idempotency, "Webhook-Signature": tt.signature,
					"Webhook-Id": tt.signature, "Webhook-Timestamp": tt.signature} {
					if (d.header.Get(name) != "") != want {
						t.Errorf("%s header present=%v, want %v", name, d.header.Get(name) != "", want)
					}
				}
				if tt.instance && d.header.Get("X-Gitlab-Instance") != sb.URL() {
					t.Errorf("X-Gitlab-Instance %q", d.header.Get("X-Gitlab-Instance"))
				}
				if tt.signature {
					key, _ := base64.StdEncoding.DecodeString(signing[len("whsec_"):])
					mac := hmac.New(sha256.New, key)
					mac.Write([]byte(d.header.Get("webhook-id") + "." + d.header.Get("webhook-timestamp") + "."))
					mac.Write(d.body)
					if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); d.header.Get("webhook-signature") != want {
						t.Errorf("signature %q does not verify", d.header.Get("webhook-signature"))
					}
					if d.header.Get("webhook-id") != d.header.Get("Idempotency-Key") {
						t.Error("webhook-id differs from Idempotency-Key")
					}
				}
			}
			want := map[string]int{"Merge Request Hook": 3, "Push Hook": 2, "Issue Hook": 2, "Pipeline Hook": 1}
			for k, n := range want {
				if kinds[k] != n {
					t.Errorf("%d %s deliveries, want %d (all: %v)", kinds[k], k, n, kinds)
				}
			}
			// The API shows the changes: updated_at moved, MR merged.
			m, _, err := gl.MergeRequests.GetMergeRequest(pid, mr.IID, nil)
			if err != nil || m.State != "merged" {
				t.Errorf("merged MR: %+v %v", m, err)
			}
		})
	}
}

func TestDroppedWebhooks(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 1, Projects: 1, Commits: 1})
	srv, wait := receiver(t)
	if _, _, err := client(t, sb, sb.AdminToken()).Projects.AddProjectHook(1, &gitlab.AddProjectHookOptions{URL: gitlab.Ptr(srv.URL)}); err != nil {
		t.Fatal(err)
	}
	sb.SetFaults(Faults{DropWebhooks: true})
	if _, err := sb.Push(1, "", 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(sb.Deliveries()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ds := sb.Deliveries(); len(ds) != 1 || !ds[0].Dropped {
		t.Fatalf("deliveries %+v, want one dropped", ds)
	}
	sb.SetFaults(Faults{})
	before := sb.Manifest().PerProject[0].Commits
	if _, err := sb.Push(1, "", 1); err != nil {
		t.Fatal(err)
	}
	if got := wait(1); len(got) != 1 {
		t.Fatalf("received %d deliveries after faults cleared, want 1 (the dropped one never arrives)", len(got))
	}
	if after := sb.Manifest().PerProject[0].Commits; after != before+1 {
		t.Errorf("commits %d → %d: activity must happen even when hooks are dropped", before, after)
	}
}
