package cli

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/bench"
	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

// syncedWorld is a database prepared for serve processes: an organisation,
// an integration connected by token to an in-process sandbox with every
// group selected, its webhook endpoint, and an API token.
type syncedWorld struct {
	opts     store.Options
	env      []string
	sb       *sandbox.Sandbox
	org      int64
	integ    int64
	hook     webhook.Issued
	apiToken string
	// projectID is a selected project deliveries are about.
	projectID int64
}

// newSyncedWorld prepares the database (PostgreSQL when databaseURL is set)
// and the sandbox; the sandbox's latency makes its backfill take seconds.
func newSyncedWorld(t *testing.T, databaseURL string, sbCfg sandbox.Config) *syncedWorld {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	_, kekB64, _ := vault.GenerateKEK()
	w := &syncedWorld{opts: store.Options{DataDir: dir, DatabaseURL: databaseURL}}
	w.env = []string{"LABSYNC_DATA_DIR=" + dir, "LABSYNC_KEK=" + kekB64, "LABSYNC_LOG_FORMAT=json",
		"LABSYNC_ALLOW_LOOPBACK_GITLAB=true", "LABSYNC_DATABASE_URL=" + databaseURL}
	sbCfg.TLS = sandbox.TLSCA
	sb, err := sandbox.Start(ctx, sbCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	w.sb = sb

	st, err := store.Open(ctx, w.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b, _, err := st.BootstrapIfEmpty(ctx, "Default", "owner@localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	w.org = b.Org.ID
	kek, _ := vault.ParseKEK(kekB64)
	vlt := vault.New(kek, st.OrgKeys())
	cfg := config.Config{PublicURL: "http://127.0.0.1", AllowLoopbackGitLab: true}
	svc := integrations.New(st, vlt, nil, cfg, slog.New(slog.DiscardHandler), nil)
	res, err := svc.ConnectToken(ctx, integrations.Actor{OrgID: b.Org.ID, UserID: b.Owner.ID}, integrations.TokenInput{
		BaseURL: sb.URL(), Token: secret.New(sb.UserToken()), Alias: "sandbox", CAPEM: string(sb.CAPEM())})
	if err != nil {
		t.Fatal(err)
	}
	w.integ = res.Integration.ID
	// The services these multi-process tests exercise: merge requests,
	// issues, pipelines and pushes. The review and delivery resources have
	// their own tests (internal/syncer); on top of them, a backfill of
	// hundreds of merge requests behind a slowed sandbox would spend
	// minutes on one request per merge request for its commits.
	sel := store.Selection{Services: store.Services{MergeRequests: true, Issues: true, Pipelines: true, Pushes: true}}
	for g := range sbCfg.Groups {
		sel.Groups = append(sel.Groups, store.GroupSelection{GitLabID: int64(g + 1), AutoImport: true})
	}
	if err := st.SaveSelection(ctx, w.org, w.integ, sel); err != nil {
		t.Fatal(err)
	}
	wh := webhook.New(st, vlt, slog.New(slog.DiscardHandler), webhook.Options{})
	if w.hook, err = wh.Issue(ctx, w.org, w.integ, false); err != nil {
		t.Fatal(err)
	}
	tok, prefix, hash, _ := accounts.NewAPIToken()
	if _, err := st.CreateAPIToken(ctx, w.org, b.Owner.ID, "replicas-test", prefix, hash); err != nil {
		t.Fatal(err)
	}
	w.apiToken = tok
	return w
}

// startSync asks a replica's API for a full sync.
func (w *syncedWorld) startSync(t *testing.T, addr string) {
	t.Helper()
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/api/v1/integrations/%d/sync", addr, w.integ), nil)
	req.Header.Set("Authorization", "Bearer "+w.apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("start sync: %d %s", res.StatusCode, body)
	}
}

// mrDelivery is a merge request opened in project projectID whose GitLab
// id (10,000,000 + i) no sandbox object has, so each delivery makes one
// row and one feed event of its own.
func mrDelivery(projectID int64, i int) []byte {
	b := string(bench.Payload())
	b = strings.Replace(b, `"object_attributes":{"id":99,"iid":1,`, fmt.Sprintf(`"object_attributes":{"id":%d,"iid":%d,`, 10_000_000+i, 100_000+i), 1)
	b = strings.Replace(b, `"project":{"id":1,`, fmt.Sprintf(`"project":{"id":%d,`, projectID), 1)
	return []byte(b)
}

// deliver sends delivery i to addr and returns the status and body.
func (w *syncedWorld) deliver(client *http.Client, addr string, i int) (int, string) {
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/webhooks/gitlab/"+w.hook.HookID, bytes.NewReader(mrDelivery(w.projectID, i)))
	req.Header.Set("X-Gitlab-Event", "Merge Request Hook")
	req.Header.Set("X-Gitlab-Token", w.hook.Secret.Reveal())
	req.Header.Set("Idempotency-Key", fmt.Sprintf("replica-%d", i))
	res, err := client.Do(req)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// resendAll resends every delivery, 0 to len(acked)-1, from 16 goroutines
// with send, as GitLab retries what it is unsure of; to says where they go,
// for the failure messages. Each must be answered 200, and each one
// acknowledged before (acked[i] set) must come back as a duplicate: an
// acknowledged delivery that is not already stored was lost. It returns how
// many acknowledged ones came back as duplicates.
func resendAll(t *testing.T, to string, acked []atomic.Bool, send func(i int) (code int, body string)) int64 {
	t.Helper()
	var nAcked int64
	for i := range acked {
		if acked[i].Load() {
			nAcked++
		}
	}
	var dupOfAcked, newOfAcked, next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(acked) {
					return
				}
				code, resp := send(i)
				if code != 200 {
					t.Errorf("resend %d %s: %d %s", i, to, code, resp)
					return
				}
				if acked[i].Load() {
					if strings.Contains(resp, "duplicate") {
						dupOfAcked.Add(1)
					} else {
						newOfAcked.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := newOfAcked.Load(); n != 0 {
		t.Fatalf("%d deliveries answered 200 were not in the database when resent %s", n, to)
	}
	if dupOfAcked.Load() != nAcked {
		t.Fatalf("%d acknowledged, %d found stored when resent %s", nAcked, dupOfAcked.Load(), to)
	}
	return dupOfAcked.Load()
}

// replica is a serve process whose output can be read while it runs.
type replica struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
}

// startServeAsync starts a serve process without waiting for it.
func startServeAsync(t *testing.T, env []string) *replica {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "serve")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(append(os.Environ(), "LABSYNC_TEST_MAIN=1", "LABSYNC_ADDR="+addr, "LABSYNC_PUBLIC_URL=http://"+addr), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &replica{cmd: cmd, addr: addr, logs: logs}
}

// waitReady waits until c answers /readyz with 200.
func waitReady(t *testing.T, c *replica) {
	t.Helper()
	for range 1200 {
		res, err := http.Get("http://" + c.addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("serve never became ready:\n%s", c.output())
}

// syncBuffer is a bytes.Buffer safe to read while the process writes.
// (Not embedding the buffer: its ReadFrom would bypass the lock.)
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (c *replica) output() string { return c.logs.String() }

// syncJob is the newest sync job River holds that works unfinished chains:
// the full sync started by the test, or the backfill that resumes it when
// its worker died.
type syncJob struct {
	id          int64
	state       string
	attemptedBy string
	attemptedAt *time.Time
}

func latestSyncJob(ctx context.Context, db *sql.DB) (syncJob, error) {
	var j syncJob
	var by sql.NullString
	err := db.QueryRowContext(ctx, `SELECT id, state, COALESCE(attempted_by[array_length(attempted_by, 1)], ''), attempted_at
		FROM river_job WHERE kind = 'sync_integration' AND args->>'mode' IN ('full', 'backfill') ORDER BY id DESC LIMIT 1`).Scan(&j.id, &j.state, &by, &j.attemptedAt)
	j.attemptedBy = by.String
	return j, err
}

// syncJobsLeft counts the sync jobs (full or backfill) not yet ended.
func syncJobsLeft(ctx context.Context, db *sql.DB) int {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = 'sync_integration'
		AND args->>'mode' IN ('full', 'backfill') AND state NOT IN ('completed', 'discarded', 'cancelled')`).Scan(&n); err != nil {
		return -1
	}
	return n
}

var pidInClientID = regexp.MustCompile(`_pid(\d+)_`)

func pidOf(clientID string) int {
	m := pidInClientID.FindStringSubmatch(clientID)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestReplicasOnPostgres starts two serve processes together on one fresh
// PostgreSQL schema, drives webhook deliveries at both while a sync runs,
// kills the replica running the sync with SIGKILL part-way, and checks that
// every delivery answered 200 is stored once, each is processed once
// (one row and one feed event per delivery), and the sync finishes on the
// survivor. It logs how long the takeover took.
func TestReplicasOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	if storetest.Dialect(t) != store.Postgres {
		t.Skip("replicas share a PostgreSQL database: run with LABSYNC_TEST_DIALECT=postgres (and LABSYNC_TEST_POSTGRES_URL)")
	}
	ctx := context.Background()
	w := newSyncedWorld(t, storetest.FreshPostgresURL(t), sandbox.Config{Version: "17.11", Seed: 9, Groups: 4, Projects: 16,
		MRs: 200, Issues: 100, Pipelines: 80, Commits: 100, Latency: 120 * time.Millisecond})
	// Short job attempts so River hands a dead replica's sync to the
	// survivor within seconds rather than half an hour.
	// A short job timeout keeps CI quick; LABSYNC_TEST_REPLICA_JOB_TIMEOUT
	// (e.g. 30m, the default) measures the takeover as deployed.
	jobTimeout := cmp.Or(os.Getenv("LABSYNC_TEST_REPLICA_JOB_TIMEOUT"), "5s")
	env := append(w.env, "LABSYNC_JOB_TIMEOUT="+jobTimeout, "LABSYNC_LOG_LEVEL=info")

	// Both start together: migrations (already at head here) and
	// bootstrap must not trip over each other.
	replicas := []*replica{startServeAsync(t, env), startServeAsync(t, env)}
	for _, r := range replicas {
		waitReady(t, r)
	}
	st, err := store.Open(ctx, w.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := st.DB()

	w.startSync(t, replicas[0].addr)
	// Wait for discovery: deliveries about a selected project are then
	// normalised rather than ignored.
	deadline := time.Now().Add(2 * time.Minute)
	for w.projectID == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("discovery did not finish:\n%s", replicas[0].output())
		}
		ps, err := st.AllProjects(ctx, w.org, w.integ)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Selected {
				w.projectID = p.GitLabID
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}

	const total = 8000
	acked := make([]atomic.Bool, total)
	var ok, sent atomic.Int64
	dead := make([]atomic.Bool, len(replicas))
	var next atomic.Int64
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				r := i % len(replicas)
				if dead[r].Load() {
					r = 1 - r // GitLab's retry lands on the other replica behind the balancer
				}
				sent.Add(1)
				if code, _ := w.deliver(client, replicas[r].addr, i); code == 200 {
					acked[i].Store(true)
					ok.Add(1)
				}
			}
		})
	}

	// Kill the replica whose River client runs the sync, once a third of
	// the deliveries are acknowledged.
	for ok.Load() < total/3 {
		time.Sleep(5 * time.Millisecond)
	}
	var victim int
	var killedJob syncJob
	for {
		j, err := latestSyncJob(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if j.state == "completed" {
			t.Fatalf("the sync finished before the kill; make the sandbox slower")
		}
		if j.state == "running" {
			pid := pidOf(j.attemptedBy)
			victim = -1
			for i, r := range replicas {
				if r.cmd.Process.Pid == pid {
					victim = i
				}
			}
			if victim < 0 {
				t.Fatalf("sync job %d attempted by %q, not one of the replicas", j.id, j.attemptedBy)
			}
			killedJob = j
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	dead[victim].Store(true)
	replicas[victim].cmd.Process.Signal(syscall.SIGKILL)
	killedAt := time.Now()
	replicas[victim].cmd.Wait()
	survivor := replicas[1-victim]
	ackedAtKill := ok.Load()
	wg.Wait()
	t.Logf("killed replica %d (pid %d) running sync job %d after %d of %d deliveries acknowledged; %d acknowledged in all",
		victim, replicas[victim].cmd.Process.Pid, killedJob.id, ackedAtKill, total, ok.Load())

	// The survivor takes the sync over and finishes it.
	survivorPid := survivor.cmd.Process.Pid
	var takeover, finished time.Duration
	deadline = time.Now().Add(4 * time.Minute)
	for finished == 0 {
		if time.Now().After(deadline) {
			j, _ := latestSyncJob(ctx, db)
			t.Fatalf("sync not finished on the survivor %s after the kill; job %+v\nsurvivor logs:\n%s",
				time.Since(killedAt).Round(time.Second), j, tail(survivor.output(), 4000))
		}
		j, err := latestSyncJob(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if takeover == 0 && j.state == "running" && pidOf(j.attemptedBy) == survivorPid && j.attemptedAt != nil && j.attemptedAt.After(killedAt) {
			takeover = time.Since(killedAt)
		}
		if j.state == "completed" && syncJobsLeft(ctx, db) == 0 {
			// Both the resumed job and the dead worker's own job (which
			// the queue rescues and retries) must have ended.
			if takeover == 0 {
				takeover = time.Since(killedAt)
			}
			finished = time.Since(killedAt)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("sync takeover: the survivor started working the killed replica's sync %s after the SIGKILL; finished %s after it",
		takeover.Round(100*time.Millisecond), finished.Round(100*time.Millisecond))
	state, err := st.SyncStateFor(ctx, w.org, w.integ)
	if err != nil {
		t.Fatal(err)
	}
	if state.State != store.SyncIdle || state.Reason != "" {
		t.Fatalf("sync state after takeover: %s %q", state.State, state.Reason)
	}
	if left, err := st.ProgressRows(ctx, w.org, w.integ, true); err != nil || len(left) > 0 {
		t.Fatalf("unfinished progress after the sync: %d rows, %v", len(left), err)
	}

	// Resend everything to the survivor, as GitLab retries what failed:
	// every acknowledged delivery must come back as a duplicate.
	resendAll(t, "to the survivor", acked, func(i int) (int, string) { return w.deliver(client, survivor.addr, i) })

	// The survivor drains the inbox; each delivery is processed once.
	deadline = time.Now().Add(2 * time.Minute)
	for {
		n, _, err := st.InboxBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still pending", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	counts, err := st.InboxCounts(ctx, w.org, w.integ)
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, n := range counts {
		stored += n
	}
	if stored != total || counts["processed"] != total {
		t.Fatalf("inbox holds %v, want exactly %d processed (each delivery once)", counts, total)
	}
	var rows, events, dupEvents int64
	q := func(dst *int64, query string, args ...any) {
		t.Helper()
		if err := db.QueryRowContext(ctx, query, args...).Scan(dst); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	q(&rows, `SELECT COUNT(*) FROM merge_requests WHERE org_id = $1 AND gitlab_id >= 10000000`, w.org)
	q(&events, `SELECT COUNT(*) FROM events WHERE org_id = $1 AND entity = 'merge_request' AND source = 'webhook'`, w.org)
	q(&dupEvents, `SELECT COUNT(*) FROM (SELECT entity, entity_id FROM events WHERE org_id = $1 AND action = 'created'
		GROUP BY entity, entity_id HAVING COUNT(*) > 1) d`, w.org)
	if rows != total || events != total || dupEvents != 0 {
		t.Fatalf("%d merge request rows and %d webhook feed events for %d deliveries; %d entities created twice in the feed", rows, events, total, dupEvents)
	}
	var syncRows int64
	q(&syncRows, `SELECT COUNT(*) FROM merge_requests WHERE org_id = $1 AND gitlab_id < 10000000`, w.org)
	t.Logf("inbox %v; %d webhook rows and feed events, no duplicates; %d merge requests from the sync", counts, rows, syncRows)

	res, err := http.Get("http://" + survivor.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, name := range []string{"labsync_gitlab_requests_total{integration=", "labsync_sync_items_total{integration=",
		"labsync_webhook_deliveries_total{result=\"duplicate\"}", "labsync_webhook_inbox_lag_seconds 0", "labsync_webhook_health{integration_id="} {
		if !strings.Contains(string(body), name) {
			t.Errorf("the survivor's /metrics lacks %s", name)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// logLines returns the JSON log records of a serve process whose msg
// contains substr.
func logLines(out, substr string) []map[string]any {
	var recs []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			if msg, _ := m["msg"].(string); strings.Contains(msg, substr) {
				recs = append(recs, m)
			}
		}
	}
	return recs
}
