package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"
)

// epoch is the fixed "now" of the seeded dataset: every generated date lies
// in the two years before it, whatever the sandbox clock says.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Access levels as GitLab numbers them.
const (
	accessGuest      = 10
	accessReporter   = 20
	accessDeveloper  = 30
	accessMaintainer = 40
	accessOwner      = 50
)

// Item states, kept as small integers.
const (
	stateOpened uint8 = iota
	stateClosed
	stateMerged
	stateLocked
)

var stateNames = [...]string{"opened", "closed", "merged", "locked"}

type user struct {
	id       int64
	username string
	name     string
	email    string
	admin    bool
	created  time.Time
	userType string // "" for people, project_bot or service_account (access_tokens.go)
}

type group struct {
	id       int64
	parent   *group
	name     string
	path     string
	fullPath string
	fullName string
	vis      string
	created  time.Time
	members  map[int64]int
	projects []*project
	children []*group
}

type project struct {
	id          int64
	name        string
	path        string
	description string
	group       *group // nil: root's personal namespace
	vis         string
	archived    bool
	ciEnabled   bool
	sha256      bool
	deleted     bool      // gone: 404 everywhere, in no listing
	markedAt    time.Time // marked for deletion (delayed deletion); zero: not marked
	defBranch   string
	created     time.Time
	lastAct     time.Time
	updated     time.Time
	creatorID   int64
	members     map[int64]int
	mrs         []*mergeRequest // by iid
	issues      []*issue        // by iid
	pipelines   []*pipeline     // by iid
	commits     []*commit       // oldest first, default branch
	branches    []*branch       // sorted by name
	events      []*event        // by id
	hooks       []*hook
	hookTests   map[int64]*[]time.Time // test endpoint calls per user (hook_state.go)
	nextMRIID   int64
	nextIssIID  int64
	nextPipeIID int64
	rd          *projectRD // notes, approvals, jobs, deployments, … (reviews.go, delivery.go)
}

type mergeRequest struct {
	id, iid     int64
	p           *project
	title       string
	description string
	state       uint8
	draft       bool
	authorID    int64
	assigneeID  int64
	mergeUserID int64
	source      string
	sha         string
	mergeSHA    string
	base        string // a merged merge request's branch point (Config.Git)
	labels      []string
	created     time.Time
	updated     time.Time
	merged      time.Time
	closed      time.Time
}

type issue struct {
	id, iid     int64
	p           *project
	title       string
	description string
	state       uint8
	authorID    int64
	assigneeID  int64
	labels      []string
	created     time.Time
	updated     time.Time
	closed      time.Time
	movedTo     int64 // id of the issue it was moved to
	incident    bool  // issue type incident (delivery.go)
}

type pipeline struct {
	id, iid  int64
	p        *project
	ref      string
	sha      string
	status   string
	source   string
	userID   int64
	created  time.Time
	updated  time.Time
	started  time.Time
	finished time.Time
}

type commit struct {
	sha     string
	parent  string
	merged  string // second parent of a merge commit (Config.Git)
	title   string
	author  *user
	created time.Time
}

type branch struct {
	name      string
	head      *commit
	protected bool
	merged    bool
}

type event struct {
	id         int64
	p          *project
	action     string // opened, closed, accepted, pushed to, pushed new
	targetType string // MergeRequest, Issue, "" for pushes
	targetID   int64
	targetIID  int64
	title      string
	authorID   int64
	created    time.Time
	push       *pushData
	note       *note // "commented on" events (reviews.go)
}

type pushData struct {
	count       int
	action      string
	ref         string
	from, to    string
	commitTitle string
}

var labelPool = []string{"bug", "feature", "backend", "frontend", "security", "performance", "docs", "ux"}
var words = []string{"add", "fix", "refactor", "remove", "improve", "update", "cache", "parser", "login", "search", "pipeline", "export", "webhook", "api", "ui", "token", "billing", "report", "sync", "index"}

func sentence(r *rand.Rand, n int) string {
	s := ""
	for i := range n {
		w := words[r.IntN(len(words))]
		if i == 0 {
			w = string(w[0]-32) + w[1:]
		}
		if i > 0 {
			s += " "
		}
		s += w
	}
	return s
}

func pickLabels(r *rand.Rand) []string {
	n := r.IntN(3)
	out := make([]string, 0, n)
	for range n {
		l := labelPool[r.IntN(len(labelPool))]
		dup := false
		for _, o := range out {
			dup = dup || o == l
		}
		if !dup {
			out = append(out, l)
		}
	}
	return out
}

// fakeSHA derives a deterministic commit id: 40 hex for SHA-1 repositories,
// 64 for SHA-256 ones.
func fakeSHA(sha256Repo bool, parts ...any) string {
	h := sha256.Sum256(fmt.Append(nil, parts...))
	s := hex.EncodeToString(h[:])
	if sha256Repo {
		return s
	}
	return s[:40]
}

// at returns a generated timestamp: epoch minus up to two years, truncated to
// milliseconds like GitLab's JSON.
func at(r *rand.Rand) time.Time {
	return epoch.Add(-time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour)))).Truncate(time.Millisecond)
}

// generate builds the seeded dataset. It depends only on the seed, the
// counts and the version's default branch and object-format availability.
func (s *Sandbox) generate() {
	cfg := s.cfg
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15))
	base := epoch.AddDate(-3, 0, 0)
	s.users = []*user{
		{id: 1, username: "root", name: "Administrator", email: "admin@example.com", admin: true, created: base},
		{id: 2, username: "alice", name: "Alice Developer", email: "alice@example.com", created: base.Add(time.Hour)},
		{id: 3, username: "bob", name: "Bob Reporter", email: "bob@example.com", created: base.Add(2 * time.Hour)},
		{id: 4, username: "carol", name: "Carol Maintainer", email: "carol@example.com", created: base.Add(3 * time.Hour)},
	}
	authors := []int64{1, 2, 3, 4}
	vis := []string{"private", "private", "internal", "public"}

	top := (cfg.Groups + 1) * 2 / 3
	if cfg.Groups > 0 && top == 0 {
		top = 1
	}
	for i := range cfg.Groups {
		g := &group{id: int64(i + 1), vis: s.visibilityFor(vis[r.IntN(len(vis))]), created: base.Add(time.Duration(i+1) * time.Minute), members: map[int64]int{1: accessOwner}}
		if i >= top {
			g.parent = s.groups[(i-top)%top]
			g.path = fmt.Sprintf("sub-%d", i+1)
			g.name = fmt.Sprintf("Sub %d", i+1)
			g.fullPath = g.parent.fullPath + "/" + g.path
			g.fullName = g.parent.fullName + " / " + g.name
			g.parent.children = append(g.parent.children, g)
		} else {
			g.path = fmt.Sprintf("group-%d", i+1)
			g.name = fmt.Sprintf("Group %d", i+1)
			g.fullPath, g.fullName = g.path, g.name
		}
		if i%2 == 0 {
			g.members[2] = accessDeveloper
			if s.dotcom { // alice is the connected user there: she may register hooks
				g.members[2] = accessMaintainer
			}
		}
		if i == 0 {
			g.members[3] = accessReporter
		}
		s.groups = append(s.groups, g)
	}

	var mrID, issID, pipeID int64
	outside := 0 // projects outside alice's groups, on the gitlab.com profile
	for i := range cfg.Projects {
		id := int64(i + 1)
		p := &project{
			id: id, path: fmt.Sprintf("project-%d", id), name: fmt.Sprintf("Project %d", id),
			vis: s.visibilityFor(vis[r.IntN(len(vis))]), defBranch: s.ver.defaultBranch(), creatorID: 1,
			members: map[int64]int{},
		}
		p.description = sentence(r, 5)
		p.archived = r.IntN(10) == 0
		p.ciEnabled = r.IntN(10) != 0
		p.sha256 = r.IntN(5) == 0 && s.ver.hasObjectFormat()
		p.created = base.Add(time.Duration(i+1) * 7 * time.Minute)
		if len(s.groups) > 0 {
			p.group = s.groups[i%len(s.groups)]
			p.group.projects = append(p.group.projects, p)
		}
		if i%4 == 0 {
			p.members[4] = accessMaintainer
		}
		if s.dotcom && p.group != nil && groupAccess(p.group, 2) == 0 {
			// ... and of every third project outside her groups.
			if outside++; outside%3 == 1 {
				p.members[2] = accessMaintainer
			}
		}
		p.lastAct = p.created

		// Commits: a linear history on the default branch, oldest first.
		var parent string
		ct := at(r)
		step := time.Duration(0)
		if cfg.Commits > 0 {
			step = epoch.Sub(ct) / time.Duration(cfg.Commits+1)
		}
		for c := range cfg.Commits {
			sha := fakeSHA(p.sha256, cfg.Seed, id, "c", c)
			cm := &commit{sha: sha, parent: parent, title: sentence(r, 4), author: s.users[authors[r.IntN(len(authors))]-1], created: ct.Add(time.Duration(c) * step).Truncate(time.Second)}
			p.commits = append(p.commits, cm)
			parent = sha
			if c%10 == 9 || c == cfg.Commits-1 {
				first := p.commits[c-c%10]
				p.events = append(p.events, &event{p: p, action: "pushed to", authorID: cm.author.id, created: cm.created,
					push: &pushData{count: c%10 + 1, action: "pushed", ref: p.defBranch, from: first.parent, to: sha, commitTitle: cm.title}})
			}
		}
		headCommit := (*commit)(nil)
		if n := len(p.commits); n > 0 {
			headCommit = p.commits[n-1]
		}
		p.branches = append(p.branches, &branch{name: p.defBranch, head: headCommit, protected: true})

		for m := range cfg.MRs {
			mrID++
			mr := &mergeRequest{id: mrID, iid: int64(m + 1), p: p, title: sentence(r, 5), description: sentence(r, 12),
				authorID: authors[r.IntN(len(authors))], assigneeID: authors[r.IntN(len(authors))], labels: pickLabels(r)}
			mr.created = spread(r, m, cfg.MRs, p.created)
			mr.updated = mr.created.Add(time.Duration(r.Int64N(int64(epoch.Sub(mr.created)) + 1))).Truncate(time.Millisecond)
			mr.source = fmt.Sprintf("feature/%d-%s", mr.iid, words[r.IntN(len(words))])
			mr.sha = fakeSHA(p.sha256, cfg.Seed, id, "mr", m)
			mr.draft = r.IntN(6) == 0
			switch x := r.IntN(10); {
			case x < 4:
				mr.state = stateOpened
			case x < 8:
				mr.state, mr.merged, mr.mergeUserID = stateMerged, mr.updated, authors[r.IntN(len(authors))]
				mr.mergeSHA = fakeSHA(p.sha256, cfg.Seed, id, "merge", m)
				mr.draft = false
			default:
				mr.state, mr.closed = stateClosed, mr.updated
			}
			p.mrs = append(p.mrs, mr)
			s.mrs = append(s.mrs, mr)
			p.events = append(p.events, &event{p: p, action: "opened", targetType: "MergeRequest", targetID: mr.id, targetIID: mr.iid, title: mr.title, authorID: mr.authorID, created: mr.created})
			if mr.state == stateMerged {
				p.events = append(p.events, &event{p: p, action: "accepted", targetType: "MergeRequest", targetID: mr.id, targetIID: mr.iid, title: mr.title, authorID: mr.mergeUserID, created: mr.merged})
			} else {
				p.branches = append(p.branches, &branch{name: mr.source, head: &commit{sha: mr.sha, parent: parentOf(headCommit), title: mr.title, author: s.users[mr.authorID-1], created: mr.updated.Truncate(time.Second)}})
			}
			p.lastAct = maxTime(p.lastAct, mr.updated)
		}
		p.nextMRIID = int64(cfg.MRs) + 1

		for k := range cfg.Issues {
			issID++
			is := &issue{id: issID, iid: int64(k + 1), p: p, title: sentence(r, 6), description: sentence(r, 15),
				authorID: authors[r.IntN(len(authors))], assigneeID: authors[r.IntN(len(authors))], labels: pickLabels(r)}
			is.created = spread(r, k, cfg.Issues, p.created)
			is.updated = is.created.Add(time.Duration(r.Int64N(int64(epoch.Sub(is.created)) + 1))).Truncate(time.Millisecond)
			if r.IntN(3) == 0 {
				is.state, is.closed = stateClosed, is.updated
			}
			p.issues = append(p.issues, is)
			s.issues = append(s.issues, is)
			p.events = append(p.events, &event{p: p, action: "opened", targetType: "Issue", targetID: is.id, targetIID: is.iid, title: is.title, authorID: is.authorID, created: is.created})
			if is.state == stateClosed {
				p.events = append(p.events, &event{p: p, action: "closed", targetType: "Issue", targetID: is.id, targetIID: is.iid, title: is.title, authorID: is.authorID, created: is.closed})
			}
			p.lastAct = maxTime(p.lastAct, is.updated)
		}
		p.nextIssIID = int64(cfg.Issues) + 1

		if p.ciEnabled {
			statuses := []string{"success", "success", "success", "failed", "canceled", "skipped"}
			sources := []string{"push", "push", "merge_request_event", "schedule", "web"}
			for l := range cfg.Pipelines {
				pipeID++
				pl := &pipeline{id: pipeID, iid: int64(l + 1), p: p, ref: p.defBranch, status: statuses[r.IntN(len(statuses))],
					source: sources[r.IntN(len(sources))], userID: authors[r.IntN(len(authors))]}
				pl.created = spread(r, l, cfg.Pipelines, p.created)
				pl.started = pl.created.Add(time.Duration(5+r.IntN(60)) * time.Second)
				pl.finished = pl.started.Add(time.Duration(60+r.IntN(900)) * time.Second)
				pl.updated = pl.finished
				if headCommit != nil && len(p.commits) > 0 {
					pl.sha = p.commits[r.IntN(len(p.commits))].sha
				} else {
					pl.sha = fakeSHA(p.sha256, cfg.Seed, id, "pipe", l)
				}
				p.pipelines = append(p.pipelines, pl)
				s.pipelines = append(s.pipelines, pl)
			}
		}
		p.nextPipeIID = int64(len(p.pipelines)) + 1

		sortBranches(p.branches)
		sortEventsByTime(p.events)
		for _, e := range p.events {
			s.nextEventID++
			e.id = s.nextEventID
		}
		p.updated = p.lastAct
		s.projects = append(s.projects, p)
	}
	s.nextMRID, s.nextIssueID, s.nextPipelineID = mrID, issID, pipeID
	// Keep global lists in created order so default sorts need no work.
	sortByCreated(s.mrs, func(m *mergeRequest) (time.Time, int64) { return m.created, m.id })
	sortByCreated(s.issues, func(m *issue) (time.Time, int64) { return m.created, m.id })
}

// spread returns the i-th of n increasing timestamps between from and the
// epoch, with jitter, so iids grow with creation time as in GitLab.
func spread(r *rand.Rand, i, n int, from time.Time) time.Time {
	step := epoch.Sub(from) / time.Duration(n+1)
	return from.Add(step*time.Duration(i+1) + time.Duration(r.Int64N(int64(step/2)+1))).Truncate(time.Millisecond)
}

func parentOf(c *commit) string {
	if c == nil {
		return ""
	}
	return c.sha
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
