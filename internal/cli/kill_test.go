package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/bench"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

// child is a labsync serve process run from the test binary.
type child struct {
	cmd  *exec.Cmd
	addr string
	logs *bytes.Buffer
}

func startServe(t *testing.T, env []string) *child {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "serve")
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(append(os.Environ(), "LABSYNC_TEST_MAIN=1", "LABSYNC_ADDR="+addr, "LABSYNC_PUBLIC_URL=http://"+addr), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, addr: addr, logs: logs}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 2400 { // up to a minute: a first start migrates the schema, slow under -race on a busy machine
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return c
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("serve never became ready:\n%s", logs)
	return nil
}

// TestKill9LosesNoAcknowledgedDelivery drives 20,000 deliveries at a real
// serve process, kills it with SIGKILL part-way, restarts it, and checks
// that every delivery answered 200 is stored, none twice, and every one
// processed.
func TestKill9LosesNoAcknowledgedDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts labsync processes")
	}
	dir := t.TempDir()
	_, kekB64, _ := vault.GenerateKEK()
	env := []string{"LABSYNC_DATA_DIR=" + dir, "LABSYNC_KEK=" + kekB64, "LABSYNC_LOG_LEVEL=warn"}
	opts := store.Options{DataDir: dir}
	if storetest.Dialect(t) == store.Postgres {
		opts.DatabaseURL = storetest.FreshPostgresURL(t)
		env = append(env, "LABSYNC_DATABASE_URL="+opts.DatabaseURL)
	}
	ctx := context.Background()

	// Prepare the organisation, integration and webhook endpoint.
	st, err := store.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b, _, _ := st.BootstrapIfEmpty(ctx, "Default", "owner@localhost", "")
	in := &store.Integration{OrgID: b.Org.ID, Alias: "gl", BaseURL: "https://gitlab.example.com", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	// The payload's project (1) is selected: deliveries are processed
	// into rows, at intake on SQLite, by the processor on PostgreSQL.
	if err := st.UpsertDiscoveredProjects(ctx, b.Org.ID, in.ID, []store.Project{{GitLabID: 1,
		PathWithNamespace: "gitlabhq/gitlab-test", Name: "Gitlab Test", ObjectFormat: "sha1"}}); err != nil {
		t.Fatal(err)
	}
	if p, err := st.ProjectByGitLabID(ctx, b.Org.ID, in.ID, 1); err != nil {
		t.Fatal(err)
	} else if err := st.SetSelectedProjects(ctx, b.Org.ID, in.ID, []int64{p.ID}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSelection(ctx, b.Org.ID, in.ID, store.Selection{Projects: []int64{1}, Services: store.AllServices}); err != nil {
		t.Fatal(err)
	}
	kek, _ := vault.ParseKEK(kekB64)
	wh := webhook.New(st, vault.New(kek, st.OrgKeys()), slog.New(slog.DiscardHandler), webhook.Options{})
	is, err := wh.Issue(ctx, b.Org.ID, in.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	srv := startServe(t, env)
	const total = 20000
	acked := make([]atomic.Bool, total)
	var sent, ok atomic.Int64
	killed := make(chan struct{})
	var once sync.Once
	body := bench.Payload()
	send := func(addr string, i int) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/webhooks/gitlab/"+is.HookID, bytes.NewReader(body))
		req.Header.Set("X-Gitlab-Event", "Merge Request Hook")
		req.Header.Set("X-Gitlab-Token", is.Secret.Reveal())
		req.Header.Set("Idempotency-Key", fmt.Sprintf("kill-%d", i))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				sent.Add(1)
				if code, _ := send(srv.addr, i); code == 200 {
					acked[i].Store(true)
					if ok.Add(1) == total/3 {
						once.Do(func() {
							srv.cmd.Process.Signal(syscall.SIGKILL)
							close(killed)
						})
					}
				}
			}
		})
	}
	wg.Wait()
	<-killed
	srv.cmd.Wait()
	nAcked := ok.Load()
	if nAcked < total/3 || nAcked == total {
		t.Fatalf("%d of %d acknowledged: the kill did not land mid-way", nAcked, total)
	}

	// Restart and resend everything: acknowledged ones must come back as
	// duplicates, the rest are stored now.
	srv2 := startServe(t, env)
	found := resendAll(t, "after the restart", acked, func(i int) (int, string) { return send(srv2.addr, i) })
	st, err = store.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts, err := st.InboxCounts(ctx, b.Org.ID, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, n := range counts {
		stored += n
	}
	if stored != total {
		t.Fatalf("inbox holds %v, want exactly %d (each delivery once)", counts, total)
	}
	// Every one is processed: none was lost between storing and processing.
	for deadline := time.Now().Add(2 * time.Minute); counts["pending"] > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if counts, err = st.InboxCounts(ctx, b.Org.ID, in.ID); err != nil {
			t.Fatal(err)
		}
	}
	if counts["processed"] != total {
		t.Fatalf("inbox holds %v, want all %d processed", counts, total)
	}
	t.Logf("killed after %d acknowledged of %d sent; all %d found after restart, %d stored in all (%v)", nAcked, sent.Load(), found, stored, counts)
}
