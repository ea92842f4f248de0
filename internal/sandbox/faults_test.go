package sandbox

import (
	"errors"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable sandbox clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)}
	sb := start(t, Config{Seed: 1, Projects: 1, RateLimitPerMin: 3, Now: clock.Now})
	for i := 1; i <= 3; i++ {
		r := get(t, sb, "/api/v4/projects", sb.AdminToken())
		if r.status != 200 || r.header.Get("RateLimit-Remaining") != strconv.Itoa(3-i) {
			t.Fatalf("request %d: %d remaining %q", i, r.status, r.header.Get("RateLimit-Remaining"))
		}
	}
	r := get(t, sb, "/api/v4/projects", sb.AdminToken())
	want := map[string]string{"Retry-After": "50", "RateLimit-Limit": "3", "RateLimit-Observed": "4", "RateLimit-Remaining": "0",
		"RateLimit-Name": "throttle_authenticated_api", "RateLimit-Reset": strconv.FormatInt(time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC).Unix(), 10),
		"RateLimit-ResetTime": "Sun, 01 Mar 2026 12:01:00 GMT", "Content-Type": "text/plain"}
	if r.status != http.StatusTooManyRequests || string(r.body) != "Retry later\n" {
		t.Fatalf("4th request: %d %q", r.status, r.body)
	}
	for k, v := range want {
		if r.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, r.header.Get(k), v)
		}
	}
	clock.Add(50 * time.Second)
	if r := get(t, sb, "/api/v4/projects", sb.AdminToken()); r.status != 200 {
		t.Errorf("next window: %d", r.status)
	}
}

func TestFaults(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	sb := start(t, Config{Seed: 1, Projects: 2, Now: clock.Now})

	t.Run("errors", func(t *testing.T) {
		sb.SetFaults(Faults{ErrorRate: 1})
		seen := map[int]bool{}
		for range 40 {
			seen[get(t, sb, "/api/v4/projects", sb.AdminToken()).status] = true
		}
		if len(seen) != 2 || !seen[500] || !seen[502] {
			t.Errorf("statuses %v, want 500 and 502", seen)
		}
		sb.SetFaults(Faults{ErrorRate: 0.5})
		n := 0
		for range 200 {
			if get(t, sb, "/api/v4/projects", sb.AdminToken()).status == 200 {
				n++
			}
		}
		if n < 50 || n > 150 {
			t.Errorf("%d of 200 succeeded with ErrorRate 0.5", n)
		}
		sb.SetFaults(Faults{})
	})

	t.Run("stall longer than the client timeout", func(t *testing.T) {
		sb.SetFaults(Faults{StallRate: 1, StallFor: 5 * time.Second})
		hc := &http.Client{Timeout: 100 * time.Millisecond}
		req, _ := http.NewRequest(http.MethodGet, sb.URL()+"/api/v4/projects", nil)
		req.Header.Set("Private-Token", sb.AdminToken())
		_, err := hc.Do(req)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("stalled request: %v, want a client timeout", err)
		}
		// The server notices the hang-up on its own schedule; wait for it to
		// log the 499 so the entry cannot land in a later subtest's log.
		if !logged(sb, 499) {
			t.Errorf("the abandoned request was never logged as 499: %+v", sb.Requests())
		}
		sb.SetFaults(Faults{})
		if r := get(t, sb, "/api/v4/projects", sb.AdminToken()); r.status != 200 {
			t.Errorf("after clearing: %d", r.status)
		}
	})

	t.Run("token expires mid-run", func(t *testing.T) {
		tok := sb.CreateToken(TokenSpec{User: "root", Scopes: []string{"read_api"}})
		sb.SetFaults(Faults{ExpireTokensAfter: time.Minute})
		if r := get(t, sb, "/api/v4/projects", tok); r.status != 200 {
			t.Fatalf("first use: %d", r.status)
		}
		clock.Add(30 * time.Second)
		if r := get(t, sb, "/api/v4/projects", tok); r.status != 200 {
			t.Fatalf("within the minute: %d", r.status)
		}
		clock.Add(31 * time.Second)
		r := get(t, sb, "/api/v4/projects", tok)
		if r.status != 401 || r.json(t)["error_description"] != "Token is expired. You can either do re-authorization or token refresh." {
			t.Errorf("after expiry: %d %s", r.status, r.body)
		}
		sb.SetFaults(Faults{})
		if r := get(t, sb, "/api/v4/projects", tok); r.status != 200 {
			t.Errorf("faults cleared: %d", r.status)
		}
	})

	t.Run("request log", func(t *testing.T) {
		sb.ResetRequests()
		get(t, sb, "/api/v4/projects/1", sb.AdminToken())
		do(t, nil, http.MethodPost, sb.URL()+"/api/v4/projects/1/hooks", sb.AdminToken(), `{"url":"http://127.0.0.1:9/h"}`)
		log := sb.Requests()
		if len(log) != 2 || log[0].Method != "GET" || log[0].Path != "/api/v4/projects/1" || log[0].Status != 200 ||
			log[1].Method != "POST" || log[1].Status != 201 {
			t.Errorf("log %+v", log)
		}
	})
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		spec    string
		want    Faults
		wantErr bool
	}{
		{"", Faults{}, false},
		{"errors=0.1,stall=0.05:2s,latency=20ms,drop-webhooks,expire-tokens=2m",
			Faults{ErrorRate: 0.1, StallRate: 0.05, StallFor: 2 * time.Second, Latency: 20 * time.Millisecond, DropWebhooks: true, ExpireTokensAfter: 2 * time.Minute}, false},
		{"stall=0.5", Faults{StallRate: 0.5, StallFor: 30 * time.Second}, false},
		{"drop-webhooks=3:17", Faults{DropWebhooksOf: []int64{3, 17}}, false},
		{"drop-webhooks=3:x", Faults{}, true},
		{"errors=2", Faults{}, true},
		{"bogus", Faults{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseFaults(tt.spec)
			if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("ParseFaults(%q) = %+v, %v", tt.spec, got, err)
			}
		})
	}
}

// logged waits, for at most five seconds, until the request log holds an
// entry with the given status.
func logged(sb *Sandbox, status int) bool {
	for range 500 {
		for _, e := range sb.Requests() {
			if e.Status == status {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
