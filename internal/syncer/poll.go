package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// pollScope is what one poll asks GitLab, derived from the selection.
type pollScope struct {
	// instance: merge requests, issues and activity are asked
	// instance-wide (see chooseInstanceWide).
	instance bool
	// groups are the selected auto-import groups that hold selected
	// projects, outermost only (a group endpoint includes its subgroups).
	groups []store.Group
	// loose are the selected projects outside those groups (picked one by
	// one), polled through project endpoints.
	loose []store.Project
}

// chooseInstanceWide decides whether asking instance-wide (scope=all) is
// cheaper than asking through the selection. It only ever is when the
// credential sees the whole instance (an administrator: discovery listed
// every project with all_available) and the selection is most of it.
//
// The cost per poll while quiet is 3 requests instance-wide (merge
// requests, issues, projects by activity: one page each) against
// 3 × (groups + loose projects) through the selection; while busy,
// instance-wide pages also carry every unselected project's changes. So
// instance-wide is chosen when the selection needs more than three quiet
// requests and covers at least half of the projects the credential sees
// (at most one changed item in two is then not ours). On a non-admin
// credential, and always on gitlab.com, scope=all spans every public
// project: it is never chosen there. Measured with `labsync bench poll`
// (its "admin, 17.11" line): an administrator with all 7 top-level groups
// (125 projects) selected spends 7 requests per quiet cycle instance-wide
// (3 listings and the pipeline sweep's 4) against 25 through the
// selection (7 × 3 and the same 4).
func chooseInstanceWide(st store.SyncState, groups, loose, selected int) bool {
	if !st.SeesInstance || st.VisibleProjects <= 0 {
		return false
	}
	if 3*(groups+loose) <= 3 {
		return false
	}
	return int64(selected)*2 >= st.VisibleProjects
}

// groupEndpointsFrom is the version from which the poller asks through
// group endpoints. Group merge request and issue listings include
// subgroups' items since GitLab 10.5 (January 2018, "Include subgroup
// issuables on the group page", gitlab-ce#42443); the group project
// listing's include_subgroups was documented and used against GitLab 11.x
// (gitlab-foss#54498, late 2018), though its exact first release was not
// found, so 11.0 is a conservative floor. Before it, every selected project
// is polled through its own endpoints. The group project listing also
// returns projects shared with the group unless with_shared=false, and
// transferred projects have been reported in it (gitlab#26861): the
// poller keeps only projects in the group's namespace either way.
var groupEndpointsFrom = [2]int{11, 0}

// scope splits the selected projects into outermost selected groups and
// loose projects.
func (r *run) scope(ctx context.Context, selected []store.Project) (pollScope, error) {
	var sc pollScope
	ver := r.version(ctx)
	groupsOK := ver.Major == 0 || ver.AtLeast(groupEndpointsFrom[0], groupEndpointsFrom[1])
	var auto []store.Group
	if groupsOK {
		gs, err := r.svc.st.Groups(ctx, r.orgID, r.integ)
		if err != nil {
			return sc, err
		}
		byID := map[int64]store.Group{}
		for _, g := range gs {
			byID[g.GitLabID] = g
		}
		for _, gsel := range r.sel.Groups {
			if g, ok := byID[gsel.GitLabID]; ok && gsel.AutoImport {
				auto = append(auto, g)
			}
		}
	}
	// Outermost only: a group inside another selected group is covered.
	var outer []store.Group
	for _, g := range auto {
		inner := false
		for _, o := range auto {
			if o.GitLabID != g.GitLabID && strings.HasPrefix(g.FullPath, o.FullPath+"/") {
				inner = true
			}
		}
		if !inner {
			outer = append(outer, g)
		}
	}
	used := map[int64]bool{}
	for _, p := range selected {
		in := false
		for _, g := range outer {
			if p.NamespacePath == g.FullPath || strings.HasPrefix(p.NamespacePath, g.FullPath+"/") {
				in, used[g.GitLabID] = true, true
				break
			}
		}
		if !in {
			sc.loose = append(sc.loose, p)
		}
	}
	for _, g := range outer {
		if used[g.GitLabID] {
			sc.groups = append(sc.groups, g)
		}
	}
	sc.instance = chooseInstanceWide(r.state, len(sc.groups), len(sc.loose), len(selected))
	return sc, nil
}

// poll fetches what changed since the watermarks, through the selection:
// each selected group's merge requests, issues and projects by activity
// (group endpoints, subgroups included: one request each while quiet),
// each loose project's merge requests and issues (its own incremental
// chains) and the project itself (its activity, and whether it is still
// there); then incremental passes over the active projects' pipelines,
// pushes and commits, over the silent projects' pipelines and pushes
// (SilentProjects; their commits only when a push arrived), plus a slice
// of every selected project's pipelines per poll. Nothing outside the selection is stored. Instance-wide
// listings are used only where chooseInstanceWide says they are cheaper.
func (r *run) poll(ctx context.Context, selected []store.Project) error {
	if len(selected) == 0 {
		return nil
	}
	start := r.svc.st.Now()
	bySelected := map[int64]store.Project{}
	ids := make([]int64, 0, len(selected))
	for _, p := range selected {
		bySelected[p.GitLabID] = p
		ids = append(ids, p.ID)
	}
	sc, err := r.scope(ctx, selected)
	if err != nil {
		return err
	}
	svc := r.sel.Services
	var perProject []string
	if svc.MergeRequests {
		perProject = append(perProject, ResourceMergeRequests)
	}
	if svc.Issues {
		perProject = append(perProject, ResourceIssues)
	}
	if svc.Reviews && svc.MergeRequests {
		perProject = append(perProject, reviewResources...)
	}
	var active []int64
	var looseIDs []int64
	if sc.instance {
		if svc.MergeRequests {
			if err := r.listPoll(ctx, "merge_requests", ResourceMergeRequests, &r.state.MRWatermark, bySelected, url.Values{"scope": {"all"}}); err != nil {
				return err
			}
		}
		if svc.Issues {
			if err := r.listPoll(ctx, "issues", ResourceIssues, &r.state.IssueWatermark, bySelected, url.Values{"scope": {"all"}}); err != nil {
				return err
			}
		}
		inAuto := func(p store.Project) bool {
			for _, g := range sc.groups {
				if p.NamespacePath == g.FullPath || strings.HasPrefix(p.NamespacePath, g.FullPath+"/") {
					return true
				}
			}
			return false
		}
		if active, err = r.activeProjects(ctx, "projects", bySelected, url.Values{}, inAuto); err != nil {
			return err
		}
	} else {
		// Each group pass starts from the same watermarks; the new ones are
		// the newest item seen in any group (the overlap covers a group
		// asked a little before another).
		mrW, issW, actW := r.state.MRWatermark, r.state.IssueWatermark, r.state.ActivityWatermark
		var newMR, newIss, newAct *time.Time
		later := func(a, b *time.Time) *time.Time {
			if a == nil || (b != nil && b.After(*a)) {
				return b
			}
			return a
		}
		for _, g := range sc.groups {
			base := fmt.Sprintf("groups/%d/", g.GitLabID)
			if svc.MergeRequests {
				w := mrW
				if err := r.listPoll(ctx, base+"merge_requests", ResourceMergeRequests, &w, bySelected, r.groupQuery()); err != nil {
					return err
				}
				newMR = later(newMR, w)
			}
			if svc.Issues {
				w := issW
				if err := r.listPoll(ctx, base+"issues", ResourceIssues, &w, bySelected, r.groupQuery()); err != nil {
					return err
				}
				newIss = later(newIss, w)
			}
			r.state.ActivityWatermark = actW
			inGroup := func(p store.Project) bool {
				return p.NamespacePath == g.FullPath || strings.HasPrefix(p.NamespacePath, g.FullPath+"/")
			}
			a, err := r.activeProjects(ctx, base+"projects", bySelected, url.Values{"include_subgroups": {"true"}, "with_shared": {"false"}}, inGroup)
			if err != nil {
				return err
			}
			active = append(active, a...)
			newAct = later(newAct, r.state.ActivityWatermark)
		}
		if newMR != nil {
			r.state.MRWatermark = newMR
		}
		if newIss != nil {
			r.state.IssueWatermark = newIss
		}
		r.state.ActivityWatermark = later(actW, newAct)
		for _, p := range sc.loose {
			looseIDs = append(looseIDs, p.ID)
			moved, err := r.looseProjectActive(ctx, p, actW)
			if err != nil {
				return err
			}
			if moved {
				active = append(active, p.GitLabID)
			}
		}
		if len(perProject) > 0 {
			if err := r.svc.st.StartIncrementalPass(ctx, r.orgID, r.integ, looseIDs, perProject); err != nil {
				return err
			}
		}
	}
	var activeIDs []int64
	for _, gid := range active {
		if p, ok := bySelected[gid]; ok {
			activeIDs = append(activeIDs, p.ID)
		}
	}
	var res []string
	if svc.Pipelines {
		res = append(res, ResourcePipelines, ResourcePipelineTimes)
	}
	if svc.Pushes {
		res = append(res, ResourcePushes, ResourceCommits)
	}
	if svc.Jobs {
		res = append(res, ResourceJobs)
	}
	if svc.Deployments {
		res = append(res, ResourceEnvironments, ResourceDeployments)
	}
	if svc.Releases {
		res = append(res, ResourceReleases, ResourceTags)
	}
	if err := r.svc.st.StartIncrementalPass(ctx, r.orgID, r.integ, activeIDs, res); err != nil {
		return err
	}
	if svc.Reviews {
		// Review passes: for the active projects, and for those whose
		// merge requests the group or instance listings found changed (a
		// comment, an approval or a push moves a merge request's
		// updated_at); a loose project's follow its own merge request pass.
		reviewIDs := append([]int64(nil), activeIDs...)
		for _, p := range selected {
			r.mu.Lock()
			moved := r.changedIn[progressKey(p.ID, ResourceMergeRequests)]
			r.mu.Unlock()
			if moved {
				reviewIDs = append(reviewIDs, p.ID)
			}
		}
		if err := r.svc.st.StartIncrementalPass(ctx, r.orgID, r.integ, reviewIDs, reviewResources); err != nil {
			return err
		}
	}
	// Silent projects (their webhook missing or silent while others
	// deliver): their own pipeline and push passes every poll, since their
	// last_activity_at moves at most hourly and never for pipelines.
	isActive := map[int64]bool{}
	for _, id := range activeIDs {
		isActive[id] = true
	}
	var silentIDs []int64
	r.silentOnly = map[int64]bool{}
	for _, p := range SilentProjects(start, r.integration, selected) {
		if !isActive[p.ID] {
			silentIDs = append(silentIDs, p.ID)
			r.silentOnly[p.ID] = true
		}
	}
	if err := r.svc.st.StartIncrementalPass(ctx, r.orgID, r.integ, silentIDs, res); err != nil {
		return err
	}
	if svc.Pipelines {
		// Finished pipelines do not bump last_activity_at: sweep a slice of
		// the projects that have CI/CD.
		var ci []int64
		for _, p := range selected {
			if p.CIEnabled {
				ci = append(ci, p.ID)
			}
		}
		if len(ci) > 0 {
			n := (len(ci) + r.svc.opts.SweepEvery - 1) / r.svc.opts.SweepEvery
			off := int(r.state.SweepOffset) % len(ci)
			var slice []int64
			for i := range n {
				slice = append(slice, ci[(off+i)%len(ci)])
			}
			r.state.SweepOffset = int64((off + n) % len(ci))
			// With the pipelines, what follows them: asked only when the
			// sweep finds a changed pipeline (see follows).
			swept := []string{ResourcePipelines, ResourcePipelineTimes}
			if svc.Jobs {
				swept = append(swept, ResourceJobs)
			}
			if svc.Deployments {
				swept = append(swept, ResourceEnvironments, ResourceDeployments)
			}
			if err := r.svc.st.StartIncrementalPass(ctx, r.orgID, r.integ, slice, swept); err != nil {
				return err
			}
		}
	}
	r.polledIDs, r.pollStart = ids, start
	return nil
}

// groupQuery is the extra query of a group merge request or issue
// listing: every state, and archived projects' items only when the
// selection includes archived projects (group issues leave archived
// projects out by default from 12.8; merge requests take the same
// parameter).
func (r *run) groupQuery() url.Values {
	q := url.Values{}
	if r.sel.IncludeArchived {
		q.Set("non_archived", "false")
	}
	return q
}

// listPoll pages a merge request or issue listing (instance-wide or a
// group's) ordered by updated_at from the watermark (minus the overlap),
// storing only the selected projects' items.
func (r *run) listPoll(ctx context.Context, path, resource string, watermark **time.Time, selected map[int64]store.Project, extra url.Values) error {
	cursor := r.svc.st.Now().Add(-24 * time.Hour)
	if *watermark != nil {
		cursor = (*watermark).Add(-r.svc.opts.Overlap)
	}
	pageNo := int64(1)
	for range 10000 {
		q := url.Values{"per_page": {strconv.Itoa(r.svc.opts.PerPage)}, "order_by": {"updated_at"}, "sort": {"asc"},
			"state": {"all"}, "page": {strconv.FormatInt(pageNo, 10)}, "updated_after": {cursor.UTC().Format(gitlabTime)}}
		if resource == ResourceIssues {
			q.Del("state")
		}
		for k, v := range extra {
			q[k] = v
		}
		if q.Get("scope") == "all" {
			q.Set("non_archived", "false")
		}
		pg, err := r.conn.get(ctx, path, q, "")
		if err != nil {
			return err
		}
		var high time.Time
		var mrs []store.MergeRequest
		var mrProjects []int64
		var iss []store.Issue
		var moved []int64
		for _, raw := range pg.items {
			var pid struct {
				ProjectID int64 `json:"project_id"`
			}
			json.Unmarshal(raw, &pid)
			if resource == ResourceMergeRequests {
				m, err := ingest.MergeRequest(r.integ, raw)
				if err != nil {
					r.svc.log.Warn("an unreadable item from GitLab was not stored", "integration", r.integ, "resource", resource, "err", err)
					continue
				}
				if m.UpdatedAt.After(high) {
					high = m.UpdatedAt
				}
				if sp, ok := selected[pid.ProjectID]; ok {
					mrs = append(mrs, m)
					mrProjects = append(mrProjects, sp.ID)
				}
			} else {
				is, err := ingest.Issue(r.integ, raw)
				if err != nil {
					r.svc.log.Warn("an unreadable item from GitLab was not stored", "integration", r.integ, "resource", resource, "err", err)
					continue
				}
				if is.UpdatedAt.After(high) {
					high = is.UpdatedAt
				}
				if movedAway(raw) {
					moved = append(moved, is.GitLabID)
				} else if _, ok := selected[pid.ProjectID]; ok {
					iss = append(iss, is)
				}
			}
		}
		if len(mrs) > 0 {
			res, err := r.svc.st.UpsertMergeRequests(ctx, nil, r.orgID, r.integ, store.SourcePoll, mrs)
			if err != nil {
				return err
			}
			if res.Changed > 0 {
				// Their review data may have changed too (see poll).
				for _, id := range mrProjects {
					r.noteChanges(id, ResourceMergeRequests, 1)
				}
			}
		}
		if len(iss) > 0 {
			if _, err := r.svc.st.UpsertIssues(ctx, nil, r.orgID, r.integ, store.SourcePoll, iss); err != nil {
				return err
			}
		}
		if len(moved) > 0 {
			if _, err := r.svc.st.DeleteItems(ctx, nil, r.orgID, r.integ, "issues", moved); err != nil {
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

// activeProjects lists projects (instance-wide for an administrator, or a
// selected group's) whose last_activity_at is at or after the activity
// watermark (minus the overlap), newest first. It saves into the
// discovery cache only projects already there and new ones allowNew
// accepts (those in a selected auto-import group's namespace): never a
// stranger's project.
func (r *run) activeProjects(ctx context.Context, path string, selected map[int64]store.Project, extra url.Values, allowNew func(store.Project) bool) ([]int64, error) {
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
		for k, v := range extra {
			q[k] = v
		}
		pg, err := r.conn.get(ctx, path, q, "")
		if err != nil {
			return nil, err
		}
		var ps []store.Project
		older := false
		for _, raw := range pg.items {
			p, err := ingest.Project(raw)
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
			_, known := selected[p.GitLabID]
			if !known {
				if _, err := r.svc.st.ProjectByGitLabID(ctx, r.orgID, r.integ, p.GitLabID); err == nil {
					known = true
				}
			}
			if !known && !allowNew(p) {
				continue // a project outside the selection is not stored
			}
			if !known {
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

// looseProjectActive asks GitLab for one project selected on its own: it
// saves what it says (a rename shows at once) and reports whether the
// project had activity since the watermark (minus the overlap). A 403 or
// 404 marks the project gone at once.
func (r *run) looseProjectActive(ctx context.Context, p store.Project, watermark *time.Time) (bool, error) {
	raw, err := r.conn.getOne(ctx, fmt.Sprintf("projects/%d", p.GitLabID), nil)
	if err != nil {
		if ae, ok := accessProblem(err); ok {
			return false, r.svc.st.MarkProjectsGone(ctx, r.orgID, r.integ, []store.GoneProject{goneFrom(p.GitLabID, ae)})
		}
		return false, err
	}
	np, err := ingest.Project(raw)
	if err != nil {
		return false, nil
	}
	if err := r.svc.st.UpsertDiscoveredProjects(ctx, r.orgID, r.integ, []store.Project{np}); err != nil {
		return false, err
	}
	since := r.svc.st.Now().Add(-24 * time.Hour)
	if watermark != nil {
		since = watermark.Add(-r.svc.opts.Overlap)
	}
	if np.LastActivityAt != nil && !np.LastActivityAt.Before(since) {
		if r.state.ActivityWatermark == nil || np.LastActivityAt.After(*r.state.ActivityWatermark) {
			h := *np.LastActivityAt
			r.state.ActivityWatermark = &h
		}
		return true, nil
	}
	return false, nil
}

// goneFrom turns GitLab's 403 or 404 on a project into its gone record.
func goneFrom(gitlabID int64, ae *gitlab.APIError) store.GoneProject {
	if ae.Status == 403 || ae.Kind == gitlab.KindForbidden {
		return store.GoneProject{GitLabID: gitlabID, Gone: store.GoneForbidden,
			Reason: "GitLab answers 403 on the project: the credential's access to it was revoked"}
	}
	return store.GoneProject{GitLabID: gitlabID, Gone: store.GoneNotFound,
		Reason: "GitLab answers 404 on the project: it was deleted, or the credential can no longer see it (GitLab answers 404 to both)"}
}

// movedAway reports an issue GitLab moved to another project: the
// original stays, closed, with moved_to_id set (the new one is an issue of
// its new project, fetched there when that project is selected).
func movedAway(raw json.RawMessage) bool {
	var j struct {
		MovedToID *int64 `json:"moved_to_id"`
	}
	return json.Unmarshal(raw, &j) == nil && j.MovedToID != nil && *j.MovedToID != 0
}
