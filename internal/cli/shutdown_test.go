package cli

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// TestServeShutsDownGracefully sends SIGTERM to a serve process while it
// receives deliveries and runs a sync: it must exit cleanly, every delivery
// it answered 200 must be stored, River must hand the running sync back
// (not leave it claimed by a process that is gone), and a new process must
// finish that sync.
func TestServeShutsDownGracefully(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	ctx := context.Background()
	var dbURL string
	if storetest.Dialect(t) == store.Postgres {
		dbURL = storetest.FreshPostgresURL(t)
	}
	w := newSyncedWorld(t, dbURL, sandbox.Config{Version: "17.11", Seed: 4, Groups: 2, Projects: 12,
		MRs: 250, Issues: 150, Pipelines: 120, Commits: 150, Latency: 400 * time.Millisecond})
	env := append(w.env, "LABSYNC_SHUTDOWN_TIMEOUT=10s", "LABSYNC_LOG_LEVEL=info")
	srv := startServeAsync(t, env)
	waitReady(t, srv)
	st, err := store.Open(ctx, w.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	jobState := func() string {
		var s string
		if err := st.DB().QueryRowContext(ctx, `SELECT state FROM river_job WHERE kind = 'sync_integration' AND args->>'mode' = 'full' ORDER BY id DESC LIMIT 1`).Scan(&s); err != nil {
			return "none"
		}
		return s
	}
	w.startSync(t, srv.addr)
	deadline := time.Now().Add(time.Minute)
	for w.projectID == 0 || jobState() != "running" {
		if time.Now().After(deadline) {
			t.Fatalf("sync did not start:\n%s", srv.output())
		}
		ps, _ := st.AllProjects(ctx, w.org, w.integ)
		for _, p := range ps {
			if p.Selected {
				w.projectID = p.GitLabID
			}
		}
		time.Sleep(20 * time.Millisecond)
	}

	const total = 2000
	acked := make([]atomic.Bool, total)
	var ok atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				if code, _ := w.deliver(client, srv.addr, i); code == 200 {
					acked[i].Store(true)
					ok.Add(1)
				}
			}
		})
	}
	// Stop while deliveries arrive and the sync is still running: once its
	// chains are planned (a moment after its job starts; a fast database
	// once let 20 deliveries through before any existed), and early enough
	// that it cannot finish in the shutdown's grace period (a slow machine
	// once let it, and the job completed instead of being handed back).
	deadline = time.Now().Add(time.Minute)
	for {
		if s := jobState(); s != "running" {
			t.Fatalf("the sync is %s before SIGTERM; make the sandbox slower:\n%s", s, tail(srv.output(), 4000))
		}
		left, err := st.ProgressRows(ctx, w.org, w.integ, true)
		if err != nil {
			t.Fatal(err)
		}
		if ok.Load() >= 20 && len(left) >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, %d deliveries acknowledged and %d chains planned and unfinished:\n%s", ok.Load(), len(left), tail(srv.output(), 4000))
		}
		time.Sleep(5 * time.Millisecond)
	}
	ackedAtTerm := ok.Load()
	termAt := time.Now()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	err = srv.cmd.Wait()
	exited := time.Since(termAt)
	wg.Wait()
	if err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v\n%s", err, tail(srv.output(), 4000))
	}
	if s := jobState(); s == "running" || s == "completed" {
		t.Fatalf("the sync job is still claimed by the stopped process (state %s):\n%s", s, tail(srv.output(), 6000))
	}
	state, err := st.SyncStateFor(ctx, w.org, w.integ)
	if err != nil {
		t.Fatal(err)
	}
	if state.LeaseOwner != "" && state.LeaseUntil != nil && state.LeaseUntil.After(time.Now()) {
		t.Fatalf("the sync lease is still held by the stopped process until %s", state.LeaseUntil)
	}
	t.Logf("SIGTERM after %d deliveries acknowledged: exited in %s; %d acknowledged in all; sync job %s",
		ackedAtTerm, exited.Round(10*time.Millisecond), ok.Load(), jobState())

	// A new process finds every acknowledged delivery and finishes the sync.
	srv2 := startServeAsync(t, env)
	waitReady(t, srv2)
	restarted := time.Now()
	for i := range total {
		code, resp := w.deliver(client, srv2.addr, i)
		if code != 200 {
			t.Fatalf("resend %d: %d %s", i, code, resp)
		}
		if acked[i].Load() && !strings.Contains(resp, "duplicate") {
			t.Fatalf("delivery %d was answered 200 before SIGTERM but is not stored", i)
		}
	}
	deadline = time.Now().Add(3 * time.Minute)
	// Every sync job must have ended (the handed-back job and any the
	// periodic poll queued to resume the sync), and no progress may be left
	// unfinished: a poll that runs after the resumed sync (runs of one
	// integration take turns) opens incremental chains of its own and
	// closes them before it ends.
	for {
		left, err := st.ProgressRows(ctx, w.org, w.integ, true)
		if jobState() == "completed" && syncJobsLeft(ctx, st.DB()) == 0 && err == nil && len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			if err == nil && len(left) > 0 {
				t.Fatalf("unfinished progress after the resumed sync: %d rows; first %+v\n%s", len(left), left[0], tail(srv2.output(), 4000))
			}
			t.Fatalf("the sync handed back on SIGTERM did not finish (job %s, progress read: %v):\n%s", jobState(), err, tail(srv2.output(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("all %d acknowledged deliveries found after the restart; the sync finished %s after it", ok.Load(), time.Since(restarted).Round(100*time.Millisecond))
}
