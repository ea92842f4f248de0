package sandbox

// Manifest counts what the sandbox holds, so tests can compare what a
// client listed. Counts are what an administrator lists with state=all.
type Manifest struct {
	Version        string `json:"version"`
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
}

func (c *Counts) add(o Counts) {
	c.MergeRequests += o.MergeRequests
	c.Issues += o.Issues
	c.Pipelines += o.Pipelines
	c.Commits += o.Commits
	c.Branches += o.Branches
	c.Events += o.Events
	c.Hooks += o.Hooks
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

// GroupCounts are one group's direct subgroups and projects.
type GroupCounts struct {
	ID        int64  `json:"id"`
	FullPath  string `json:"full_path"`
	Subgroups int    `json:"subgroups"`
	Projects  int    `json:"projects"`
}

// Manifest returns the current counts (activity included).
func (s *Sandbox) Manifest() Manifest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := Manifest{Version: s.cfg.Version, Seed: s.cfg.Seed, Groups: len(s.groups), Projects: len(s.projects)}
	for _, g := range s.groups {
		if g.parent == nil {
			m.TopLevelGroups++
		}
		m.PerGroup = append(m.PerGroup, GroupCounts{ID: g.id, FullPath: g.fullPath, Subgroups: len(g.children), Projects: len(g.projects)})
	}
	for _, p := range s.projects {
		pc := ProjectCounts{ID: p.id, Path: p.fullPath(), Archived: p.archived, CIEnabled: p.ciEnabled, ObjectFormat: "sha1",
			Counts: Counts{MergeRequests: len(p.mrs), Issues: len(p.issues), Pipelines: len(p.pipelines), Commits: len(p.commits),
				Branches: len(p.branches), Events: len(p.events), Hooks: len(p.hooks)}}
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
