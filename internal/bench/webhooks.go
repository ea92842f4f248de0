package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/server"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

// ErrNotAllStored is returned by the webhook benchmarks when a delivery
// failed or one answered 200 is missing from the database; the figures,
// MISMATCH included, are printed before it.
var ErrNotAllStored = errors.New("bench: not every delivery was answered 200 and stored")

// Webhooks is one webhook intake benchmark.
type Webhooks struct {
	Deliveries, Connections int
	// DatabaseURL is the PostgreSQL database to bench against; empty:
	// SQLite in a temporary directory. Replicas needs it.
	DatabaseURL string
	// Replicas, when above 0, starts that many `labsync serve` processes
	// on DatabaseURL instead of the receiver in this process.
	Replicas int
	// CPUProfile is a file for the whole run's CPU profile; empty: none.
	CPUProfile string
	// DriverProcess sends the deliveries from a separate process of this
	// binary, as GitLab's would come.
	DriverProcess bool
	// DriveOnly, comma-separated URLs, makes this process the load driver
	// of another bench's DriverProcess: it only drives these URLs and
	// prints its result as JSON.
	DriveOnly string
	// InProcess runs the receiver and inbox inside this process without
	// the processor (the bench before issue 18); its figures are labelled
	// in-process. Without it (and without Replicas) the bench measures
	// `labsync serve` as deployed.
	InProcess bool
}

// Run drives Deliveries signed deliveries over Connections keep-alive
// connections at `labsync serve` as deployed (see benchDeployed), or with
// InProcess at the receiver in this process, or with Replicas over that
// many `labsync serve` processes; it checks that every delivery answered
// 200 is in the database (and, as deployed, processed), and prints
// deliveries/s with p50/p99 latency beside a no-op receiver's. It returns
// ErrNotAllStored when a delivery failed or went missing.
func (w *Webhooks) Run(ctx context.Context, out, errOut io.Writer) error {
	n, conns, dbURL := w.Deliveries, w.Connections, w.DatabaseURL
	if w.DriveOnly != "" {
		// The child of DriverProcess: drive, report as JSON.
		r := drive(strings.Split(w.DriveOnly, ","), os.Getenv(benchTokenEnv), n, conns)
		return json.NewEncoder(out).Encode(r.wire())
	}
	if w.Replicas > 0 {
		if dbURL == "" {
			return fmt.Errorf("--replicas needs --database-url: replicas share one PostgreSQL database")
		}
		return benchReplicas(ctx, out, errOut, dbURL, w.Replicas, n, conns)
	}
	if !w.InProcess {
		return w.benchDeployed(ctx, out, errOut)
	}
	dir, err := os.MkdirTemp("", "labsync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, store.Options{DatabaseURL: dbURL, SQLitePath: filepath.Join(dir, "bench.db")})
	if err != nil {
		return err
	}
	defer st.Close()
	if dbURL != "" {
		fmt.Fprintln(out, "note: the PostgreSQL database gets a bench organisation and its rows")
	}
	if err := st.Migrate(ctx, nil); err != nil {
		return err
	}
	url, secretTok, count, cleanup, err := benchReceiver(ctx, st)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(out, "labsync bench webhooks --in-process (receiver and inbox in this process, no processor): %d deliveries, %d connections, %s, GOMAXPROCS %d\n",
		n, conns, st.Dialect(), runtime.GOMAXPROCS(0))

	if w.CPUProfile != "" {
		f, err := os.Create(w.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	before, err := count()
	if err != nil {
		return err
	}
	run := func(urls []string) (benchResult, error) {
		if w.DriverProcess {
			return driveFromProcess(ctx, urls, secretTok, n, conns)
		}
		return drive(urls, secretTok, n, conns), nil
	}
	real, err := run([]string{url})
	if err != nil {
		return err
	}
	after, err := count()
	if err != nil {
		return err
	}
	real.print(out, "in-process receiver (durable)")
	real.printCPU(out)
	stored := after - before
	fmt.Fprintf(out, "  stored: %d of %d answered 200 (%s)\n", stored, real.ok,
		map[bool]string{true: "all durable", false: "MISMATCH"}[stored == int64(real.ok)])

	noop, closeNoop, err := noopServer()
	if err != nil {
		return err
	}
	defer closeNoop()
	base, err := run([]string{noop})
	if err != nil {
		return err
	}
	base.print(out, "in-process no-op handler")
	base.printCPU(out)
	if base.rate > 0 {
		fmt.Fprintf(out, "ratio: %.2f of the no-op handler's rate\n", real.rate/base.rate)
	}
	if stored != int64(real.ok) || real.ok != n {
		return ErrNotAllStored
	}
	return nil
}

// benchReceiver serves the real receiver behind labsync's HTTP stack on a
// loopback port and returns its URL, the secret, and a stored-count function.
func benchReceiver(ctx context.Context, st *store.Store) (string, string, func() (int64, error), func(), error) {
	log := slog.New(slog.DiscardHandler)
	kek, _, err := vault.GenerateKEK()
	if err != nil {
		return "", "", nil, nil, err
	}
	v := vault.New(kek, st.OrgKeys())
	u, err := st.CreateUser(ctx, fmt.Sprintf("bench-%d@localhost", time.Now().UnixNano()), "bench", "")
	if err != nil {
		return "", "", nil, nil, err
	}
	org, err := st.CreateOrganization(ctx, "bench", u.ID)
	if err != nil {
		return "", "", nil, nil, err
	}
	in := &store.Integration{OrgID: org.ID, Alias: "bench", BaseURL: "https://gitlab.bench.invalid", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		return "", "", nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, nil, err
	}
	srv := server.New(st, log)
	wh := webhook.New(st, v, log, webhook.Options{PublicURL: "http://" + ln.Addr().String(), Registerer: srv.Registry()})
	wh.Start()
	api.New(api.Deps{Store: st, Log: log, Webhooks: wh}).Register(srv)
	is, err := wh.Issue(ctx, org.ID, in.ID, false)
	if err != nil {
		return "", "", nil, nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(sctx, ln, 10*time.Second); close(done) }()
	count := func() (int64, error) {
		c, err := st.InboxCounts(ctx, org.ID, in.ID)
		var n int64
		for _, v := range c {
			n += v
		}
		return n, err
	}
	return is.URL, is.Secret.Reveal(), count, func() { cancel(); <-done; wh.Stop() }, nil
}

func noopServer() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String() + "/", func() { hs.Close() }, nil
}

type benchResult struct {
	ok, failed int
	elapsed    time.Duration
	rate       float64
	p50, p99   time.Duration
	// cores is this process's CPU time over the run's wall time: near
	// GOMAXPROCS means the machine was the limit, well below it means
	// something serial (a writer, a lock) was.
	cores float64
	// written is what this process wrote to storage during the run (-1:
	// unknown), the database's WAL and its checkpoints included.
	written int64
	// driverCores is the load driver's CPU over the wall time when it ran
	// as its own process (0 otherwise).
	driverCores float64
}

// benchTokenEnv carries the bench's webhook secret to a driver process,
// off its command line.
const benchTokenEnv = "LABSYNC_BENCH_WEBHOOK_TOKEN"

// wireResult is a benchResult as a driver process reports it.
type wireResult struct {
	OK, Failed        int
	Elapsed, P50, P99 time.Duration
	Cores             float64
}

func (b benchResult) wire() wireResult {
	return wireResult{OK: b.ok, Failed: b.failed, Elapsed: b.elapsed, P50: b.p50, P99: b.p99, Cores: b.cores}
}

// driveFromProcess runs drive in a child process of this binary and
// measures this process's CPU and writes meanwhile.
func driveFromProcess(ctx context.Context, urls []string, token string, n, conns int) (benchResult, error) {
	cmd, err := labsyncCommand(ctx, []string{benchTokenEnv + "=" + token}, "bench", "webhooks", "--drive-only", strings.Join(urls, ","),
		"-n", strconv.Itoa(n), "-c", strconv.Itoa(conns))
	if err != nil {
		return benchResult{}, err
	}
	cmd.Stderr = os.Stderr
	cpu0, w0 := cpuTime(), bytesWritten()
	outb, err := cmd.Output()
	if err != nil {
		return benchResult{}, fmt.Errorf("bench: the load driver process failed: %w", err)
	}
	var wr wireResult
	if err := json.Unmarshal(outb, &wr); err != nil {
		return benchResult{}, fmt.Errorf("bench: unreadable report from the load driver: %w", err)
	}
	r := benchResult{ok: wr.OK, failed: wr.Failed, elapsed: wr.Elapsed, p50: wr.P50, p99: wr.P99, driverCores: wr.Cores, written: -1}
	if wr.Elapsed > 0 {
		r.rate = float64(wr.OK) / wr.Elapsed.Seconds()
		// The child's start-up is counted here too: a slight overestimate.
		r.cores = float64(cpuTime()-cpu0) / float64(wr.Elapsed)
	}
	if w1 := bytesWritten(); w0 >= 0 && w1 >= 0 {
		r.written = w1 - w0
	}
	return r, nil
}

func (b benchResult) print(w io.Writer, name string) {
	fmt.Fprintf(w, "%-20s %8.0f acks/s  p50 %6.2f ms  p99 %6.2f ms  (%d ok, %d failed, %.2f s)\n",
		name+":", b.rate, ms(b.p50), ms(b.p99), b.ok, b.failed, b.elapsed.Seconds())
}

func (b benchResult) printCPU(w io.Writer) {
	if b.driverCores > 0 {
		fmt.Fprintf(w, "  CPU: %.2f of %d cores busy in the receiver's process, %.2f in the load driver's", b.cores, runtime.NumCPU(), b.driverCores)
	} else {
		fmt.Fprintf(w, "  CPU: %.2f of %d cores busy in this process (load driver included)", b.cores, runtime.GOMAXPROCS(0))
	}
	if b.written >= 0 && b.ok > 0 {
		fmt.Fprintf(w, "; written to disk: %.0f MB, %.1f KiB per delivery", float64(b.written)/1e6, float64(b.written)/1024/float64(b.ok))
	}
	fmt.Fprintln(w)
}

// bytesWritten is write_bytes of /proc/self/io: what this process caused
// to be written to storage, or -1 where that is not known.
func bytesWritten() int64 { return writeBytes("/proc/self/io") }

// writeBytes is write_bytes of a /proc/<pid>/io file, or -1.
func writeBytes(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// drive sends n merge request deliveries with unique Idempotency-Keys
// over conns keep-alive connections, round-robin over urls, a bounded loop
// on loopback. Each delivery is the Go client's merge request event for a
// merge request of its own (see mrPayload).
func drive(urls []string, token string, n, conns int) benchResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, MaxIdleConns: conns * len(urls), DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	payload := newMRPayload()
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start, cpu0, w0 := time.Now(), cpuTime(), bytesWritten()
	for c := range conns {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				body := payload.body(i)
				req, _ := http.NewRequest("POST", urls[int(i)%len(urls)], &byteReader{b: body})
				req.ContentLength = int64(len(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Gitlab-Event", "Merge Request Hook")
				req.Header.Set("X-Gitlab-Token", token)
				// A random UUID per delivery, as GitLab sends: keys in random
				// order cost the dedupe index more than a counter would.
				key := uuid.New().String()
				req.Header.Set("Idempotency-Key", key)
				req.Header.Set("X-Gitlab-Event-UUID", key)
				t0 := time.Now()
				res, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				d := time.Since(t0)
				if err != nil || res.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				lat[c] = append(lat[c], d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := benchResult{ok: len(all), failed: int(failed.Load()), elapsed: elapsed,
		cores: float64(cpuTime()-cpu0) / float64(elapsed), written: -1}
	if w1 := bytesWritten(); w0 >= 0 && w1 >= 0 {
		r.written = w1 - w0
	}
	r.rate = float64(r.ok) / elapsed.Seconds()
	if len(all) > 0 {
		r.p50 = all[len(all)*50/100]
		r.p99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return r
}

type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

// Payload is the merge request event the webhook benchmarks deliver, of
// typical size (about 3 KB); tests that need a real delivery use it too.
func Payload() []byte {
	return []byte(`{"object_kind":"merge_request","event_type":"merge_request","user":{"id":1,"name":"Administrator","username":"root","avatar_url":"http://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=40\u0026d=identicon","email":"admin@example.com"},"project":{"id":1,"name":"Gitlab Test","description":"Aut reprehenderit ut est.","web_url":"http://example.com/gitlabhq/gitlab-test","avatar_url":null,"git_ssh_url":"git@example.com:gitlabhq/gitlab-test.git","git_http_url":"http://example.com/gitlabhq/gitlab-test.git","namespace":"GitlabHQ","visibility_level":20,"path_with_namespace":"gitlabhq/gitlab-test","default_branch":"master","ci_config_path":"","homepage":"http://example.com/gitlabhq/gitlab-test","url":"http://example.com/gitlabhq/gitlab-test.git","ssh_url":"git@example.com:gitlabhq/gitlab-test.git","http_url":"http://example.com/gitlabhq/gitlab-test.git"},"repository":{"name":"Gitlab Test","url":"http://example.com/gitlabhq/gitlab-test.git","description":"Aut reprehenderit ut est.","homepage":"http://example.com/gitlabhq/gitlab-test"},"object_attributes":{"id":99,"iid":1,"target_branch":"master","source_branch":"ms-viewport","source_project_id":14,"author_id":51,"assignee_ids":[6],"assignee_id":6,"reviewer_ids":[6],"title":"MS-Viewport","created_at":"2013-12-03T17:23:34Z","updated_at":"2013-12-03T17:23:34Z","last_edited_at":"2013-12-03T17:23:34Z","last_edited_by_id":1,"milestone_id":null,"state_id":1,"state":"opened","blocking_discussions_resolved":true,"work_in_progress":false,"draft":false,"first_contribution":true,"merge_status":"unchecked","detailed_merge_status":"checking","target_project_id":14,"description":"","prepared_at":"2013-12-03T19:23:34Z","total_time_spent":1800,"time_change":30,"human_total_time_spent":"30m","human_time_change":"30s","human_time_estimate":"30m","url":"http://example.com/diaspora/merge_requests/1","source":{"name":"Awesome Project","description":"Aut reprehenderit ut est.","web_url":"http://example.com/awesome_space/awesome_project","path_with_namespace":"awesome_space/awesome_project","default_branch":"master"},"target":{"name":"Awesome Project","description":"Aut reprehenderit ut est.","web_url":"http://example.com/awesome_space/awesome_project","path_with_namespace":"awesome_space/awesome_project","default_branch":"master"},"last_commit":{"id":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","message":"fixed readme","title":"Update file README.md","timestamp":"2012-01-03T23:36:29+02:00","url":"http://example.com/awesome_space/awesome_project/commits/da1560886d4f094c3e6c9ef40349f7d38b5d27d7","author":{"name":"GitLab dev user","email":"gitlabdev@dv6700.(none)"}},"labels":[{"id":206,"title":"API","color":"#ffffff","project_id":14,"created_at":"2013-12-03T17:15:43Z","updated_at":"2013-12-03T17:15:43Z","template":false,"description":"API related issues","type":"ProjectLabel","group_id":41}],"action":"open"},"labels":[{"id":206,"title":"API","color":"#ffffff","project_id":14,"created_at":"2013-12-03T17:15:43Z","updated_at":"2013-12-03T17:15:43Z","template":false,"description":"API related issues","type":"ProjectLabel","group_id":41}],"changes":{"updated_by_id":{"previous":null,"current":1},"updated_at":{"previous":"2017-09-15 16:50:55 UTC","current":"2017-09-15 16:52:00 UTC"}},"assignees":[{"id":6,"name":"User1","username":"user1","avatar_url":"http://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=40\u0026d=identicon"}],"reviewers":[{"id":6,"name":"User1","username":"user1","state":"unreviewed","avatar_url":"http://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=80\u0026d=identicon"}]}`)
}
