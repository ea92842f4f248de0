package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Errors returned by the activity methods.
var (
	ErrNotFound = errors.New("sandbox: not found")
	ErrInvalid  = errors.New("sandbox: invalid change")
)

// Change describes what an activity call created or modified.
type Change struct {
	Kind      string    `json:"kind"` // merge_request, issue, push, pipeline, project, member, note, approval, release
	Action    string    `json:"action"`
	ProjectID int64     `json:"project_id"`
	ID        int64     `json:"id,omitempty"`
	IID       int64     `json:"iid,omitempty"`
	SHA       string    `json:"sha,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	Hooks     int       `json:"hooks"` // deliveries queued
}

// mutate runs f under the write lock and then queues the deliveries it made.
func (s *Sandbox) mutate(projectID int64, f func(p *project, now time.Time) (Change, []delivery, error)) (Change, error) {
	s.reap()
	s.mu.Lock()
	if projectID < 1 || int(projectID) > len(s.projects) || s.projects[projectID-1].deleted {
		s.mu.Unlock()
		return Change{}, fmt.Errorf("%w: project %d", ErrNotFound, projectID)
	}
	p := s.projects[projectID-1]
	now := s.clock().UTC().Truncate(time.Millisecond)
	events := len(p.events)
	ch, ds, err := f(p, now)
	if err == nil {
		// With LastActivityInterval, as Event#update_project_activity: only a
		// change that records an event (pushes, opening, merging, closing;
		// not pipelines or edits) moves a stale last_activity_at. Without
		// it, every change moves it, as the sandbox always did.
		if iv := s.cfg.LastActivityInterval; iv <= 0 || (len(p.events) > events && !p.lastAct.After(now.Add(-iv))) {
			p.lastAct, p.updated = now, now
		}
		ch.ProjectID, ch.UpdatedAt, ch.Hooks = p.id, now, len(ds)
	}
	s.mu.Unlock()
	s.enqueue(ds)
	return ch, err
}

func (s *Sandbox) addEvent(p *project, e *event) {
	s.nextEventID++
	e.id, e.p = s.nextEventID, p
	p.events = append(p.events, e)
}

func insertSorted[T any](xs []T, x T, key func(T) (time.Time, int64)) []T {
	tx, ix := key(x)
	i, _ := slices.BinarySearchFunc(xs, x, func(a, _ T) int {
		ta, ia := key(a)
		return cmp.Or(ta.Compare(tx), cmp.Compare(ia, ix))
	})
	return slices.Insert(xs, i, x)
}

func findMR(p *project, iid int64) *mergeRequest {
	for _, m := range p.mrs {
		if m.iid == iid {
			return m
		}
	}
	return nil
}

func findIssue(p *project, iid int64) *issue {
	for _, is := range p.issues {
		if is.iid == iid {
			return is
		}
	}
	return nil
}

func (p *project) branch(name string) *branch {
	for _, b := range p.branches {
		if b.name == name {
			return b
		}
	}
	return nil
}

// OpenMR opens a merge request from a new branch into the default branch,
// authored by the project's creator (root in the seeded dataset), and fires merge request hooks (action "open").
func (s *Sandbox) OpenMR(projectID int64, title string) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		if title == "" {
			title = "Sandbox change"
		}
		s.nextMRID++
		m := &mergeRequest{id: s.nextMRID, iid: p.nextMRIID, p: p, title: title, description: "Opened by the sandbox.", authorID: p.creatorID, assigneeID: p.creatorID,
			created: now, updated: now}
		p.nextMRIID++
		m.source = fmt.Sprintf("sandbox/mr-%d", m.iid)
		m.sha = fakeSHA(p.sha256, "mr", p.id, m.iid, now.UnixNano())
		var head *commit
		if b := p.branch(p.defBranch); b != nil {
			head = b.head
		}
		c := &commit{sha: m.sha, parent: parentOf(head), title: title, author: s.userByID(p.creatorID), created: now}
		if s.gitDir != "" {
			if err := s.gitCommits(p, "refs/heads/"+m.source, parentOf(head), "", []*commit{c}); err != nil {
				return Change{}, nil, err
			}
			if _, err := s.git(nil, s.gitRepo(p), "update-ref", fmt.Sprintf("refs/merge-requests/%d/head", m.iid), c.sha); err != nil {
				return Change{}, nil, err
			}
			m.sha = c.sha
			if head != nil && s.ver.hasMergeRef() {
				var b bytes.Buffer
				writeFI(&b, s.mergeRefCommit(p, m, 1, head.sha, c.sha, c.created, readme(p, title, len(p.commits)+1)))
				if _, err := s.fastImport(p, b.Bytes()); err != nil {
					return Change{}, nil, fmt.Errorf("sandbox: project %d: %w", p.id, err)
				}
			}
		}
		p.branches = append(p.branches, &branch{name: m.source, head: c})
		sortBranches(p.branches)
		p.mrs = append(p.mrs, m)
		s.mrs = insertSorted(s.mrs, m, func(m *mergeRequest) (time.Time, int64) { return m.created, m.id })
		s.addEvent(p, &event{action: "opened", targetType: "MergeRequest", targetID: m.id, targetIID: m.iid, title: m.title, authorID: p.creatorID, created: now})
		ds := s.fire(p, "merge_requests_events", "Merge Request Hook", s.mrHook(m, "open", nil))
		return Change{Kind: "merge_request", Action: "open", ID: m.id, IID: m.iid, SHA: m.sha}, ds, nil
	})
}

// UpdateMR changes an open merge request's title (a suffix when title is
// empty) and fires merge request hooks (action "update").
func (s *Sandbox) UpdateMR(projectID, iid int64, title string) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		m := findMR(p, iid)
		if m == nil {
			return Change{}, nil, fmt.Errorf("%w: merge request !%d", ErrNotFound, iid)
		}
		if title == "" {
			title = m.title + " (updated)"
		}
		changes := map[string]any{"title": map[string]any{"previous": m.title, "current": title},
			"updated_at": map[string]any{"previous": hookTime(m.updated), "current": hookTime(now)}}
		m.title, m.updated = title, now
		ds := s.fire(p, "merge_requests_events", "Merge Request Hook", s.mrHook(m, "update", changes))
		return Change{Kind: "merge_request", Action: "update", ID: m.id, IID: m.iid, SHA: m.sha}, ds, nil
	})
}

// MergeMR merges an open merge request: a merge commit lands on the default
// branch, the source branch is deleted, and merge request (action "merge")
// and push hooks fire.
func (s *Sandbox) MergeMR(projectID, iid int64) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		m := findMR(p, iid)
		if m == nil {
			return Change{}, nil, fmt.Errorf("%w: merge request !%d", ErrNotFound, iid)
		}
		if m.state != stateOpened {
			return Change{}, nil, fmt.Errorf("%w: merge request !%d is %s", ErrInvalid, iid, stateNames[m.state])
		}
		changes := map[string]any{"state_id": map[string]any{"previous": 1, "current": 3},
			"updated_at": map[string]any{"previous": hookTime(m.updated), "current": hookTime(now)}}
		m.state, m.merged, m.updated, m.mergeUserID, m.draft = stateMerged, now, now, p.creatorID, false
		m.mergeSHA = fakeSHA(p.sha256, "merge", p.id, m.iid, now.UnixNano())
		mc := &commit{sha: m.mergeSHA, title: fmt.Sprintf("Merge branch '%s' into '%s'", m.source, p.defBranch), author: s.userByID(p.creatorID), created: now}
		if s.gitDir != "" {
			// A real merge commit of the merge request's head into the
			// default branch; the source branch is deleted.
			var head string
			if b := p.branch(p.defBranch); b != nil && b.head != nil {
				head = b.head.sha
			}
			if err := s.gitCommits(p, "refs/heads/"+p.defBranch, head, m.sha, []*commit{mc}); err != nil {
				return Change{}, nil, err
			}
			if p.branch(m.source) != nil {
				if _, err := s.git(nil, s.gitRepo(p), "update-ref", "-d", "refs/heads/"+m.source); err != nil {
					return Change{}, nil, err
				}
			}
			m.mergeSHA = mc.sha
		}
		before := p.pushCommits(s, []*commit{mc})
		for i, b := range p.branches {
			if b.name == m.source {
				p.branches = slices.Delete(p.branches, i, i+1)
				break
			}
		}
		s.addEvent(p, &event{action: "accepted", targetType: "MergeRequest", targetID: m.id, targetIID: m.iid, title: m.title, authorID: p.creatorID, created: now})
		ds := s.fire(p, "merge_requests_events", "Merge Request Hook", s.mrHook(m, "merge", changes))
		ds = append(ds, s.fire(p, "push_events", "Push Hook", s.pushHook(p, p.defBranch, before, p.commits[len(p.commits)-1:]))...)
		return Change{Kind: "merge_request", Action: "merge", ID: m.id, IID: m.iid, SHA: m.mergeSHA}, ds, nil
	})
}

// CloseMR closes an open merge request (hooks: action "close").
func (s *Sandbox) CloseMR(projectID, iid int64) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		m := findMR(p, iid)
		if m == nil {
			return Change{}, nil, fmt.Errorf("%w: merge request !%d", ErrNotFound, iid)
		}
		if m.state != stateOpened {
			return Change{}, nil, fmt.Errorf("%w: merge request !%d is %s", ErrInvalid, iid, stateNames[m.state])
		}
		changes := map[string]any{"state_id": map[string]any{"previous": 1, "current": 2},
			"updated_at": map[string]any{"previous": hookTime(m.updated), "current": hookTime(now)}}
		m.state, m.closed, m.updated = stateClosed, now, now
		s.addEvent(p, &event{action: "closed", targetType: "MergeRequest", targetID: m.id, targetIID: m.iid, title: m.title, authorID: p.creatorID, created: now})
		ds := s.fire(p, "merge_requests_events", "Merge Request Hook", s.mrHook(m, "close", changes))
		return Change{Kind: "merge_request", Action: "close", ID: m.id, IID: m.iid, SHA: m.sha}, ds, nil
	})
}

// OpenIssue opens an issue authored by the project's creator (root in the seeded dataset) (hooks: action "open").
func (s *Sandbox) OpenIssue(projectID int64, title string) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		if title == "" {
			title = "Sandbox issue"
		}
		s.nextIssueID++
		is := &issue{id: s.nextIssueID, iid: p.nextIssIID, p: p, title: title, description: "Opened by the sandbox.", authorID: p.creatorID, created: now, updated: now}
		p.nextIssIID++
		p.issues = append(p.issues, is)
		s.issues = insertSorted(s.issues, is, func(i *issue) (time.Time, int64) { return i.created, i.id })
		s.addEvent(p, &event{action: "opened", targetType: "Issue", targetID: is.id, targetIID: is.iid, title: is.title, authorID: p.creatorID, created: now})
		ds := s.fire(p, "issues_events", "Issue Hook", s.issueHook(is, "open", nil))
		return Change{Kind: "issue", Action: "open", ID: is.id, IID: is.iid}, ds, nil
	})
}

// CloseIssue closes an open issue (hooks: action "close").
func (s *Sandbox) CloseIssue(projectID, iid int64) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		is := findIssue(p, iid)
		if is == nil {
			return Change{}, nil, fmt.Errorf("%w: issue #%d", ErrNotFound, iid)
		}
		if is.state != stateOpened {
			return Change{}, nil, fmt.Errorf("%w: issue #%d is %s", ErrInvalid, iid, stateNames[is.state])
		}
		changes := map[string]any{"state_id": map[string]any{"previous": 1, "current": 2},
			"closed_at":  map[string]any{"previous": nil, "current": hookTime(now)},
			"updated_at": map[string]any{"previous": hookTime(is.updated), "current": hookTime(now)}}
		is.state, is.closed, is.updated = stateClosed, now, now
		s.addEvent(p, &event{action: "closed", targetType: "Issue", targetID: is.id, targetIID: is.iid, title: is.title, authorID: p.creatorID, created: now})
		ds := s.fire(p, "issues_events", "Issue Hook", s.issueHook(is, "close", changes))
		return Change{Kind: "issue", Action: "close", ID: is.id, IID: is.iid}, ds, nil
	})
}

// pushCommits appends commits to the default branch and returns the previous head.
func (p *project) pushCommits(s *Sandbox, cs []*commit) string {
	b := p.branch(p.defBranch)
	before := ""
	if b != nil && b.head != nil {
		before = b.head.sha
	}
	parent := before
	for _, c := range cs {
		c.parent = parent
		parent = c.sha
	}
	p.commits = append(p.commits, cs...)
	if b == nil {
		b = &branch{name: p.defBranch, protected: true}
		p.branches = append(p.branches, b)
		sortBranches(p.branches)
	}
	b.head = cs[len(cs)-1]
	return before
}

// Push pushes n new commits by the project's creator to branch (the default branch when
// empty; a new branch starts from the default branch's head) and fires push
// hooks. Only the default branch's history is listed by the commits API.
func (s *Sandbox) Push(projectID int64, branchName string, n int) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		if n < 1 {
			return Change{}, nil, fmt.Errorf("%w: push needs at least one commit", ErrInvalid)
		}
		if branchName == "" {
			branchName = p.defBranch
		}
		cs := make([]*commit, n)
		for i := range cs {
			cs[i] = &commit{sha: fakeSHA(p.sha256, "push", p.id, branchName, now.UnixNano(), i), title: fmt.Sprintf("Sandbox commit %d", i+1), author: s.userByID(p.creatorID), created: now}
		}
		if s.gitDir != "" {
			// Real commits on the branch's head, or on the default
			// branch's head for a new branch.
			var parent string
			if b := p.branch(branchName); b != nil && b.head != nil {
				parent = b.head.sha
			} else if d := p.branch(p.defBranch); d != nil && d.head != nil {
				parent = d.head.sha
			}
			if err := s.gitCommits(p, "refs/heads/"+branchName, parent, "", cs); err != nil {
				return Change{}, nil, err
			}
		}
		action, before := "pushed to", ""
		if branchName == p.defBranch {
			before = p.pushCommits(s, cs)
		} else {
			b := p.branch(branchName)
			if b == nil {
				action = "pushed new"
				var head *commit
				if d := p.branch(p.defBranch); d != nil {
					head = d.head
				}
				b = &branch{name: branchName, head: head}
				p.branches = append(p.branches, b)
				sortBranches(p.branches)
			}
			if b.head != nil {
				before = b.head.sha
			}
			parent := before
			for _, c := range cs {
				c.parent, parent = parent, c.sha
			}
			b.head = cs[len(cs)-1]
		}
		if action == "pushed new" || before == "" {
			before = zeroSHA(p.sha256)
		}
		last := cs[len(cs)-1]
		s.addEvent(p, &event{action: action, authorID: p.creatorID, created: now,
			push: &pushData{count: n, action: map[string]string{"pushed to": "pushed", "pushed new": "created"}[action], ref: branchName, from: cs[0].parent, to: last.sha, commitTitle: last.title}})
		ds := s.fire(p, "push_events", "Push Hook", s.pushHook(p, branchName, before, cs))
		return Change{Kind: "push", Action: "push", SHA: last.sha}, ds, nil
	})
}

func zeroSHA(sha256Repo bool) string {
	if sha256Repo {
		return "0000000000000000000000000000000000000000000000000000000000000000"
	}
	return "0000000000000000000000000000000000000000"
}

// RunPipeline runs a pipeline on ref (default branch when empty) that ends
// in status ("success" when empty) and fires pipeline hooks. It fails with
// ErrInvalid where CI/CD is disabled.
func (s *Sandbox) RunPipeline(projectID int64, ref, status string) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		if !p.ciEnabled {
			return Change{}, nil, fmt.Errorf("%w: CI/CD is disabled in project %d", ErrInvalid, p.id)
		}
		if ref == "" {
			ref = p.defBranch
		}
		if status == "" {
			status = "success"
		}
		b := p.branch(ref)
		if b == nil {
			return Change{}, nil, fmt.Errorf("%w: branch %q", ErrNotFound, ref)
		}
		sha := zeroSHA(p.sha256)
		if b.head != nil {
			sha = b.head.sha
		}
		s.nextPipelineID++
		pl := &pipeline{id: s.nextPipelineID, iid: p.nextPipeIID, p: p, ref: ref, sha: sha, status: status, source: "push", userID: p.creatorID,
			created: now, updated: now, started: now, finished: now}
		p.nextPipeIID++
		p.pipelines = append(p.pipelines, pl)
		s.pipelines = append(s.pipelines, pl)
		jobs := s.makeJobs(rand.New(rand.NewPCG(uint64(s.cfg.Seed), uint64(pl.id))), pl) // delivery.go
		ds := s.fire(p, "pipeline_events", "Pipeline Hook", s.pipelineHook(pl, b.head))
		ds = append(ds, s.jobDeliveries(p, jobs)...)
		return Change{Kind: "pipeline", Action: status, ID: pl.id, IID: pl.iid, SHA: sha}, ds, nil
	})
}

// generatorLoop creates random activity at perMinute until ctx ends.
func (s *Sandbox) generatorLoop(ctx context.Context, perMinute float64) {
	t := time.NewTicker(time.Duration(float64(time.Minute) / perMinute))
	defer t.Stop()
	r := rand.New(rand.NewPCG(uint64(s.cfg.Seed), 42))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.randomActivity(r)
		}
	}
}

// randomActivity changes a random project of the seeded dataset (the
// gitlab.com profile's public world has its own activity).
func (s *Sandbox) randomActivity(r *rand.Rand) {
	s.mu.RLock()
	n := s.seededProjects
	s.mu.RUnlock()
	if n == 0 {
		return
	}
	pid := int64(r.IntN(n) + 1)
	s.mu.RLock()
	p := s.projects[pid-1]
	var openMR, openIssue int64
	for _, m := range p.mrs {
		if m.state == stateOpened {
			openMR = m.iid
		}
	}
	for _, is := range p.issues {
		if is.state == stateOpened {
			openIssue = is.iid
		}
	}
	s.mu.RUnlock()
	switch r.IntN(9) {
	case 0:
		_, _ = s.OpenMR(pid, "")
	case 1:
		if openMR > 0 {
			_, _ = s.UpdateMR(pid, openMR, "")
		}
	case 2:
		if openMR > 0 {
			_, _ = s.MergeMR(pid, openMR)
		}
	case 3:
		_, _ = s.OpenIssue(pid, "")
	case 4:
		if openIssue > 0 {
			_, _ = s.CloseIssue(pid, openIssue)
		}
	case 5:
		_, _ = s.Push(pid, "", 1+r.IntN(3))
	case 7: // review activity (delivery_hooks.go)
		if openMR > 0 {
			_, _ = s.CommentMR(pid, openMR, "")
		}
	case 8:
		if openMR > 0 {
			_, _ = s.ApproveMR(pid, openMR, []string{"alice", "bob", "carol"}[r.IntN(3)])
		}
	default:
		_, _ = s.RunPipeline(pid, "", "")
	}
}

// CleanupMergeRequestRefs removes a merged or closed merge request's refs
// (refs/merge-requests/<iid>/head and /merge), as GitLab's
// MergeRequests::CleanupRefsService does 14 days after the merge or close;
// the sandbox does it when asked. An open merge request keeps its refs
// (ErrInvalid). Without Config.Git there are no refs and nothing changes.
func (s *Sandbox) CleanupMergeRequestRefs(projectID, iid int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if projectID < 1 || int(projectID) > len(s.projects) || s.projects[projectID-1].deleted {
		return fmt.Errorf("%w: project %d", ErrNotFound, projectID)
	}
	p := s.projects[projectID-1]
	m := findMR(p, iid)
	if m == nil {
		return fmt.Errorf("%w: merge request !%d", ErrNotFound, iid)
	}
	if m.state == stateOpened {
		return fmt.Errorf("%w: merge request !%d is open: GitLab keeps its refs", ErrInvalid, iid)
	}
	if s.gitDir == "" {
		return nil
	}
	for _, kind := range []string{"head", "merge"} {
		if _, err := s.git(nil, s.gitRepo(p), "update-ref", "-d", fmt.Sprintf("refs/merge-requests/%d/%s", iid, kind)); err != nil {
			return fmt.Errorf("sandbox: project %d: %w", p.id, err)
		}
	}
	return nil
}
