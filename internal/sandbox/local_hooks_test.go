package sandbox

import (
	"net/http"
	"strings"
	"testing"
)

func TestHooksToTheLocalNetworkAreBlockedAsGitLabDoesByDefault(t *testing.T) {
	cases := []struct {
		name, version, url string
		want               int
		body               string
	}{
		{"loopback", "17.11", "http://127.0.0.1:9/hook", http.StatusUnprocessableEntity, `{"message":{"url":["is blocked: Requests to localhost are not allowed"]}}`},
		{"localhost by name", "17.11", "http://localhost:9/hook", http.StatusUnprocessableEntity, `{"message":{"url":["is blocked: Requests to localhost are not allowed"]}}`},
		{"a private address", "17.11", "http://10.1.2.3/hook", http.StatusUnprocessableEntity, `{"message":{"url":["is blocked: Requests to the local network are not allowed"]}}`},
		{"a public name", "17.11", "https://labsync.example.com/hook", http.StatusCreated, ""},
		{"before 10.6 nothing was blocked", "10.5", "http://127.0.0.1:9/hook", http.StatusCreated, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb := start(t, Config{Version: tc.version, Seed: 1, Projects: 1, BlockLocalWebhooks: true})
			r := do(t, nil, http.MethodPost, sb.URL()+"/api/v4/projects/1/hooks", sb.AdminToken(), `{"url":"`+tc.url+`"}`)
			if r.status != tc.want || (tc.body != "" && strings.TrimSpace(string(r.body)) != tc.body) {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.want, tc.body)
			}
		})
	}
}

func TestBlockingLocalHooksWhileRunningMakesTheirDeliveriesFail(t *testing.T) {
	f := newHookFixture(t, Config{Version: "17.11"})
	settings := f.sb.URL() + "/-/sandbox/settings"
	if r := do(t, nil, http.MethodPut, settings, f.sb.ControlToken(), `{"allow_local_requests_from_web_hooks_and_services":false}`); r.status != http.StatusOK {
		t.Fatalf("PUT settings: %d %s", r.status, r.body)
	}
	f.fire(t)
	ds := f.sb.Deliveries()
	if d := ds[len(ds)-1]; d.Error != "URL is blocked: Requests to localhost are not allowed" || d.Status != 0 || f.hits.Load() != 0 {
		t.Fatalf("blocked delivery %+v, receiver hit %d times", d, f.hits.Load())
	}
	do(t, nil, http.MethodPut, settings, f.sb.ControlToken(), `{"allow_local_requests_from_web_hooks_and_services":true}`)
	f.fire(t)
	if f.hits.Load() != 1 {
		t.Fatalf("after allowing local requests the receiver was hit %d times, want 1", f.hits.Load())
	}
}
