package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

// benchReplicas prepares a bench organisation, integration and webhook
// endpoint on the PostgreSQL database, starts replicas `labsync serve`
// processes of this binary on it, drives n deliveries at them round-robin,
// checks that every delivery answered 200 is stored, prints the figures and
// stops the processes with SIGTERM.
func benchReplicas(ctx context.Context, out, errOut io.Writer, dbURL string, replicas, n, conns int) error {
	st, err := store.Open(ctx, store.Options{DatabaseURL: dbURL})
	if err != nil {
		return err
	}
	defer st.Close()
	if st.Dialect() != store.Postgres {
		return fmt.Errorf("--replicas needs a PostgreSQL --database-url")
	}
	if err := st.Migrate(ctx, nil); err != nil {
		return err
	}
	kek, kekB64, err := vault.GenerateKEK()
	if err != nil {
		return err
	}
	// Each bench run brings its own key: older bench organisations in the
	// same database are wrapped by other keys, which serve refuses.
	if ids, err := st.KEKIDs(ctx); err != nil {
		return err
	} else if len(ids) > 0 {
		return fmt.Errorf("--replicas needs a database without organisations (it holds keys of %d); use a fresh database or schema", len(ids))
	}
	u, err := st.CreateUser(ctx, fmt.Sprintf("bench-%d@localhost", time.Now().UnixNano()), "bench", "")
	if err != nil {
		return err
	}
	org, err := st.CreateOrganization(ctx, "bench", u.ID)
	if err != nil {
		return err
	}
	in := &store.Integration{OrgID: org.ID, Alias: "bench", BaseURL: "https://gitlab.bench.invalid", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		return err
	}
	wh := webhook.New(st, vault.New(kek, st.OrgKeys()), slog.New(slog.DiscardHandler), webhook.Options{})
	is, err := wh.Issue(ctx, org.ID, in.ID, false)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "labsync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var urls []string
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	for i := range replicas {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addr := ln.Addr().String()
		ln.Close()
		logf, err := os.Create(fmt.Sprintf("%s/replica-%d.log", dir, i))
		if err != nil {
			return err
		}
		defer logf.Close()
		p, err := labsyncCommand(nil, []string{"LABSYNC_ADDR=" + addr, "LABSYNC_PUBLIC_URL=http://" + addr, "LABSYNC_DATABASE_URL=" + dbURL,
			"LABSYNC_KEK=" + kekB64, "LABSYNC_DATA_DIR=" + fmt.Sprintf("%s/data-%d", dir, i), "LABSYNC_LOG_LEVEL=warn", "LABSYNC_LOG_FORMAT=json"}, "serve")
		if err != nil {
			return err
		}
		p.Stdout, p.Stderr = logf, logf
		if err := p.Start(); err != nil {
			return err
		}
		procs = append(procs, p)
		urls = append(urls, "http://"+addr+"/api/v1/webhooks/gitlab/"+is.HookID)
		if err := waitReadyURL(ctx, "http://"+addr+"/readyz"); err != nil {
			b, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("replica %d: %w\n%s", i, err, b)
		}
	}
	count := func() (int64, error) {
		c, err := st.InboxCounts(ctx, org.ID, in.ID)
		var total int64
		for _, v := range c {
			total += v
		}
		return total, err
	}
	fmt.Fprintf(out, "labsync bench webhooks: %d deliveries, %d connections, %d replicas on postgres, GOMAXPROCS %d (this process), %d CPUs\n",
		n, conns, replicas, runtime.GOMAXPROCS(0), runtime.NumCPU())
	res := drive(urls, is.Secret.Reveal(), n, conns)
	stored, err := count()
	if err != nil {
		return err
	}
	res.print(out, fmt.Sprintf("%d replica(s)", replicas))
	fmt.Fprintf(out, "  stored: %d of %d answered 200 (%s)\n", stored, res.ok,
		map[bool]string{true: "all durable", false: "MISMATCH"}[stored == int64(res.ok)])
	// Let the replicas drain the inbox, then stop them as an orchestrator would.
	drainStart := time.Now()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if pending, _, err := st.InboxBacklog(ctx); err != nil || pending == 0 {
			break
		}
	}
	fmt.Fprintf(out, "  inbox drained %.2f s after the last delivery\n", time.Since(drainStart).Seconds())
	for _, p := range procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			fmt.Fprintf(errOut, "a replica did not stop cleanly on SIGTERM: %v (logs in %s were removed)\n", err, dir)
		}
	}
	procs = nil
	if stored != int64(res.ok) || res.ok != n {
		return ErrNotAllStored
	}
	return nil
}

// waitReadyURL polls a /readyz URL until it answers 200 (at most a minute).
func waitReadyURL(ctx context.Context, url string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready within a minute at %s", url)
}
