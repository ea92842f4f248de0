package syncer_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/syncer"
)

// TestRequestsInFlightStayWithinTheConcurrency: more chains work than
// requests may be in flight (some chains are writing their page), yet
// GitLab never sees more concurrent requests than the integration's
// concurrency — and sees more than one, so the bound is not met by
// running one at a time.
func TestRequestsInFlightStayWithinTheConcurrency(t *testing.T) {
	ctx := context.Background()
	cfg := small("17.11")
	cfg.Projects, cfg.Latency = 12, 15*time.Millisecond
	f := newFixture(t, cfg)
	u, _ := url.Parse(f.sb.URL())
	rp := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	now, peak := 0, 0
	var srv *httptest.Server
	rp.ModifyResponse = func(r *http.Response) error {
		if l := r.Header.Get("Link"); l != "" {
			r.Header.Set("Link", strings.ReplaceAll(l, f.sb.URL(), srv.URL))
		}
		return nil
	}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now++
		peak = max(peak, now)
		mu.Unlock()
		defer func() { mu.Lock(); now--; mu.Unlock() }()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	const concurrency = 3
	svc := f.service(syncer.Options{Concurrency: concurrency,
		Clients: syncer.StaticClients(srv.URL, nil, f.tok, 10*time.Second)})
	f.selectAll(t, svc)
	mu.Lock()
	peak = 0
	mu.Unlock()
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > concurrency || peak < 2 {
		t.Fatalf("peak requests in flight: %d, want 2..%d", peak, concurrency)
	}
	t.Logf("peak requests in flight: %d of %d allowed", peak, concurrency)
}
