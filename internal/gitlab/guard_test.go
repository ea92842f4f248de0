package gitlab

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
)

// countingServer answers 200 to everything and counts what reaches it.
type countingServer struct{ n atomic.Int64 }

func (c *countingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{}`)
}

func TestReadOnlyGuard(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string // below the base URL
		hooks  bool
		pass   bool
	}{
		{"GET passes", "GET", "/api/v4/projects", false, true},
		{"HEAD passes", "HEAD", "/api/v4/projects/1", false, true},
		{"GET with dot segments still only reads", "GET", "/api/v4/projects/1/../2", false, true},
		{"POST to projects refused", "POST", "/api/v4/projects", false, false},
		{"PUT to a project refused", "PUT", "/api/v4/projects/1", false, false},
		{"DELETE a project refused", "DELETE", "/api/v4/projects/1", false, false},
		{"PATCH refused", "PATCH", "/api/v4/projects/1", false, false},
		{"OPTIONS refused", "OPTIONS", "/api/v4/projects", false, false},
		{"POST a note refused even with hooks", "POST", "/api/v4/projects/1/issues/2/notes", true, false},
		{"oauth token allowed", "POST", "/oauth/token", false, true},
		{"oauth revoke allowed", "POST", "/oauth/revoke", false, true},
		{"oauth authorize POST refused", "POST", "/oauth/authorize", false, false},
		{"oauth token PUT refused", "PUT", "/oauth/token", false, false},
		{"project hook create refused without opt-in", "POST", "/api/v4/projects/1/hooks", false, false},
		{"project hook create allowed", "POST", "/api/v4/projects/1/hooks", true, true},
		{"project hook by path allowed", "POST", "/api/v4/projects/platform%2Fapi/hooks", true, true},
		{"project hook update allowed", "PUT", "/api/v4/projects/1/hooks/9", true, true},
		{"project hook delete allowed", "DELETE", "/api/v4/projects/1/hooks/9", true, true},
		{"project hook test allowed", "POST", "/api/v4/projects/1/hooks/9/test/push_events", true, true},
		{"project hook test refused without the hook opt-in", "POST", "/api/v4/projects/1/hooks/9/test/push_events", false, false},
		{"project hook test of a merge request trigger refused without the opt-in", "POST", "/api/v4/projects/1/hooks/9/test/merge_requests_events", false, false},
		{"hook test with an encoded trigger refused", "POST", "/api/v4/projects/1/hooks/9/test/push%2Fevents", true, false},
		{"hook test without a trigger refused", "POST", "/api/v4/projects/1/hooks/9/test", true, false},
		{"hook test with a non-numeric hook refused", "POST", "/api/v4/projects/1/hooks/x/test/push_events", true, false},
		{"hook events resend refused even with hooks", "POST", "/api/v4/projects/1/hooks/9/events/3/resend", true, false},
		{"group hook create allowed", "POST", "/api/v4/groups/5/hooks", true, true},
		{"group hook delete allowed", "DELETE", "/api/v4/groups/5/hooks/3", true, true},
		{"group hook delete refused without opt-in", "DELETE", "/api/v4/groups/5/hooks/3", false, false},
		{"hook list PUT refused", "PUT", "/api/v4/projects/1/hooks", true, false},
		{"hook POST on an id refused", "POST", "/api/v4/projects/1/hooks/9", true, false},
		{"hook test with DELETE refused", "DELETE", "/api/v4/projects/1/hooks/9/test/push_events", true, false},
		{"non-numeric hook id refused", "DELETE", "/api/v4/projects/1/hooks/x", true, false},
		{"dot-dot out of hooks refused", "POST", "/api/v4/projects/1/hooks/../../x", true, false},
		{"dot-dot into hooks refused", "POST", "/api/v4/users/../projects/1/hooks", true, false},
		{"encoded slash after hooks refused", "POST", "/api/v4/projects/1/hooks%2F..%2F..%2Fx", true, false},
		{"encoded dot-dot in the id refused", "POST", "/api/v4/projects/..%2F..%2Fusers/hooks", true, false},
		{"encoded dots refused", "POST", "/api/v4/projects/1/hooks/%2e%2e", true, false},
		{"encoded slash in projects segment refused", "POST", "/api/v4%2Fprojects/1/hooks", true, false},
		{"double slash refused", "POST", "/api/v4//projects/1/hooks", true, false},
		{"backslash refused", "POST", `/api/v4/projects/1\hooks`, true, false},
		{"other API version refused", "POST", "/api/v3/projects/1/hooks", true, false},
	}
	srv := &countingServer{}
	ts := gitlabtest.Serve(t, srv)
	for _, withBase := range []string{"", "/gitlab"} {
		base, err := NormalizeBaseURL(ts.URL + withBase)
		if err != nil {
			t.Fatal(err)
		}
		clients := map[bool]*Client{}
		for _, hooks := range []bool{false, true} {
			c, err := New(Options{BaseURL: base, Policy: AddressPolicy{AllowLoopback: true}, AllowHookWrites: hooks, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			clients[hooks] = c
		}
		for _, tc := range tests {
			t.Run("base"+withBase+"/"+tc.name, func(t *testing.T) {
				before := srv.n.Load()
				req, err := http.NewRequest(tc.method, base.String()+tc.path, strings.NewReader(`{"url":"https://labsync.example/hook"}`))
				if err != nil {
					t.Fatal(err)
				}
				resp, err := clients[tc.hooks].HTTP().Do(req)
				if tc.pass {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					resp.Body.Close()
					if srv.n.Load() != before+1 {
						t.Errorf("the request did not reach the server")
					}
					return
				}
				var wre *WriteRefusedError
				if !errors.As(err, &wre) {
					t.Fatalf("got %v, want a *WriteRefusedError", err)
				}
				if wre.Method != tc.method {
					t.Errorf("method %q", wre.Method)
				}
				if srv.n.Load() != before {
					t.Errorf("a refused request reached the server")
				}
				if ae := ClassifyError(err); ae.Kind != KindWriteRefused {
					t.Errorf("kind %q", ae.Kind)
				}
			})
		}
	}

	t.Run("oauth outside the base path refused", func(t *testing.T) {
		base, _ := NormalizeBaseURL(ts.URL + "/gitlab")
		c, _ := New(Options{BaseURL: base, Policy: AddressPolicy{AllowLoopback: true}})
		before := srv.n.Load()
		_, err := c.HTTP().Post(ts.URL+"/oauth/token", "application/x-www-form-urlencoded", nil)
		var wre *WriteRefusedError
		if !errors.As(err, &wre) || srv.n.Load() != before {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("other host refused for every method", func(t *testing.T) {
		other := &countingServer{}
		ots := gitlabtest.Serve(t, other)
		base, _ := NormalizeBaseURL(ts.URL)
		c, _ := New(Options{BaseURL: base, Policy: AddressPolicy{AllowLoopback: true}, AllowHookWrites: true})
		for _, m := range []string{"GET", "POST"} {
			req, _ := http.NewRequest(m, ots.URL+"/api/v4/projects/1/hooks", nil)
			_, err := c.HTTP().Do(req)
			var wre *WriteRefusedError
			if !errors.As(err, &wre) || !wre.OtherHost {
				t.Fatalf("%s: got %v", m, err)
			}
		}
		if other.n.Load() != 0 {
			t.Errorf("the other host saw %d requests", other.n.Load())
		}
	})

	t.Run("redirect to another host not followed", func(t *testing.T) {
		other := &countingServer{}
		ots := gitlabtest.Serve(t, other)
		redir := gitlabtest.Serve(t, http.RedirectHandler(ots.URL+"/login", http.StatusFound))
		base, _ := NormalizeBaseURL(redir.URL)
		c, _ := New(Options{BaseURL: base, Policy: AddressPolicy{AllowLoopback: true}})
		_, err := c.HTTP().Get(redir.URL + "/api/v4/version")
		var wre *WriteRefusedError
		if !errors.As(err, &wre) || !wre.OtherHost || other.n.Load() != 0 {
			t.Fatalf("got %v, other saw %d", err, other.n.Load())
		}
	})

	t.Run("client-go writes are refused", func(t *testing.T) {
		base, _ := NormalizeBaseURL(ts.URL)
		c, _ := New(Options{BaseURL: base, Policy: AddressPolicy{AllowLoopback: true}})
		before := srv.n.Load()
		_, err := c.API().Projects.DeleteProject(1, nil)
		if ae := ClassifyError(err); ae == nil || ae.Kind != KindWriteRefused {
			t.Fatalf("got %v", err)
		}
		if srv.n.Load() != before {
			t.Errorf("the delete reached the server")
		}
	})
}
