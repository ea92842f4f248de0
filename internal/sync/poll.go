package sync

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// poll fetches what changed since the watermarks, as cheaply as GitLab
// allows: merge requests and issues instance-wide (scope=all, one request
// for every project when nothing changed), the projects with recent
// activity (newest first, one page when the instance is quiet), then
// incremental passes over the active projects' pipelines, pushes and
// commits, plus a slice of every selected project's pipelines per poll.
func (r *run) poll(ctx context.Context, selected []store.Project) error {
	if len(selected) == 0 {
		return nil
	}
	bySelected := map[int64]store.Project{}
	ids := make([]int64, 0, len(selected))
	for _, p := range selected {
		bySelected[p.GitLabID] = p
		ids = append(ids, p.ID)
	}
	svc := r.sel.Services
	instanceWide := len(selected) >= 2
	var perProject []string
	if instanceWide {
		if svc.MergeRequests {
			if err := r.instancePoll(ctx, "merge_requests", &r.state.MRWatermark, bySelected); err != nil {
				return err
			}
		}
		if svc.Issues {
			if err := r.instancePoll(ctx, "issues", &r.state.IssueWatermark, bySelected); err != nil {
				return err
			}
		}
	} else {
		if svc.MergeRequests {
			perProject = append(perProject, ResourceMergeRequests)
		}
		if svc.Issues {
			perProject = append(perProject, ResourceIssues)
		}
	}
	if len(perProject) > 0 {
		if err := r.svc.st.StartIncrementalPass(ctx, r.orgID, r.integ, ids, perProject); err != nil {
			return err
		}
	}

	active, err := r.activeProjects(ctx)
	if err != nil {
		return err
	}
	var activeIDs []int64
	for _, gid := range active {
		if p, ok := bySelected[gid]; ok {
			activeIDs = append(activeIDs, p.ID)
		}
	}
	var res []string
	if svc.Pipelines {
		res = append(res, ResourcePipelines)
	}
	if svc.Pushes {
		res = append(res, ResourcePushes, ResourceCommits)
	}
	if err := r.svc.st.StartIncrementalPass(ctx, r.orgID, r.integ, activeIDs, res); err != nil {
		return err
	}
	if svc.Pipelines {
		// Finished pipelines do not bump last_activity_at: sweep a slice.
		n := (len(ids) + r.svc.opts.SweepEvery - 1) / r.svc.opts.SweepEvery
		off := int(r.state.SweepOffset) % len(ids)
		var slice []int64
		for i := range n {
			slice = append(slice, ids[(off+i)%len(ids)])
		}
		r.state.SweepOffset = int64((off + n) % len(ids))
		if err := r.svc.st.StartIncrementalPass(ctx, r.orgID, r.integ, slice, []string{ResourcePipelines}); err != nil {
			return err
		}
	}
	return nil
}

// instancePoll pages /merge_requests or /issues with scope=all ordered by
// updated_at from the watermark (minus the overlap), keeping the selected
// projects' items.
func (r *run) instancePoll(ctx context.Context, resource string, watermark **time.Time, selected map[int64]store.Project) error {
	cursor := r.svc.st.Now().Add(-24 * time.Hour)
	if *watermark != nil {
		cursor = (*watermark).Add(-r.svc.opts.Overlap)
	}
	pageNo := int64(1)
	for range 10000 {
		q := url.Values{"per_page": {strconv.Itoa(r.svc.opts.PerPage)}, "order_by": {"updated_at"}, "sort": {"asc"},
			"scope": {"all"}, "state": {"all"}, "non_archived": {"false"}, "page": {strconv.FormatInt(pageNo, 10)},
			"updated_after": {cursor.UTC().Format(gitlabTime)}}
		if resource == "issues" {
			q.Del("state")
		}
		pg, err := r.conn.get(ctx, resource, q, "")
		if err != nil {
			return err
		}
		var high time.Time
		var mrs []store.MergeRequest
		var iss []store.Issue
		for _, raw := range pg.items {
			var pid struct {
				ProjectID int64 `json:"project_id"`
			}
			json.Unmarshal(raw, &pid)
			if resource == "merge_requests" {
				m, err := normMR(r.integ, raw)
				if err != nil {
					r.svc.log.Warn("an unreadable item from GitLab was not stored", "integration", r.integ, "resource", resource, "err", err)
					continue
				}
				if m.UpdatedAt.After(high) {
					high = m.UpdatedAt
				}
				if _, ok := selected[pid.ProjectID]; ok {
					mrs = append(mrs, m)
				}
			} else {
				is, err := normIssue(r.integ, raw)
				if err != nil {
					r.svc.log.Warn("an unreadable item from GitLab was not stored", "integration", r.integ, "resource", resource, "err", err)
					continue
				}
				if is.UpdatedAt.After(high) {
					high = is.UpdatedAt
				}
				if _, ok := selected[pid.ProjectID]; ok {
					iss = append(iss, is)
				}
			}
		}
		if len(mrs) > 0 {
			if _, err := r.svc.st.UpsertMergeRequests(ctx, nil, r.orgID, r.integ, store.SourcePoll, mrs); err != nil {
				return err
			}
		}
		if len(iss) > 0 {
			if _, err := r.svc.st.UpsertIssues(ctx, nil, r.orgID, r.integ, store.SourcePoll, iss); err != nil {
				return err
			}
		}
		if !high.IsZero() && (*watermark == nil || high.After(**watermark)) {
			h := high
			*watermark = &h
		}
		if pg.next == 0 || len(pg.items) == 0 {
			return nil
		}
		if high.After(cursor) {
			cursor, pageNo = high, 1
		} else {
			pageNo = pg.next
		}
	}
	return nil
}

// activeProjects lists projects whose last_activity_at is at or after the
// activity watermark (minus the overlap), newest first, saving them into
// the discovery cache (new projects of auto-imported groups appear here).
func (r *run) activeProjects(ctx context.Context) ([]int64, error) {
	since := r.svc.st.Now().Add(-24 * time.Hour)
	if r.state.ActivityWatermark != nil {
		since = r.state.ActivityWatermark.Add(-r.svc.opts.Overlap)
	}
	var out []int64
	var high time.Time
	isNew := false
	for pageNo := int64(1); pageNo > 0 && pageNo < 1000; {
		q := url.Values{"per_page": {strconv.Itoa(r.svc.opts.PerPage)}, "order_by": {"last_activity_at"}, "sort": {"desc"},
			"page": {strconv.FormatInt(pageNo, 10)}}
		pg, err := r.conn.get(ctx, "projects", q, "")
		if err != nil {
			return nil, err
		}
		var ps []store.Project
		older := false
		for _, raw := range pg.items {
			p, err := normProject(raw)
			if err != nil || p.LastActivityAt == nil {
				continue
			}
			if p.LastActivityAt.Before(since) {
				older = true
				break
			}
			if p.LastActivityAt.After(high) {
				high = *p.LastActivityAt
			}
			if _, err := r.svc.st.ProjectByGitLabID(ctx, r.orgID, r.integ, p.GitLabID); err != nil {
				isNew = true
			}
			ps = append(ps, p)
			out = append(out, p.GitLabID)
		}
		if err := r.svc.st.UpsertDiscoveredProjects(ctx, r.orgID, r.integ, ps); err != nil {
			return nil, err
		}
		if older {
			break
		}
		pageNo = pg.next
	}
	if !high.IsZero() && (r.state.ActivityWatermark == nil || high.After(*r.state.ActivityWatermark)) {
		r.state.ActivityWatermark = &high
	}
	if isNew {
		if _, err := r.applySelection(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}
