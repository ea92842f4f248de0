package sandbox

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hookFixture is a sandbox with one project hook on issue events pointing
// at a receiver that answers status (200 unless changed).
type hookFixture struct {
	sb     *Sandbox
	clock  *fakeClock
	status atomic.Int32
	hits   atomic.Int32
	hookID string
}

func newHookFixture(t *testing.T, cfg Config) *hookFixture {
	t.Helper()
	f := &hookFixture{clock: &fakeClock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}}
	f.status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		w.WriteHeader(int(f.status.Load()))
	}))
	t.Cleanup(srv.Close)
	cfg.Seed, cfg.Projects, cfg.Issues, cfg.MRs, cfg.Commits, cfg.Now = 1, 1, 2, 2, 3, f.clock.Now
	if cfg.Profile == ProfileGitLabCom {
		cfg.PublicProjects = 50
	}
	f.sb = start(t, cfg)
	tok := f.sb.ControlToken()
	if cfg.Profile == ProfileGitLabCom {
		tok = f.sb.CreateToken(TokenSpec{User: "root"})
	}
	r := do(t, nil, http.MethodPost, f.sb.URL()+"/api/v4/projects/1/hooks", tok, `{"url":"`+srv.URL+`","issues_events":true,"token":"s3cret"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create hook: %d %s", r.status, r.body)
	}
	f.hookID = itoa(int(r.json(t)["id"].(float64)))
	return f
}

func (f *hookFixture) token() string { return f.sb.CreateToken(TokenSpec{User: "root"}) }

// fire opens an issue and waits until its delivery (if the hook was called)
// is recorded; it reports whether the hook was called.
func (f *hookFixture) fire(t *testing.T) bool {
	t.Helper()
	before := len(f.sb.Deliveries())
	ch, err := f.sb.OpenIssue(1, "x")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Hooks == 0 {
		return false
	}
	for deadline := time.Now().Add(5 * time.Second); len(f.sb.Deliveries()) == before; {
		if time.Now().After(deadline) {
			t.Fatal("the queued delivery was never made")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

func (f *hookFixture) hook(t *testing.T) map[string]any {
	t.Helper()
	return get(t, f.sb, "/api/v4/projects/1/hooks/"+f.hookID, f.token()).json(t)
}

func TestFailingHooksAreDisabledAsGitLabDoes(t *testing.T) {
	t.Run("before 17.11 a hook answering 5xx is disabled for a minute after four failures, then for longer", func(t *testing.T) {
		f := newHookFixture(t, Config{Version: "16.11", AutoDisableHooks: true})
		f.sb.SetFaults(Faults{FailWebhooksStatus: 502})
		for i := range 4 {
			if !f.fire(t) {
				t.Fatalf("failure %d: the hook was not called", i+1)
			}
		}
		h := f.hook(t)
		if h["alert_status"] != "temporarily_disabled" || h["disabled_until"] != f.clock.Now().Add(time.Minute).Format("2006-01-02T15:04:05.000Z") {
			t.Fatalf("after 4 failures: alert_status %v, disabled_until %v", h["alert_status"], h["disabled_until"])
		}
		if f.fire(t) {
			t.Fatal("a temporarily disabled hook was called")
		}
		f.clock.Add(61 * time.Second)
		if h := f.hook(t); h["alert_status"] != "executable" || h["disabled_until"] != nil {
			t.Fatalf("after the backoff: %v %v", h["alert_status"], h["disabled_until"])
		}
		if !f.fire(t) {
			t.Fatal("the hook was not retried after its backoff")
		}
		if h := f.hook(t); h["disabled_until"] != f.clock.Now().Add(2*time.Minute).Format("2006-01-02T15:04:05.000Z") {
			t.Fatalf("the second backoff ends %v, want two minutes", h["disabled_until"])
		}
	})

	t.Run("before 17.11 a hook answering 4xx four times stays disabled until a test succeeds", func(t *testing.T) {
		f := newHookFixture(t, Config{Version: "16.11", AutoDisableHooks: true})
		f.status.Store(404)
		for range 4 {
			f.fire(t)
		}
		f.clock.Add(48 * time.Hour)
		if h := f.hook(t); h["alert_status"] != "disabled" || h["disabled_until"] != nil {
			t.Fatalf("two days after 4 client errors: %v %v", h["alert_status"], h["disabled_until"])
		}
		if f.fire(t) {
			t.Fatal("a disabled hook was called")
		}
		f.status.Store(200)
		r := do(t, nil, http.MethodPost, f.sb.URL()+"/api/v4/projects/1/hooks/"+f.hookID+"/test/issues_events", f.token(), "")
		if r.status != http.StatusCreated || string(r.body) != `{"message":"201 Created"}` {
			t.Fatalf("test delivery: %d %s", r.status, r.body)
		}
		if h := f.hook(t); h["alert_status"] != "executable" {
			t.Fatalf("after a successful test: %v", h["alert_status"])
		}
		if !f.fire(t) {
			t.Fatal("the re-enabled hook was not called")
		}
	})

	t.Run("from 17.11 the 40th consecutive failure disables a hook for good", func(t *testing.T) {
		f := newHookFixture(t, Config{Version: "19.0", Profile: ProfileGitLabCom})
		f.sb.SetFaults(Faults{FailWebhooksStatus: -1})
		for i := 1; i <= 40; i++ {
			if !f.fire(t) {
				t.Fatalf("failure %d: the hook was not called", i)
			}
			want := "executable"
			switch {
			case i == 40:
				want = "disabled"
			case i > 3:
				want = "temporarily_disabled"
			}
			if got := f.hook(t)["alert_status"]; got != want {
				t.Fatalf("after failure %d: alert_status %v, want %s", i, got, want)
			}
			f.clock.Add(25 * time.Hour) // past the longest backoff
		}
		if f.fire(t) {
			t.Fatal("a permanently disabled hook was called")
		}
		last := f.sb.Deliveries()
		if d := last[len(last)-1]; d.Error != "execution expired" || d.Status != 0 {
			t.Fatalf("the timeout fault's delivery: %+v", d)
		}
	})

	t.Run("on self-managed from 15.10 the flag is off and failing hooks keep being called", func(t *testing.T) {
		f := newHookFixture(t, Config{Version: "17.11"})
		f.status.Store(500)
		for i := range 6 {
			if !f.fire(t) {
				t.Fatalf("failure %d: the hook was not called", i+1)
			}
		}
		if h := f.hook(t); h["alert_status"] != "executable" {
			t.Fatalf("alert_status %v", h["alert_status"])
		}
	})

	t.Run("15.7 to 15.9 disable failing hooks on self-managed too", func(t *testing.T) {
		f := newHookFixture(t, Config{Version: "15.8"})
		f.status.Store(500)
		for range 4 {
			f.fire(t)
		}
		if h := f.hook(t); h["alert_status"] != "temporarily_disabled" {
			t.Fatalf("alert_status %v", h["alert_status"])
		}
	})
}

func TestTheHookTestEndpointDeliversSampleDataAsGitLabDoes(t *testing.T) {
	f := newHookFixture(t, Config{Version: "17.11"})
	path := f.sb.URL() + "/api/v4/projects/1/hooks/" + f.hookID + "/test/"
	tok := f.token()
	cases := []struct {
		trigger string
		status  int // receiver's answer
		want    int
		body    string
	}{
		{"push_events", 200, http.StatusCreated, `{"message":"201 Created"}`},
		{"merge_requests_events", 200, http.StatusCreated, `{"message":"201 Created"}`},
		{"issues_events", 500, http.StatusUnprocessableEntity, `{"message":"500 Internal Server Error"}`},
		{"wiki_page_events", 200, http.StatusUnprocessableEntity, `{"message":"Ensure the wiki is enabled and has pages."}`},
		{"no_such_events", 200, http.StatusBadRequest, `{"error":"trigger does not have a valid value"}`},
	}
	for _, tc := range cases {
		t.Run(tc.trigger, func(t *testing.T) {
			f.status.Store(int32(tc.status))
			r := do(t, nil, http.MethodPost, path+tc.trigger, tok, "")
			if r.status != tc.want || strings.TrimSpace(string(r.body)) != tc.body {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.want, tc.body)
			}
		})
	}
	// Five calls a minute per project and user from 17.1; four above
	// counted (Grape rejects an unknown trigger before the handler runs).
	f.status.Store(200)
	if r := do(t, nil, http.MethodPost, path+"push_events", tok, ""); r.status != http.StatusCreated {
		t.Fatalf("fifth test in a minute: %d", r.status)
	}
	if r := do(t, nil, http.MethodPost, path+"push_events", tok, ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("sixth test in a minute: %d, want 429", r.status)
	}
	f.clock.Add(time.Minute)
	if r := do(t, nil, http.MethodPost, path+"push_events", tok, ""); r.status != http.StatusCreated {
		t.Fatalf("a minute later: %d", r.status)
	}

	t.Run("before 16.11 there is no test endpoint", func(t *testing.T) {
		old := newHookFixture(t, Config{Version: "16.10"})
		r := do(t, nil, http.MethodPost, old.sb.URL()+"/api/v4/projects/1/hooks/"+old.hookID+"/test/push_events", old.token(), "")
		if r.status != http.StatusNotFound {
			t.Fatalf("%d, want 404", r.status)
		}
	})
}

func TestHookEventsListRecentDeliveriesWithTheirErrors(t *testing.T) {
	f := newHookFixture(t, Config{Version: "17.11"})
	f.fire(t)
	f.status.Store(503)
	f.fire(t)
	var evs []map[string]any
	mustJSON(t, get(t, f.sb, "/api/v4/projects/1/hooks/"+f.hookID+"/events", f.token()).body, &evs)
	if len(evs) != 2 || evs[0]["response_status"] != "503" || evs[1]["response_status"] != "200" || evs[0]["trigger"] != "issue_hooks" {
		t.Fatalf("events %v", evs)
	}
	if h := evs[0]["request_headers"].(map[string]any); h["X-Gitlab-Token"] != "[REDACTED]" {
		t.Fatalf("the secret token shows in the events: %v", h["X-Gitlab-Token"])
	}
	mustJSON(t, get(t, f.sb, "/api/v4/projects/1/hooks/"+f.hookID+"/events?status=server_failure", f.token()).body, &evs)
	if len(evs) != 1 {
		t.Fatalf("server_failure lists %d events, want 1", len(evs))
	}
	old := newHookFixture(t, Config{Version: "17.2"})
	if r := get(t, old.sb, "/api/v4/projects/1/hooks/"+old.hookID+"/events", old.token()); r.status != http.StatusNotFound {
		t.Fatalf("17.2: %d, want 404", r.status)
	}
}

func TestHookFieldsFollowTheVersion(t *testing.T) {
	cases := []struct {
		version string
		present []string
		absent  []string
	}{
		{"15.6", nil, []string{"alert_status", "disabled_until", "url_variables", "custom_headers", "name", "branch_filter_strategy"}},
		{"15.7", []string{"alert_status", "disabled_until", "url_variables"}, []string{"custom_headers", "name", "branch_filter_strategy"}},
		{"17.1", []string{"alert_status", "custom_headers", "name", "description"}, []string{"branch_filter_strategy", "token_present"}},
		{"17.2", []string{"branch_filter_strategy", "custom_headers"}, []string{"token_present"}},
		{"19.0", []string{"branch_filter_strategy", "token_present", "signing_token_present"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.version, func(t *testing.T) {
			f := newHookFixture(t, Config{Version: tc.version})
			h := f.hook(t)
			for _, k := range tc.present {
				if _, ok := h[k]; !ok {
					t.Errorf("%s missing", k)
				}
			}
			for _, k := range tc.absent {
				if _, ok := h[k]; ok {
					t.Errorf("%s present", k)
				}
			}
		})
	}
}
