package cli

import (
	"context"
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/server"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

func newBenchWebhooksCmd() *cobra.Command {
	var (
		n, conns, replicas int
		dbURL, profile     string
	)
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Drive N webhook deliveries at the receiver over loopback and compare with a no-op handler",
		Long: `Starts labsync's webhook receiver (real store, vault, inbox with group commit and
fsync) on a loopback port, drives N signed deliveries at it with C keep-alive
connections, checks every delivery answered 200 is in the database, and prints
deliveries/s with p50/p99 latency — then does the same against a no-op Go handler
in the same process, so the two figures share the machine's conditions.

With --replicas N (and --database-url), it instead starts N ` + "`labsync serve`" + `
processes of this binary on that PostgreSQL database, each on its own loopback
port, spreads the deliveries over them round-robin, checks every delivery
answered 200 is stored, and stops them with SIGTERM: the throughput of N
replicas (which also drain the inbox as they would in production).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			ctx := cmd.Context()
			if replicas > 0 {
				if dbURL == "" {
					return fmt.Errorf("--replicas needs --database-url: replicas share one PostgreSQL database")
				}
				return benchReplicas(ctx, out, cmd.ErrOrStderr(), dbURL, replicas, n, conns)
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
			fmt.Fprintf(out, "labsync bench webhooks: %d deliveries, %d connections, %s, GOMAXPROCS %d\n",
				n, conns, st.Dialect(), runtime.GOMAXPROCS(0))

			if profile != "" {
				f, err := os.Create(profile)
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
			real := drive([]string{url}, secretTok, n, conns)
			after, err := count()
			if err != nil {
				return err
			}
			real.print(out, "receiver (durable)")
			stored := after - before
			fmt.Fprintf(out, "  stored: %d of %d answered 200 (%s)\n", stored, real.ok,
				map[bool]string{true: "all durable", false: "MISMATCH"}[stored == int64(real.ok)])

			noop, closeNoop, err := noopServer()
			if err != nil {
				return err
			}
			defer closeNoop()
			base := drive([]string{noop}, secretTok, n, conns)
			base.print(out, "no-op handler")
			if base.rate > 0 {
				fmt.Fprintf(out, "ratio: %.2f of the no-op handler's rate\n", real.rate/base.rate)
			}
			if stored != int64(real.ok) || real.ok != n {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "deliveries", "n", 20000, "deliveries to send")
	cmd.Flags().IntVarP(&conns, "connections", "c", 32, "concurrent keep-alive connections")
	cmd.Flags().StringVar(&profile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	cmd.Flags().StringVar(&dbURL, "database-url", "", "PostgreSQL URL to bench against (default: SQLite in a temporary directory)")
	cmd.Flags().IntVar(&replicas, "replicas", 0, "start this many `labsync serve` processes on --database-url and drive them all (0: the receiver in this process)")
	return cmd
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
	api.New(api.Deps{Store: st, Log: log, Vault: v, Webhooks: wh}).Register(srv)
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
}

func (b benchResult) print(w io.Writer, name string) {
	fmt.Fprintf(w, "%-20s %8.0f deliveries/s  p50 %6.2f ms  p99 %6.2f ms  (%d ok, %d failed, %.2f s)\n",
		name+":", b.rate, ms(b.p50), ms(b.p99), b.ok, b.failed, b.elapsed.Seconds())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// drive sends n merge request deliveries with unique Idempotency-Keys
// over conns keep-alive connections, round-robin over urls, a bounded loop
// on loopback.
func drive(urls []string, token string, n, conns int) benchResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, MaxIdleConns: conns * len(urls), DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	body := benchPayload()
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := range conns {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				req, _ := http.NewRequest("POST", urls[int(i)%len(urls)], &byteReader{b: body})
				req.ContentLength = int64(len(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Gitlab-Event", "Merge Request Hook")
				req.Header.Set("X-Gitlab-Token", token)
				req.Header.Set("Idempotency-Key", "bench-"+strconv.FormatInt(i, 10)+"-"+strconv.FormatInt(start.UnixNano(), 36))
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
	r := benchResult{ok: len(all), failed: int(failed.Load()), elapsed: elapsed}
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

// benchPayload is a merge request event of typical size (about 3 KB).
func benchPayload() []byte {
	return []byte(`{"object_kind":"merge_request","event_type":"merge_request","user":{"id":1,"name":"Administrator","username":"root","avatar_url":"http://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=40\u0026d=identicon","email":"admin@example.com"},"project":{"id":1,"name":"Gitlab Test","description":"Aut reprehenderit ut est.","web_url":"http://example.com/gitlabhq/gitlab-test","avatar_url":null,"git_ssh_url":"git@example.com:gitlabhq/gitlab-test.git","git_http_url":"http://example.com/gitlabhq/gitlab-test.git","namespace":"GitlabHQ","visibility_level":20,"path_with_namespace":"gitlabhq/gitlab-test","default_branch":"master","ci_config_path":"","homepage":"http://example.com/gitlabhq/gitlab-test","url":"http://example.com/gitlabhq/gitlab-test.git","ssh_url":"git@example.com:gitlabhq/gitlab-test.git","http_url":"http://example.com/gitlabhq/gitlab-test.git"},"repository":{"name":"Gitlab Test","url":"http://example.com/gitlabhq/gitlab-test.git","description":"Aut reprehenderit ut est.","homepage":"http://example.com/gitlabhq/gitlab-test"},"object_attributes":{"id":99,"iid":1,"target_branch":"master","source_branch":"ms-viewport","source_project_id":14,"author_id":51,"assignee_ids":[6],"assignee_id":6,"reviewer_ids":[6],"title":"MS-Viewport","created_at":"2013-12-03T17:23:34Z","updated_at":"2013-12-03T17:23:34Z","last_edited_at":"2013-12-03T17:23:34Z","last_edited_by_id":1,"milestone_id":null,"state_id":1,"state":"opened","blocking_discussions_resolved":true,"work_in_progress":false,"draft":false,"first_contribution":true,"merge_status":"unchecked","detailed_merge_status":"checking","target_project_id":14,"description":"","prepared_at":"2013-12-03T19:23:34Z","total_time_spent":1800,"time_change":30,"human_total_time_spent":"30m","human_time_change":"30s","human_time_estimate":"30m","url":"http://example.com/diaspora/merge_requests/1","source":{"name":"Awesome Project","description":"Aut reprehenderit ut est.","web_url":"http://example.com/awesome_space/awesome_project","path_with_namespace":"awesome_space/awesome_project","default_branch":"master"},"target":{"name":"Awesome Project","description":"Aut reprehenderit ut est.","web_url":"http://example.com/awesome_space/awesome_project","path_with_namespace":"awesome_space/awesome_project","default_branch":"master"},"last_commit":{"id":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","message":"fixed readme","title":"Update file README.md","timestamp":"2012-01-03T23:36:29+02:00","url":"http://example.com/awesome_space/awesome_project/commits/da1560886d4f094c3e6c9ef40349f7d38b5d27d7","author":{"name":"GitLab dev user","email":"gitlabdev@dv6700.(none)"}},"labels":[{"id":206,"title":"API","color":"#ffffff","project_id":14,"created_at":"2013-12-03T17:15:43Z","updated_at":"2013-12-03T17:15:43Z","template":false,"description":"API related issues","type":"ProjectLabel","group_id":41}],"action":"open"},"labels":[{"id":206,"title":"API","color":"#ffffff","project_id":14,"created_at":"2013-12-03T17:15:43Z","updated_at":"2013-12-03T17:15:43Z","template":false,"description":"API related issues","type":"ProjectLabel","group_id":41}],"changes":{"updated_by_id":{"previous":null,"current":1},"updated_at":{"previous":"2017-09-15 16:50:55 UTC","current":"2017-09-15 16:52:00 UTC"}},"assignees":[{"id":6,"name":"User1","username":"user1","avatar_url":"http://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=40\u0026d=identicon"}],"reviewers":[{"id":6,"name":"User1","username":"user1","state":"unreviewed","avatar_url":"http://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=80\u0026d=identicon"}]}`)
}
