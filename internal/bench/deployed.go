package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

// benchDeployed measures labsync as deployed: it prepares an organisation,
// an integration with the payload's project selected and a webhook
// endpoint, starts `labsync serve` (this binary) on that database with its
// processor on, drives the deliveries at it from a separate driver process,
// waits until the processor has drained the inbox, stops serve with SIGTERM
// and checks that acknowledged = stored = processed, each processed delivery
// leaving its merge request row and change-feed entry. Then it drives a
// no-op receiver the same way and prints the two side by side.
func (w *Webhooks) benchDeployed(ctx context.Context, out, errOut io.Writer) error {
	n, conns, dbURL := w.Deliveries, w.Connections, w.DatabaseURL
	dir, err := os.MkdirTemp("", "labsync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dataDir := filepath.Join(dir, "data")
	st, err := store.Open(ctx, store.Options{DatabaseURL: dbURL, DataDir: dataDir})
	if err != nil {
		return err
	}
	defer func() { st.Close() }()
	if err := st.Migrate(ctx, nil); err != nil {
		return err
	}
	if err := noOrganisations(ctx, st); err != nil {
		return err
	}
	fx, err := prepareDeployed(ctx, st)
	if err != nil {
		return err
	}
	if st.Dialect() == store.SQLite {
		// serve is the only process on the file while it runs, as deployed.
		if err := st.Close(); err != nil {
			return err
		}
	}

	serve, err := startServe(ctx, dir, dataDir, dbURL, fx.kekB64)
	if err != nil {
		return err
	}
	defer serve.kill()
	base := serve.base
	pid := serve.cmd.Process.Pid
	fmt.Fprintf(out, "labsync bench webhooks: %d deliveries, %d connections, %s; labsync serve as deployed (own process, processor on), load from a driver process; %d CPUs; load average %s\n",
		n, conns, st.Dialect(), runtime.NumCPU(), loadAverage())

	walBefore := walPosition(ctx, st)
	cpu0, w0 := procCPU(pid), procWritten(pid)
	start := time.Now()
	real, err := driveFromProcess(ctx, []string{base + "/api/v1/webhooks/gitlab/" + fx.hookID}, fx.token, n, conns)
	if err != nil {
		return err
	}
	acked := time.Now()
	drained, derr := waitDrained(ctx, base+"/metrics", 2*time.Minute)
	end := time.Now()
	cpu1, w1 := procCPU(pid), procWritten(pid)
	walAfter := walPosition(ctx, st)
	commits, batched, merr := metricSums(ctx, base+"/metrics", "labsync_webhook_inbox_batch_size")

	if werr := serve.stop(); werr != nil {
		fmt.Fprintf(errOut, "labsync serve did not stop cleanly on SIGTERM: %v\n", werr)
	}
	if st.Dialect() == store.SQLite {
		if st, err = store.Open(ctx, store.Options{DataDir: dataDir}); err != nil {
			return err
		}
	}
	sum, err := st.InboxSummary(ctx, fx.orgID, fx.integrationID)
	if err != nil {
		return err
	}
	var stored int64
	for _, v := range sum.ByStatus {
		stored += v
	}
	processed := sum.ByStatus["processed"]

	real.print(out, "labsync serve")
	wall := end.Sub(start)
	if derr != nil {
		fmt.Fprintf(out, "  the inbox was not drained %s after the last acknowledgement: %v\n", drained.Round(time.Millisecond), derr)
	}
	procRate := 0.0
	if sum.LastProcessed != nil && processed > 0 {
		procRate = float64(processed) / sum.LastProcessed.Sub(start).Seconds()
		fmt.Fprintf(out, "  processed: %8.0f deliveries/s end to end (%d processed, the last within %.2f s of the driver's end)\n",
			procRate, processed, max(0, sum.LastProcessed.Sub(acked).Seconds()))
	}
	ok := stored == int64(real.ok) && processed == int64(real.ok) && sum.MergeRequests == int64(real.ok) &&
		sum.WebhookEvents == int64(real.ok) && real.ok == n
	fmt.Fprintf(out, "  acknowledged %d, stored %d, processed %d, merge request rows %d, change-feed entries %d (%s)\n",
		real.ok, stored, processed, sum.MergeRequests, sum.WebhookEvents, map[bool]string{true: "all processed", false: "MISMATCH"}[ok])
	if len(sum.ByStatus) > 1 || processed != stored {
		fmt.Fprintf(out, "  inbox by status: %v\n", sum.ByStatus)
	}
	fmt.Fprintf(out, "  CPU: %.2f cores busy in labsync serve over %.2f s (until drained), %.2f in the load driver's process",
		float64(cpu1-cpu0)/float64(wall), wall.Seconds(), real.driverCores)
	if real.ok > 0 {
		fmt.Fprintf(out, "; serve: %.0f µs of CPU per delivery", float64((cpu1-cpu0).Microseconds())/float64(real.ok))
	}
	if w0 >= 0 && w1 >= 0 && real.ok > 0 {
		fmt.Fprintf(out, "; written to disk by serve: %.0f MB, %.1f KiB per delivery", float64(w1-w0)/1e6, float64(w1-w0)/1024/float64(real.ok))
	}
	if walBefore >= 0 && walAfter >= walBefore && real.ok > 0 {
		fmt.Fprintf(out, "; PostgreSQL WAL: %.1f KiB per delivery", float64(walAfter-walBefore)/1024/float64(real.ok))
	}
	fmt.Fprintln(out)
	if merr == nil && commits > 0 {
		fmt.Fprintf(out, "  inbox: %.0f group-commit transactions, %.1f deliveries each on average\n",
			commits, batched/commits)
	}

	noop, closeNoop, err := noopServer()
	if err != nil {
		return err
	}
	defer closeNoop()
	cpuN := cpuTime()
	base0, err := driveFromProcess(ctx, []string{noop}, fx.token, n, conns)
	if err != nil {
		return err
	}
	cpuN = cpuTime() - cpuN
	base0.print(out, "no-op receiver")
	if base0.elapsed > 0 && base0.ok > 0 {
		fmt.Fprintf(out, "  CPU: %.2f cores busy in the no-op receiver's process (%.0f µs per delivery), %.2f in the load driver's\n",
			float64(cpuN)/float64(base0.elapsed), float64(cpuN.Microseconds())/float64(base0.ok), base0.driverCores)
	}
	if base0.rate > 0 {
		fmt.Fprintf(out, "ratio to the no-op receiver: processed %.2f, acknowledged %.2f; load average %s\n",
			procRate/base0.rate, real.rate/base0.rate, loadAverage())
	}
	if !ok {
		return ErrNotAllStored
	}
	return nil
}

// deployedFixture is what the deployed bench prepared in the database.
type deployedFixture struct {
	orgID, integrationID int64
	hookID, token        string
	kekB64               string
}

// prepareDeployed creates the bench organisation, a token integration with
// the payload's project discovered and selected (every service on) and its
// webhook endpoint, under a fresh KEK that serve is then given.
func prepareDeployed(ctx context.Context, st *store.Store) (deployedFixture, error) {
	kek, kekB64, err := vault.GenerateKEK()
	if err != nil {
		return deployedFixture{}, err
	}
	u, err := st.CreateUser(ctx, fmt.Sprintf("bench-%d@localhost", time.Now().UnixNano()), "bench", "")
	if err != nil {
		return deployedFixture{}, err
	}
	org, err := st.CreateOrganization(ctx, "bench", u.ID)
	if err != nil {
		return deployedFixture{}, err
	}
	in := &store.Integration{OrgID: org.ID, Alias: "bench", BaseURL: "https://gitlab.bench.invalid", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		return deployedFixture{}, err
	}
	if err := st.UpsertDiscoveredProjects(ctx, org.ID, in.ID, []store.Project{{GitLabID: benchProjectID,
		PathWithNamespace: "gitlabhq/gitlab-test", Name: "Gitlab Test", ObjectFormat: "sha1"}}); err != nil {
		return deployedFixture{}, err
	}
	p, err := st.ProjectByGitLabID(ctx, org.ID, in.ID, benchProjectID)
	if err != nil {
		return deployedFixture{}, err
	}
	if err := st.SetSelectedProjects(ctx, org.ID, in.ID, []int64{p.ID}); err != nil {
		return deployedFixture{}, err
	}
	if err := st.SaveSelection(ctx, org.ID, in.ID, store.Selection{Projects: []int64{benchProjectID}, Services: store.AllServices}); err != nil {
		return deployedFixture{}, err
	}
	wh := webhook.New(st, vault.New(kek, st.OrgKeys()), slog.New(slog.DiscardHandler), webhook.Options{})
	is, err := wh.Issue(ctx, org.ID, in.ID, false)
	if err != nil {
		return deployedFixture{}, err
	}
	return deployedFixture{orgID: org.ID, integrationID: in.ID, hookID: is.HookID, token: is.Secret.Reveal(), kekB64: kekB64}, nil
}

// waitDrained polls serve's /metrics until labsync_webhook_inbox_pending
// is 0, for at most limit, and returns how long it waited.
func waitDrained(ctx context.Context, metricsURL string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		pending, err := inboxPending(ctx, metricsURL)
		if err == nil && pending == 0 {
			return time.Since(start), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start), errors.New("deliveries still pending")
}

func inboxPending(ctx context.Context, metricsURL string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", metricsURL, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "labsync_webhook_inbox_pending "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("no labsync_webhook_inbox_pending in /metrics")
}

// metricSums returns a histogram's _count and _sum from a /metrics page.
func metricSums(ctx context.Context, metricsURL, name string) (count, sum float64, err error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", metricsURL, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	var seen int
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		for suffix, dst := range map[string]*float64{"_count ": &count, "_sum ": &sum} {
			if v, ok := strings.CutPrefix(line, name+suffix); ok {
				if *dst, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
					return 0, 0, err
				}
				seen++
			}
		}
	}
	if seen != 2 {
		return 0, 0, fmt.Errorf("no %s histogram in /metrics", name)
	}
	return count, sum, sc.Err()
}

// procCPU is the user and system CPU time process pid has used, from
// /proc/<pid>/stat (0 where that is not known).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which may hold spaces: state is the
	// first, utime and stime the 12th and 13th.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	stm, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ut+stm) * time.Second / clockTicks
}

// procWritten is write_bytes of /proc/<pid>/io, or -1.
func procWritten(pid int) int64 {
	return writeBytes(fmt.Sprintf("/proc/%d/io", pid))
}

// walPosition is PostgreSQL's current WAL position in bytes, or -1 on
// SQLite or when it cannot be read.
func walPosition(ctx context.Context, st *store.Store) int64 {
	if st.Dialect() != store.Postgres {
		return -1
	}
	var n int64
	if err := st.DB().QueryRowContext(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// loadAverage is the first three fields of /proc/loadavg, or "unknown",
// followed by the share of the last 10 s in which some task waited for a
// CPU (/proc/pressure/cpu) where the kernel reports it: figures taken while
// other work held the CPUs are not comparable with a quiet machine's.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	s := strings.Join(f[:3], " ")
	if p, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		for _, field := range strings.Fields(strings.SplitN(string(p), "\n", 2)[0]) {
			if v, ok := strings.CutPrefix(field, "avg10="); ok {
				s += ", tasks waiting for a CPU " + v + "% of the last 10 s"
			}
		}
	}
	return s
}
