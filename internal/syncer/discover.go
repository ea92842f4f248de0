package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// discover refreshes the groups and projects the credential can see into
// the discovery cache, page by page, and records the time. It follows
// GitLab's next page (keyset on projects from 13.0), never X-Total.
func (r *run) discover(ctx context.Context) error {
	c := r.conn
	ver := r.version(ctx)
	admin := false
	if raw, err := c.getOne(ctx, "user", nil); err != nil {
		return err
	} else {
		var u struct {
			IsAdmin bool `json:"is_admin"`
		}
		json.Unmarshal(raw, &u)
		admin = u.IsAdmin
	}

	// Groups: offset pages, following X-Next-Page.
	var groups []store.Group
	q := url.Values{"per_page": {strconv.Itoa(r.svc.opts.PerPage)}, "order_by": {"id"}, "sort": {"asc"}}
	if admin {
		q.Set("all_available", "true")
	} else {
		q.Set("min_access_level", "10")
	}
	for pageNo := int64(1); pageNo > 0; {
		q.Set("page", strconv.FormatInt(pageNo, 10))
		pg, err := c.get(ctx, "groups", q, "")
		if err != nil {
			return err
		}
		for _, raw := range pg.items {
			g, err := ingest.Group(raw)
			if err != nil {
				continue
			}
			groups = append(groups, g)
		}
		pageNo = pg.next
	}
	if err := r.svc.st.ReplaceGroups(ctx, r.orgID, r.integ, groups); err != nil {
		return err
	}

	// Projects: keyset by id where GitLab has it, otherwise offset pages.
	q = url.Values{"per_page": {strconv.Itoa(r.svc.opts.PerPage)}, "order_by": {"id"}, "sort": {"asc"}}
	if !admin {
		q.Set("membership", "true")
	}
	keyset := ver.Major == 0 || ver.AtLeast(13, 0)
	if keyset {
		q.Set("pagination", "keyset")
	}
	link := ""
	seen := map[int64]bool{}
	for pageNo := int64(1); ; {
		if !keyset {
			q.Set("page", strconv.FormatInt(pageNo, 10))
		}
		pg, err := c.get(ctx, "projects", q, link)
		if err != nil {
			return err
		}
		ps := make([]store.Project, 0, len(pg.items))
		for _, raw := range pg.items {
			p, err := ingest.Project(raw)
			if err != nil {
				continue
			}
			ps = append(ps, p)
			seen[p.GitLabID] = true
		}
		if err := r.svc.st.UpsertDiscoveredProjects(ctx, r.orgID, r.integ, ps); err != nil {
			return err
		}
		if keyset {
			if pg.nextLink == "" || len(pg.items) == 0 {
				break
			}
			link = pg.nextLink
		} else {
			if pg.next == 0 {
				break
			}
			pageNo = pg.next
		}
	}
	// A project picked by id that the user is not a member of (a public
	// project on gitlab.com, say) is not in a membership listing: ask for
	// each such project by id — one request per picked project, never an
	// instance-wide listing — so that it stays in the cache and is synced.
	if !admin {
		var picked []store.Project
		for _, id := range r.sel.Projects {
			if seen[id] {
				continue
			}
			raw, err := c.getOne(ctx, fmt.Sprintf("projects/%d", id), nil)
			if _, access := accessProblem(err); access {
				continue // forgetUnseen marks it gone if it held data
			}
			if err != nil {
				return err
			}
			p, err := ingest.Project(raw)
			if err != nil {
				continue
			}
			picked = append(picked, p)
			seen[p.GitLabID] = true
		}
		if err := r.svc.st.UpsertDiscoveredProjects(ctx, r.orgID, r.integ, picked); err != nil {
			return err
		}
	}
	r.state.SeesInstance, r.state.VisibleProjects = admin, int64(len(seen))
	if err := r.forgetUnseen(ctx, seen, admin); err != nil {
		return err
	}
	now := r.svc.st.Now()
	r.state.DiscoveredAt = &now
	return nil
}

// forgetUnseen deals with the cached projects this discovery did not
// list. One that holds no synced data is forgotten. One that does (it is,
// or was, selected) is asked for by id: a 404 or 403 marks it gone
// (deleted, or the credential lost access); a project still visible but
// no longer the user's (a non-admin listing is membership-only) is gone
// too unless it was selected by id. A project renamed or transferred
// is listed under its new path and keeps its rows (ids, not paths).
func (r *run) forgetUnseen(ctx context.Context, seen map[int64]bool, admin bool) error {
	all, err := r.svc.st.AllProjects(ctx, r.orgID, r.integ)
	if err != nil {
		return err
	}
	var forget []int64
	var gone []store.GoneProject
	for _, p := range all {
		if seen[p.GitLabID] || p.Gone != "" {
			continue
		}
		forget = append(forget, p.GitLabID)
		if !p.Selected {
			continue
		}
		_, err := r.conn.getOne(ctx, fmt.Sprintf("projects/%d", p.GitLabID), nil)
		switch ae, access := accessProblem(err); {
		case access:
			gone = append(gone, goneFrom(p.GitLabID, ae))
		case err != nil:
			return err
		case !admin && !slices.Contains(r.sel.Projects, p.GitLabID):
			gone = append(gone, store.GoneProject{GitLabID: p.GitLabID, Gone: store.GoneNotMember,
				Reason: "the project is still visible to the credential, but its user is no longer a member"})
		}
	}
	if err := r.svc.st.MarkProjectsGone(ctx, r.orgID, r.integ, gone); err != nil {
		return err
	}
	// Rows with synced data stay (gone, until the purge); others go.
	return r.svc.st.ForgetProjects(ctx, r.orgID, r.integ, forget)
}

// sweepDeleted finds merge requests and issues deleted in GitLab (or
// moved out of their project) among the selected projects, cheaply: one
// per_page=1 request per project and resource gives GitLab's count in
// X-Total; only where labsync stores more than that are the project's ids
// listed and the missing ones deleted (moved issues, which GitLab keeps
// closed with moved_to_id, are left out of the ids kept). Above 10,000
// rows GitLab omits X-Total: such a project is not swept (listing its ids
// would cost a hundred requests or more every hour). Projects whose
// backfill is not done are left for later.
func (r *run) sweepDeleted(ctx context.Context, selected []store.Project) error {
	rows, err := r.svc.st.ProgressRows(ctx, r.orgID, r.integ, false)
	if err != nil {
		return err
	}
	type key struct {
		project  int64
		resource string
	}
	backfilled := map[key]bool{}
	for _, row := range rows {
		if row.Mode == "incremental" || row.Status == store.ProgressDone {
			backfilled[key{row.ProjectID, row.Resource}] = true
		}
	}
	for _, p := range selected {
		for _, res := range []string{ResourceMergeRequests, ResourceIssues} {
			if !backfilled[key{p.ID, res}] {
				continue
			}
			path := fmt.Sprintf("projects/%d/%s", p.GitLabID, res)
			pg, err := r.conn.get(ctx, path, url.Values{"per_page": {"1"}, "state": {"all"}}, "")
			if err != nil {
				if _, ok := accessProblem(err); ok {
					continue // the chains record it
				}
				return err
			}
			stored, err := r.svc.st.CountProjectItems(ctx, r.orgID, r.integ, p.ID, res)
			if err != nil {
				return err
			}
			if pg.total == nil || stored <= *pg.total {
				continue
			}
			keep := map[int64]bool{}
			q := url.Values{"per_page": {"100"}, "state": {"all"}, "order_by": {"created_at"}, "sort": {"asc"}}
			for pageNo := int64(1); pageNo > 0 && pageNo < 1000; {
				q.Set("page", strconv.FormatInt(pageNo, 10))
				pg, err := r.conn.get(ctx, path, q, "")
				if err != nil {
					return err
				}
				for _, raw := range pg.items {
					var j struct {
						ID        int64  `json:"id"`
						MovedToID *int64 `json:"moved_to_id"`
					}
					if json.Unmarshal(raw, &j) == nil && j.ID != 0 && j.MovedToID == nil {
						keep[j.ID] = true
					}
				}
				pageNo = pg.next
				if len(pg.items) == 0 {
					break
				}
			}
			n, err := r.svc.st.DeleteProjectItemsExcept(ctx, r.orgID, r.integ, p.ID, res, keep)
			if err != nil {
				return err
			}
			if n > 0 {
				r.svc.log.Info("removed items deleted or moved in GitLab", "integration", r.integ, "project", p.GitLabID, "resource", res, "count", n)
				r.svc.changed()
			}
		}
	}
	return nil
}

// version is the integration's GitLab version, from the integration row
// or asked once per service and integration (a poll must not spend a
// request on it every minute); zero when unknown.
func (r *run) version(ctx context.Context) gitlab.Version {
	if v, err := gitlab.ParseVersion(r.integration.GitLabVersion); err == nil {
		return v
	}
	r.svc.mu.Lock()
	v, ok := r.svc.versions[r.integ]
	r.svc.mu.Unlock()
	if ok {
		return v
	}
	raw, err := r.conn.getOne(ctx, "version", nil)
	if err != nil {
		return gitlab.Version{}
	}
	var j struct {
		Version string `json:"version"`
	}
	json.Unmarshal(raw, &j)
	v, _ = gitlab.ParseVersion(j.Version)
	r.svc.mu.Lock()
	r.svc.versions[r.integ] = v
	r.svc.mu.Unlock()
	return v
}

// Selected resolves a selection against the discovery cache: single
// projects, projects of groups (and their subgroups) selected with
// auto-import, minus archived projects unless included (a project picked by
// id stays), minus gone projects, minus exclusions, which win over
// everything.
func Selected(sel store.Selection, groups []store.Group, projects []store.Project) ([]store.Project, error) {
	ex := make([]*regexp.Regexp, 0, len(sel.Exclusions))
	for _, pat := range sel.Exclusions {
		re, err := globRE(pat)
		if err != nil {
			return nil, err
		}
		ex = append(ex, re)
	}
	byID := map[int64]string{}
	for _, g := range groups {
		byID[g.GitLabID] = g.FullPath
	}
	var auto []string
	for _, g := range sel.Groups {
		if p, ok := byID[g.GitLabID]; ok && g.AutoImport {
			auto = append(auto, p)
		}
	}
	var out []store.Project
	for _, p := range projects {
		picked := slices.Contains(sel.Projects, p.GitLabID)
		inGroup := false
		for _, gp := range auto {
			if p.NamespacePath == gp || strings.HasPrefix(p.NamespacePath, gp+"/") {
				inGroup = true
			}
		}
		if !picked && !inGroup {
			continue
		}
		if p.Archived && !sel.IncludeArchived && !picked {
			continue
		}
		if p.Gone != "" {
			continue // deleted, access lost, or no longer a member
		}
		if slices.ContainsFunc(ex, func(re *regexp.Regexp) bool { return re.MatchString(p.PathWithNamespace) }) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// ExpandGroups turns groups selected without auto-import into the
// projects they hold now (those are picked one by one from then on).
func ExpandGroups(sel store.Selection, groups []store.Group, projects []store.Project) store.Selection {
	byID := map[int64]string{}
	for _, g := range groups {
		byID[g.GitLabID] = g.FullPath
	}
	var keep []store.GroupSelection
	for _, g := range sel.Groups {
		gp, ok := byID[g.GitLabID]
		if g.AutoImport || !ok {
			keep = append(keep, g)
			continue
		}
		for _, p := range projects {
			if (p.NamespacePath == gp || strings.HasPrefix(p.NamespacePath, gp+"/")) && !slices.Contains(sel.Projects, p.GitLabID) &&
				(!p.Archived || sel.IncludeArchived) {
				sel.Projects = append(sel.Projects, p.GitLabID)
			}
		}
	}
	sel.Groups = keep
	return sel
}

// globRE compiles an exclusion pattern: * matches within a path segment,
// ** across segments, ? one character; matching ignores case.
func globRE(pat string) (*regexp.Regexp, error) {
	if pat == "" {
		return nil, fmt.Errorf("sync: an exclusion pattern is empty")
	}
	var b strings.Builder
	b.WriteString("(?i)^")
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; {
		case c == '*' && i+1 < len(pat) && pat[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// ValidatePatterns checks exclusion patterns.
func ValidatePatterns(pats []string) error {
	for _, p := range pats {
		if _, err := globRE(p); err != nil {
			return err
		}
	}
	return nil
}
