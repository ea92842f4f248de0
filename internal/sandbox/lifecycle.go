package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Project and issue lifecycle: deletion, renames, transfers, archiving,
// membership removal, issue deletion and moves. Each answers afterwards as
// GitLab does; the sources read are named on each method.

// DefaultDeletionDelay is how long a project marked for deletion stays
// before it is gone, when Config.DeletionDelay is 0: seven days, GitLab's
// default deletion_adjourned_period and what doc/user/gitlab_com says of
// GitLab.com.
const DefaultDeletionDelay = 7 * 24 * time.Hour

// delayedDeletion reports whether deleting a project only marks it for
// deletion: always on GitLab.com (Premium and Ultimate since 2023, every
// tier since 18.0) and on self-managed from 18.0, when GitLab made delayed
// deletion the only behaviour; earlier self-managed (the Free tier modelled
// here) deletes at once.
func (s *Sandbox) delayedDeletion() bool { return s.dotcom || s.ver.atLeast(18, 0) }

func (s *Sandbox) deletionDelay() time.Duration {
	if s.cfg.DeletionDelay > 0 {
		return s.cfg.DeletionDelay
	}
	return DefaultDeletionDelay
}

// reap deletes the projects whose deletion delay has passed on the sandbox
// clock. It is cheap while nothing is marked.
func (s *Sandbox) reap() {
	if s.marked.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	for _, p := range s.projects {
		if !p.deleted && !p.markedAt.IsZero() && !now.Before(p.markedAt.Add(s.deletionDelay())) {
			s.removeProjectLocked(p)
		}
	}
}

// removeProjectLocked makes p gone: 404 on every route, left out of every
// listing (canRead refuses it), no more activity or webhooks.
func (s *Sandbox) removeProjectLocked(p *project) {
	if !p.markedAt.IsZero() {
		s.marked.Add(-1)
	}
	p.deleted = true
	if p.group != nil {
		p.group.projects = slices.DeleteFunc(p.group.projects, func(x *project) bool { return x == p })
	}
	for k, v := range s.redirects {
		if v == p {
			delete(s.redirects, k)
		}
	}
}

// lifecycle runs f on a live project under the write lock, then queues the
// deliveries f made. Unlike mutate it does not move last_activity_at: none
// of these changes records an event in GitLab.
func (s *Sandbox) lifecycle(projectID int64, f func(p *project, now time.Time) (Change, []delivery, error)) (Change, error) {
	s.reap()
	s.mu.Lock()
	p := s.liveProject(projectID)
	if p == nil {
		s.mu.Unlock()
		return Change{}, fmt.Errorf("%w: project %d", ErrNotFound, projectID)
	}
	now := s.clock().UTC().Truncate(time.Millisecond)
	ch, ds, err := f(p, now)
	if err == nil {
		ch.ProjectID, ch.UpdatedAt, ch.Hooks = p.id, now, len(ds)
	}
	s.mu.Unlock()
	s.enqueue(ds)
	return ch, err
}

func (s *Sandbox) liveProject(id int64) *project {
	if id < 1 || int(id) > len(s.projects) || s.projects[id-1].deleted {
		return nil
	}
	return s.projects[id-1]
}

// DeleteProject deletes a project as DELETE /projects/:id does. Where
// deletion is delayed (the gitlab.com profile, self-managed from 18.0) the
// project is first marked for deletion, as Projects::MarkForDeletionService
// does: archived, its name and path suffixed with "-deletion_scheduled-<id>"
// (from 18.0 here; GitLab switched behind the feature flag
// rename_group_path_upon_deletion_scheduling, gitlab#526081, so the release
// is approximate; "-deleted-<id>" before), marked_for_deletion_at and
// marked_for_deletion_on set to today; it stays readable and listed until
// Config.DeletionDelay has passed on the sandbox clock, then it is gone.
// Deleting a project already marked deletes it at once, like
// permanently_remove. Elsewhere the project is gone at once: 404 on every
// route, by id and by path, left out of every listing and X-Total.
func (s *Sandbox) DeleteProject(id int64) (Change, error) {
	return s.lifecycle(id, func(p *project, now time.Time) (Change, []delivery, error) {
		if !s.delayedDeletion() || !p.markedAt.IsZero() {
			s.removeProjectLocked(p)
			return Change{Kind: "project", Action: "delete"}, nil, nil
		}
		suffix := "-deleted-"
		if s.ver.atLeast(18, 0) {
			suffix = "-deletion_scheduled-"
		}
		suffix += fmt.Sprint(p.id)
		s.redirects[p.fullPath()] = p
		p.name, p.path = p.name+suffix, p.path+suffix
		p.archived, p.markedAt, p.updated = true, now, now
		s.marked.Add(1)
		return Change{Kind: "project", Action: "mark_for_deletion"}, nil, nil
	})
}

// validPath is GitLab's project path rule in short: letters, digits, '_',
// '-' and '.', not starting with '-' or '.', not ending in ".git".
func validPath(path string) bool {
	if path == "" || strings.HasPrefix(path, "-") || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".git") {
		return false
	}
	for _, r := range path {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// pathTaken reports whether another live project in namespace g (nil: root's
// personal namespace) has path.
func (s *Sandbox) pathTaken(g *group, path string, except *project) bool {
	for _, q := range s.projects {
		if q != except && !q.deleted && q.group == g && strings.EqualFold(q.path, path) {
			return true
		}
	}
	return false
}

// RenameProject changes a project's path and name (either may be empty to
// keep it), as PUT /projects/:id with path and name does. The id stays;
// path_with_namespace, name_with_namespace and the URLs change; the old
// full path keeps answering for the project, as GitLab's redirect routes
// make find_project follow it (lib/api/helpers.rb, follow_redirects: true).
func (s *Sandbox) RenameProject(id int64, newPath, newName string) (Change, error) {
	return s.lifecycle(id, func(p *project, now time.Time) (Change, []delivery, error) {
		if newPath != "" && newPath != p.path {
			if !validPath(newPath) {
				return Change{}, nil, fmt.Errorf("%w: path %q", ErrInvalid, newPath)
			}
			if s.pathTaken(p.group, newPath, p) {
				return Change{}, nil, fmt.Errorf("%w: path %q has already been taken", ErrInvalid, newPath)
			}
			s.redirects[p.fullPath()] = p
			p.path = newPath
			delete(s.redirects, p.fullPath())
		}
		if newName != "" {
			p.name = newName
		}
		p.updated = now
		return Change{Kind: "project", Action: "rename"}, nil, nil
	})
}

// TransferProject moves a project into another group, as PUT
// /projects/:id/transfer does (Projects::TransferService): the id stays, the
// namespace and path_with_namespace change, the old full path keeps
// answering (a redirect route), members of the old group lose the access
// they had through it and members of the new one gain it. A project more
// visible than its new group gets the group's visibility. A path already
// taken in the new group is refused.
func (s *Sandbox) TransferProject(id, newGroupID int64) (Change, error) {
	return s.lifecycle(id, func(p *project, now time.Time) (Change, []delivery, error) {
		if newGroupID < 1 || int(newGroupID) > len(s.groups) {
			return Change{}, nil, fmt.Errorf("%w: group %d", ErrNotFound, newGroupID)
		}
		g := s.groups[newGroupID-1]
		if g == p.group {
			return Change{}, nil, fmt.Errorf("%w: project %d is already in group %d", ErrInvalid, p.id, g.id)
		}
		if s.pathTaken(g, p.path, p) {
			return Change{}, nil, fmt.Errorf("%w: group %s already has a project with path %q", ErrInvalid, g.fullPath, p.path)
		}
		s.redirects[p.fullPath()] = p
		if p.group != nil {
			p.group.projects = slices.DeleteFunc(p.group.projects, func(x *project) bool { return x == p })
		}
		p.group = g
		i, _ := slices.BinarySearchFunc(g.projects, p.id, func(x *project, id int64) int { return int(x.id - id) })
		g.projects = slices.Insert(g.projects, i, p)
		delete(s.redirects, p.fullPath())
		if visRank(p.vis) > visRank(g.vis) {
			p.vis = g.vis
		}
		p.updated = now
		return Change{Kind: "project", Action: "transfer"}, nil, nil
	})
}

func visRank(v string) int {
	switch v {
	case "public":
		return 2
	case "internal":
		return 1
	}
	return 0
}

// ArchiveProject archives or unarchives a project, as POST
// /projects/:id/archive and /unarchive do: archived flips, the project stays
// readable and listed by /projects (archived=false leaves it out), and the
// group and instance-wide merge request and issue listings leave its items
// out by default (non_archived=true).
func (s *Sandbox) ArchiveProject(id int64, archived bool) (Change, error) {
	return s.lifecycle(id, func(p *project, now time.Time) (Change, []delivery, error) {
		p.archived, p.updated = archived, now
		action := "archive"
		if !archived {
			action = "unarchive"
		}
		return Change{Kind: "project", Action: action}, nil, nil
	})
}

// Member targets for RemoveMember.
const (
	MemberOfProject = "project"
	MemberOfGroup   = "group"
)

// RemoveMember removes a user's direct membership of a project or a group
// (kind MemberOfProject or MemberOfGroup), as DELETE /projects/:id/members/
// :user_id and /groups/:id/members/:user_id do. The user keeps what other
// memberships give (a parent group, the project itself); beyond that a
// private project answers them 404 and leaves their listings, while
// internal (self-managed) and public projects stay readable, as GitLab's
// visibility rules allow any signed-in user.
func (s *Sandbox) RemoveMember(kind string, id int64, username string) (Change, error) {
	s.reap()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(username)
	if u == nil || username == "" {
		return Change{}, fmt.Errorf("%w: user %q", ErrNotFound, username)
	}
	now := s.clock().UTC().Truncate(time.Millisecond)
	switch kind {
	case MemberOfProject:
		p := s.liveProject(id)
		if p == nil {
			return Change{}, fmt.Errorf("%w: project %d", ErrNotFound, id)
		}
		if p.members[u.id] == 0 {
			return Change{}, fmt.Errorf("%w: %s is no direct member of project %d", ErrNotFound, username, id)
		}
		delete(p.members, u.id)
		return Change{Kind: "member", Action: "remove", ProjectID: p.id, ID: u.id, UpdatedAt: now}, nil
	case MemberOfGroup:
		if id < 1 || int(id) > len(s.groups) {
			return Change{}, fmt.Errorf("%w: group %d", ErrNotFound, id)
		}
		g := s.groups[id-1]
		if g.members[u.id] == 0 {
			return Change{}, fmt.Errorf("%w: %s is no direct member of group %d", ErrNotFound, username, id)
		}
		delete(g.members, u.id)
		return Change{Kind: "member", Action: "remove", ID: u.id, UpdatedAt: now}, nil
	}
	return Change{}, fmt.Errorf("%w: member of %q (project or group)", ErrInvalid, kind)
}

// DeleteIssue deletes an issue, as DELETE /projects/:id/issues/:issue_iid
// does for an administrator or the project's owner: the issue answers 404
// afterwards and leaves every listing and X-Total. GitLab fires no issue
// hook for a deletion, and neither does the sandbox.
func (s *Sandbox) DeleteIssue(projectID, iid int64) (Change, error) {
	return s.lifecycle(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		is := findIssue(p, iid)
		if is == nil {
			return Change{}, nil, fmt.Errorf("%w: issue #%d", ErrNotFound, iid)
		}
		p.issues = slices.DeleteFunc(p.issues, func(x *issue) bool { return x == is })
		s.issues = slices.DeleteFunc(s.issues, func(x *issue) bool { return x == is })
		p.events = slices.DeleteFunc(p.events, func(e *event) bool { return e.targetType == "Issue" && e.targetID == is.id })
		return Change{Kind: "issue", Action: "delete", ID: is.id, IID: is.iid}, nil, nil
	})
}

// MoveIssue moves an issue to another project, as POST
// /projects/:id/issues/:issue_iid/move does (Issues::MoveService): a new
// issue with a new id and the target's next iid, copied from the old one's
// attributes (title, description, author, assignee, labels, state and
// created_at: MoveService merges the original's serializable_hash into the
// new issue's params); its updated_at is the move's time (the sandbox's
// choice, so updated_after polls see it); the old issue is closed and its
// moved_to_id names the new one. Issue hooks fire in both
// projects: "close" for the old issue, "open" for the new. Merge requests
// cannot be moved in GitLab.
func (s *Sandbox) MoveIssue(projectID, iid, toProjectID int64) (Change, error) {
	s.reap()
	s.mu.Lock()
	p, to := s.liveProject(projectID), s.liveProject(toProjectID)
	var ch Change
	var ds []delivery
	err := func() error {
		if p == nil || to == nil {
			return fmt.Errorf("%w: project %d or %d", ErrNotFound, projectID, toProjectID)
		}
		if p == to {
			return fmt.Errorf("%w: cannot move an issue to the project it is in", ErrInvalid)
		}
		old := findIssue(p, iid)
		if old == nil {
			return fmt.Errorf("%w: issue #%d", ErrNotFound, iid)
		}
		if old.movedTo != 0 {
			return fmt.Errorf("%w: issue #%d was already moved", ErrInvalid, iid)
		}
		now := s.clock().UTC().Truncate(time.Millisecond)
		s.nextIssueID++
		is := &issue{id: s.nextIssueID, iid: to.nextIssIID, p: to, title: old.title, description: old.description, authorID: old.authorID,
			assigneeID: old.assigneeID, labels: slices.Clone(old.labels), state: old.state, closed: old.closed, created: old.created, updated: now}
		to.nextIssIID++
		to.issues = append(to.issues, is)
		s.issues = insertSorted(s.issues, is, func(i *issue) (time.Time, int64) { return i.created, i.id })
		s.addEvent(to, &event{action: "opened", targetType: "Issue", targetID: is.id, targetIID: is.iid, title: is.title, authorID: to.creatorID, created: now})
		ds = s.fire(to, "issues_events", "Issue Hook", s.issueHook(is, "open", nil))
		changes := map[string]any{"updated_at": map[string]any{"previous": hookTime(old.updated), "current": hookTime(now)}}
		if old.state == stateOpened {
			changes["state_id"] = map[string]any{"previous": 1, "current": 2}
			changes["closed_at"] = map[string]any{"previous": nil, "current": hookTime(now)}
			old.state, old.closed = stateClosed, now
			s.addEvent(p, &event{action: "closed", targetType: "Issue", targetID: old.id, targetIID: old.iid, title: old.title, authorID: p.creatorID, created: now})
		}
		old.movedTo, old.updated = is.id, now
		ds = append(ds, s.fire(p, "issues_events", "Issue Hook", s.issueHook(old, "close", changes))...)
		for _, x := range []*project{p, to} {
			if iv := s.cfg.LastActivityInterval; iv <= 0 || !x.lastAct.After(now.Add(-iv)) {
				x.lastAct, x.updated = now, now
			}
		}
		ch = Change{Kind: "issue", Action: "move", ProjectID: to.id, ID: is.id, IID: is.iid, UpdatedAt: now, Hooks: len(ds)}
		return nil
	}()
	s.mu.Unlock()
	s.enqueue(ds)
	return ch, err
}
