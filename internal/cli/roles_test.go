package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/vault"
)

// TestServeRoleNeedsPostgres: on SQLite one process does everything, and
// asking for a split says which variable to change.
func TestServeRoleNeedsPostgres(t *testing.T) {
	isolate(t)
	for _, role := range []string{"web", "worker"} {
		code, _, errOut := run(t, context.Background(), "serve", "--role="+role)
		if code != 2 || !strings.Contains(errOut, "LABSYNC_ROLE="+role+" needs PostgreSQL") || !strings.Contains(errOut, "LABSYNC_DATABASE_URL") {
			t.Fatalf("--role=%s on SQLite: exit %d\n%s", role, code, errOut)
		}
	}
}

// TestServeWebAndWorkerRoles runs a web process (intake) and a worker
// process (background work) on one PostgreSQL database: the web process
// stores deliveries and leaves them to the worker, which processes them and
// serves no API.
func TestServeWebAndWorkerRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	if storetest.Dialect(t) != store.Postgres {
		t.Skip("web and worker roles share a PostgreSQL database: run with LABSYNC_TEST_DIALECT=postgres")
	}
	ctx := context.Background()
	w := newSyncedWorld(t, storetest.FreshPostgresURL(t), sandbox.Config{Version: "17.11", Seed: 2, Groups: 1, Projects: 2, MRs: 3})
	st, err := store.Open(ctx, w.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	web := startServeAsync(t, append(w.env, "LABSYNC_ROLE=web"))
	waitReady(t, web)
	client := &http.Client{Timeout: 30 * time.Second}
	const total = 200
	for i := range total {
		if code, resp := w.deliver(client, web.addr, i); code != 200 {
			t.Fatalf("delivery %d to the web process: %d %s", i, code, resp)
		}
	}
	// No processor runs in a web process: the deliveries wait.
	time.Sleep(1500 * time.Millisecond)
	if n, _, err := st.InboxBacklog(ctx); err != nil || n != total {
		t.Fatalf("web process: %d pending (%v), want all %d left to a worker", n, err, total)
	}

	worker := startServeAsync(t, append(w.env, "LABSYNC_ROLE=worker"))
	waitReady(t, worker)
	deadline := time.Now().Add(time.Minute)
	for {
		n, _, err := st.InboxBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker left %d deliveries pending:\n%s", n, tail(worker.output(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	get := func(addr, path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+w.apiToken)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get(worker.addr, "/api/v1/integrations"); code != http.StatusNotFound {
		t.Fatalf("worker serves the API: %d", code)
	}
	if code, _ := w.deliver(client, worker.addr, total+1); code != http.StatusNotFound {
		t.Fatalf("worker receives webhooks: %d", code)
	}
	if code, _ := get(web.addr, fmt.Sprintf("/api/v1/integrations/%d", w.integ)); code != http.StatusOK {
		t.Fatalf("web process API: %d", code)
	}
	for _, addr := range []string{web.addr, worker.addr} {
		code, body := get(addr, "/metrics")
		if code != 200 || !strings.Contains(body, "labsync_webhook_inbox_pending 0") || !strings.Contains(body, "labsync_webhook_health{") {
			t.Fatalf("/metrics of %s: %d\n%s", addr, code, tail(body, 2000))
		}
	}
	if _, body := get(web.addr, "/metrics"); !strings.Contains(body, `labsync_webhook_deliveries_total{result="accepted"} 200`) {
		t.Fatalf("web /metrics lacks the accepted deliveries:\n%s", tail(body, 3000))
	}
}

// TestReplicasMigrateTogether starts three serve processes at once on an
// empty PostgreSQL schema: goose's and River's migrations and the first
// organisation's bootstrap each happen once, and all three become ready.
func TestReplicasMigrateTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	if storetest.Dialect(t) != store.Postgres {
		t.Skip("replicas share a PostgreSQL database: run with LABSYNC_TEST_DIALECT=postgres")
	}
	dbURL := storetest.FreshPostgresURL(t)
	_, kekB64, _ := vault.GenerateKEK()
	var rs []*replica
	for range 3 {
		rs = append(rs, startServeAsync(t, []string{"LABSYNC_DATA_DIR=" + t.TempDir(), "LABSYNC_KEK=" + kekB64,
			"LABSYNC_DATABASE_URL=" + dbURL, "LABSYNC_LOG_FORMAT=json"}))
	}
	for _, r := range rs {
		waitReady(t, r)
	}
	st, err := store.Open(context.Background(), store.Options{DatabaseURL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.CountOrganizations(context.Background()); err != nil || n != 1 {
		t.Fatalf("%d organisations (%v), want 1", n, err)
	}
	firstStarts := 0
	for _, r := range rs {
		if strings.Contains(r.output(), "first start") {
			firstStarts++
		}
	}
	if firstStarts != 1 {
		t.Fatalf("%d processes printed the first-start credentials, want 1", firstStarts)
	}
}
