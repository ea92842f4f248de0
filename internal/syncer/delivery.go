package syncer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// Review and delivery resources (issue 20), each a (project, resource)
// page chain like the others. Which GitLab endpoint each reads, and why:
//
//   - notes: the project's events with action=commented (one listing for
//     every comment of the project: GitLab has no project-wide notes
//     endpoint). Events carry user comments only; system notes, edits and
//     resolution come with Note Hook deliveries.
//   - approvals: the project's events with action=approved from
//     gitlab.ApprovalEventsFrom; before it, per merge request
//     (…/merge_requests/:iid/approvals), the only source there is. Before
//     gitlab.ApprovalsFreeFrom, Community Edition has no approvals at all.
//   - mr_commits: per merge request (…/merge_requests/:iid/commits): no
//     version lists the commits of every merge request of a project.
//     Backfills ask every merge request once; polls only those whose
//     updated_at moved (a push to a merge request's branch moves it).
//   - jobs: the project's jobs, newest first, by keyset where GitLab has it
//     (gitlab.JobsKeysetFrom), never per pipeline.
//   - environments and deployments: the environments list; deployments
//     ordered by updated_at from the watermark (updated_after).
//   - releases and tags: their project listings.
//   - pipeline_times: GraphQL pages of the project's pipelines (duration,
//     started and finished times, which the REST list leaves out), never one
//     request per pipeline; see pipelineTimesChain.
const (
	ResourceNotes         = "notes"
	ResourceApprovals     = "approvals"
	ResourceMRCommits     = "mr_commits"
	ResourceJobs          = "jobs"
	ResourceEnvironments  = "environments"
	ResourceDeployments   = "deployments"
	ResourceReleases      = "releases"
	ResourceTags          = "tags"
	ResourcePipelineTimes = "pipeline_times"
)

// after says which chain of the same project a chain follows in a run
// (they run in one item, in this order): commits follow pushes (branches
// pushed), releases and tags follow pushes (a tag is pushed), pipeline
// times, jobs, environments and deployments follow pipelines (a job or a
// deployment changes with its pipeline), the review chains follow merge
// requests (a comment or a push moves a merge request's updated_at). In a
// backfill this only orders them; in a poll it lets a pass end without a
// request when the chain it follows changed nothing (follows).
var after = map[string]string{
	ResourceCommits:       ResourcePushes,
	ResourceReleases:      ResourcePushes,
	ResourceTags:          ResourcePushes,
	ResourcePipelineTimes: ResourcePipelines,
	ResourceJobs:          ResourcePipelines,
	ResourceEnvironments:  ResourcePipelines,
	ResourceDeployments:   ResourcePipelines,
	ResourceNotes:         ResourceMergeRequests,
	ResourceMRCommits:     ResourceMergeRequests,
	ResourceApprovals:     ResourceMergeRequests,
}

// deliveryResources are the chains of the new services.
func deliveryResources(s store.Services) []string {
	var out []string
	if s.Pipelines {
		out = append(out, ResourcePipelineTimes)
	}
	if s.Reviews {
		out = append(out, ResourceNotes, ResourceApprovals, ResourceMRCommits)
	}
	if s.Jobs {
		out = append(out, ResourceJobs)
	}
	if s.Deployments {
		out = append(out, ResourceEnvironments, ResourceDeployments)
	}
	if s.Releases {
		out = append(out, ResourceReleases, ResourceTags)
	}
	return out
}

// deliveryChain runs the chain of one of the new resources; handled is
// false for the resources of the older code.
func (r *run) deliveryChain(ctx context.Context, p store.Project, row store.Progress) (handled bool, err error) {
	switch row.Resource {
	case ResourceNotes:
		return true, r.eventChain(ctx, p, row, gitlab.EventFilter{Action: "commented"})
	case ResourceApprovals:
		switch ver := r.version(ctx); {
		case ver.Has(gitlab.ApprovalEventsFrom):
			return true, r.eventChain(ctx, p, row, gitlab.EventFilter{Action: "approved"})
		case !ver.Enterprise && !ver.Has(gitlab.ApprovalsFreeFrom):
			return true, r.skipChain(ctx, row, fmt.Sprintf("GitLab %s Community Edition has no merge request approvals (Free from %d.%d)",
				ver, gitlab.ApprovalsFreeFrom[0], gitlab.ApprovalsFreeFrom[1]))
		default:
			return true, r.perMRChain(ctx, p, row)
		}
	case ResourceMRCommits:
		return true, r.perMRChain(ctx, p, row)
	case ResourceJobs:
		return true, r.jobsChain(ctx, p, row)
	case ResourceDeployments:
		return true, r.updatedChain(ctx, p, row)
	case ResourceEnvironments, ResourceReleases, ResourceTags:
		return true, r.listChain(ctx, p, row)
	case ResourcePipelineTimes:
		return true, r.pipelineTimesChain(ctx, p, row)
	}
	return false, nil
}

// skipChain ends a chain that has nothing to read on this GitLab, saying
// why on its progress row.
func (r *run) skipChain(ctx context.Context, row store.Progress, why string) error {
	now := r.svc.st.Now()
	if row.StartedAt == nil {
		row.StartedAt = &now
	}
	r.complete(&row)
	row.LastError = why
	if err := r.svc.st.SaveProgress(ctx, nil, r.orgID, row); err != nil {
		return err
	}
	r.svc.changed()
	return nil
}

// page returns a fetch of a request built by the gitlab package:
// c.page(ctx)(client.ProjectJobs(…)).
func (c *conn) page(ctx context.Context) func(gitlab.Request, error) (page, error) {
	return func(req gitlab.Request, err error) (page, error) {
		if err != nil {
			return page{}, err
		}
		return c.get(ctx, req.Path, req.Query, "")
	}
}

// savePage stores one page's rows and the chain's checkpoint in one
// transaction.
func (r *run) savePage(ctx context.Context, row store.Progress, write func(tx *sql.Tx) error) error {
	err := r.svc.pages.do(func(tx *sql.Tx) error {
		if write != nil {
			if err := write(tx); err != nil {
				return err
			}
		}
		return r.svc.st.SaveProgress(ctx, tx, r.orgID, row)
	})
	if err != nil {
		return err
	}
	r.svc.changed()
	return nil
}

// account adds a fetched page to the chain's counts.
func (r *run) account(row *store.Progress, pg page, high time.Time) {
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
}

// eventChain pages a project's events of one kind oldest first, as
// pushChain does for pushes (new events append at the end, so offsets skip
// none; incremental passes start a day before the watermark's date since
// `after` is a date).
func (r *run) eventChain(ctx context.Context, p store.Project, row store.Progress, f gitlab.EventFilter) error {
	pageNo := int64(1)
	if n, err := strconv.ParseInt(row.NextPage, 10, 64); err == nil && n > 0 {
		pageNo = n
	}
	if row.Mode == "incremental" && row.Watermark != nil {
		t := row.Watermark.Add(-r.svc.opts.Overlap).UTC().AddDate(0, 0, -1)
		f.After = &t
	} else if row.Mode != "incremental" && r.settings.HistorySince != nil {
		t := r.settings.HistorySince.UTC().AddDate(0, 0, -1)
		f.After = &t
	}
	for {
		pg, err := r.conn.page(ctx)(r.conn.client.ProjectEvents(p.GitLabID, f, gitlab.Page{PerPage: int64(r.svc.opts.PerPage), Page: pageNo}))
		if err != nil {
			return err
		}
		var notes []store.Note
		var approvals []store.Approval
		var people []store.Person
		var high time.Time
		var bad unreadable
		for _, raw := range pg.items {
			switch row.Resource {
			case ResourceNotes:
				n, ps, ok, err := noteFromEvent(r.integ, p.GitLabID, raw)
				if err != nil {
					bad.add(err)
					continue
				}
				if ok {
					notes, people = append(notes, n), append(people, ps...)
					high = later(high, n.UpdatedAt)
				}
			case ResourceApprovals:
				a, ps, ok, err := ingest.ApprovalEvent(r.integ, p.GitLabID, raw)
				if err != nil {
					bad.add(err)
					continue
				}
				if ok {
					approvals, people = append(approvals, a), append(people, ps...)
					high = later(high, a.UpdatedAt)
				}
			}
		}
		bad.record(r, &row)
		done := pg.next == 0 || len(pg.items) == 0
		r.account(&row, pg, high)
		if done {
			r.complete(&row)
		} else {
			pageNo = pg.next
			row.NextPage = strconv.FormatInt(pageNo, 10)
		}
		err = r.savePage(ctx, row, func(tx *sql.Tx) error {
			var err error
			if len(notes) > 0 {
				_, err = r.svc.st.UpsertNotes(ctx, tx, r.orgID, r.integ, r.source(row), notes)
			}
			if err == nil && len(approvals) > 0 {
				_, err = r.svc.st.UpsertApprovals(ctx, tx, r.orgID, r.integ, r.source(row), approvals)
			}
			if err == nil {
				err = r.savePeople(ctx, tx, row, people)
			}
			return err
		})
		if err != nil || done {
			return err
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// perMRChain walks a project's merge requests, as stored, by local id
// (the checkpoint is the last one done), asking GitLab one merge request
// at a time where no bulk endpoint exists: its commits, or its approvals
// on a GitLab without approval events. mrFanOut merge requests are asked
// at once (the connection still bounds the requests in flight), so a
// project with many merge requests does not end a backfill alone.
// Incremental passes walk only the merge requests updated since the
// watermark (minus the overlap).
func (r *run) perMRChain(ctx context.Context, p store.Project, row store.Progress) error {
	passStart := r.svc.st.Now()
	var lastID int64
	if n, err := strconv.ParseInt(row.NextPage, 10, 64); err == nil {
		lastID = n
	}
	var since time.Time
	if row.Mode == "incremental" && row.Watermark != nil {
		since = row.Watermark.Add(-r.svc.opts.Overlap)
	}
	for {
		mrs, err := r.svc.st.MergeRequests(ctx, r.orgID, store.DataQuery{IntegrationID: r.integ, ProjectGitLabID: p.GitLabID,
			AfterID: lastID, UpdatedAfter: since, Limit: 200})
		if err != nil {
			return err
		}
		if len(mrs) == 0 {
			break
		}
		for len(mrs) > 0 {
			batch := mrs[:min(mrFanOut, len(mrs))]
			mrs = mrs[len(batch):]
			results := make([]mrResult, len(batch))
			var wg sync.WaitGroup
			for i, m := range batch {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = r.oneMR(ctx, p, row, m.IID)
				}()
			}
			wg.Wait()
			var bad unreadable
			var cs []store.Commit
			var links []store.MergeRequestCommit
			var people []store.Person
			var approved []mrResult
			for i, res := range results {
				if res.err != nil {
					if _, ok := accessProblem(res.err); !ok {
						return res.err
					}
					// The merge request was deleted or hidden since: the
					// next listing of merge requests says so.
				}
				if res.bad != nil {
					bad.add(res.bad)
				}
				row.PagesDone += res.pages
				row.ItemsDone += res.items
				lastID = batch[i].ID
				cs, links, people = append(cs, res.commits...), append(links, res.links...), append(people, res.people...)
				if res.approvals {
					approved = append(approved, res)
				}
			}
			bad.record(r, &row)
			row.NextPage = strconv.FormatInt(lastID, 10)
			// The batch's rows and its checkpoint in one transaction.
			err := r.savePage(ctx, row, func(tx *sql.Tx) error {
				if _, err := r.svc.st.UpsertCommits(ctx, tx, r.orgID, r.integ, r.source(row), cs); err != nil {
					return err
				}
				if _, err := r.svc.st.UpsertMergeRequestCommits(ctx, tx, r.orgID, r.integ, r.source(row), links); err != nil {
					return err
				}
				for _, a := range approved {
					if _, err := r.svc.st.ReplaceMergeRequestApprovals(ctx, tx, r.orgID, r.integ, r.source(row), p.GitLabID, a.iid, a.approved); err != nil {
						return err
					}
				}
				return r.savePeople(ctx, tx, row, people)
			})
			if err != nil {
				return err
			}
		}
	}
	row.PassHigh = &passStart
	r.complete(&row)
	return r.savePage(ctx, row, nil)
}

// mrFanOut is how many merge requests a per-merge-request chain asks at
// once.
const mrFanOut = 8

// mrResult is what one merge request's requests read: rows to store with
// the batch.
type mrResult struct {
	iid          int64
	pages, items int64
	commits      []store.Commit
	links        []store.MergeRequestCommit
	// approvals is set when approved lists the merge request's approvals
	// (all of them: the stored ones are replaced).
	approvals bool
	approved  []store.Approval
	people    []store.Person
	// bad is an answer that could not be read (not stored, said on the row).
	bad error
	err error
}

// oneMR reads one merge request's commits or approvals.
func (r *run) oneMR(ctx context.Context, p store.Project, row store.Progress, iid int64) mrResult {
	res := mrResult{iid: iid}
	if row.Resource == ResourceApprovals {
		raw, err := r.conn.getOne(ctx, fmt.Sprintf("projects/%d/merge_requests/%d/approvals", p.GitLabID, iid), nil)
		if err != nil {
			res.err = err
			return res
		}
		res.pages = 1
		as, people, err := ingest.MergeRequestApprovals(r.integ, p.GitLabID, iid, raw, r.svc.st.Now())
		if err != nil {
			res.bad = err
			return res
		}
		res.items = int64(len(as))
		r.svc.metrics.fetched(r.integ, row.Resource, len(as))
		res.approvals, res.approved, res.people = true, as, people
		return res
	}
	pageNo := int64(1)
	position := int64(0)
	for {
		pg, err := r.conn.page(ctx)(r.conn.client.MergeRequestCommits(p.GitLabID, iid, gitlab.Page{PerPage: int64(r.svc.opts.PerPage), Page: pageNo}))
		if err != nil {
			res.err = err
			return res
		}
		for _, raw := range pg.items {
			c, err := ingest.Commit(p.GitLabID, raw)
			if err != nil {
				res.bad = err
				continue
			}
			res.commits = append(res.commits, c)
			res.links = append(res.links, store.MergeRequestCommit{ProjectGitLabID: p.GitLabID, MergeRequestIID: iid, SHA: c.SHA, Position: position})
			position++
		}
		res.pages++
		res.items += int64(len(pg.items))
		r.svc.metrics.fetched(r.integ, row.Resource, len(pg.items))
		if pg.next == 0 || len(pg.items) == 0 {
			return res
		}
		pageNo = pg.next
	}
}

// jobsChain pages a project's jobs newest first: by keyset from
// gitlab.JobsKeysetFrom (the checkpoint is GitLab's next link), by offset
// before. GitLab's jobs list has no updated_after, so an incremental pass
// stops at the first page whose jobs were all created before the
// watermark (minus the overlap) and are all finished, or at a job created
// a day before that (a job stuck running is then left to its pipeline's
// next change and the Job Hook). The checkpoint of an offset chain is the
// page; new jobs arriving during a backfill shift offsets by whole jobs
// already stored, which repeats some, never skips one.
func (r *run) jobsChain(ctx context.Context, p store.Project, row store.Progress) error {
	keyset := r.version(ctx).Has(gitlab.JobsKeysetFrom)
	pageNo, link := int64(1), ""
	if l, ok := strings.CutPrefix(row.NextPage, "link:"); ok {
		link = l
	} else if n, err := strconv.ParseInt(row.NextPage, 10, 64); err == nil && n > 0 {
		pageNo = n
	}
	var stopBefore, historyStart time.Time
	if row.Mode == "incremental" && row.Watermark != nil {
		stopBefore = row.Watermark.Add(-r.svc.opts.Overlap)
	} else if row.Mode != "incremental" && r.settings.HistorySince != nil {
		// The integration's history start date bounds the backfill: it
		// ends at the first page of jobs all created before it.
		historyStart = *r.settings.HistorySince
	}
	for {
		var pg page
		var err error
		if link != "" {
			pg, err = r.conn.get(ctx, "", url.Values{"pagination": {"keyset"}}, link)
		} else {
			pg, err = r.conn.page(ctx)(r.conn.client.ProjectJobs(p.GitLabID, gitlab.Page{PerPage: int64(r.svc.opts.PerPage), Page: pageNo, Keyset: keyset}))
		}
		if err != nil {
			return err
		}
		var jobs []store.Job
		var people []store.Person
		var high time.Time
		var bad unreadable
		older, ancient := len(pg.items) > 0, false
		beforeHistory := !historyStart.IsZero() && len(pg.items) > 0
		for _, raw := range pg.items {
			j, ps, err := ingest.Job(r.integ, p.GitLabID, raw)
			if err != nil {
				bad.add(err)
				continue
			}
			jobs, people = append(jobs, j), append(people, ps...)
			high = later(high, j.UpdatedAt)
			if j.CreatedAt == nil || !j.CreatedAt.Before(historyStart) {
				beforeHistory = false
			}
			if !stopBefore.IsZero() {
				created := j.UpdatedAt
				if j.CreatedAt != nil {
					created = *j.CreatedAt
				}
				if !created.Before(stopBefore) || !finishedJob(j.Status) {
					older = false
				}
				if created.Before(stopBefore.Add(-24 * time.Hour)) {
					ancient = true
				}
			}
		}
		bad.record(r, &row)
		done := len(pg.items) == 0 || (pg.next == 0 && pg.nextLink == "") || (!stopBefore.IsZero() && (older || ancient)) || beforeHistory
		r.account(&row, pg, high)
		if done {
			r.complete(&row)
		} else if pg.nextLink != "" {
			link, row.NextPage = pg.nextLink, "link:"+pg.nextLink
		} else {
			pageNo, link = pg.next, ""
			row.NextPage = strconv.FormatInt(pageNo, 10)
		}
		err = r.savePage(ctx, row, func(tx *sql.Tx) error {
			if _, err := r.svc.st.UpsertJobs(ctx, tx, r.orgID, r.integ, r.source(row), jobs); err != nil {
				return err
			}
			return r.savePeople(ctx, tx, row, people)
		})
		if err != nil || done {
			return err
		}
	}
}

func finishedJob(status string) bool {
	switch status {
	case "success", "failed", "canceled", "skipped", "manual":
		return true
	}
	return false
}

// listChain pages a short project listing (environments, releases, tags)
// from its first page. A backfill reads it all; an incremental pass of
// releases or tags (newest first) stops at the first page that changed
// nothing stored, environments are read whole (a project has few).
func (r *run) listChain(ctx context.Context, p store.Project, row store.Progress) error {
	pageNo := int64(1)
	if n, err := strconv.ParseInt(row.NextPage, 10, 64); err == nil && n > 0 {
		pageNo = n
	}
	for {
		pp := gitlab.Page{PerPage: int64(r.svc.opts.PerPage), Page: pageNo}
		var req gitlab.Request
		var err error
		switch row.Resource {
		case ResourceEnvironments:
			req, err = r.conn.client.ProjectEnvironments(p.GitLabID, pp)
		case ResourceReleases:
			req, err = r.conn.client.ProjectReleases(p.GitLabID, pp)
		default:
			req, err = r.conn.client.ProjectTags(p.GitLabID, pp)
		}
		pg, err := r.conn.page(ctx)(req, err)
		if err != nil {
			return err
		}
		var envs []store.Environment
		var rels []store.Release
		var tags []store.Tag
		var people []store.Person
		var high time.Time
		var bad unreadable
		for _, raw := range pg.items {
			switch row.Resource {
			case ResourceEnvironments:
				e, err := ingest.Environment(r.integ, p.GitLabID, raw)
				if err != nil {
					bad.add(err)
					continue
				}
				envs = append(envs, e)
				high = later(high, e.UpdatedAt)
			case ResourceReleases:
				rl, ps, err := ingest.Release(r.integ, p.GitLabID, raw)
				if err != nil {
					bad.add(err)
					continue
				}
				rels, people = append(rels, rl), append(people, ps...)
			default:
				t, err := ingest.Tag(r.integ, p.GitLabID, raw)
				if err != nil {
					bad.add(err)
					continue
				}
				tags = append(tags, t)
			}
		}
		bad.record(r, &row)
		done := pg.next == 0 || len(pg.items) == 0
		r.account(&row, pg, high)
		var res store.UpsertResult
		write := func(tx *sql.Tx) error {
			var err error
			switch row.Resource {
			case ResourceEnvironments:
				res, err = r.svc.st.UpsertEnvironments(ctx, tx, r.orgID, r.integ, r.source(row), envs)
			case ResourceReleases:
				res, err = r.svc.st.UpsertReleases(ctx, tx, r.orgID, r.integ, r.source(row), rels)
			default:
				res, err = r.svc.st.UpsertTags(ctx, tx, r.orgID, r.integ, r.source(row), tags)
			}
			if err == nil {
				err = r.savePeople(ctx, tx, row, people)
			}
			return err
		}
		if !done && row.Mode == "incremental" && row.Resource != ResourceEnvironments {
			// Decide after the write whether the listing reached known rows.
			if err := r.svc.pages.do(write); err != nil {
				return err
			}
			write = nil
			done = res.Changed == 0
		}
		if done {
			if row.Mode == "incremental" {
				now := r.svc.st.Now()
				row.PassHigh = &now
			}
			r.complete(&row)
		} else {
			pageNo = pg.next
			row.NextPage = strconv.FormatInt(pageNo, 10)
		}
		if err := r.savePage(ctx, row, write); err != nil || done {
			return err
		}
	}
}

// pipelineTimesChain fills the duration and start and finish times of a
// project's finished pipelines that lack them (the REST pipelines list
// has none of the three) from GraphQL pages of Project.pipelines, newest
// first, a hundred pipelines a request, until every pipeline that lacks
// them was seen; a pass in a poll covers only the pipelines that poll's
// pipelines pass stored, usually one page. Before
// gitlab.GraphQLPipelinesFrom (12.1, when GraphQL was enabled by default)
// nothing is asked: one request per pipeline is what this chain exists to
// avoid, so those pipelines keep the times their Pipeline Hook deliveries
// carry, and the progress row says so.
func (r *run) pipelineTimesChain(ctx context.Context, p store.Project, row store.Progress) error {
	ver := r.version(ctx)
	if !ver.Has(gitlab.GraphQLPipelinesFrom) {
		return r.skipChain(ctx, row, fmt.Sprintf("GitLab %s has no GraphQL API by default (12.1): pipeline durations come from pipeline webhooks only", ver))
	}
	passStart := r.svc.st.Now()
	need, err := r.svc.st.PipelinesMissingTimes(ctx, r.orgID, r.integ, p.GitLabID, time.Time{})
	if err != nil {
		return err
	}
	// An incremental pass completes only the pipelines this run's
	// pipelines pass stored: a pipeline GitLab gives no times (canceled
	// before it started) must not send every later pass down to it.
	var only map[int64]bool
	if row.Mode == "incremental" {
		only = r.pipelinesStored(p.ID)
	}
	missing := map[int64]bool{}
	lowest := int64(0)
	for _, id := range need {
		if only != nil && !only[id] {
			continue
		}
		missing[id] = true
		if lowest == 0 || id < lowest {
			lowest = id
		}
	}
	cursor := row.NextPage
	for len(missing) > 0 {
		u, err := r.conn.client.GraphQLURL(gitlab.PipelineTimesQuery(ver), gitlab.PipelineTimesVariables(p.PathWithNamespace, r.svc.opts.PerPage, cursor))
		if err != nil {
			return err
		}
		pg, err := r.conn.get(ctx, "", url.Values{"_one": {"1"}}, u.String())
		if err != nil {
			return err
		}
		var body []byte
		if len(pg.items) > 0 {
			body = pg.items[0]
		}
		items, next, end, err := gitlab.PipelineTimesPage(body)
		var ge *gitlab.GraphQLError
		if errors.As(err, &ge) || errors.Is(err, gitlab.ErrProjectNotInGraphQL) {
			// Not a failure of the sync: the pipelines stay as the REST
			// list gave them, and the row says why.
			row.LastError = "pipeline durations were not read: " + err.Error()
			break
		}
		if err != nil {
			return err
		}
		var ts []store.PipelineTimes
		pageLow := int64(0)
		for _, it := range items {
			if pageLow == 0 || it.ID < pageLow {
				pageLow = it.ID
			}
			if !missing[it.ID] {
				continue
			}
			delete(missing, it.ID)
			ts = append(ts, store.PipelineTimes{GitLabID: it.ID, DurationS: it.DurationS, StartedAt: it.StartedAt, FinishedAt: it.FinishedAt})
		}
		row.PagesDone++
		row.ItemsDone += int64(len(ts))
		r.svc.metrics.fetched(r.integ, row.Resource, len(items))
		if !next || len(items) == 0 || (pageLow > 0 && pageLow <= lowest) {
			missing = nil
		} else {
			cursor, row.NextPage = end, end
		}
		err = r.savePage(ctx, row, func(tx *sql.Tx) error {
			_, err := r.svc.st.SetPipelineTimes(ctx, tx, r.orgID, r.integ, r.source(row), ts)
			return err
		})
		if err != nil {
			return err
		}
	}
	row.PassHigh = &passStart
	r.complete(&row)
	row.Watermark = &passStart
	return r.savePage(ctx, row, nil)
}

// keepPipelineTimes gives pipelines read from the REST list (which has no
// times) the times already stored for them, when their status did not
// change, so a listing does not blank what GraphQL or a webhook filled in.
func (r *run) keepPipelineTimes(ctx context.Context, pls []store.Pipeline) error {
	ids := make([]int64, 0, len(pls))
	for _, pl := range pls {
		if pl.DurationS == nil || pl.StartedAt == nil || pl.FinishedAt == nil {
			ids = append(ids, pl.GitLabID)
		}
	}
	stored, err := r.svc.st.StoredPipelineTimes(ctx, r.orgID, r.integ, ids)
	if err != nil {
		return err
	}
	for i := range pls {
		s, ok := stored[pls[i].GitLabID]
		if !ok || s.Status != pls[i].Status {
			continue
		}
		if pls[i].DurationS == nil {
			pls[i].DurationS = s.DurationS
		}
		if pls[i].StartedAt == nil {
			pls[i].StartedAt = s.StartedAt
		}
		if pls[i].FinishedAt == nil {
			pls[i].FinishedAt = s.FinishedAt
		}
	}
	return nil
}

// rawField returns the raw JSON of one field of an object, nil when absent
// or null.
func rawField(raw json.RawMessage, name string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	v := m[name]
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}

func progressKey(projectID int64, resource string) string {
	return strconv.FormatInt(projectID, 10) + "/" + resource
}

// noteRan records that a chain of this run started.
func (r *run) noteRan(projectID int64, resource string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ran == nil {
		r.ran = map[string]bool{}
	}
	r.ran[progressKey(projectID, resource)] = true
}

// noteChanges records that a chain stored n changed rows.
func (r *run) noteChanges(projectID int64, resource string, n int) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changedIn == nil {
		r.changedIn = map[string]bool{}
	}
	r.changedIn[progressKey(projectID, resource)] = true
}

// follows reports whether an incremental pass can end without asking
// GitLab: the chain it follows (see after; commits excepted, they have
// their own rule) ran earlier in this run, in the same item, and stored no
// change. This keeps a quiet poll's cost where it was with the review and
// delivery services on: jobs, deployments, environments and pipeline
// times are asked only after a pipelines pass found a changed pipeline,
// releases and tags only after a new push, notes, approvals and merge
// request commits of a loose project only after its merge requests
// changed. Passes started without the chain they follow (the review passes
// of a project whose merge requests a group listing found changed, see
// poll) always run.
func (r *run) follows(projectID int64, row store.Progress) bool {
	pred, ok := after[row.Resource]
	if !ok || row.Mode != "incremental" || row.Resource == ResourceCommits {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := progressKey(projectID, pred)
	return r.ran[k] && !r.changedIn[k]
}

// reviewResources are the chains of the reviews service.
var reviewResources = []string{ResourceNotes, ResourceApprovals, ResourceMRCommits}

// savePeople stores the people a page named (authors, approvers, users).
func (r *run) savePeople(ctx context.Context, tx *sql.Tx, row store.Progress, people []store.Person) error {
	if len(people) == 0 {
		return nil
	}
	_, err := r.svc.st.UpsertPeople(ctx, tx, r.orgID, r.integ, r.source(row), people)
	return err
}

// tierOf returns the tiers of a project's stored environments by GitLab
// id, for deployments whose JSON does not carry their environment's tier.
func (r *run) tierOf(ctx context.Context, projectGitLabID int64) (func(int64) string, error) {
	envs, err := r.svc.st.Environments(ctx, r.orgID, store.DataQuery{IntegrationID: r.integ, ProjectGitLabID: projectGitLabID, Limit: 10000})
	if err != nil {
		return nil, err
	}
	tiers := map[int64]string{}
	for _, e := range envs {
		tiers[e.GitLabID] = e.Tier
	}
	return func(id int64) string { return tiers[id] }, nil
}

// chainRank orders the chains that follow the same chain: environments
// before deployments (a deployment's tier is its environment's).
var chainRank = map[string]int{ResourceCommits: 0, ResourceTags: 1, ResourceReleases: 2, ResourcePipelineTimes: 3, ResourceEnvironments: 4,
	ResourceDeployments: 5, ResourceJobs: 6, ResourceNotes: 7, ResourceApprovals: 8, ResourceMRCommits: 9}

// notePipelines records the pipelines a pipelines pass of this run stored.
func (r *run) notePipelines(projectID int64, pls []store.Pipeline) {
	if len(pls) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.storedPipelines == nil {
		r.storedPipelines = map[int64]map[int64]bool{}
	}
	m := r.storedPipelines[projectID]
	if m == nil {
		m = map[int64]bool{}
		r.storedPipelines[projectID] = m
	}
	for _, pl := range pls {
		m[pl.GitLabID] = true
	}
}

// pipelinesStored returns the GitLab ids of the pipelines this run stored
// for a project (an empty set when none).
func (r *run) pipelinesStored(projectID int64) map[int64]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int64]bool{}
	for id := range r.storedPipelines[projectID] {
		out[id] = true
	}
	return out
}
