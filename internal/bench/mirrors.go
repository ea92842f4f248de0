package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/mirror"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

// Mirrors is the repository mirror benchmark: three figures, each against
// its own sandbox GitLab with real Git.
type Mirrors struct {
	// Pushes are spread over LagProjects; each push's lag is the time from
	// the push (GitLab then delivers its webhook) to the mirror holding it.
	Pushes, LagProjects int
	// PushEvery spaces the pushes.
	PushEvery time.Duration
	// CloneCommits is the size of the repository cloned through labsync
	// and directly from the sandbox, Clones times each.
	CloneCommits, Clones int
	// FirstProjects are mirrored for the first time one at a time, then at
	// Concurrency.
	FirstProjects, FirstCommits, Concurrency int
	// FirstRounds repeats the first-mirror runs (labsync and plain git,
	// one at a time and at Concurrency) and prints medians; 1 when zero.
	FirstRounds int
	// Figures names the figures to measure ("lag", "clone", "first"); all
	// three when empty.
	Figures []string
}

// Run prints the three figures. The lag and clone figures go through a
// `labsync serve` process of this binary (SQLite in a temporary directory);
// the first-mirror figure drives the mirror manager in this process.
func (m *Mirrors) Run(ctx context.Context, out io.Writer) error {
	if _, err := exec.LookPath("git"); err != nil {
		return fmt.Errorf("bench mirrors needs git (apt-get install -y git): %w", err)
	}
	fmt.Fprintf(out, "labsync bench mirrors: GOMAXPROCS %d, %d CPUs, %s\n", runtime.GOMAXPROCS(0), runtime.NumCPU(), gitVersion())
	figures := map[string]func(context.Context, io.Writer) error{"lag": m.lag, "clone": m.clone, "first": m.first}
	want := m.Figures
	if len(want) == 0 {
		want = []string{"lag", "clone", "first"}
	}
	for _, f := range want {
		if figures[f] == nil {
			return fmt.Errorf("bench mirrors: unknown figure %q (lag, clone or first)", f)
		}
	}
	for _, f := range want {
		if err := figures[f](ctx, out); err != nil {
			return err
		}
	}
	return nil
}

func gitVersion() string {
	b, _ := exec.Command("git", "--version").Output()
	return strings.TrimSpace(string(b))
}

// mirrorWorld is a sandbox with Git, an integration of it with only the
// repository service on, and a `labsync serve` child whose mirrors are made.
type mirrorWorld struct {
	sb       *sandbox.Sandbox
	dir      string
	addr     string
	apiToken string
	hook     webhook.Issued
	integ    int64
	proc     *exec.Cmd
	projects []sandbox.ProjectCounts
}

func (w *mirrorWorld) close() {
	if w.proc != nil {
		w.proc.Process.Kill()
		w.proc.Wait()
	}
	if w.sb != nil {
		w.sb.Close()
	}
	os.RemoveAll(w.dir)
}

func startMirrorWorld(ctx context.Context, sbCfg sandbox.Config) (w *mirrorWorld, err error) {
	w = &mirrorWorld{}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	sbCfg.Git, sbCfg.TLS = true, sandbox.TLSCA
	if w.sb, err = sandbox.Start(ctx, sbCfg); err != nil {
		return nil, err
	}
	w.projects = w.sb.Manifest().PerProject
	if w.dir, err = os.MkdirTemp("", "labsync-bench-mirrors-"); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, store.Options{DataDir: w.dir})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.Migrate(ctx, nil); err != nil {
		return nil, err
	}
	b, _, err := st.BootstrapIfEmpty(ctx, "bench", "bench@localhost", "")
	if err != nil {
		return nil, err
	}
	kek, kekB64, err := vault.GenerateKEK()
	if err != nil {
		return nil, err
	}
	vlt := vault.New(kek, st.OrgKeys())
	svc := integrations.New(st, vlt, nil, config.Config{PublicURL: "http://127.0.0.1", AllowLoopbackGitLab: true}, slog.New(slog.DiscardHandler), nil)
	res, err := svc.ConnectToken(ctx, integrations.Actor{OrgID: b.Org.ID, UserID: b.Owner.ID}, integrations.TokenInput{
		BaseURL: w.sb.URL(), Token: secret.New(w.sb.AdminToken()), Alias: "sandbox", CAPEM: string(w.sb.CAPEM())})
	if err != nil {
		return nil, err
	}
	w.integ = res.Integration.ID
	sel := store.Selection{Services: store.Services{Repository: true}, IncludeArchived: true}
	for g := range sbCfg.Groups {
		sel.Groups = append(sel.Groups, store.GroupSelection{GitLabID: int64(g + 1), AutoImport: true})
	}
	if err := st.SaveSelection(ctx, b.Org.ID, w.integ, sel); err != nil {
		return nil, err
	}
	wh := webhook.New(st, vlt, slog.New(slog.DiscardHandler), webhook.Options{})
	if w.hook, err = wh.Issue(ctx, b.Org.ID, w.integ, false); err != nil {
		return nil, err
	}
	tok, prefix, hash, err := accounts.NewAPIToken()
	if err != nil {
		return nil, err
	}
	if _, err := st.CreateAPIToken(ctx, b.Org.ID, b.Owner.ID, "bench", prefix, hash); err != nil {
		return nil, err
	}
	w.apiToken = tok
	st.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.addr = ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(w.dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	if w.proc, err = labsyncCommand(nil, []string{"LABSYNC_ADDR=" + w.addr, "LABSYNC_PUBLIC_URL=http://" + w.addr, "LABSYNC_DATA_DIR=" + w.dir,
		"LABSYNC_KEK=" + kekB64, "LABSYNC_ALLOW_LOOPBACK_GITLAB=true", "LABSYNC_LOG_LEVEL=warn", "LABSYNC_LOG_FORMAT=json", "LABSYNC_DATABASE_URL="}, "serve"); err != nil {
		return nil, err
	}
	w.proc.Stdout, w.proc.Stderr = logf, logf
	if err := w.proc.Start(); err != nil {
		return nil, err
	}
	if err := waitReadyURL(ctx, "http://"+w.addr+"/readyz"); err != nil {
		return nil, err
	}
	if code, body := w.api(ctx, "POST", fmt.Sprintf("/api/v1/integrations/%d/sync", w.integ), nil); code != http.StatusAccepted {
		return nil, fmt.Errorf("start sync: %d %s", code, body)
	}
	// Mirrors follow the applied selection; wait until all are made.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		ms, err := w.mirrors(ctx)
		if err != nil {
			return nil, err
		}
		ready := 0
		for _, m := range ms {
			if m.Error != nil {
				return nil, fmt.Errorf("mirror of %s failed: %s (%s)", m.Path, m.Error.Message, m.Error.Remedy)
			}
			if m.State == "ready" {
				ready++
			}
		}
		if len(ms) == len(w.projects) && ready == len(ms) {
			return w, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("mirrors not made within 10 minutes (%d of %d ready)", ready, len(w.projects))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *mirrorWorld) api(ctx context.Context, method, path string, body io.Reader) (int, []byte) {
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+w.addr+path, body)
	req.Header.Set("Authorization", "Bearer "+w.apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

type benchMirror struct {
	ProjectID   int64      `json:"project_id"`
	Path        string     `json:"path_with_namespace"`
	State       string     `json:"state"`
	LastFetchAt *time.Time `json:"last_fetch_at"`
	CloneURL    string     `json:"clone_url"`
	Error       *struct {
		Message string `json:"message"`
		Remedy  string `json:"remedy"`
	} `json:"error"`
}

func (w *mirrorWorld) mirrors(ctx context.Context) ([]benchMirror, error) {
	code, b := w.api(ctx, "GET", fmt.Sprintf("/api/v1/integrations/%d/mirrors", w.integ), nil)
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET mirrors: %d %s", code, b)
	}
	var list struct {
		Mirrors []benchMirror `json:"mirrors"`
	}
	return list.Mirrors, json.Unmarshal(b, &list)
}

// sandboxClient trusts the sandbox's CA.
func sandboxClient(sb *sandbox.Sandbox) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sb.CAPEM())
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// lag registers the labsync webhook on every project (as GitLab's admin
// would), pushes Pushes times round-robin over the projects, and measures
// for each push the time until labsync reports a fetch of that project
// started after it (so the mirror holds the push).
func (m *Mirrors) lag(ctx context.Context, out io.Writer) error {
	w, err := startMirrorWorld(ctx, sandbox.Config{Version: "17.11", Seed: 7, Groups: 1, Projects: m.LagProjects, Commits: 50})
	if err != nil {
		return fmt.Errorf("bench mirrors: lag world: %w", err)
	}
	defer w.close()
	hc := sandboxClient(w.sb)
	for _, p := range w.projects {
		form := url.Values{"url": {"http://" + w.addr + "/api/v1/webhooks/gitlab/" + w.hook.HookID}, "token": {w.hook.Secret.Reveal()},
			"push_events": {"true"}, "tag_push_events": {"true"}}
		req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/api/v4/projects/%d/hooks", w.sb.URL(), p.ID), strings.NewReader(form.Encode()))
		req.Header.Set("PRIVATE-TOKEN", w.sb.AdminToken())
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			return fmt.Errorf("registering the webhook on project %d: %d", p.ID, res.StatusCode)
		}
	}
	type push struct {
		project int64
		at      time.Time
	}
	var mu sync.Mutex
	var pending []push
	var lags []time.Duration
	stop := make(chan struct{})
	watched := make(chan error, 1)
	go func() { // watch the API for fetches that started after each push
		for {
			ms, err := w.mirrors(ctx)
			seen := time.Now()
			if err != nil {
				watched <- err
				return
			}
			last := map[int64]time.Time{}
			for _, m := range ms {
				if m.LastFetchAt != nil && m.State == "ready" {
					last[m.ProjectID] = *m.LastFetchAt
				}
			}
			mu.Lock()
			rest := pending[:0]
			for _, p := range pending {
				if f, ok := last[p.project]; ok && !f.Before(p.at) {
					lags = append(lags, seen.Sub(p.at))
				} else {
					rest = append(rest, p)
				}
			}
			pending = rest
			n := len(pending)
			mu.Unlock()
			select {
			case <-stop:
				if n == 0 {
					watched <- nil
					return
				}
			default:
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	start := time.Now()
	for i := range m.Pushes {
		p := w.projects[i%len(w.projects)]
		at := time.Now()
		if _, err := w.sb.Push(p.ID, "", 1); err != nil {
			return err
		}
		mu.Lock()
		pending = append(pending, push{p.ID, at})
		mu.Unlock()
		time.Sleep(m.PushEvery)
	}
	close(stop)
	select {
	case err := <-watched:
		if err != nil {
			return err
		}
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("bench mirrors: %d pushes never reached their mirror within 5 minutes", len(pending))
	}
	slices.Sort(lags)
	pct := func(q float64) time.Duration { return lags[min(len(lags)-1, int(q*float64(len(lags))))] }
	fmt.Fprintf(out, "\nmirror lag after a push webhook: %d pushes over %d projects in %.1f s (one every %s), debounce 1 s\n",
		m.Pushes, len(w.projects), time.Since(start).Seconds(), m.PushEvery)
	fmt.Fprintf(out, "  p50 %.2f s   p99 %.2f s   max %.2f s   (target: p99 <= 5 s)\n", pct(0.50).Seconds(), pct(0.99).Seconds(), lags[len(lags)-1].Seconds())
	return nil
}

// procTreeCPU is a process's CPU time so far with that of its waited-for
// children (the git processes a server runs), from /proc (0 where that is
// not known).
func procTreeCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		n, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ on Linux
}

// clone times `git clone --bare` of one large repository through labsync
// and directly from the sandbox, alternating, and reports medians and CPU.
func (m *Mirrors) clone(ctx context.Context, out io.Writer) error {
	w, err := startMirrorWorld(ctx, sandbox.Config{Version: "17.11", Seed: 8, Groups: 1, Projects: 1, Commits: m.CloneCommits})
	if err != nil {
		return fmt.Errorf("bench mirrors: clone world: %w", err)
	}
	defer w.close()
	ms, err := w.mirrors(ctx)
	if err != nil || len(ms) != 1 {
		return fmt.Errorf("bench mirrors: the clone world has %d mirrors: %v", len(ms), err)
	}
	direct := w.sb.URL() + "/" + ms[0].Path + ".git"
	caFile := filepath.Join(w.dir, "sandbox-ca.pem")
	if err := os.WriteFile(caFile, w.sb.CAPEM(), 0o600); err != nil {
		return err
	}
	type side struct {
		name, url, user, token, caFile string
		pid                            int
		wall, client, server           []time.Duration
	}
	sides := []*side{
		{name: "through labsync", url: ms[0].CloneURL, user: "runner", token: w.apiToken, pid: w.proc.Process.Pid},
		{name: "from the sandbox", url: direct, user: "oauth2", token: w.sb.AdminToken(), caFile: caFile, pid: os.Getpid()},
	}
	var commits string
	for i := range m.Clones {
		for _, s := range sides {
			dest := filepath.Join(w.dir, fmt.Sprintf("clone-%d.git", i))
			cmd := exec.CommandContext(ctx, "git", "clone", "--quiet", "--bare", s.url, dest)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
				"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
				"GIT_CONFIG_VALUE_0=Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(s.user+":"+s.token))}
			if s.caFile != "" {
				cmd.Env = append(cmd.Env, "GIT_SSL_CAINFO="+s.caFile)
			}
			srv0 := procTreeCPU(s.pid)
			t0 := time.Now()
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("bench mirrors: clone %s: %v\n%s", s.name, err, b)
			}
			s.wall = append(s.wall, time.Since(t0))
			s.server = append(s.server, procTreeCPU(s.pid)-srv0)
			s.client = append(s.client, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
			if commits == "" {
				c, _ := exec.Command("git", "-C", dest, "rev-list", "--count", "--all").Output()
				commits = strings.TrimSpace(string(c))
			}
			os.RemoveAll(dest)
		}
	}
	med := func(d []time.Duration) time.Duration {
		c := slices.Clone(d)
		slices.Sort(c)
		return c[len(c)/2]
	}
	fmt.Fprintf(out, "\nclone of one repository (%s commits), %d clones each side, alternating; medians:\n", commits, m.Clones)
	for _, s := range sides {
		fmt.Fprintf(out, "  %-17s wall %.3f s   client CPU %.3f s   server CPU %.3f s (with its git processes)\n",
			s.name, med(s.wall).Seconds(), med(s.client).Seconds(), med(s.server).Seconds())
	}
	fmt.Fprintf(out, "  ratio labsync / direct: %.2f×   (target: <= 1.2×)\n", med(sides[0].wall).Seconds()/med(sides[1].wall).Seconds())
	if sides[1].pid == os.Getpid() {
		fmt.Fprintln(out, "  (the sandbox runs in this process: its server CPU includes the bench's own work during the clone)")
	}
	return nil
}

// cpuNow is the CPU time of this process and of its waited-for children
// so far (the sandbox's git http-backend and upload-pack, the mirror
// manager's git, and the baseline's shell and git all run as children).
func cpuNow() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// machineBusy is the CPU time every process on the machine spent so far
// (user, nice, system, irq, softirq and steal from /proc/stat; 0 where that
// is not known): minus cpuNow, what other programs took during a run.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, k := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ on Linux
}

// firstRun is one pass of first mirrors: its wall time, the sum of the
// single clone times inside it, and the CPU the machine spent on it.
type firstRun struct {
	wall, sum, cpu, others time.Duration
}

// first mirrors FirstProjects projects one at a time (the sum of single
// clone times), deletes them, and mirrors them all again with the manager
// bounded at Concurrency per integration. In the same run, the same
// repositories are cloned by plain `git clone --mirror` from a shell loop,
// one at a time and Concurrency at a time (xargs -P), against the same
// sandbox: the lower bound this machine gives any mirroring program.
func (m *Mirrors) first(ctx context.Context, out io.Writer) error {
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 9, Groups: 4, Projects: m.FirstProjects, Commits: m.FirstCommits, Git: true, TLS: sandbox.TLSCA})
	if err != nil {
		return fmt.Errorf("bench mirrors: first-mirror sandbox: %w", err)
	}
	defer sb.Close()
	dir, err := os.MkdirTemp("", "labsync-bench-first-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	remote := func(context.Context, int64, int64) (mirror.Remote, error) {
		return mirror.Remote{BaseURL: sb.URL(), Username: "oauth2", Token: secret.New(sb.AdminToken()), CAPEM: sb.CAPEM()}, nil
	}
	var projects []mirror.Project
	for _, p := range sb.Manifest().PerProject {
		projects = append(projects, mirror.Project{Key: mirror.Key{IntegrationID: 1, ProjectID: p.ID}, OrgID: 1,
			PathWithNamespace: p.Path, ObjectFormat: p.ObjectFormat})
	}
	run := func(conc int) (r firstRun, err error) {
		mgr, err := mirror.New(mirror.Config{Dir: filepath.Join(dir, "labsync"), Remote: remote, PerIntegration: conc, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return r, err
		}
		defer mgr.Close()
		if err := mgr.RemoveIntegration(ctx, 1); err != nil {
			return r, err
		}
		var mu sync.Mutex
		var first error
		sem := make(chan struct{}, conc) // start no more than the manager runs
		var wg sync.WaitGroup
		cpu0, busy0, t0 := cpuNow(), machineBusy(), time.Now()
		for _, p := range projects {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				s := time.Now()
				err := mgr.Sync(ctx, p)
				mu.Lock()
				defer mu.Unlock()
				r.sum += time.Since(s)
				if err != nil && first == nil {
					first = err
				}
			})
		}
		wg.Wait()
		r.wall, r.cpu = time.Since(t0), cpuNow()-cpu0
		r.others = max(0, machineBusy()-busy0-r.cpu)
		return r, first
	}
	caFile := filepath.Join(dir, "sandbox-ca.pem")
	if err := os.WriteFile(caFile, sb.CAPEM(), 0o600); err != nil {
		return err
	}
	var urls strings.Builder
	for _, p := range projects {
		fmt.Fprintf(&urls, "%s/%s.git\n", sb.URL(), p.PathWithNamespace)
	}
	// plain clones every repository with `git clone --mirror`, conc at a
	// time, from a shell loop: no labsync code runs, only the sandbox
	// serving and git cloning.
	plain := func(conc int) (r firstRun, err error) {
		dest := filepath.Join(dir, "plain")
		if err := os.RemoveAll(dest); err != nil {
			return r, err
		}
		if err := os.MkdirAll(dest, 0o700); err != nil {
			return r, err
		}
		script := `n=0; while read -r u; do n=$((n+1)); echo "$n $u"; done | xargs -P "$1" -n 2 sh -c 'git clone --quiet --mirror "$1" "$0.git"'`
		cmd := exec.CommandContext(ctx, "sh", "-c", script, "sh", strconv.Itoa(conc))
		cmd.Dir = dest
		cmd.Stdin = strings.NewReader(urls.String())
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
			"GIT_SSL_CAINFO=" + caFile, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
			"GIT_CONFIG_VALUE_0=Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("oauth2:"+sb.AdminToken()))}
		cpu0, busy0, t0 := cpuNow(), machineBusy(), time.Now()
		if b, err := cmd.CombinedOutput(); err != nil {
			return r, fmt.Errorf("plain git clone --mirror: %v\n%s", err, b)
		}
		r.wall, r.cpu = time.Since(t0), cpuNow()-cpu0
		r.others = max(0, machineBusy()-busy0-r.cpu)
		return r, nil
	}
	c, cpus := time.Duration(m.Concurrency), runtime.NumCPU()
	fmt.Fprintf(out, "\nfirst mirror of %d projects (%d commits each) at concurrency %d, %d CPUs, %d round(s); CPU = this process and its git children (sandbox and client):\n",
		len(projects), m.FirstCommits, m.Concurrency, cpus, max(1, m.FirstRounds))
	var ratios, plainRatios, vsPlain []float64
	for round := range max(1, m.FirstRounds) {
		// The four runs of a round follow each other closely, so a change
		// in the machine's load touches labsync and plain git alike.
		plain1, err := plain(1)
		if err != nil {
			return fmt.Errorf("bench mirrors: plain clones one at a time: %w", err)
		}
		one, err := run(1)
		if err != nil {
			return fmt.Errorf("bench mirrors: first mirrors one at a time: %w", err)
		}
		atC, err := run(m.Concurrency)
		if err != nil {
			return fmt.Errorf("bench mirrors: first mirrors at concurrency %d: %w", m.Concurrency, err)
		}
		plainC, err := plain(m.Concurrency)
		if err != nil {
			return fmt.Errorf("bench mirrors: plain clones at concurrency %d: %w", m.Concurrency, err)
		}
		ratio := atC.wall.Seconds() / (one.sum / c).Seconds()
		plainRatio := plainC.wall.Seconds() / (plain1.wall / c).Seconds()
		ratios, plainRatios = append(ratios, ratio), append(plainRatios, plainRatio)
		vsPlain = append(vsPlain, atC.wall.Seconds()/plainC.wall.Seconds())
		// One clone at a time keeps u CPUs busy (client and server), so
		// C at once cannot take less than C·u/CPUs of sum/C.
		u := one.cpu.Seconds() / one.wall.Seconds()
		fmt.Fprintf(out, " round %d:\n", round+1)
		fmt.Fprintf(out, "  labsync, one at a time:   sum of single clones %.2f s   CPU %.2f s (keeps %.2f CPUs busy)\n",
			one.sum.Seconds(), one.cpu.Seconds(), u)
		fmt.Fprintf(out, "  labsync, concurrency %d:   wall %.2f s   sum/C %.2f s   ratio %.2f   CPU %.2f s   (target: ratio <= 1.25)\n",
			m.Concurrency, atC.wall.Seconds(), (one.sum / c).Seconds(), ratio, atC.cpu.Seconds())
		fmt.Fprintf(out, "  plain git clone --mirror from a shell loop, same sandbox: one at a time %.2f s; concurrency %d wall %.2f s   ratio %.2f   CPU %.2f s\n",
			plain1.wall.Seconds(), m.Concurrency, plainC.wall.Seconds(), plainRatio, plainC.cpu.Seconds())
		// Two lower bounds for the wall at C: the CPU it took spread over
		// every CPU, and (on an otherwise idle machine) C clones each
		// keeping u CPUs busy.
		fmt.Fprintf(out, "  the machine's floor for the ratio: CPU at C / %d CPUs = %.2f s, ratio >= %.2f; idle-machine estimate max(1, C × %.2f / %d) = %.2f\n",
			cpus, atC.cpu.Seconds()/float64(cpus), atC.cpu.Seconds()/float64(cpus)/(one.sum/c).Seconds(), u, cpus, max(1, float64(m.Concurrency)*u/float64(cpus)))
		n := float64(len(projects))
		fmt.Fprintf(out, "  CPU per clone at C: labsync %.0f ms, plain git %.0f ms;   labsync at C / plain git at C: %.2f×\n",
			1000*atC.cpu.Seconds()/n, 1000*plainC.cpu.Seconds()/n, vsPlain[len(vsPlain)-1])
		left := func(r firstRun) float64 { return float64(cpus) - r.others.Seconds()/r.wall.Seconds() }
		fmt.Fprintf(out, "  other programs' CPU meanwhile: %.2f s / %.2f s (labsync 1 / C), %.2f s / %.2f s (plain git 1 / C): CPUs left to the bench %.2f / %.2f / %.2f / %.2f\n",
			one.others.Seconds(), atC.others.Seconds(), plain1.others.Seconds(), plainC.others.Seconds(), left(one), left(atC), left(plain1), left(plainC))
	}
	if len(ratios) > 1 {
		med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
		fmt.Fprintf(out, " medians over %d rounds: labsync ratio %.2f, plain git ratio %.2f, labsync at C / plain git at C %.2f×\n",
			len(ratios), med(ratios), med(plainRatios), med(vsPlain))
	}
	return nil
}
