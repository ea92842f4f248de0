package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// Poll is the poller benchmark of issue 14: what a poll cycle costs on the
// gitlab.com profile with a busy public world against the same run with a
// quiet one, the quiet cycle against the bound 3 × (groups + loose
// projects) + 2, the non-member projects stored, and how soon one
// project's changes are visible when its webhook is dropped while the
// others deliver.
//
// It is an in-process harness: the sandboxes, the store and the sync
// service run in this process and the bench runs the poll a
// `labsync serve` would queue (Service.Run in ModePoll, when
// Service.PollPlanFor says one is due); the other projects' deliveries
// are recorded in the store as the webhook processor records them, not
// sent over HTTP. Every figure it prints says so.
type Poll struct {
	PublicProjects int           // the gitlab.com profile's public world
	PublicPerMin   int           // public updates per minute in the busy run
	Cycles         int           // poll cycles measured in each run
	Interval       time.Duration // time between poll cycles
	Changes        int           // changes made to the project whose webhook is dropped
	ChangeWindow   time.Duration // over how long those changes are spread
	// Settle is how long the dropped-webhook phase polls before its
	// changes start, so the silent project's one activity bump has left
	// the poller's activity overlap (5 minutes).
	Settle      time.Duration
	DatabaseURL string // PostgreSQL; empty: SQLite in a temporary directory
	Verbose     bool   // print each cycle's requests by path
}

// pollWorld is one sandbox with its integration and selection.
type pollWorld struct {
	name     string
	sb       *sandbox.Sandbox
	integ    int64
	token    string
	groups   int
	loose    int
	selected map[int64]bool // GitLab ids
	picked   map[int64]bool // selected by id
	members  map[int64]bool // the user's projects, as GitLab lists them
}

const harness = "in-process harness"

// Run prints the figures to out.
func (b *Poll) Run(ctx context.Context, out io.Writer) error {
	if b.Cycles <= 0 {
		b.Cycles = 3
	}
	if b.Changes <= 0 {
		b.Changes = 50
	}
	if b.Interval <= 0 {
		b.Interval = time.Minute
	}
	if b.ChangeWindow <= 0 {
		b.ChangeWindow = 150 * time.Second
	}
	if b.Settle <= 0 {
		b.Settle = 6 * time.Minute
	}
	dir, err := os.MkdirTemp("", "labsync-bench-poll-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, store.Options{DatabaseURL: b.DatabaseURL, SQLitePath: filepath.Join(dir, "labsync.db")})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx, nil); err != nil {
		return err
	}
	boot, created, err := st.BootstrapIfEmpty(ctx, "bench", "bench@localhost", "")
	if err != nil {
		return err
	}
	org := boot.Org.ID
	if !created { // a PostgreSQL database that has an organisation already
		o, _, err := st.FirstOwner(ctx)
		if err != nil {
			return err
		}
		org = o.ID
	}

	// Two gitlab.com worlds from one seed: the same user, groups and
	// projects; one with a busy public world, one with a quiet one.
	var mu sync.Mutex
	clients := map[int64]syncer.ClientSource{}
	svc := syncer.New(st, syncer.Options{Concurrency: 8,
		Clients: func(ctx context.Context, orgID, integrationID int64) (*gitlab.Client, error) {
			mu.Lock()
			c := clients[integrationID]
			mu.Unlock()
			if c == nil {
				return nil, fmt.Errorf("bench: no client for integration %d", integrationID)
			}
			return c(ctx, orgID, integrationID)
		}})
	world := func(name string, perMin int) (*pollWorld, error) {
		sb, err := sandbox.Start(ctx, sandbox.Config{Profile: sandbox.ProfileGitLabCom, PublicProjects: b.PublicProjects,
			PublicActivityPerMin: perMin, Seed: 14, Groups: 10, Projects: 132, MRs: 5, Issues: 5, Pipelines: 3, Commits: 10})
		if err != nil {
			return nil, err
		}
		w := &pollWorld{name: name, sb: sb, token: sb.UserToken(), selected: map[int64]bool{}, picked: map[int64]bool{}}
		in := &store.Integration{OrgID: org, Alias: fmt.Sprintf("bench-poll-%s-%d", name, time.Now().UnixNano()), BaseURL: sb.URL(),
			AuthMethod: store.AuthMethodToken}
		if err := st.CreateIntegration(ctx, nil, in); err != nil {
			sb.Close()
			return nil, err
		}
		w.integ = in.ID
		tok := w.token
		mu.Lock()
		clients[in.ID] = syncer.StaticClients(sb.URL(), nil, func() string { return tok }, 30*time.Second)
		mu.Unlock()
		return w, w.setUp(ctx, st, svc, org)
	}
	busy, err := world("busy", b.PublicPerMin)
	if busy != nil {
		defer busy.sb.Close()
	}
	if err != nil {
		return err
	}
	quiet, err := world("quiet", 0)
	if quiet != nil {
		defer quiet.sb.Close()
	}
	if err != nil {
		return err
	}

	// Poll both every Interval, Cycles times, counting requests per cycle.
	runStart := time.Now()
	perCycle := map[string][]int{}
	deliveryAsked := map[string]int{} // requests for review and delivery data
	for i := range b.Cycles {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(b.Interval):
			}
		}
		for _, w := range []*pollWorld{busy, quiet} {
			w.sb.ResetRequests()
			if err := svc.Run(ctx, org, w.integ, syncer.ModePoll); err != nil {
				return fmt.Errorf("bench: poll of the %s world: %w", w.name, err)
			}
			rs := w.sb.Requests()
			perCycle[w.name] = append(perCycle[w.name], apiRequests(rs))
			deliveryAsked[w.name] += deliveryRequestCount(rs)
			if b.Verbose {
				by := map[string]int{}
				for _, r := range rs {
					by[r.Path]++
				}
				fmt.Fprintf(out, "cycle %d, %s world: requests by path %v\n", i+1, w.name, by)
			}
		}
	}
	// What an instance-wide poll would have had to page through: the
	// merge requests updated anywhere during the runs, as GitLab counts
	// them for the user (scope=all; a quarter of the public changes are
	// merge requests with the default mix).
	var activity []string
	for _, w := range []*pollWorld{busy, quiet} {
		n, err := updatedSince(ctx, w.sb.URL(), w.token, runStart)
		if err != nil {
			return err
		}
		activity = append(activity, fmt.Sprintf("world activity    %s world: %s merge requests updated anywhere during the polls (GitLab's X-Total of /merge_requests?scope=all)\n", w.name, n))
	}
	mb, mq := mean(perCycle["busy"]), mean(perCycle["quiet"])
	bound := 3*(quiet.groups+quiet.loose) + 2
	fmt.Fprintf(out, "setting           gitlab.com profile, %d public projects; selection %d groups (%d projects) + %d loose projects (%s)\n",
		b.PublicProjects, quiet.groups, len(quiet.selected)-quiet.loose, quiet.loose, harness)
	for _, a := range activity {
		fmt.Fprint(out, a)
	}
	fmt.Fprintf(out, "requests/cycle    busy public world (%d updates/min): %.1f %v; quiet public world: %.1f %v; difference %+.1f%% (target ±5%%) (%s, a cycle every %s)\n",
		b.PublicPerMin, mb, perCycle["busy"], mq, perCycle["quiet"], 100*(mb-mq)/math.Max(mq, 1), harness, b.Interval)
	fmt.Fprintf(out, "quiet cycle       %.1f requests, bound 3 × (%d groups + %d loose) + 2 = %d (%s)\n", mq, quiet.groups, quiet.loose, bound, harness)
	fmt.Fprintf(out, "review, delivery  every service on (reviews, jobs, deployments, releases): %d requests for their data over the quiet world's %d cycles, %d over the busy world's (they follow a changed merge request, pipeline or push) (%s)\n",
		deliveryAsked["quiet"], b.Cycles, deliveryAsked["busy"], harness)
	for _, w := range []*pollWorld{busy, quiet} {
		n, err := w.nonMembers(ctx, st, org)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "non-members kept  %d projects stored whose user is not a member and not selected by id, %s world (target 0) (%s)\n", n, w.name, harness)
	}
	if err := b.droppedWebhook(ctx, out, st, svc, org, quiet); err != nil {
		return err
	}
	return b.adminInstance(ctx, out, st, svc, org, &mu, clients)
}

// adminInstance measures the one case where the poller asks instance-wide:
// an administrator on 17.11 self-managed with every group selected. It
// counts a quiet cycle instance-wide (what chooseInstanceWide picks), then
// the same cycle through the selection (the state told that the
// credential does not see the instance).
func (b *Poll) adminInstance(ctx context.Context, out io.Writer, st *store.Store, svc *syncer.Service, org int64,
	mu *sync.Mutex, clients map[int64]syncer.ClientSource) error {
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 14, Groups: 10, Projects: 125, MRs: 5, Issues: 5, Pipelines: 3, Commits: 10})
	if err != nil {
		return err
	}
	defer sb.Close()
	in := &store.Integration{OrgID: org, Alias: fmt.Sprintf("bench-poll-admin-%d", time.Now().UnixNano()), BaseURL: sb.URL(),
		AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		return err
	}
	tok := sb.AdminToken()
	mu.Lock()
	clients[in.ID] = syncer.StaticClients(sb.URL(), nil, func() string { return tok }, 30*time.Second)
	mu.Unlock()
	if err := svc.Discover(ctx, org, in.ID); err != nil {
		return err
	}
	gs, err := st.Groups(ctx, org, in.ID)
	if err != nil {
		return err
	}
	sel := store.Selection{Services: store.AllServices, IncludeArchived: true}
	roots := 0
	for _, g := range gs {
		sel.Groups = append(sel.Groups, store.GroupSelection{GitLabID: g.GitLabID, AutoImport: true})
		if g.ParentGitLabID == nil {
			roots++
		}
	}
	if _, err := svc.SaveSelection(ctx, org, in.ID, sel); err != nil {
		return err
	}
	for _, mode := range []syncer.Mode{syncer.ModeFull, syncer.ModePoll} {
		if err := svc.Run(ctx, org, in.ID, mode); err != nil {
			return err
		}
	}
	cycle := func() (int, error) {
		sb.ResetRequests()
		if err := svc.Run(ctx, org, in.ID, syncer.ModePoll); err != nil {
			return 0, err
		}
		return apiRequests(sb.Requests()), nil
	}
	wide, err := cycle()
	if err != nil {
		return err
	}
	state, err := st.SyncStateFor(ctx, org, in.ID)
	if err != nil {
		return err
	}
	state.SeesInstance = false
	if err := st.SaveSyncState(ctx, org, state); err != nil {
		return err
	}
	narrow, err := cycle()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "admin, 17.11      every group selected (%d top-level), %d projects: a quiet cycle costs %d requests instance-wide (chosen) and %d through the selection (%s)\n",
		roots, state.VisibleProjects, wide, narrow, harness)
	return nil
}

// setUp discovers as the user, selects the two groups the user can see
// with the most projects (auto-import) and five projects of another group
// one by one, backfills, and polls once to settle the watermarks.
func (w *pollWorld) setUp(ctx context.Context, st *store.Store, svc *syncer.Service, org int64) error {
	if err := svc.Discover(ctx, org, w.integ); err != nil {
		return err
	}
	gs, err := st.Groups(ctx, org, w.integ)
	if err != nil {
		return err
	}
	all, err := st.AllProjects(ctx, org, w.integ)
	if err != nil {
		return err
	}
	type cand struct {
		g store.Group
		n int
	}
	var top []cand
	for _, g := range gs {
		if g.ParentGitLabID != nil {
			continue
		}
		n := 0
		for _, p := range all {
			if !p.Archived && (p.NamespacePath == g.FullPath || len(p.NamespacePath) > len(g.FullPath) && p.NamespacePath[:len(g.FullPath)+1] == g.FullPath+"/") {
				n++
			}
		}
		top = append(top, cand{g, n})
	}
	slices.SortFunc(top, func(a, b cand) int { return b.n - a.n })
	if len(top) < 3 {
		return fmt.Errorf("bench: the user sees %d top-level groups, 3 are needed", len(top))
	}
	sel := store.Selection{Services: store.AllServices}
	for _, c := range top[:2] {
		sel.Groups = append(sel.Groups, store.GroupSelection{GitLabID: c.g.GitLabID, AutoImport: true})
	}
	for _, p := range all {
		if len(sel.Projects) < 5 && !p.Archived && (p.NamespacePath == top[2].g.FullPath) {
			sel.Projects = append(sel.Projects, p.GitLabID)
			w.picked[p.GitLabID] = true
		}
	}
	w.groups, w.loose = 2, len(sel.Projects)
	if _, err := svc.SaveSelection(ctx, org, w.integ, sel); err != nil {
		return err
	}
	for _, mode := range []syncer.Mode{syncer.ModeFull, syncer.ModePoll} {
		if err := svc.Run(ctx, org, w.integ, mode); err != nil {
			return fmt.Errorf("bench: %s of the %s world: %w", mode, w.name, err)
		}
	}
	ps, err := st.AllProjects(ctx, org, w.integ)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Selected {
			w.selected[p.GitLabID] = true
		}
	}
	w.members, err = memberProjects(ctx, w.sb.URL(), w.token)
	return err
}

// nonMembers counts stored projects whose user is not a member and that
// were not selected by id.
func (w *pollWorld) nonMembers(ctx context.Context, st *store.Store, org int64) (int, error) {
	ps, err := st.AllProjects(ctx, org, w.integ)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		if !w.members[p.GitLabID] && !w.picked[p.GitLabID] {
			n++
		}
	}
	return n, nil
}

// updatedSince is GitLab's count of merge requests updated since t that
// the user can see (X-Total; "above 10,000" when GitLab omits it).
func updatedSince(ctx context.Context, base, token string, t time.Time) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v4/merge_requests?scope=all&state=all&per_page=1&updated_after="+
		t.UTC().Format(time.RFC3339), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("PRIVATE-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("bench: counting merge requests: GitLab answered %s", resp.Status)
	}
	if n := resp.Header.Get("X-Total"); n != "" {
		return n, nil
	}
	return "above 10,000", nil
}

// memberProjects lists the ids of the projects token's user is a member
// of, as GitLab answers /projects?membership=true.
func memberProjects(ctx context.Context, base, token string) (map[int64]bool, error) {
	out := map[int64]bool{}
	for page := 1; page < 1000; page++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v4/projects?membership=true&per_page=100&page=%d", base, page), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("PRIVATE-TOKEN", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var ps []struct {
			ID int64 `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ps)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("bench: listing the user's projects: %w", err)
		}
		for _, p := range ps {
			out[p.ID] = true
		}
		if resp.Header.Get("X-Next-Page") == "" {
			break
		}
	}
	return out, nil
}

// droppedWebhook: every selected project but one delivers webhooks (their
// deliveries recorded in the store as the webhook processor records them,
// and a push in one of them every ten seconds, as projects that deliver
// have changes); the silent one gets Changes changes — merge requests,
// issues, pushes and pipelines in turn — at random times over
// ChangeWindow. A poll runs whenever PollPlanFor says one is due, as the
// periodic job queues it; each change is visible once a poll stored it.
//
// First it measures a quiet cycle in that world: the bound kept is
// 3 × (groups + loose) + 2 plus the silent project's own pipeline and push
// passes (2 requests; its commits are walked only after a push). Then one
// push in the silent project moves its last_activity_at, and the bench
// polls for Settle (longer than the poller's 5-minute activity overlap)
// before the changes start, so the silent project is no longer "active"
// to the poller: on the gitlab.com profile its last_activity_at then stays
// put for an hour (Event::RESET_PROJECT_ACTIVITY_INTERVAL) and never moves
// for pipelines, and its pushes and pipelines can only arrive through the
// silent project's own passes (or, for pipelines, the 1-in-30 sweep).
func (b *Poll) droppedWebhook(ctx context.Context, out io.Writer, st *store.Store, svc *syncer.Service, org int64, w *pollWorld) error {
	ps, err := st.AllProjects(ctx, org, w.integ)
	if err != nil {
		return err
	}
	var silent int64
	var others []int64
	for _, p := range ps {
		if !w.selected[p.GitLabID] || w.picked[p.GitLabID] || p.Archived || p.DefaultBranch == "" {
			continue
		}
		if p.CIEnabled && (silent == 0 || p.GitLabID < silent) {
			silent = p.GitLabID
		}
	}
	if silent == 0 {
		return fmt.Errorf("bench: no selected group project with CI/CD to drop the webhook of")
	}
	for _, p := range ps {
		if w.selected[p.GitLabID] && !w.picked[p.GitLabID] && !p.Archived && p.DefaultBranch != "" && p.GitLabID != silent {
			others = append(others, p.GitLabID)
		}
		if b.Verbose && p.GitLabID == silent {
			fmt.Fprintf(out, "dropped webhook   the silent project is %s (id %d)\n", p.PathWithNamespace, p.GitLabID)
		}
		if b.Verbose && p.Selected && !w.selected[p.GitLabID] {
			fmt.Fprintf(out, "dropped webhook   %s (id %d) is selected now but was not at set-up\n", p.PathWithNamespace, p.GitLabID)
		}
	}
	deliver := func() error {
		now := st.Now()
		if _, err := st.InsertDeliveries(ctx, []store.Delivery{{OrgID: org, IntegrationID: w.integ,
			DedupeKey: fmt.Sprintf("bench-%d", now.UnixNano()), EventKind: "push", Headers: "{}", Body: []byte("{}"), ReceivedAt: now,
			Status: "ignored"}}); err != nil {
			return err
		}
		for id := range w.selected {
			if id == silent {
				continue
			}
			// Their webhooks delivered their changes before any poll
			// found them: a poll finding them again is no news.
			if _, err := st.DB().ExecContext(ctx, `UPDATE projects SET last_webhook_at = $1, poll_found_changes_at = NULL
				WHERE org_id = $2 AND integration_id = $3 AND gitlab_id = $4`, now, org, w.integ, id); err != nil {
				return err
			}
		}
		return nil
	}
	cycle := func() (int, error) {
		if err := deliver(); err != nil {
			return 0, err
		}
		w.sb.ResetRequests()
		if err := svc.Run(ctx, org, w.integ, syncer.ModePoll); err != nil {
			return 0, err
		}
		return apiRequests(w.sb.Requests()), nil
	}
	// The quiet cycle while the others deliver: one poll to settle, then
	// the measured one.
	if _, err := cycle(); err != nil {
		return err
	}
	quietN, err := cycle()
	if err != nil {
		return err
	}
	bound := 3*(w.groups+w.loose) + 2 + 2
	fmt.Fprintf(out, "quiet, one silent %d requests in a quiet cycle while the others' webhooks deliver, bound 3 × (%d groups + %d loose) + 2 + 2 (the silent project's pipeline and push passes) = %d (%s)\n",
		quietN, w.groups, w.loose, bound, harness)

	type change struct {
		kind    string
		id      int64
		sha     string
		at      time.Time
		visible time.Time
	}
	kinds := []string{"merge_request", "issue", "push", "pipeline"}
	make1 := func(i int) (*change, error) {
		kind := kinds[i%len(kinds)]
		var ch sandbox.Change
		var err error
		switch kind {
		case "merge_request":
			ch, err = w.sb.OpenMR(silent, fmt.Sprintf("Change %d while its webhook is dropped", i))
		case "issue":
			ch, err = w.sb.OpenIssue(silent, fmt.Sprintf("Change %d while its webhook is dropped", i))
		case "push":
			ch, err = w.sb.Push(silent, "", 1)
		case "pipeline":
			ch, err = w.sb.RunPipeline(silent, "", "success")
		}
		if err != nil {
			return nil, err
		}
		return &change{kind: kind, id: ch.ID, sha: ch.SHA, at: time.Now()}, nil
	}
	// visibleNow marks the changes a poll that ended at done stored.
	visibleNow := func(changes []*change, done time.Time) (int, error) {
		q := store.DataQuery{IntegrationID: w.integ, ProjectGitLabID: silent, Limit: 1000}
		have := map[string]bool{}
		mrs, err := st.MergeRequests(ctx, org, q)
		if err != nil {
			return 0, err
		}
		for _, m := range mrs {
			have[fmt.Sprint("merge_request", m.GitLabID)] = true
		}
		iss, err := st.Issues(ctx, org, q)
		if err != nil {
			return 0, err
		}
		for _, x := range iss {
			have[fmt.Sprint("issue", x.GitLabID)] = true
		}
		pls, err := st.Pipelines(ctx, org, q)
		if err != nil {
			return 0, err
		}
		for _, x := range pls {
			have[fmt.Sprint("pipeline", x.GitLabID)] = true
		}
		pushes, err := st.Pushes(ctx, org, q)
		if err != nil {
			return 0, err
		}
		for _, x := range pushes {
			have["push"+x.AfterSHA] = true
		}
		pending := 0
		for _, c := range changes {
			key := fmt.Sprint(c.kind, c.id)
			if c.kind == "push" {
				key = "push" + c.sha
			}
			if c.visible.IsZero() && have[key] {
				c.visible = done
			}
			if c.visible.IsZero() {
				pending++
			}
		}
		return pending, nil
	}

	// Settle: the silent project's last_activity_at moves once, then the
	// activity watermark moves past it with the others' pushes.
	if _, err := w.sb.Push(silent, "", 1); err != nil {
		return err
	}
	var plan syncer.PollPlan
	lastPoll, lastOther, otherN := time.Time{}, time.Time{}, 0
	step := func() (bool, error) {
		if time.Since(lastOther) >= 10*time.Second && len(others) > 0 {
			// In turn, so each push moves a project not moved within the
			// hour: the activity watermark keeps moving.
			lastOther = time.Now()
			if _, err := w.sb.Push(others[otherN%len(others)], "", 1); err != nil {
				return false, err
			}
			otherN++
		}
		if err := deliver(); err != nil {
			return false, err
		}
		in, err := st.Integration(ctx, org, w.integ)
		if err != nil {
			return false, err
		}
		if plan, err = svc.PollPlanFor(ctx, in); err != nil {
			return false, err
		}
		if time.Since(lastPoll) < plan.Every-5*time.Second { // PollAll's slack
			return false, nil
		}
		lastPoll = time.Now()
		return true, svc.Run(ctx, org, w.integ, syncer.ModePoll)
	}
	sleep := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
			return nil
		}
	}
	for settleEnd := time.Now().Add(b.Settle); time.Now().Before(settleEnd); {
		if _, err := step(); err != nil {
			return err
		}
		if err := sleep(); err != nil {
			return err
		}
	}

	start := time.Now()
	offsets := make([]time.Duration, b.Changes)
	for i := range offsets {
		offsets[i] = time.Duration(rand.Int64N(int64(b.ChangeWindow)))
	}
	slices.Sort(offsets)
	var changes []*change
	next := 0
	for deadline := start.Add(b.ChangeWindow + 3*time.Minute); time.Now().Before(deadline); {
		for next < len(offsets) && time.Since(start) >= offsets[next] {
			c, err := make1(next)
			if err != nil {
				return err
			}
			changes = append(changes, c)
			next++
		}
		polled, err := step()
		if err != nil {
			return err
		}
		if polled {
			pending, err := visibleNow(changes, time.Now())
			if err != nil {
				return err
			}
			if next == len(offsets) && pending == 0 {
				break
			}
		}
		if err := sleep(); err != nil {
			return err
		}
	}
	pct := func(lat []time.Duration, p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)].Round(100 * time.Millisecond)
	}
	summary := func(kind string) string {
		var lat []time.Duration
		n, missing := 0, 0
		for _, c := range changes {
			if kind != "" && c.kind != kind {
				continue
			}
			n++
			if c.visible.IsZero() {
				missing++
				continue
			}
			lat = append(lat, c.visible.Sub(c.at))
		}
		slices.Sort(lat)
		return fmt.Sprintf("p50 %s, p99 %s, max %s over %d changes, %d never seen", pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1), n, missing)
	}
	fmt.Fprintf(out, "dropped webhook   one project's webhook dropped while the others deliver (plan: every %s, %q), after %s of settling: its changes visible in %s (target p99 ≤ 90s) (%s)\n",
		plan.Every, plan.Reason, b.Settle, summary(""), harness)
	for _, k := range kinds {
		fmt.Fprintf(out, "  %-15s %s (%s)\n", k, summary(k), harness)
	}
	return nil
}

func mean(xs []int) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}
