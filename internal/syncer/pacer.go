package syncer

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// pacer spends an integration's GitLab rate budget: it follows
// RateLimit-Remaining/RateLimit-Reset (GitLab's fixed window) so requests
// stop when the window's budget is spent and resume when it resets, and it
// holds every request after a 429 (Retry-After) or a run of failures, so
// retries never storm. One pacer serves all workers of an integration.
type pacer struct {
	mu        sync.Mutex
	remaining int
	reset     time.Time
	known     bool
	inflight  int
	notBefore time.Time
	failures  int
	// onWait is told how long a request waited before it could start
	// (metrics); nil for none.
	onWait func(time.Duration)
}

func newPacer() *pacer { return &pacer{} }

// wait blocks until a request may start.
func (p *pacer) wait(ctx context.Context) error {
	var waited time.Duration
	for {
		p.mu.Lock()
		now := time.Now()
		var d time.Duration
		switch {
		case now.Before(p.notBefore):
			d = p.notBefore.Sub(now)
		case p.known && now.Before(p.reset) && p.remaining <= 0:
			// Budget spent: wait for the window to reset, spread a little
			// so the workers don't all arrive in the same millisecond.
			d = p.reset.Sub(now) + time.Duration(rand.Int64N(int64(50*time.Millisecond)))
		default:
			if p.known && now.Before(p.reset) {
				p.remaining--
			} else {
				p.known = false
			}
			p.inflight++
			p.mu.Unlock()
			if waited > 0 && p.onWait != nil {
				p.onWait(waited)
			}
			return nil
		}
		p.mu.Unlock()
		waited += d
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// done records a finished request: its rate-limit headers (nil when none
// arrived), whether it failed in a retryable way, and how long GitLab asked
// to wait.
func (p *pacer) done(h http.Header, failed bool, retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	now := time.Now()
	if h != nil {
		rem, err1 := strconv.Atoi(h.Get("RateLimit-Remaining"))
		reset, err2 := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
		if err1 == nil && err2 == nil {
			// Requests still in flight may not have been counted yet.
			p.remaining = rem - p.inflight
			p.reset = time.Unix(reset, 0)
			p.known = true
		}
	}
	if retryAfter > 0 {
		if t := now.Add(retryAfter); t.After(p.notBefore) {
			p.notBefore = t
		}
	}
	if !failed {
		p.failures = 0
		return
	}
	p.failures++
	if p.failures >= 3 {
		// Several failures in a row across workers: GitLab is struggling.
		// Hold everyone, not just the request that failed.
		d := backoff(250*time.Millisecond, p.failures-2)
		if t := now.Add(d); t.After(p.notBefore) {
			p.notBefore = t
		}
	}
}

// backoff is base·2^attempt with ±50% jitter, capped at 30s.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for range attempt {
		d *= 2
		if d > 30*time.Second {
			d = 30 * time.Second
			break
		}
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)+1))
}
