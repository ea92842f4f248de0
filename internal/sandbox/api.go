package sandbox

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

func sortBranches(bs []*branch) {
	slices.SortFunc(bs, func(a, b *branch) int { return cmp.Compare(a.name, b.name) })
}

func sortEventsByTime(es []*event) {
	slices.SortStableFunc(es, func(a, b *event) int { return a.created.Compare(b.created) })
}

func sortByCreated[T any](xs []T, key func(T) (time.Time, int64)) {
	slices.SortStableFunc(xs, func(a, b T) int {
		ta, ia := key(a)
		tb, ib := key(b)
		if c := ta.Compare(tb); c != 0 {
			return c
		}
		return cmp.Compare(ia, ib)
	})
}

func badParam(name string) error {
	return grapeErr(http.StatusBadRequest, name+" is invalid")
}

// timeParam parses an ISO 8601 query parameter; zero when absent.
func (c *call) timeParam(name string) (time.Time, error) {
	v := c.q(name)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badParam(name)
}

type timeFilter struct{ createdAfter, createdBefore, updatedAfter, updatedBefore time.Time }

func (c *call) timeFilter() (timeFilter, error) {
	var f timeFilter
	var err error
	for _, x := range []struct {
		name string
		dst  *time.Time
	}{{"created_after", &f.createdAfter}, {"created_before", &f.createdBefore}, {"updated_after", &f.updatedAfter}, {"updated_before", &f.updatedBefore}} {
		if *x.dst, err = c.timeParam(x.name); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (f timeFilter) keep(created, updated time.Time) bool {
	return (f.createdAfter.IsZero() || !created.Before(f.createdAfter)) &&
		(f.createdBefore.IsZero() || !created.After(f.createdBefore)) &&
		(f.updatedAfter.IsZero() || !updated.Before(f.updatedAfter)) &&
		(f.updatedBefore.IsZero() || !updated.After(f.updatedBefore))
}

func (c *call) boolParam(name string) (val, set bool) {
	switch strings.ToLower(c.q(name)) {
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no":
		return false, true
	}
	return false, false
}

// sortDir returns +1 for asc and -1 for desc (the default unless given).
func (c *call) sortDir(def string) (int, error) {
	v := c.q("sort")
	if v == "" {
		v = def
	}
	switch v {
	case "asc":
		return 1, nil
	case "desc":
		return -1, nil
	}
	return 0, grapeErr(http.StatusBadRequest, "sort does not have a valid value")
}

func (c *call) project() (*project, error) {
	p := c.s.projectByRef(c.r.PathValue("id"))
	if p == nil || !canRead(p, c.user) {
		return nil, notFound("Project")
	}
	return p, nil
}

func (c *call) iidParam(name string) (int64, error) {
	v, err := strconv.ParseInt(c.r.PathValue(name), 10, 64)
	if err != nil {
		return 0, badParam(name)
	}
	return v, nil
}

// --- instance -------------------------------------------------------------

func (s *Sandbox) revision() string { return fakeSHA(false, s.cfg.Version)[:11] }

func (s *Sandbox) getVersion(c *call) (any, error) {
	return map[string]any{"version": s.ver.String(), "revision": s.revision()}, nil
}

func (s *Sandbox) getMetadata(c *call) (any, error) {
	out := map[string]any{"version": s.ver.String(), "revision": s.revision(),
		"kas": map[string]any{"enabled": false, "externalUrl": nil, "version": nil}}
	if s.ver.hasMetadataEnterprise() {
		out["enterprise"] = false
	}
	return out, nil
}

func (s *Sandbox) getUser(c *call) (any, error) { return s.renderUser(c.user), nil }

func (s *Sandbox) getPATSelf(c *call) (any, error) {
	t := c.tok
	if t.kind != tokenPAT {
		return nil, msgErr(http.StatusNotFound, "404 Not Found")
	}
	return s.renderPAT(t), nil
}

// renderPAT is Entities::PersonalAccessToken, for personal, project, group
// and service-account tokens alike.
func (s *Sandbox) renderPAT(t *token) map[string]any {
	var exp any
	if !t.expires.IsZero() {
		exp = t.expires.UTC().Format("2006-01-02")
	}
	out := map[string]any{"id": t.id, "name": t.name, "revoked": t.revoked, "created_at": gtime(t.created), "scopes": t.scopes,
		"user_id": t.user.id, "last_used_at": gtime(t.lastUsed), "active": !t.revoked && !t.expired(s.clock()), "expires_at": exp}
	if s.ver.atLeast(17, 0) {
		out["description"] = nil
	}
	return out
}

// --- projects -------------------------------------------------------------

func (s *Sandbox) filterProjects(c *call, from []*project) ([]*project, error) {
	membership, _ := c.boolParam("membership")
	owned, _ := c.boolParam("owned")
	archived, archivedSet := c.boolParam("archived")
	minLevel := 0
	if v := c.q("min_access_level"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, badParam("min_access_level")
		}
		minLevel = n
	}
	search := strings.ToLower(c.q("search"))
	vis := c.q("visibility")
	// last_activity_after/before and updated_after/before (GitLab 15.10) as
	// lib/api/projects.rb declares them.
	var actAfter, actBefore, updAfter, updBefore time.Time
	for _, x := range []struct {
		name string
		dst  *time.Time
		ok   bool
	}{{"last_activity_after", &actAfter, true}, {"last_activity_before", &actBefore, true},
		{"updated_after", &updAfter, c.s.ver.atLeast(15, 10)}, {"updated_before", &updBefore, c.s.ver.atLeast(15, 10)}} {
		if !x.ok {
			continue
		}
		t, err := c.timeParam(x.name)
		if err != nil {
			return nil, err
		}
		*x.dst = t
	}
	out := make([]*project, 0, len(from))
	for _, p := range from {
		if !canRead(p, c.user) || (archivedSet && p.archived != archived) || (vis != "" && p.vis != vis) {
			continue
		}
		if (!actAfter.IsZero() && !p.lastAct.After(actAfter)) || (!actBefore.IsZero() && !p.lastAct.Before(actBefore)) ||
			(!updAfter.IsZero() && !p.updated.After(updAfter)) || (!updBefore.IsZero() && !p.updated.Before(updBefore)) {
			continue
		}
		if membership || minLevel > 0 || owned {
			l := accessLevel(p, c.user)
			if l == 0 || l < minLevel || (owned && l < accessOwner) {
				continue
			}
		}
		if search != "" && !strings.Contains(strings.ToLower(p.name), search) && !strings.Contains(strings.ToLower(p.path), search) &&
			!(c.q("search_namespaces") == "true" && strings.Contains(strings.ToLower(p.fullPath()), search)) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *Sandbox) listProjectsFrom(c *call, from []*project) (any, error) {
	ps, err := s.filterProjects(c, from)
	if err != nil {
		return nil, err
	}
	orderBy := c.q("order_by")
	// Before keyset pagination GitLab ignored the unknown parameter.
	if c.q("pagination") == "keyset" && s.ver.hasKeyset() {
		if orderBy != "id" {
			return nil, grapeErr(http.StatusMethodNotAllowed, "Keyset pagination is not yet available for this type of request")
		}
		return s.keysetProjects(c, ps)
	}
	if err := c.checkOffsetLimit("Project"); err != nil {
		return nil, err
	}
	if orderBy == "" {
		orderBy = "created_at"
	}
	dir, err := c.sortDir("desc")
	if err != nil {
		return nil, err
	}
	sorted := true // the list arrives in id order, which is creation order
	switch orderBy {
	case "id", "created_at", "star_count", "similarity":
		// Nobody stars sandbox projects; similarity without search is GitLab's
		// default order, and with search every match here ranks alike.
		sorted = false
	case "name":
		slices.SortStableFunc(ps, func(a, b *project) int { return dir * cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.id, b.id)) })
	case "path":
		slices.SortStableFunc(ps, func(a, b *project) int { return dir * cmp.Or(cmp.Compare(a.path, b.path), cmp.Compare(a.id, b.id)) })
	case "updated_at", "last_activity_at":
		slices.SortStableFunc(ps, func(a, b *project) int { return dir * cmp.Or(a.lastAct.Compare(b.lastAct), cmp.Compare(a.id, b.id)) })
	default:
		return nil, grapeErr(http.StatusBadRequest, "order_by does not have a valid value")
	}
	if !sorted && dir < 0 {
		slices.Reverse(ps)
	}
	return paginate(c, ps, func(p *project) any { return s.renderProject(p, c.user) }), nil
}

// keysetProjects serves pagination=keyset&order_by=id: a Link rel="next"
// carrying id_after (asc) or id_before (desc), and no X-* headers.
func (s *Sandbox) keysetProjects(c *call, ps []*project) (any, error) {
	dir, err := c.sortDir("desc")
	if err != nil {
		return nil, err
	}
	pr := c.pageReq()
	if dir < 0 {
		slices.Reverse(ps)
	}
	start := 0
	if v := c.q("id_after"); v != "" && dir > 0 {
		after, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badParam("id_after")
		}
		start, _ = slices.BinarySearchFunc(ps, after+1, func(p *project, id int64) int { return cmp.Compare(p.id, id) })
	}
	if v := c.q("id_before"); v != "" && dir < 0 {
		before, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badParam("id_before")
		}
		start, _ = slices.BinarySearchFunc(ps, before, func(p *project, id int64) int { return -cmp.Compare(p.id, id) })
		for start < len(ps) && ps[start].id >= before {
			start++
		}
	}
	end := min(start+pr.perPage, len(ps))
	page := ps[start:end]
	if end < len(ps) && len(page) > 0 {
		last := page[len(page)-1].id
		set := map[string]string{"per_page": strconv.Itoa(pr.perPage)}
		if dir > 0 {
			set["id_after"] = strconv.FormatInt(last, 10)
		} else {
			set["id_before"] = strconv.FormatInt(last, 10)
		}
		c.w.Header().Set("Link", `<`+c.pageLink(set)+`>; rel="next"`)
	}
	out := make([]any, 0, len(page))
	for _, p := range page {
		out = append(out, s.renderProject(p, c.user))
	}
	return out, nil
}

func (s *Sandbox) listProjects(c *call) (any, error) {
	// validate_updated_at_order_and_filter! (lib/api/projects.rb): the
	// updated_at filters need order_by=updated_at; order_by defaults to
	// created_at, so leaving it out is refused too.
	if s.ver.atLeast(15, 10) && (c.q("updated_after") != "" || c.q("updated_before") != "") && c.q("order_by") != "updated_at" {
		return nil, msgErr(http.StatusBadRequest, "400 Bad request - `updated_at` filter and `updated_at` sorting must be paired")
	}
	return s.listProjectsFrom(c, slices.Clone(s.projects))
}

func (s *Sandbox) getProject(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	return s.renderProject(p, c.user), nil
}

// --- groups ---------------------------------------------------------------

func (s *Sandbox) listGroupsFrom(c *call, from []*group, defaultAll bool) (any, error) {
	if err := c.checkOffsetLimit("Group"); err != nil {
		return nil, err
	}
	allAvailable, set := c.boolParam("all_available")
	if !set {
		allAvailable = defaultAll || (c.user != nil && c.user.admin) || c.user == nil
	}
	topOnly, _ := c.boolParam("top_level_only")
	owned, _ := c.boolParam("owned")
	minLevel, _ := strconv.Atoi(c.q("min_access_level"))
	search := strings.ToLower(c.q("search"))
	out := make([]*group, 0, len(from))
	for _, g := range from {
		if !canReadGroup(g, c.user) || (topOnly && g.parent != nil) {
			continue
		}
		level := 0
		if c.user != nil {
			for x := g; x != nil; x = x.parent {
				level = max(level, x.members[c.user.id])
			}
		}
		if (!allAvailable && level == 0) || (owned && level < accessOwner) || (minLevel > 0 && level < minLevel) {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(g.name), search) && !strings.Contains(strings.ToLower(g.path), search) {
			continue
		}
		out = append(out, g)
	}
	dir, err := c.sortDir("asc")
	if err != nil {
		return nil, err
	}
	switch c.q("order_by") {
	case "", "name":
		slices.SortStableFunc(out, func(a, b *group) int { return dir * cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.id, b.id)) })
	case "path":
		slices.SortStableFunc(out, func(a, b *group) int { return dir * cmp.Or(cmp.Compare(a.path, b.path), cmp.Compare(a.id, b.id)) })
	case "id":
		slices.SortStableFunc(out, func(a, b *group) int { return dir * cmp.Compare(a.id, b.id) })
	default:
		return nil, grapeErr(http.StatusBadRequest, "order_by does not have a valid value")
	}
	return paginate(c, out, func(g *group) any { return s.renderGroup(g) }), nil
}

func (s *Sandbox) listGroups(c *call) (any, error) { return s.listGroupsFrom(c, s.groups, false) }

func (c *call) group() (*group, error) {
	g := c.s.groupByRef(c.r.PathValue("id"))
	if g == nil || !canReadGroup(g, c.user) {
		return nil, notFound("Group")
	}
	return g, nil
}

func (s *Sandbox) getGroup(c *call) (any, error) {
	g, err := c.group()
	if err != nil {
		return nil, err
	}
	return s.renderGroup(g), nil
}

func (s *Sandbox) listSubgroups(c *call) (any, error) {
	g, err := c.group()
	if err != nil {
		return nil, err
	}
	return s.listGroupsFrom(c, g.children, true)
}

// listGroupProjects serves GET /groups/:id/projects as lib/api/groups.rb and
// GroupProjectsFinder do: the group's own projects, its descendants' too with
// include_subgroups=true (default false), only projects the caller can read,
// the /projects filters (archived, visibility, search, owned,
// min_access_level) and orders (order_by created_at by default, also id,
// name, path, updated_at, last_activity_at, star_count; sort desc by
// default). with_shared (default true) adds projects shared with the group;
// the dataset shares none, so it only has to be a valid boolean.
func (s *Sandbox) listGroupProjects(c *call) (any, error) {
	g, err := c.group()
	if err != nil {
		return nil, err
	}
	if v := c.q("with_shared"); v != "" {
		if _, ok := c.boolParam("with_shared"); !ok {
			return nil, badParam("with_shared")
		}
	}
	var ps []*project
	var walk func(g *group)
	include, _ := c.boolParam("include_subgroups")
	walk = func(g *group) {
		ps = append(ps, g.projects...)
		if include {
			for _, ch := range g.children {
				walk(ch)
			}
		}
	}
	walk(g)
	slices.SortFunc(ps, func(a, b *project) int { return cmp.Compare(a.id, b.id) })
	return s.listProjectsFrom(c, ps)
}

// --- merge requests -------------------------------------------------------

// listKind says where an MR or issue listing was asked: on one project, on a
// group (its projects and its subgroups' projects), or instance-wide.
type listKind int

const (
	listProject listKind = iota
	listGroup
	listInstance
)

func (s *Sandbox) filterMRs(c *call, from []*mergeRequest, kind listKind) ([]*mergeRequest, error) {
	instance := kind == listInstance
	tf, err := c.timeFilter()
	if err != nil {
		return nil, err
	}
	state := c.q("state")
	if state == "" {
		state = "all"
	}
	if !slices.Contains([]string{"all", "opened", "closed", "merged", "locked"}, state) {
		return nil, grapeErr(http.StatusBadRequest, "state does not have a valid value")
	}
	scope := strings.ReplaceAll(c.q("scope"), "-", "_")
	if scope == "" {
		scope = "all"
		if instance {
			scope = "created_by_me"
		}
	}
	if !slices.Contains([]string{"all", "created_by_me", "assigned_to_me"}, scope) {
		return nil, grapeErr(http.StatusBadRequest, "scope does not have a valid value")
	}
	nonArchived := true
	if v, ok := c.boolParam("non_archived"); ok {
		nonArchived = v
	}
	draft, draftSet := c.boolParam("wip")
	if v, ok := c.boolParam("draft"); ok {
		draft, draftSet = v, true
	}
	iids := iidSet(c)
	src, tgt := c.q("source_branch"), c.q("target_branch")
	authorID, _ := strconv.ParseInt(c.q("author_id"), 10, 64)
	out := make([]*mergeRequest, 0, len(from))
	for _, m := range from {
		if (state != "all" && stateNames[m.state] != state) || !tf.keep(m.created, m.updated) {
			continue
		}
		if kind != listProject && (!canRead(m.p, c.user) || (nonArchived && m.p.archived)) {
			continue
		}
		if (scope == "created_by_me" && (c.user == nil || m.authorID != c.user.id)) || (scope == "assigned_to_me" && (c.user == nil || m.assigneeID != c.user.id)) {
			continue
		}
		if (draftSet && m.draft != draft) || (iids != nil && !iids[m.iid]) || (src != "" && m.source != src) || (tgt != "" && m.p.defBranch != tgt) || (authorID != 0 && m.authorID != authorID) {
			continue
		}
		out = append(out, m)
	}
	return out, sortItems(c, out, func(m *mergeRequest) (time.Time, time.Time, int64, string) {
		return m.created, m.updated, m.id, m.title
	})
}

func iidSet(c *call) map[int64]bool {
	vs := c.r.URL.Query()["iids[]"]
	if len(vs) == 0 {
		return nil
	}
	m := map[int64]bool{}
	for _, v := range vs {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			m[n] = true
		}
	}
	return m
}

// sortItems orders MRs or issues by order_by (created_at, updated_at, title)
// and sort (desc by default). Lists arrive in created order.
func sortItems[T any](c *call, xs []T, key func(T) (created, updated time.Time, id int64, title string)) error {
	dir, err := c.sortDir("desc")
	if err != nil {
		return err
	}
	switch c.q("order_by") {
	case "", "created_at":
		if dir < 0 {
			slices.Reverse(xs)
		}
	case "updated_at":
		slices.SortStableFunc(xs, func(a, b T) int {
			_, ua, ia, _ := key(a)
			_, ub, ib, _ := key(b)
			return dir * cmp.Or(ua.Compare(ub), cmp.Compare(ia, ib))
		})
	case "title":
		slices.SortStableFunc(xs, func(a, b T) int {
			_, _, ia, ta := key(a)
			_, _, ib, tb := key(b)
			return dir * cmp.Or(cmp.Compare(ta, tb), cmp.Compare(ia, ib))
		})
	default:
		return grapeErr(http.StatusBadRequest, "order_by does not have a valid value")
	}
	return nil
}

func (s *Sandbox) listAllMRs(c *call) (any, error) {
	ms, err := s.filterMRs(c, s.mrs, listInstance)
	if err != nil {
		return nil, err
	}
	return paginate(c, ms, func(m *mergeRequest) any { return s.renderMR(m) }), nil
}

func (s *Sandbox) listProjectMRs(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	ms, err := s.filterMRs(c, p.mrs, listProject)
	if err != nil {
		return nil, err
	}
	return paginate(c, ms, func(m *mergeRequest) any { return s.renderMR(m) }), nil
}

func (s *Sandbox) getMR(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	iid, err := c.iidParam("iid")
	if err != nil {
		return nil, err
	}
	if iid < 1 || int(iid) > len(p.mrs) {
		return nil, notFound("Merge Request")
	}
	for _, m := range p.mrs {
		if m.iid == iid {
			return s.renderMRDetail(m), nil
		}
	}
	return nil, notFound("Merge Request")
}

// --- issues ---------------------------------------------------------------

func (s *Sandbox) filterIssues(c *call, from []*issue, kind listKind) ([]*issue, error) {
	instance := kind == listInstance
	tf, err := c.timeFilter()
	if err != nil {
		return nil, err
	}
	state := c.q("state")
	if state == "" {
		state = "all"
	}
	if !slices.Contains([]string{"all", "opened", "closed"}, state) {
		return nil, grapeErr(http.StatusBadRequest, "state does not have a valid value")
	}
	scope := strings.ReplaceAll(c.q("scope"), "-", "_")
	if scope == "" {
		scope = "all"
		if instance {
			scope = "created_by_me"
		}
	}
	if !slices.Contains([]string{"all", "created_by_me", "assigned_to_me"}, scope) {
		return nil, grapeErr(http.StatusBadRequest, "scope does not have a valid value")
	}
	nonArchived := true
	if v, ok := c.boolParam("non_archived"); ok {
		nonArchived = v
	}
	iids := iidSet(c)
	out := make([]*issue, 0, len(from))
	for _, is := range from {
		if (state != "all" && stateNames[is.state] != state) || !tf.keep(is.created, is.updated) {
			continue
		}
		if kind != listProject && (!canRead(is.p, c.user) || (nonArchived && is.p.archived)) {
			continue
		}
		if (scope == "created_by_me" && (c.user == nil || is.authorID != c.user.id)) || (scope == "assigned_to_me" && (c.user == nil || is.assigneeID != c.user.id)) {
			continue
		}
		if iids != nil && !iids[is.iid] {
			continue
		}
		out = append(out, is)
	}
	return out, sortItems(c, out, func(is *issue) (time.Time, time.Time, int64, string) { return is.created, is.updated, is.id, is.title })
}

func (s *Sandbox) listAllIssues(c *call) (any, error) {
	is, err := s.filterIssues(c, s.issues, listInstance)
	if err != nil {
		return nil, err
	}
	return paginate(c, is, func(x *issue) any { return s.renderIssue(x) }), nil
}

func (s *Sandbox) listProjectIssues(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	is, err := s.filterIssues(c, p.issues, listProject)
	if err != nil {
		return nil, err
	}
	return paginate(c, is, func(x *issue) any { return s.renderIssue(x) }), nil
}

func (s *Sandbox) getIssue(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	iid, err := c.iidParam("iid")
	if err != nil {
		return nil, err
	}
	for _, is := range p.issues {
		if is.iid == iid {
			return s.renderIssue(is), nil
		}
	}
	return nil, notFound("Issue")
}

// --- pipelines ------------------------------------------------------------

func (c *call) ciProject() (*project, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	if !p.ciEnabled {
		return nil, errForbidden
	}
	return p, nil
}

func (s *Sandbox) listPipelines(c *call) (any, error) {
	p, err := c.ciProject()
	if err != nil {
		return nil, err
	}
	tf, err := c.timeFilter()
	if err != nil {
		return nil, err
	}
	status, ref, sha, source := c.q("status"), c.q("ref"), c.q("sha"), c.q("source")
	out := make([]*pipeline, 0, len(p.pipelines))
	for _, pl := range p.pipelines {
		if (status != "" && pl.status != status) || (ref != "" && pl.ref != ref) || (sha != "" && pl.sha != sha) || (source != "" && pl.source != source) {
			continue
		}
		if !tf.keep(pl.created, pl.updated) {
			continue
		}
		out = append(out, pl)
	}
	dir, err := c.sortDir("desc")
	if err != nil {
		return nil, err
	}
	switch c.q("order_by") {
	case "", "id":
		slices.SortStableFunc(out, func(a, b *pipeline) int { return dir * cmp.Compare(a.id, b.id) })
	case "updated_at":
		slices.SortStableFunc(out, func(a, b *pipeline) int { return dir * cmp.Or(a.updated.Compare(b.updated), cmp.Compare(a.id, b.id)) })
	case "status", "ref", "user_id":
		key := map[string]func(*pipeline) string{"status": func(p *pipeline) string { return p.status }, "ref": func(p *pipeline) string { return p.ref },
			"user_id": func(p *pipeline) string { return strconv.FormatInt(p.userID, 10) }}[c.q("order_by")]
		slices.SortStableFunc(out, func(a, b *pipeline) int { return dir * cmp.Or(cmp.Compare(key(a), key(b)), cmp.Compare(a.id, b.id)) })
	default:
		return nil, grapeErr(http.StatusBadRequest, "order_by does not have a valid value")
	}
	return paginate(c, out, func(pl *pipeline) any { return s.renderPipeline(pl) }), nil
}

func (s *Sandbox) getPipeline(c *call) (any, error) {
	p, err := c.ciProject()
	if err != nil {
		return nil, err
	}
	id, err := c.iidParam("pid")
	if err != nil {
		return nil, err
	}
	for _, pl := range p.pipelines {
		if pl.id == id {
			return s.renderPipelineDetail(pl), nil
		}
	}
	return nil, notFound("Pipeline")
}

// --- repository -----------------------------------------------------------

func (s *Sandbox) listCommits(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	since, err := c.timeParam("since")
	if err != nil {
		return nil, err
	}
	until, err := c.timeParam("until")
	if err != nil {
		return nil, err
	}
	history := p.commits
	if ref := c.q("ref_name"); ref != "" && ref != p.defBranch {
		var b *branch
		for _, x := range p.branches {
			if x.name == ref {
				b = x
			}
		}
		if b == nil {
			return nil, notFound("Tree")
		}
		history = slices.Concat(p.commits, []*commit{b.head})
		if b.head == nil {
			history = p.commits
		}
	}
	out := make([]*commit, 0, len(history))
	for i := len(history) - 1; i >= 0; i-- { // newest first, as git log
		cm := history[i]
		if (!since.IsZero() && cm.created.Before(since)) || (!until.IsZero() && cm.created.After(until)) {
			continue
		}
		out = append(out, cm)
	}
	return paginate(c, out, func(cm *commit) any { return s.renderCommit(p, cm) }), nil
}

func (s *Sandbox) listBranches(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	search := strings.ToLower(c.q("search"))
	out := make([]*branch, 0, len(p.branches))
	for _, b := range p.branches {
		if search == "" || strings.Contains(strings.ToLower(b.name), search) {
			out = append(out, b)
		}
	}
	return paginate(c, out, func(b *branch) any { return s.renderBranch(p, b) }), nil
}

func (s *Sandbox) listEvents(c *call) (any, error) {
	p, err := c.project()
	if err != nil {
		return nil, err
	}
	before, err := c.timeParam("before")
	if err != nil {
		return nil, err
	}
	after, err := c.timeParam("after")
	if err != nil {
		return nil, err
	}
	action, target := c.q("action"), strings.ToLower(c.q("target_type"))
	// lib/api/events.rb takes only Event.actions as action (Grape's values:).
	if action != "" && !slices.Contains(eventActions, action) && !(action == "approved" && s.ver.hasApprovedAction()) {
		return nil, grapeErr(http.StatusBadRequest, "action does not have a valid value")
	}
	actionOf := eventActionFilter
	out := make([]*event, 0, len(p.events))
	for _, e := range p.events {
		if (action != "" && actionOf[e.action] != action) || (target != "" && strings.ToLower(strings.ReplaceAll(e.targetType, "MergeRequest", "merge_request")) != target) {
			continue
		}
		day := e.created.UTC().Truncate(24 * time.Hour)
		if (!before.IsZero() && !day.Before(before)) || (!after.IsZero() && !day.After(after)) {
			continue
		}
		out = append(out, e)
	}
	if dir, err := c.sortDir("desc"); err != nil {
		return nil, err
	} else if dir < 0 {
		slices.Reverse(out)
	}
	return paginate(c, out, func(e *event) any { return s.renderEvent(e) }), nil
}
