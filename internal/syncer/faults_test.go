package syncer_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
)

// burstProxy sits in front of the sandbox and answers bursts of 429s (with
// Retry-After: 1) as a throttled GitLab does, rewriting pagination links to
// its own address.
type burstProxy struct {
	srv     *httptest.Server
	n       atomic.Int64
	every   int64
	burst   int64
	limited atomic.Int64
}

func newBurstProxy(t *testing.T, target string, every, burst int64) *burstProxy {
	u, _ := url.Parse(target)
	p := &burstProxy{every: every, burst: burst}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ModifyResponse = func(r *http.Response) error {
		if l := r.Header.Get("Link"); l != "" {
			r.Header.Set("Link", strings.ReplaceAll(l, target, p.srv.URL))
		}
		return nil
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v4/") {
			if n := p.n.Add(1); n%p.every < p.burst {
				p.limited.Add(1)
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte("Retry later\n"))
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// TestFaultsLeaveTheSameData backfills once cleanly and once through 10%
// server errors, 429 bursts, stalls past the client timeout, a token that
// expires mid-backfill (the sync stops with the reason and resumes with a
// new token) and a kill mid-backfill (a new service on the same database
// resumes); the normalised tables must hash the same.
func TestFaultsLeaveTheSameData(t *testing.T) {
	ctx := context.Background()
	cfg := small("17.11")
	cfg.Projects, cfg.MRs, cfg.Commits = 10, 12, 23
	sb, err := sandbox.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })

	// The clean run.
	clean := attach(t, sb, storetest.Open(t))
	csvc := clean.service(syncer.Options{Concurrency: 4})
	clean.selectAll(t, csvc)
	if err := csvc.Run(ctx, clean.org, clean.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}
	want, err := clean.st.DataFingerprint(ctx, clean.org, clean.integ)
	if err != nil {
		t.Fatal(err)
	}

	// The faulty run, through the 429 proxy.
	proxy := newBurstProxy(t, sb.URL(), 60, 2)
	f := attach(t, sb, storetest.Open(t))
	var mu sync.Mutex
	var problems []error
	opts := syncer.Options{Concurrency: 4, PerPage: 5, RetryBase: 5 * time.Millisecond, LeaseTTL: 300 * time.Millisecond,
		Clients: syncer.StaticClients(proxy.srv.URL, nil, f.tok, 400*time.Millisecond),
		TokenProblem: func(_ context.Context, org, integ int64, err error) {
			mu.Lock()
			problems = append(problems, err)
			mu.Unlock()
		}}
	svc := syncer.New(f.st, opts)
	f.selectAll(t, svc)

	faults := sandbox.Faults{ErrorRate: 0.1, StallRate: 0.03, StallFor: 3 * time.Second}
	expiring := faults
	expiring.ExpireTokensAfter = 300 * time.Millisecond
	sb.SetFaults(expiring)
	f.setToken(sb.CreateToken(sandbox.TokenSpec{Name: "expires", Scopes: []string{"api"}}))
	err = svc.Run(ctx, f.org, f.integ, syncer.ModeFull)
	if !errors.Is(err, syncer.ErrStopped) {
		t.Fatalf("with an expiring token the run ended with %v, want ErrStopped", err)
	}
	st, _ := f.st.SyncStateFor(ctx, f.org, f.integ)
	if st.State != store.SyncStopped || !strings.Contains(st.Reason, "expired") {
		t.Fatalf("state after the token expired: %+v", st)
	}
	mu.Lock()
	if len(problems) != 1 {
		t.Fatalf("TokenProblem called %d times", len(problems))
	}
	mu.Unlock()
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); !errors.Is(err, syncer.ErrStopped) {
		t.Fatalf("a stopped sync ran again without being started: %v", err)
	}

	// A new token; then a kill mid-backfill.
	sb.SetFaults(faults)
	f.setToken(sb.CreateToken(sandbox.TokenSpec{Name: "new", Scopes: []string{"api"}}))
	killCtx, kill := context.WithCancel(ctx)
	done := make(chan error, 1)
	// StartSync clears the stop; without a job runner it runs inline.
	go func() { done <- svc.StartSync(killCtx, f.org, f.integ, syncer.ModeFull) }()
	for i := 0; i < 200; i++ {
		time.Sleep(10 * time.Millisecond)
		rep, _ := svc.Progress(ctx, f.org, f.integ, false)
		if rep.Totals["all"] != nil && rep.Totals["all"].PagesDone > 5 {
			break
		}
	}
	kill()
	<-done
	if rows, _ := f.st.ProgressRows(ctx, f.org, f.integ, true); len(rows) == 0 {
		t.Fatal("the kill came after the backfill had finished")
	}
	// A crashed process would not have released its lease: take it as a
	// dead owner, so the new service must wait for it to expire.
	if ok, err := f.st.AcquireSyncLease(ctx, f.org, f.integ, "dead-process", opts.LeaseTTL); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	svc2 := syncer.New(f.st, opts)
	var last error
	for i := 0; i < 100; i++ {
		last = svc2.Run(ctx, f.org, f.integ, syncer.ModeFull)
		if last == nil {
			break
		}
		if errors.Is(last, syncer.ErrBusy) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if last != nil {
		t.Fatalf("the resumed sync did not finish: %v", last)
	}
	sb.SetFaults(sandbox.Faults{})
	got, err := f.st.DataFingerprint(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		c1, _ := clean.st.CountData(ctx, clean.org, clean.integ)
		c2, _ := f.st.CountData(ctx, f.org, f.integ)
		t.Fatalf("data differs from a clean run: clean %+v, faulty %+v", c1, c2)
	}
	if proxy.limited.Load() == 0 {
		t.Error("the proxy never answered 429")
	}
	t.Logf("429s answered: %d", proxy.limited.Load())
}
