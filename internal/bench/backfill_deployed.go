package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/vault"
)

// serveChild is a `labsync serve` started by the bench on a database of its
// own, as an operator would run it.
type serveChild struct {
	cmd     *exec.Cmd
	base    string   // http://127.0.0.1:port
	env     []string // what serve was given, for the admin commands run beside it
	logPath string
	log     *os.File
}

// startServe starts `labsync serve` (this binary) on dataDir or dbURL under
// the KEK kekB64 (empty: a fresh one), listening on a free loopback port,
// and waits until it is ready. extra is added to its environment.
func startServe(ctx context.Context, dir, dataDir, dbURL, kekB64 string, extra ...string) (*serveChild, error) {
	if kekB64 == "" {
		_, k, err := vault.GenerateKEK()
		if err != nil {
			return nil, err
		}
		kekB64 = k
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &serveChild{base: "http://" + addr, logPath: filepath.Join(dir, "serve.log")}
	if s.log, err = os.Create(s.logPath); err != nil {
		return nil, err
	}
	s.env = append([]string{"LABSYNC_ADDR=" + addr, "LABSYNC_PUBLIC_URL=" + s.base, "LABSYNC_DATABASE_URL=" + dbURL,
		"LABSYNC_KEK=" + kekB64, "LABSYNC_DATA_DIR=" + dataDir, "LABSYNC_LOG_LEVEL=warn", "LABSYNC_LOG_FORMAT=json"}, extra...)
	if s.cmd, err = labsyncCommand(nil, s.env, "serve"); err != nil {
		s.log.Close()
		return nil, err
	}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.log.Close()
		return nil, fmt.Errorf("bench: unable to start labsync serve: %w", err)
	}
	if err := waitReadyURL(ctx, s.base+"/readyz"); err != nil {
		s.kill()
		b, _ := os.ReadFile(s.logPath)
		return nil, fmt.Errorf("labsync serve: %w\n%s", err, b)
	}
	return s, nil
}

// stop ends serve with SIGTERM, as an operator stops it, and waits.
func (s *serveChild) stop() error {
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	err := s.cmd.Wait()
	s.cmd = nil
	s.log.Close()
	return err
}

// kill ends serve at once (a bench that failed half-way).
func (s *serveChild) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
	s.log.Close()
}

// admin runs `labsync args…` beside serve, on its database, and returns
// what it printed.
func (s *serveChild) admin(ctx context.Context, args ...string) (string, error) {
	cmd, err := labsyncCommand(ctx, s.env, args...)
	if err != nil {
		return "", err
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("labsync %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// apiClient calls serve's REST API with a labsync API token.
type apiClient struct {
	base, token string
	hc          *http.Client
}

func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode >= 300 {
		return fmt.Errorf("bench: %s %s: %s: %.300s", method, path, res.Status, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

var apiTokenRE = regexp.MustCompile(`lsk_[A-Za-z0-9_-]+`)

// runDeployed is the backfill as deployed: the sandbox and `labsync serve`
// each in their own process, and this process doing what a person does
// through the CLI and the API: create an API token, connect with the
// sandbox's token, refresh discovery, select every project, start a sync
// and follow it until it is idle. The figures are the sync's own start and
// end as serve reports them, the requests the sandbox logged between the
// two, serve's CPU and peak RSS from /proc, and the rows in the database
// once serve has stopped.
func (b *Backfill) runDeployed(ctx context.Context, out io.Writer) error {
	if b.CPUProfile != "" || b.IdlePolls > 0 {
		return errors.New("bench: --cpuprofile and --idle-polls need --in-process (the backfill runs inside labsync serve)")
	}
	sb, err := startChildGitLab(ctx, b)
	if err != nil {
		return err
	}
	defer sb.Close()
	dir, err := os.MkdirTemp("", "labsync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dataDir := filepath.Join(dir, "data")
	if b.DatabaseURL != "" {
		if err := requireEmptyDatabase(ctx, b.DatabaseURL); err != nil {
			return err
		}
	}
	serve, err := startServe(ctx, dir, dataDir, b.DatabaseURL, "", "LABSYNC_ALLOW_LOOPBACK_GITLAB=true")
	if err != nil {
		return err
	}
	defer serve.kill()
	pid := serve.cmd.Process.Pid

	printed, err := serve.admin(ctx, "admin", "token", "create", "--name", "bench")
	if err != nil {
		return err
	}
	tok := apiTokenRE.FindString(printed)
	if tok == "" {
		return errors.New("bench: `labsync admin token create` printed no token")
	}
	api := &apiClient{base: serve.base, token: tok, hc: &http.Client{Timeout: 2 * time.Minute}}

	var connected struct {
		Integration struct {
			ID int64 `json:"id"`
		} `json:"integration"`
	}
	if err := api.do(ctx, "POST", "/api/v1/integrations/gitlab/token", map[string]any{"base_url": sb.URL(), "token": sb.AdminToken(),
		"alias": "bench"}, &connected); err != nil {
		return err
	}
	integ := connected.Integration.ID
	ipath := "/api/v1/integrations/" + strconv.FormatInt(integ, 10)
	if err := api.do(ctx, "PATCH", ipath, map[string]any{"request_concurrency": b.Concurrency}, nil); err != nil {
		return err
	}

	// Discovery, as the picker's refresh asks for it, then every project
	// selected (archived included).
	if err := sb.ResetRequests(); err != nil {
		return err
	}
	t0 := time.Now()
	var ids []int64
	for cursor, first := "", true; first || cursor != ""; first = false {
		q := "?limit=1000"
		if first {
			q += "&refresh=true"
		} else {
			q += "&cursor=" + cursor
		}
		var page struct {
			Repositories []struct {
				ID int64 `json:"id"`
			} `json:"repositories"`
			NextCursor string `json:"next_cursor"`
		}
		if err := api.do(ctx, "GET", ipath+"/repositories"+q, nil, &page); err != nil {
			return err
		}
		for _, r := range page.Repositories {
			ids = append(ids, r.ID)
		}
		cursor = page.NextCursor
	}
	discoverWall := time.Since(t0)
	rs, err := sb.Requests()
	if err != nil {
		return err
	}
	discoverReqs := apiRequests(rs)
	if err := api.do(ctx, "PUT", ipath+"/selection", map[string]any{"projects": ids, "include_archived": true,
		"services": store.AllServices}, nil); err != nil {
		return err
	}

	// The sync, followed as `labsync sync --start` follows it.
	if err := sb.ResetRequests(); err != nil {
		return err
	}
	cpu0 := procCPU(pid)
	var queued struct {
		QueuedAt time.Time `json:"queued_at"`
	}
	if err := api.do(ctx, "POST", ipath+"/sync", nil, &queued); err != nil {
		return err
	}
	var rep syncer.Report
	for {
		if err := api.do(ctx, "GET", ipath+"/sync?detail=false", nil, &rep); err != nil {
			return err
		}
		// The run the POST queued is the first to start at or after
		// queued_at (a periodic poll may run before it).
		started := rep.StartedAt != nil && !rep.StartedAt.Before(queued.QueuedAt)
		if started && rep.State != store.SyncRunning && rep.FinishedAt != nil {
			break
		}
		if rep.State == store.SyncStopped {
			return fmt.Errorf("bench: the sync stopped: %s", rep.Reason)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	cpu := procCPU(pid) - cpu0
	rss := procPeakRSS(pid)
	all, err := sb.Requests()
	if err != nil {
		return err
	}
	// The sync's requests: those GitLab got between its start and its end
	// (serve's periodic poll may come before or after it). The requests
	// from the POST to the sync's end are what the user's sync cost in all.
	since := 0
	for _, r := range all {
		if (strings.HasPrefix(r.Path, "/api/v4/") || r.Path == "/api/graphql") && !r.Time.After(*rep.FinishedAt) {
			since++
		}
	}
	var reqs []sandbox.RequestLogEntry
	for _, r := range all {
		if !r.Time.Before(*rep.StartedAt) && !r.Time.After(*rep.FinishedAt) {
			reqs = append(reqs, r)
		}
	}
	wall := rep.FinishedAt.Sub(*rep.StartedAt)
	if err := serve.stop(); err != nil {
		fmt.Fprintf(out, "labsync serve did not stop cleanly on SIGTERM: %v\n", err)
	}

	st, err := store.Open(ctx, store.Options{DatabaseURL: b.DatabaseURL, DataDir: dataDir})
	if err != nil {
		return err
	}
	defer st.Close()
	org, _, err := st.FirstOwner(ctx) // the organisation serve created at its first start
	if err != nil {
		return err
	}
	counts, err := st.CountData(ctx, org.ID, integ)
	if err != nil {
		return err
	}
	manifest, err := sb.Manifest()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "labsync bench backfill: labsync serve as deployed (own process), the sandbox in its own process, driven through the API as `labsync sync --start` drives it; load average %s\n", loadAverage())
	fmt.Fprintf(out, "GitLab requests   %d from the sync request to the sync's end, serve's periodic poll included\n", since)
	b.print(out, backfillRun{dialect: st.Dialect(), discoverWall: discoverWall, discoverReqs: discoverReqs, wall: wall,
		start: *rep.StartedAt, reqs: reqs, manifest: manifest, counts: counts, cpu: cpu,
		cpuWho: "labsync serve alone", peakRSS: rss, rssWho: "labsync serve; the sandbox ran as its own process",
		fullSync: true})
	return nil
}

// requireEmptyDatabase refuses a PostgreSQL database that holds
// organisations: serve would refuse keys another KEK wraps.
func requireEmptyDatabase(ctx context.Context, dbURL string) error {
	st, err := store.Open(ctx, store.Options{DatabaseURL: dbURL})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx, nil); err != nil {
		return err
	}
	return noOrganisations(ctx, st)
}

// noOrganisations refuses a database that holds organisation keys: serve
// refuses organisations whose keys another KEK wraps.
func noOrganisations(ctx context.Context, st *store.Store) error {
	ids, err := st.KEKIDs(ctx)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		return fmt.Errorf("the bench needs a database without organisations (it holds keys of %d); use a fresh database", len(ids))
	}
	return nil
}

// procPeakRSS is VmHWM of process pid, or "unknown".
func procPeakRSS(pid int) string {
	return peakRSSOf(fmt.Sprintf("/proc/%d/status", pid))
}
