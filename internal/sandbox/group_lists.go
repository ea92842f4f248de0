package sandbox

import (
	"time"
)

// Group-scoped listings of merge requests and issues.
//
// GitLab serves GET /groups/:id/merge_requests and GET /groups/:id/issues
// through MergeRequestsFinder and IssuesFinder with the group's id and
// include_subgroups: true (lib/api/merge_requests.rb, lib/api/issues.rb), so
// descendant groups' projects are always included; an 11.x-era
// lib/api/merge_requests.rb already passes it (gitlab-ce#42443 asked it for
// issues, gitlab-ce#45082 for merge requests), older than the oldest profile
// modelled here. Only projects the caller can read count (IssuableFinder
// limits the group's projects to those visible to the user), scope and state
// default to "all", and non_archived defaults to true on both (group merge
// requests since gitlab!23809, early 2020, before the 12.10 profile; group
// issues before that). A group the caller cannot see is "404 Group Not
// Found", as find_group! answers. Items have the same shapes as the project
// listings.

// groupProjects returns g's projects and those of all its descendants.
func groupProjects(g *group) []*project {
	var ps []*project
	var walk func(g *group)
	walk = func(g *group) {
		ps = append(ps, g.projects...)
		for _, ch := range g.children {
			walk(ch)
		}
	}
	walk(g)
	return ps
}

func (s *Sandbox) listGroupMRs(c *call) (any, error) {
	g, err := c.group()
	if err != nil {
		return nil, err
	}
	var from []*mergeRequest
	for _, p := range groupProjects(g) {
		from = append(from, p.mrs...)
	}
	sortByCreated(from, func(m *mergeRequest) (time.Time, int64) { return m.created, m.id })
	ms, err := s.filterMRs(c, from, listGroup)
	if err != nil {
		return nil, err
	}
	return paginate(c, ms, func(m *mergeRequest) any { return s.renderMR(m) }), nil
}

func (s *Sandbox) listGroupIssues(c *call) (any, error) {
	g, err := c.group()
	if err != nil {
		return nil, err
	}
	var from []*issue
	for _, p := range groupProjects(g) {
		from = append(from, p.issues...)
	}
	sortByCreated(from, func(is *issue) (time.Time, int64) { return is.created, is.id })
	is, err := s.filterIssues(c, from, listGroup)
	if err != nil {
		return nil, err
	}
	return paginate(c, is, func(x *issue) any { return s.renderIssue(x) }), nil
}
