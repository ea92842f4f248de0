package sandbox

import "strings"

// Manifest counts what the sandbox holds, so tests can compare what a
// client listed. Counts are what an administrator lists with state=all.
type Manifest struct {
	Version        string `json:"version"`
	Profile        string `json:"profile"`
	Seed           int64  `json:"seed"`
	Groups         int    `json:"groups"`
	TopLevelGroups int    `json:"top_level_groups"`
	Projects       int    `json:"projects"`
	Archived       int    `json:"archived_projects"`
	CIDisabled     int    `json:"ci_disabled_projects"`
	// Totals sums PerProject; NonArchived sums it over projects that are not
	// archived, which is what instance-wide /merge_requests and /issues
	// (non_archived=true by default) return.
	Totals      Counts          `json:"totals"`
	NonArchived Counts          `json:"non_archived"`
	PerProject  []ProjectCounts `json:"per_project"`
	PerGroup    []GroupCounts   `json:"per_group"`

	// The gitlab.com profile only. Groups, Projects and the counts above
	// cover the seeded dataset, not the public world, which Public sums up.
	// User is the connected user, UserToken their personal access token and
	// ControlToken the control API's credential (what AdminToken is on the
	// other profiles). The manifest is served to the control credential only.
	User string `json:"user,omitempty"`
	// UserProjects and UserGroups are the ids of the projects and groups the
	// connected user is a member of (directly or through a group), the only
	// ones a membership-scoped listing returns.
	UserProjects []int64       `json:"user_projects,omitempty"`
	UserGroups   []int64       `json:"user_groups,omitempty"`
	UserToken    string        `json:"user_token,omitempty"`
	ControlToken string        `json:"control_token,omitempty"`
	Public       *PublicCounts `json:"public,omitempty"`

	// AccessTokens are the project, group and service-account tokens made
	// with CreateAccessToken (or POST /-/sandbox/tokens with a kind): their
	// bot users and the seeded projects and groups those belong to. Token
	// values are never listed.
	AccessTokens []AccessTokenInfo `json:"access_tokens,omitempty"`
}

// PublicCounts sums up the gitlab.com profile's public world.
type PublicCounts struct {
	Users    int `json:"users"`
	Groups   int `json:"groups"`
	Projects int `json:"projects"`
	// Visible is how many of Projects are public (the rest are private to
	// their owners); VisibleGroups likewise.
	Visible       int `json:"visible_projects"`
	VisibleGroups int `json:"visible_groups"`
	// Changes is how many public-world changes the activity made so far.
	Changes int64 `json:"changes"`
	// Totals counts what the activity created there.
	Totals Counts `json:"totals"`
}

// Counts are resource counts.
type Counts struct {
	MergeRequests int `json:"merge_requests"`
	Issues        int `json:"issues"`
	Pipelines     int `json:"pipelines"`
	Commits       int `json:"commits"`
	Branches      int `json:"branches"`
	Events        int `json:"events"`
	Hooks         int `json:"hooks"`
	// Review and delivery data (reviews.go, delivery.go). Notes counts every
	// merge request note, system notes included; SystemNotes those alone.
	// Jobs counts retried jobs too (RetriedJobs of them), as GET
	// /projects/:id/jobs lists them. Approvals is 0 where the version or
	// tier has none; Releases is 0 before 11.7. Incidents are issues of type
	// incident (labelled "incident" before the type existed).
	Notes               int `json:"notes"`
	SystemNotes         int `json:"system_notes"`
	Discussions         int `json:"discussions"`
	Approvals           int `json:"approvals"`
	MergeRequestCommits int `json:"merge_request_commits"`
	Jobs                int `json:"jobs"`
	RetriedJobs         int `json:"retried_jobs"`
	Environments        int `json:"environments"`
	Deployments         int `json:"deployments"`
	Releases            int `json:"releases"`
	Tags                int `json:"tags"`
	Incidents           int `json:"incidents"`
}

func (c *Counts) add(o Counts) {
	c.MergeRequests += o.MergeRequests
	c.Issues += o.Issues
	c.Pipelines += o.Pipelines
	c.Commits += o.Commits
	c.Branches += o.Branches
	c.Events += o.Events
	c.Hooks += o.Hooks
	c.Notes += o.Notes
	c.SystemNotes += o.SystemNotes
	c.Discussions += o.Discussions
	c.Approvals += o.Approvals
	c.MergeRequestCommits += o.MergeRequestCommits
	c.Jobs += o.Jobs
	c.RetriedJobs += o.RetriedJobs
	c.Environments += o.Environments
	c.Deployments += o.Deployments
	c.Releases += o.Releases
	c.Tags += o.Tags
	c.Incidents += o.Incidents
}

// counts are one project's counts.
func (p *project) counts() Counts {
	c := Counts{MergeRequests: len(p.mrs), Issues: len(p.issues), Pipelines: len(p.pipelines), Commits: len(p.commits),
		Branches: len(p.branches), Events: len(p.events), Hooks: len(p.hooks), MergeRequestCommits: len(p.mrs)}
	for _, is := range p.issues {
		if is.incident {
			c.Incidents++
		}
	}
	d := p.rd
	if d == nil {
		return c
	}
	discussions := map[string]bool{}
	for _, n := range d.notes {
		c.Notes++
		if n.system {
			c.SystemNotes++
		}
		discussions[n.discussion] = true
	}
	c.Discussions = len(discussions)
	c.Approvals = len(d.approvals)
	for _, j := range d.jobs {
		c.Jobs++
		if j.retried {
			c.RetriedJobs++
		}
	}
	c.Environments, c.Deployments, c.Releases, c.Tags = len(d.envs), len(d.deploys), len(d.releases), len(d.tags)
	return c
}

// ProjectCounts are one project's counts. Pipelines is 0 where CI/CD is
// disabled (the API answers 403 there).
type ProjectCounts struct {
	ID           int64  `json:"id"`
	Path         string `json:"path_with_namespace"`
	Archived     bool   `json:"archived"`
	CIEnabled    bool   `json:"ci_enabled"`
	ObjectFormat string `json:"object_format"`
	Counts
}

// GroupCounts are one group's direct subgroups and projects, and what its
// group listings hold for an administrator: AllProjects counts the projects
// of the group and its descendants (include_subgroups=true), NonArchived
// sums their counts over the non-archived ones (what /groups/:id/merge_requests
// and /groups/:id/issues list by default).
type GroupCounts struct {
	ID          int64  `json:"id"`
	FullPath    string `json:"full_path"`
	Subgroups   int    `json:"subgroups"`
	Projects    int    `json:"projects"`
	AllProjects int    `json:"all_projects"`
	NonArchived Counts `json:"non_archived"`
}

// Manifest returns the current counts (activity included).
func (s *Sandbox) Manifest() Manifest {
	s.reap()
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := Manifest{Version: s.cfg.Version, Profile: s.cfg.Profile, Seed: s.cfg.Seed, Groups: s.seededGroups, Projects: s.seededProjects,
		AccessTokens: s.accessTokensLocked()}
	if s.dotcom {
		m.User, m.UserToken, m.ControlToken = s.userName, s.userToken, s.controlToken
		u := s.userByName(s.userName)
		for _, p := range s.projects[:s.seededProjects] {
			if !p.deleted && accessLevel(p, u) > 0 {
				m.UserProjects = append(m.UserProjects, p.id)
			}
		}
		for _, g := range s.groups[:s.seededGroups] {
			if groupAccess(g, u.id) > 0 {
				m.UserGroups = append(m.UserGroups, g.id)
			}
		}
		pc := &PublicCounts{Groups: len(s.groups) - s.seededGroups, Projects: len(s.projects) - s.seededProjects, Changes: s.publicChanges.Load()}
		for _, u := range s.users {
			if strings.HasPrefix(u.username, "user-") {
				pc.Users++
			}
		}
		for _, g := range s.groups[s.seededGroups:] {
			if g.vis == "public" {
				pc.VisibleGroups++
			}
		}
		for _, p := range s.projects[s.seededProjects:] {
			if p.vis == "public" {
				pc.Visible++
			}
			pc.Totals.add(p.counts())
		}
		m.Public = pc
	}
	for _, g := range s.groups[:s.seededGroups] {
		if g.parent == nil {
			m.TopLevelGroups++
		}
		gc := GroupCounts{ID: g.id, FullPath: g.fullPath, Subgroups: len(g.children), Projects: len(g.projects)}
		for _, p := range groupProjects(g) {
			gc.AllProjects++
			if !p.archived {
				gc.NonArchived.add(p.counts())
			}
		}
		m.PerGroup = append(m.PerGroup, gc)
	}
	for _, p := range s.projects[:s.seededProjects] {
		if p.deleted { // DeleteProject: gone from every listing
			continue
		}
		pc := ProjectCounts{ID: p.id, Path: p.fullPath(), Archived: p.archived, CIEnabled: p.ciEnabled, ObjectFormat: "sha1",
			Counts: p.counts()}
		if p.sha256 {
			pc.ObjectFormat = "sha256"
		}
		if p.archived {
			m.Archived++
		} else {
			m.NonArchived.add(pc.Counts)
		}
		if !p.ciEnabled {
			m.CIDisabled++
		}
		m.Totals.add(pc.Counts)
		m.PerProject = append(m.PerProject, pc)
	}
	return m
}
