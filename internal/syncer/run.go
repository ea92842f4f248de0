package syncer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// run is one sync of one integration.
type run struct {
	svc         *Service
	orgID       int64
	integ       int64
	integration store.Integration
	conn        *conn
	state       store.SyncState
	sel         store.Selection
	mode        Mode
	settings    store.SyncSettings
	// polledIDs are the projects (projects.id) this run's poll covered,
	// and pollStart when it started: once the run ends without error,
	// their data is fresh as of pollStart.
	polledIDs []int64
	pollStart time.Time
	// backfilled is set when a backfill or full sync worked every chain
	// of polledIDs to the end: their data is then fresh as of pollStart
	// too, though no poll covered them.
	backfilled bool
	// silentOnly are the projects (projects.id) whose passes this poll
	// started only because they are silent (SilentProjects), not because
	// their activity moved: their commits are walked only for refs pushed
	// since the watermark. Written before the chains start, then read only.
	silentOnly map[int64]bool

	// ran and changedIn record, per "project/resource", the chains this
	// run worked and those that stored a change (see follows).
	mu        sync.Mutex
	ran       map[string]bool
	changedIn map[string]bool
	// storedPipelines are, per project (projects.id), the GitLab ids of
	// the pipelines this run's pipelines passes stored.
	storedPipelines map[int64]map[int64]bool

	cancel   context.CancelFunc
	stopOnce sync.Once
	stopErr  error
}

// Run syncs one integration now, in this goroutine: discovery when due,
// the selection, every unfinished page chain (resumed from its checkpoint)
// and, in ModePoll, what changed since the watermarks. It returns ErrBusy
// when another worker holds the integration, ErrStopped when GitLab refused
// the credential (the state's reason says why), and an error when some
// resources still failed after retries (a later run resumes them).
func (s *Service) Run(ctx context.Context, orgID, integrationID int64, mode Mode) error {
	integ, err := s.st.Integration(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	owner := s.owner + "-" + strconv.FormatUint(s.runs.Add(1), 10)
	ok, err := s.st.AcquireSyncLease(ctx, orgID, integrationID, owner, s.opts.LeaseTTL)
	if err != nil {
		return err
	}
	if !ok {
		return ErrBusy
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.st.ReleaseSyncLease(context.WithoutCancel(ctx), orgID, integrationID, owner)
	go func() {
		t := time.NewTicker(s.opts.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if ok, err := s.st.AcquireSyncLease(ctx, orgID, integrationID, owner, s.opts.LeaseTTL); err == nil && !ok {
					s.log.Warn("sync lease lost; stopping this run", "integration", integrationID)
					cancel()
				}
			}
		}
	}()

	state, err := s.st.SyncStateFor(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	if state.State == store.SyncStopped {
		return fmt.Errorf("%w: %s", ErrStopped, state.Reason)
	}
	settings, err := s.st.SyncSettingsFor(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	now := s.st.Now()
	state.State, state.Reason, state.StartedAt, state.FinishedAt, state.Concurrency = store.SyncRunning, "", &now, nil, s.concurrencyFor(settings)
	if state.MRWatermark == nil {
		// Backfills cover what changed before the first run; incremental
		// polls take over from its start.
		state.MRWatermark, state.IssueWatermark, state.ActivityWatermark = &now, &now, &now
	}
	if err := s.st.SaveSyncState(ctx, orgID, state); err != nil {
		return err
	}
	r := &run{svc: s, orgID: orgID, integ: integrationID, integration: integ, state: state, mode: mode, settings: settings}
	err = r.start(ctx, cancel)
	return r.finish(context.WithoutCancel(ctx), err)
}

func (r *run) start(ctx context.Context, cancel context.CancelFunc) error {
	runStart := r.svc.st.Now()
	client, err := r.svc.opts.Clients(ctx, r.orgID, r.integ)
	if err != nil {
		return fmt.Errorf("sync: no GitLab client for the integration: %w", err)
	}
	r.conn = r.svc.newConnN(client, r.integ, r.svc.concurrencyFor(r.settings))
	r.cancel = cancel
	if sel, err := r.svc.st.SelectionFor(ctx, r.orgID, r.integ); err != nil {
		return err
	} else {
		r.sel = sel
	}
	discovered := false
	if r.mode == ModeFull || r.state.DiscoveredAt == nil || r.svc.st.Now().Sub(*r.state.DiscoveredAt) > r.svc.opts.DiscoveryEvery {
		if err := r.discover(ctx); err != nil {
			return r.stopIfToken(err)
		}
		discovered = true
	}
	selected, err := r.applySelection(ctx)
	if err != nil {
		return err
	}
	if discovered && r.mode == ModePoll {
		// Once per discovery cycle (an hour): deleted and moved items.
		if err := r.sweepDeleted(ctx, selected); err != nil {
			return r.stopIfToken(err)
		}
	}
	if err := r.svc.st.ResumeProgress(ctx, r.orgID, r.integ); err != nil {
		return err
	}
	if r.mode == ModePoll {
		if err := r.poll(ctx, selected); err != nil {
			return r.stopIfToken(err)
		}
	}
	rows, err := r.svc.st.ProgressRows(ctx, r.orgID, r.integ, true)
	if err != nil {
		return err
	}
	if err := r.runChains(ctx, selected, rows); err != nil {
		return err
	}
	if r.mode != ModePoll {
		for _, p := range selected {
			r.polledIDs = append(r.polledIDs, p.ID)
		}
		r.pollStart, r.backfilled = runStart, true
	}
	return nil
}

func (r *run) stopIfToken(err error) error {
	if isTokenProblem(err) {
		r.stop(err)
		return r.stopErr
	}
	return err
}

// stop ends the run because of a credential problem.
func (r *run) stop(err error) {
	r.stopOnce.Do(func() {
		r.stopErr = fmt.Errorf("%w: %w", ErrStopped, err)
		r.cancel()
	})
}

func (r *run) finish(ctx context.Context, err error) error {
	now := r.svc.st.Now()
	st, _ := r.svc.st.SyncStateFor(ctx, r.orgID, r.integ)
	// Keep the watermarks and discovery time this run advanced.
	st.MRWatermark, st.IssueWatermark, st.ActivityWatermark = r.state.MRWatermark, r.state.IssueWatermark, r.state.ActivityWatermark
	st.DiscoveredAt, st.SweepOffset = r.state.DiscoveredAt, r.state.SweepOffset
	st.SeesInstance, st.VisibleProjects = r.state.SeesInstance, r.state.VisibleProjects
	if err == nil && r.stopErr == nil && len(r.polledIDs) > 0 {
		if perr := r.markFresh(ctx); perr != nil {
			err = perr
		}
	}
	if r.conn != nil {
		st.Requests += r.conn.requests.Load()
	}
	st.FinishedAt = &now
	st.State, st.Reason = store.SyncIdle, ""
	if r.stopErr != nil {
		err = r.stopErr
	}
	switch {
	case errors.Is(err, ErrStopped):
		st.State, st.Reason = store.SyncStopped, strings.TrimPrefix(err.Error(), ErrStopped.Error()+": ")
		if r.svc.opts.TokenProblem != nil {
			r.svc.opts.TokenProblem(ctx, r.orgID, r.integ, errors.Unwrap(err))
		}
	case err != nil:
		st.Reason = err.Error()
	}
	if serr := r.svc.st.SaveSyncState(ctx, r.orgID, st); serr != nil && err == nil {
		err = serr
	}
	r.svc.changed()
	return err
}

// markFresh records that the poll (or a backfill that worked every chain)
// covered its projects, except gone ones
// and those a resource of which GitLab refused (403, 404) or that failed:
// their data is not known complete.
func (r *run) markFresh(ctx context.Context) error {
	rows, err := r.svc.st.ProgressRows(ctx, r.orgID, r.integ, false)
	if err != nil {
		return err
	}
	stale := map[int64]bool{}
	for _, row := range rows {
		switch row.Status {
		case store.ProgressForbidden, store.ProgressNotFound, store.ProgressFailed:
			stale[row.ProjectID] = true
		}
	}
	ps, err := r.svc.st.SelectedOrGoneProjects(ctx, r.orgID, r.integ)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Gone != "" {
			stale[p.ID] = true
		}
	}
	ids := make([]int64, 0, len(r.polledIDs))
	for _, id := range r.polledIDs {
		if !stale[id] {
			ids = append(ids, id)
		}
	}
	if r.backfilled {
		return r.svc.st.MarkProjectsFresh(ctx, r.orgID, r.integ, ids, r.pollStart)
	}
	return r.svc.st.MarkProjectsPolled(ctx, r.orgID, r.integ, ids, r.pollStart)
}

// applySelection marks the selected projects and makes sure each has a
// progress row per enabled resource.
func (r *run) applySelection(ctx context.Context) ([]store.Project, error) {
	all, err := r.svc.st.AllProjects(ctx, r.orgID, r.integ)
	if err != nil {
		return nil, err
	}
	groups, err := r.svc.st.Groups(ctx, r.orgID, r.integ)
	if err != nil {
		return nil, err
	}
	selected, err := Selected(r.sel, groups, all)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(selected))
	for _, p := range selected {
		ids = append(ids, p.ID)
	}
	if err := r.svc.st.SetSelectedProjects(ctx, r.orgID, r.integ, ids); err != nil {
		return nil, err
	}
	if f := r.svc.opts.OnSelected; f != nil {
		f(ctx, r.orgID, r.integ)
	}
	if err := r.svc.st.EnsureProgress(ctx, r.orgID, r.integ, ids, resources(r.sel.Services)); err != nil {
		return nil, err
	}
	return selected, nil
}

func resources(s store.Services) []string {
	var out []string
	if s.MergeRequests {
		out = append(out, ResourceMergeRequests)
	}
	if s.Issues {
		out = append(out, ResourceIssues)
	}
	if s.Pipelines {
		out = append(out, ResourcePipelines)
	}
	if s.Pushes {
		out = append(out, ResourcePushes, ResourceCommits)
	}
	return append(out, deliveryResources(s)...)
}

// chainsPerRequest is how many chains work per request allowed in flight.
const chainsPerRequest = 3

// runChains works the unfinished rows with Concurrency × chainsPerRequest
// workers. A project's pushes run before its commits (commits follow
// pushed branches).
func (r *run) runChains(ctx context.Context, selected []store.Project, rows []store.Progress) error {
	projects := map[int64]store.Project{}
	for _, p := range selected {
		projects[p.ID] = p
	}
	enabled := map[string]bool{}
	for _, res := range resources(r.sel.Services) {
		enabled[res] = true
	}
	type item []store.Progress
	// A chain that follows another of its project (see after) runs in the
	// same item, after it; items holding per-merge-request chains, the
	// longest, are fed first so they do not end the run alone.
	var items []item
	head := map[string]int{} // project/resource -> index of its item
	key := func(pid int64, res string) string { return strconv.FormatInt(pid, 10) + "/" + res }
	var dependents []store.Progress
	for _, row := range rows {
		if !enabled[row.Resource] {
			continue
		}
		if _, ok := after[row.Resource]; ok {
			dependents = append(dependents, row)
			continue
		}
		head[key(row.ProjectID, row.Resource)] = len(items)
		items = append(items, item{row})
	}
	sort.SliceStable(dependents, func(i, j int) bool { return chainRank[dependents[i].Resource] < chainRank[dependents[j].Resource] })
	for _, row := range dependents {
		if i, ok := head[key(row.ProjectID, after[row.Resource])]; ok {
			items[i] = append(items[i], row)
			continue
		}
		items = append(items, item{row})
	}
	long := func(it item) bool {
		for _, row := range it {
			if row.Resource == ResourceMRCommits || row.Resource == ResourceApprovals {
				return true
			}
		}
		return false
	}
	sort.SliceStable(items, func(i, j int) bool { return long(items[i]) && !long(items[j]) })
	work := make(chan item)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	// More chains than requests in flight: while some chains write their
	// page, others fetch theirs, so the concurrency allowed at GitLab is
	// used all the time; conn bounds the requests themselves.
	for range r.svc.concurrencyFor(r.settings) * chainsPerRequest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				for _, row := range it {
					if ctx.Err() != nil {
						return
					}
					err := r.chain(ctx, projects[row.ProjectID], row)
					if err != nil && ctx.Err() == nil {
						mu.Lock()
						failed = append(failed, row.ProjectPath+" "+row.Resource+": "+err.Error())
						mu.Unlock()
					}
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if r.stopErr != nil {
		return r.stopErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("sync: %d resources failed and will be retried; first: %s", len(failed), failed[0])
	}
	return nil
}

// chain runs one (project, resource) page chain to its end, recording a
// 403/404 on the row instead of failing the run.
func (r *run) chain(ctx context.Context, p store.Project, row store.Progress) error {
	now := r.svc.st.Now()
	if row.StartedAt == nil {
		row.StartedAt = &now
	}
	row.Status = store.ProgressRunning
	row.LastError, row.ErrorKind, row.ErrorStatus = "", "", 0
	if (row.Resource == ResourcePipelines || row.Resource == ResourceJobs || row.Resource == ResourcePipelineTimes) && !p.CIEnabled {
		// CI/CD is off in the project: nothing to fetch, and no error.
		t := r.svc.st.Now()
		row.Status, row.FinishedAt, row.NextPage, row.LastError = store.ProgressCIDisabled, &t, "", ciDisabledNote
		if err := r.svc.st.SaveProgress(ctx, nil, r.orgID, row); err != nil {
			return err
		}
		r.svc.changed()
		return nil
	}
	// The status is written with the first page, in its transaction.
	r.noteRan(p.ID, row.Resource)
	if r.follows(p.ID, row) {
		// The chain it follows ran in this pass and changed nothing: no
		// request (see follows).
		return r.skipChain(ctx, row, "")
	}
	handled, err := r.deliveryChain(ctx, p, row)
	switch {
	case handled:
	case row.Resource == ResourceMergeRequests, row.Resource == ResourceIssues, row.Resource == ResourcePipelines:
		err = r.updatedChain(ctx, p, row)
	case row.Resource == ResourcePushes:
		err = r.pushChain(ctx, p, row)
	case row.Resource == ResourceCommits:
		err = r.commitChain(ctx, p, row)
	}
	if err == nil {
		return nil
	}
	if isTokenProblem(err) {
		r.stop(err)
		return nil
	}
	if ctx.Err() != nil {
		return nil
	}
	// Re-read the checkpoint: the failed page left it as it was.
	cur := row
	if rows, rerr := r.svc.st.ProgressRows(context.WithoutCancel(ctx), r.orgID, r.integ, false); rerr == nil {
		for _, x := range rows {
			if x.ProjectID == row.ProjectID && x.Resource == row.Resource {
				cur = x
			}
		}
	}
	cur.Status, cur.LastError = store.ProgressFailed, err.Error()
	if ae, ok := accessProblem(err); ok {
		cur.Status, cur.ErrorKind, cur.ErrorStatus = store.ProgressForbidden, string(ae.Kind), ae.Status
		if ae.Status == 404 {
			cur.Status = store.ProgressNotFound
		} else if row.Resource == ResourcePipelines || row.Resource == ResourceJobs {
			// Project pipelines (and jobs) answer 403 when CI/CD is disabled (whatever
			// the project JSON said): shown as such, not as an error.
			cur.Status = store.ProgressCIDisabled
			cur.LastError = ciDisabledNote + " (GitLab answered 403: " + err.Error() + ")"
		}
		t := r.svc.st.Now()
		cur.FinishedAt, cur.NextPage = &t, ""
		err = nil
	}
	if serr := r.svc.st.SaveProgress(context.WithoutCancel(ctx), nil, r.orgID, cur); serr != nil {
		return serr
	}
	r.svc.changed()
	return err
}

func (r *run) source(row store.Progress) string {
	if row.Mode == "incremental" {
		return store.SourcePoll
	}
	return store.SourceSync
}

const gitlabTime = "2006-01-02T15:04:05.000Z"

// ciDisabledNote is what a pipelines chain of a project without CI/CD
// shows instead of an error.
const ciDisabledNote = "CI/CD is disabled in this project: its pipelines are not synced"

// updatedChain pages merge requests, issues or pipelines ordered by
// updated_at ascending, moving updated_after to the last item's updated_at
// instead of using offsets: an item updated during the chain moves behind
// the cursor's end and is still fetched, and no item is skipped when others
// move. The checkpoint is "<updated_after>|<page>" (page > 1 only when a
// whole page shares one updated_at).
func (r *run) updatedChain(ctx context.Context, p store.Project, row store.Progress) error {
	path := fmt.Sprintf("projects/%d/%s", p.GitLabID, row.Resource)
	var cursor time.Time
	pageNo := int64(1)
	if row.NextPage != "" {
		ts, pg, _ := strings.Cut(row.NextPage, "|")
		cursor, _ = time.Parse(time.RFC3339Nano, ts)
		if n, err := strconv.ParseInt(pg, 10, 64); err == nil && n > 0 {
			pageNo = n
		}
	} else if row.Mode == "incremental" && row.Watermark != nil {
		cursor = row.Watermark.Add(-r.svc.opts.Overlap)
	} else if row.Mode != "incremental" && r.settings.HistorySince != nil {
		// The integration's history start date bounds the backfill.
		cursor = *r.settings.HistorySince
	}
	for {
		q := url.Values{"per_page": {strconv.Itoa(r.svc.opts.PerPage)}, "order_by": {"updated_at"}, "sort": {"asc"},
			"page": {strconv.FormatInt(pageNo, 10)}}
		if !cursor.IsZero() {
			q.Set("updated_after", cursor.UTC().Format(gitlabTime))
		}
		pg, err := r.conn.get(ctx, path, q, "")
		if err != nil {
			return err
		}
		var high time.Time
		var mrs []store.MergeRequest
		var iss []store.Issue
		var pls []store.Pipeline
		var deps []store.Deployment
		var people []store.Person
		var tierOf func(int64) string
		var moved []int64
		var bad unreadable
		for _, raw := range pg.items {
			var upd time.Time
			switch row.Resource {
			case ResourceMergeRequests:
				m, err := ingest.MergeRequest(r.integ, raw)
				if err != nil {
					bad.add(err)
					continue
				}
				m.ProjectGitLabID, upd = p.GitLabID, m.UpdatedAt
				mrs = append(mrs, m)
			case ResourceIssues:
				is, err := ingest.Issue(r.integ, raw)
				if err != nil {
					bad.add(err)
					continue
				}
				is.ProjectGitLabID, upd = p.GitLabID, is.UpdatedAt
				if movedAway(raw) {
					moved = append(moved, is.GitLabID)
				} else {
					iss = append(iss, is)
				}
			case ResourcePipelines:
				pl, err := ingest.Pipeline(r.integ, p.GitLabID, raw)
				if err != nil {
					bad.add(err)
					continue
				}
				upd = pl.UpdatedAt
				pls = append(pls, pl)
			case ResourceDeployments:
				if tierOf == nil {
					if tierOf, err = r.tierOf(ctx, p.GitLabID); err != nil {
						return err
					}
				}
				d, ps, err := ingest.Deployment(r.integ, p.GitLabID, raw, tierOf)
				if err != nil {
					bad.add(err)
					continue
				}
				upd = d.UpdatedAt
				deps, people = append(deps, d), append(people, ps...)
			}
			if upd.After(high) {
				high = upd
			}
		}
		bad.record(r, &row)
		if err := r.keepPipelineTimes(ctx, pls); err != nil {
			return err
		}
		done := pg.next == 0 || len(pg.items) == 0
		if !done {
			next := high
			if row.Resource == ResourceDeployments {
				// Whether GitLab's updated_after keeps a deployment updated
				// at that very time was not settled (the sandbox keeps only
				// later ones): the cursor stays a millisecond behind, which
				// repeats at most the items of that millisecond.
				next = high.Add(-time.Millisecond)
			}
			if next.After(cursor) {
				cursor, pageNo = next, 1
			} else {
				pageNo = pg.next
			}
		}
		if pg.total != nil && (pageNo == 1 || row.ItemsKnown == nil) {
			k := row.ItemsDone + *pg.total
			row.ItemsKnown = &k
		}
		row.PagesDone++
		row.ItemsDone += int64(len(pg.items))
		r.svc.metrics.fetched(r.integ, row.Resource, len(pg.items))
		if !high.IsZero() && (row.PassHigh == nil || high.After(*row.PassHigh)) {
			h := high
			row.PassHigh = &h
		}
		if done {
			r.complete(&row)
		} else {
			row.NextPage = cursor.UTC().Format(time.RFC3339Nano) + "|" + strconv.FormatInt(pageNo, 10)
		}
		var res store.UpsertResult
		err = r.svc.pages.do(func(tx *sql.Tx) error {
			var err error
			switch row.Resource {
			case ResourceMergeRequests:
				res, err = r.svc.st.UpsertMergeRequests(ctx, tx, r.orgID, r.integ, r.source(row), mrs)
			case ResourceIssues:
				res, err = r.svc.st.UpsertIssues(ctx, tx, r.orgID, r.integ, r.source(row), iss)
				if err == nil && len(moved) > 0 {
					_, err = r.svc.st.DeleteItems(ctx, tx, r.orgID, r.integ, "issues", moved)
				}
			case ResourcePipelines:
				res, err = r.svc.st.UpsertPipelines(ctx, tx, r.orgID, r.integ, r.source(row), pls)
			case ResourceDeployments:
				res, err = r.svc.st.UpsertDeployments(ctx, tx, r.orgID, r.integ, r.source(row), deps)
				if err == nil {
					err = r.savePeople(ctx, tx, row, people)
				}
			}
			if err != nil {
				return err
			}
			return r.svc.st.SaveProgress(ctx, tx, r.orgID, row)
		})
		if err != nil {
			return err
		}
		r.noteChanges(p.ID, row.Resource, res.Changed)
		if res.Changed > 0 && row.Resource == ResourcePipelines {
			r.notePipelines(p.ID, pls)
		}
		r.svc.changed()
		if done {
			return nil
		}
	}
}

// complete ends a pass: the watermark moves to the newest updated_at seen.
func (r *run) complete(row *store.Progress) {
	now := r.svc.st.Now()
	row.Status, row.NextPage, row.FinishedAt = store.ProgressDone, "", &now
	if row.PassHigh != nil && (row.Watermark == nil || row.PassHigh.After(*row.Watermark)) {
		row.Watermark = row.PassHigh
	}
	if row.Watermark == nil {
		row.Watermark = row.StartedAt
	}
	if row.ItemsKnown == nil || *row.ItemsKnown < row.ItemsDone {
		k := row.ItemsDone
		row.ItemsKnown = &k
	}
}

// pushChain pages a project's push events oldest first (new events append
// at the end, so offsets never skip one); incremental passes start a day
// before the watermark's date, as the events API filters by date.
func (r *run) pushChain(ctx context.Context, p store.Project, row store.Progress) error {
	path := fmt.Sprintf("projects/%d/events", p.GitLabID)
	pageNo := int64(1)
	if n, err := strconv.ParseInt(row.NextPage, 10, 64); err == nil && n > 0 {
		pageNo = n
	}
	for {
		q := url.Values{"per_page": {strconv.Itoa(r.svc.opts.PerPage)}, "action": {"pushed"}, "sort": {"asc"},
			"page": {strconv.FormatInt(pageNo, 10)}}
		if row.Mode == "incremental" && row.Watermark != nil {
			q.Set("after", row.Watermark.Add(-r.svc.opts.Overlap).UTC().AddDate(0, 0, -1).Format(time.DateOnly))
		} else if row.Mode != "incremental" && r.settings.HistorySince != nil {
			q.Set("after", r.settings.HistorySince.UTC().AddDate(0, 0, -1).Format(time.DateOnly))
		}
		pg, err := r.conn.get(ctx, path, q, "")
		if err != nil {
			return err
		}
		var pushes []store.Push
		var high time.Time
		for _, raw := range pg.items {
			ps, at, ok, err := ingest.PushEvent(r.integ, p.GitLabID, raw)
			if err != nil || !ok {
				continue
			}
			pushes = append(pushes, ps)
			if at.After(high) {
				high = at
			}
		}
		done := pg.next == 0 || len(pg.items) == 0
		row.PagesDone++
		row.ItemsDone += int64(len(pg.items))
		r.svc.metrics.fetched(r.integ, row.Resource, len(pg.items))
		if pg.total != nil && row.ItemsKnown == nil {
			k := *pg.total
			row.ItemsKnown = &k
		}
		if !high.IsZero() && (row.PassHigh == nil || high.After(*row.PassHigh)) {
			h := high
			row.PassHigh = &h
		}
		if done {
			r.complete(&row)
		} else {
			pageNo = pg.next
			row.NextPage = strconv.FormatInt(pageNo, 10)
		}
		err = r.svc.pages.do(func(tx *sql.Tx) error {
			res, err := r.svc.st.UpsertPushes(ctx, tx, r.orgID, r.integ, r.source(row), pushes)
			if err != nil {
				return err
			}
			r.noteChanges(p.ID, row.Resource, res.Changed)
			return r.svc.st.SaveProgress(ctx, tx, r.orgID, row)
		})
		if err != nil {
			return err
		}
		if f := r.svc.opts.OnPushes; f != nil && len(pushes) > 0 {
			f(ctx, r.orgID, r.integ, pushes)
		}
		r.svc.changed()
		if done {
			return nil
		}
	}
}

// commitChain backfills the default branch's history newest first (pushes
// during the chain only repeat commits, never skip one). Incremental passes
// walk the default branch and every branch pushed to since the watermark
// until they reach a commit already stored (a silent project's pass, see
// run.silentOnly, only the branches pushed to): commit dates say nothing
// about when a commit was pushed, so `since` is not used.
func (r *run) commitChain(ctx context.Context, p store.Project, row store.Progress) error {
	if row.Mode != "incremental" {
		return r.walkCommits(ctx, p, &row, p.DefaultBranch, false)
	}
	since := r.svc.st.Now().Add(-24 * time.Hour)
	if row.Watermark != nil {
		since = row.Watermark.Add(-r.svc.opts.Overlap)
	}
	passStart := r.svc.st.Now()
	refs, err := r.svc.st.RecentPushRefs(ctx, r.orgID, r.integ, p.GitLabID, since)
	if err != nil {
		return err
	}
	if p.DefaultBranch != "" && !containsStr(refs, p.DefaultBranch) && !r.silentOnly[p.ID] {
		// A silent project's pass (no activity seen) walks only what its
		// push pass, run just before, found pushed: nothing when quiet.
		refs = append([]string{p.DefaultBranch}, refs...)
	}
	for _, ref := range refs {
		if err := r.walkCommits(ctx, p, &row, ref, true); err != nil {
			if _, ok := accessProblem(err); ok && ref != p.DefaultBranch {
				continue // the branch was deleted since
			}
			return err
		}
	}
	row.PassHigh = &passStart
	r.complete(&row)
	row.Watermark = &passStart
	if err := r.svc.st.SaveProgress(ctx, nil, r.orgID, row); err != nil {
		return err
	}
	return nil
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// walkCommits pages one branch; untilKnown stops at the first page that
// holds a commit already stored.
func (r *run) walkCommits(ctx context.Context, p store.Project, row *store.Progress, ref string, untilKnown bool) error {
	if ref == "" {
		if !untilKnown {
			r.complete(row)
			return r.svc.st.SaveProgress(ctx, nil, r.orgID, *row)
		}
		return nil
	}
	path := fmt.Sprintf("projects/%d/repository/commits", p.GitLabID)
	pageNo := int64(1)
	if !untilKnown {
		if n, err := strconv.ParseInt(row.NextPage, 10, 64); err == nil && n > 0 {
			pageNo = n
		}
	}
	for {
		q := url.Values{"per_page": {strconv.Itoa(r.svc.opts.PerPage)}, "ref_name": {ref}, "page": {strconv.FormatInt(pageNo, 10)}}
		if !untilKnown && r.settings.HistorySince != nil {
			// The backfill's history start date; `since` is the commit date.
			q.Set("since", r.settings.HistorySince.UTC().Format(gitlabTime))
		}
		pg, err := r.conn.get(ctx, path, q, "")
		if err != nil {
			return err
		}
		var cs []store.Commit
		var bad unreadable
		for _, raw := range pg.items {
			c, err := ingest.Commit(p.GitLabID, raw)
			if err != nil {
				bad.add(err)
				continue
			}
			cs = append(cs, c)
		}
		bad.record(r, row)
		done := pg.next == 0 || len(pg.items) == 0
		row.PagesDone++
		row.ItemsDone += int64(len(pg.items))
		r.svc.metrics.fetched(r.integ, row.Resource, len(pg.items))
		if pg.total != nil && row.ItemsKnown == nil && !untilKnown {
			k := *pg.total
			row.ItemsKnown = &k
		}
		if !untilKnown {
			if done {
				r.complete(row)
			} else {
				pageNo = pg.next
				row.NextPage = strconv.FormatInt(pageNo, 10)
			}
		} else if !done {
			pageNo = pg.next
		}
		var res store.UpsertResult
		err = r.svc.pages.do(func(tx *sql.Tx) error {
			var err error
			if res, err = r.svc.st.UpsertCommits(ctx, tx, r.orgID, r.integ, r.source(*row), cs); err != nil {
				return err
			}
			return r.svc.st.SaveProgress(ctx, tx, r.orgID, *row)
		})
		if err != nil {
			return err
		}
		r.svc.changed()
		if done || (untilKnown && res.Changed < len(cs)) {
			return nil
		}
	}
}

// unreadable counts the items of a page GitLab returned that labsync could
// not read. They are not stored, and that is said: in the chain's last
// error (shown with its progress) and in the log, never skipped silently.
type unreadable struct {
	n     int
	first error
}

func (u *unreadable) add(err error) {
	if u.n == 0 {
		u.first = err
	}
	u.n++
}

func (u *unreadable) record(r *run, row *store.Progress) {
	if u.n == 0 {
		return
	}
	row.LastError = fmt.Sprintf("%d %s item(s) on a page could not be read and were not stored: %v", u.n, row.Resource, u.first)
	r.svc.log.Warn("unreadable items from GitLab were not stored", "integration", r.integ, "project", row.ProjectID,
		"resource", row.Resource, "count", u.n, "err", u.first)
}
