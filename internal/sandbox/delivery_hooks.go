package sandbox

import (
	"fmt"
	"strings"
	"time"
)

// Webhooks of the review and delivery data, in the shapes GitLab's
// Gitlab::DataBuilder classes produce and webhook_events.md shows:
//
//   - Note Hook (object_kind note): object_attributes are the note's
//     columns (note, noteable_type, discussion_id, type, position,
//     resolved_at, …, times as "2015-05-17 17:06:40 UTC"), "action"
//     (create) from 16.11 (webhook_events.md), and the merge request under
//     merge_request.
//   - Job Hook (object_kind build, Gitlab::DataBuilder::Build): build_*
//     fields, times in ISO 8601 with milliseconds, the pipeline under commit
//     (its id is the pipeline's), runner; retries_count from 15.6 on
//     GitLab.com and from 16.2 on self-managed (webhook_events.md: behind
//     job_webhook_retries_count until then), commit.name from 15.8,
//     build_queued_duration from 13.12 (gitlab!59901, hasQueuedDuration).
//     environment is {name, action} only, never a deployment_tier: every
//     copy of lib/gitlab/data_builder/build.rb read (15.0-era, 15.8–16.1,
//     16.3+) builds it from the name and the action (the tier is in the
//     Pipeline Hook's builds, Gitlab::DataBuilder::Pipeline); it is sent
//     from 13.0 (an estimate: an older, undated copy has no environment
//     key, the 15.0-era one has it). project (Project#hook_attrs without
//     the backward-compatible homepage/url/ssh_url/http_url) from 16.3 (an
//     estimate of the release: the 15.0-era and 15.8–16.1 copies have no
//     project, gitlab!128502 "Add project attributes and source_project
//     attributes to build hooks" added it in August 2023). The *_iso times
//     from 17.0 (an estimate: the 16.3+ copy with project still has none).
//   - Deployment Hook (object_kind deployment, 13.5+ here, an estimate):
//     status, deployable, environment, short_sha, commit_url and
//     commit_title (the first lib/gitlab/data_builder/deployment.rb, with
//     status, deployable_id/url, environment, project, short_sha, user and
//     commit_url, had no user_url or commit_title; when they came was not
//     found); status_changed_at ("2021-04-28 21:50:00 +0000") from 13.12
//     (gitlab!60518 "Add event timestamp to deployments webhooks", opened
//     at the end of April 2021, after gitlab!59771 of milestone 13.12; not
//     older than 13.12, 13.12 itself not confirmed), deployment_id from 14.3
//     (an estimate: gitlab!67577 for gitlab#332819, August 2021, whose
//     release was not found), environment_slug and environment_external_url
//     from 15.7 (gitlab!105021), environment_tier from 16.1 (an estimate:
//     gitlab!120151 for gitlab#410399, May 2023, was opened after
//     gitlab!119589, which shipped in 16.0; 16.0 or 16.1, not 15.11).
//   - Release Hook (object_kind release, 12.4+ here, an estimate): id, tag,
//     name, description, created_at and released_at as "2020-11-02 12:55:12
//     UTC", url, action (create), assets and commit.
//   - Tag Push Hook (object_kind tag_push): a push payload for
//     refs/tags/<name> with no commits; ref_protected from 15.11 as on
//     pushes.

// hookBuilds is a pipeline event's builds (its latest jobs, as
// Gitlab::DataBuilder::Pipeline lists them) and their stages in order.
func (s *Sandbox) hookBuilds(pl *pipeline) ([]any, []string) {
	if pl.p.rd == nil {
		return nil, nil
	}
	var builds []any
	var stages []string
	for _, j := range pl.p.rd.jobs {
		if j.pl != pl || j.retried {
			continue
		}
		if len(stages) == 0 || stages[len(stages)-1] != j.stage {
			stages = append(stages, j.stage)
		}
		b := map[string]any{"id": j.id, "stage": j.stage, "name": j.name, "status": j.status,
			"created_at": hookTime(j.created), "started_at": hookTime(j.started), "finished_at": hookTime(j.finished),
			"duration": nil, "queued_duration": nil, "failure_reason": nil, "when": "on_success", "manual": false,
			"allow_failure": j.allowFailure, "user": s.hookUser(pl.userID), "runner": s.hookRunner(j.runner),
			"artifacts_file": map[string]any{"filename": nil, "size": nil}, "environment": nil}
		if !j.started.IsZero() && !j.finished.IsZero() {
			b["duration"] = j.finished.Sub(j.started).Seconds()
		}
		if !j.started.IsZero() {
			b["queued_duration"] = j.started.Sub(j.created).Seconds()
		}
		if j.failure != "" {
			b["failure_reason"] = j.failure
		}
		if j.env != nil {
			env := map[string]any{"name": j.env.name, "action": "start"}
			if s.ver.hasEnvTier() {
				env["deployment_tier"] = j.env.tier
			}
			b["environment"] = env
		}
		builds = append(builds, b)
	}
	return builds, stages
}

// hookRunner is a runner as webhook payloads show it.
func (s *Sandbox) hookRunner(ri *runnerInfo) any {
	if ri == nil {
		return nil
	}
	typ := "project_type"
	if ri.shared {
		typ = "instance_type"
	}
	return map[string]any{"id": ri.id, "description": ri.description, "active": true, "is_shared": ri.shared, "runner_type": typ, "tags": []string{}}
}

func (v version) hasDeploymentHook() bool { return v.atLeast(13, 5) }
func (v version) hasReleaseHook() bool    { return v.atLeast(12, 4) }

// hookISOms is an ISO 8601 time with milliseconds, as job payloads carry them.
func hookISOms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (s *Sandbox) noteHook(n *note) map[string]any {
	m := n.mr
	p := m.p
	attrs := map[string]any{"id": n.id, "note": n.note(), "noteable_type": "MergeRequest", "author_id": n.authorID,
		"created_at": hookTime(n.created), "updated_at": hookTime(n.updated), "project_id": p.id, "attachment": nil,
		"line_code": nil, "commit_id": "", "noteable_id": m.id, "system": n.system, "st_diff": nil, "updated_by_id": nil,
		"type": nil, "position": nil, "original_position": nil, "resolved_at": hookTime(n.resolvedAt), "resolved_by_id": nil,
		"resolved_by_push": nil, "discussion_id": n.discussion, "change_position": nil, "description": n.body,
		"url": noteURL(s, n)}
	if n.noteType != "" {
		attrs["type"] = n.noteType
	}
	if n.resolved {
		attrs["resolved_by_id"] = n.resolvedBy
	}
	if s.ver.atLeast(13, 0) {
		attrs["confidential"] = false
	}
	if s.ver.atLeast(15, 0) {
		attrs["internal"] = false
	}
	if s.ver.atLeast(16, 11) {
		attrs["action"] = "create"
	}
	mrAttrs := s.mrHook(m, "", nil)["object_attributes"].(map[string]any)
	delete(mrAttrs, "action")
	return map[string]any{"object_kind": "note", "event_type": "note", "user": s.hookUser(n.authorID), "project_id": p.id,
		"project": s.hookProject(p), "object_attributes": attrs, "repository": s.hookRepository(p), "merge_request": mrAttrs}
}

func (n *note) note() string { return n.body }

func (s *Sandbox) jobHook(j *job) map[string]any {
	pl := j.pl
	p := pl.p
	c := pipelineCommit(s, pl)
	var duration, queued any
	if !j.started.IsZero() && !j.finished.IsZero() {
		duration = j.finished.Sub(j.started).Seconds()
	}
	if !j.started.IsZero() {
		queued = j.started.Sub(j.created).Seconds()
	}
	var failure any
	if j.failure != "" {
		failure = j.failure
	}
	repo := s.hookRepository(p)
	repo["git_http_url"] = s.baseURL + "/" + p.fullPath() + ".git"
	repo["git_ssh_url"] = "git@" + hostOf(s.baseURL) + ":" + p.fullPath() + ".git"
	repo["visibility_level"] = visibilityLevel[p.vis]
	commit := map[string]any{"id": pl.id, "sha": pl.sha, "message": c.title + "\n", "author_name": c.author.name,
		"author_email": c.author.email, "author_url": s.baseURL + "/" + c.author.username, "status": pl.status,
		"duration": nil, "started_at": hookTime(pl.started), "finished_at": hookTime(pl.finished)}
	if !pl.started.IsZero() && !pl.finished.IsZero() {
		commit["duration"] = int64(pl.finished.Sub(pl.started) / time.Second)
	}
	if s.ver.atLeast(15, 8) {
		commit["name"] = nil
	}
	out := map[string]any{"object_kind": "build", "ref": pl.ref, "tag": false, "before_sha": zeroSHA(p.sha256), "sha": pl.sha,
		"build_id": j.id, "build_name": j.name, "build_stage": j.stage, "build_status": j.status,
		"build_created_at": hookISOms(j.created), "build_started_at": hookISOms(j.started), "build_finished_at": hookISOms(j.finished),
		"build_duration": duration, "build_allow_failure": j.allowFailure, "build_failure_reason": failure,
		"pipeline_id": pl.id, "runner": s.hookRunner(j.runner), "project_id": p.id, "project_name": p.fullName(),
		"user": s.hookUser(pl.userID), "commit": commit, "repository": repo}
	if s.ver.hasQueuedDuration() {
		out["build_queued_duration"] = queued
	}
	if (s.dotcom && s.ver.atLeast(15, 6)) || s.ver.atLeast(16, 2) {
		n := 0
		for _, x := range p.view().jobs {
			if x.pl == pl && x.name == j.name && x.id < j.id {
				n++
			}
		}
		out["retries_count"] = n
	}
	if s.ver.atLeast(17, 0) {
		iso := func(t time.Time) any {
			if t.IsZero() {
				return nil
			}
			return t.UTC().Format(time.RFC3339)
		}
		out["build_created_at_iso"], out["build_started_at_iso"], out["build_finished_at_iso"] = iso(j.created), iso(j.started), iso(j.finished)
		commit["started_at_iso"], commit["finished_at_iso"] = iso(pl.started), iso(pl.finished)
	}
	if s.ver.atLeast(16, 3) {
		proj := s.hookProject(p)
		for _, k := range []string{"homepage", "url", "ssh_url", "http_url"} {
			delete(proj, k)
		}
		out["project"] = proj
	}
	if s.ver.atLeast(13, 0) {
		var env any
		if j.env != nil {
			env = map[string]any{"name": j.env.name, "action": "start"}
		}
		out["environment"] = env
	}
	return out
}

func (s *Sandbox) deploymentHook(d *deployment) map[string]any {
	p := d.p
	c := pipelineCommit(s, d.job.pl)
	u := s.userByID(d.userID)
	out := map[string]any{"object_kind": "deployment", "status": d.status, "deployable_id": d.job.id,
		"deployable_url": fmt.Sprintf("%s/%s/-/jobs/%d", s.baseURL, p.fullPath(), d.job.id), "environment": d.env.name,
		"project": s.hookProject(p), "short_sha": c.sha[:8], "user": s.hookUser(d.userID), "user_url": s.baseURL + "/" + u.username,
		"commit_url": fmt.Sprintf("%s/%s/-/commit/%s", s.baseURL, p.fullPath(), c.sha), "commit_title": c.title}
	if s.ver.atLeast(13, 12) {
		out["status_changed_at"] = d.updated.UTC().Format("2006-01-02 15:04:05 -0700")
	}
	if s.ver.atLeast(14, 3) {
		out["deployment_id"] = d.id
	}
	if s.ver.atLeast(15, 7) {
		out["environment_slug"], out["environment_external_url"] = d.env.name, d.env.externalURL
	}
	if s.ver.atLeast(16, 1) {
		out["environment_tier"] = d.env.tier
	}
	return out
}

func (s *Sandbox) releaseHook(r *release, action string) map[string]any {
	p := r.tag.p
	rel := s.renderRelease(r)
	c := r.tag.c
	return map[string]any{"id": r.id, "created_at": hookTime(r.created), "description": r.desc, "name": r.name,
		"released_at": hookTime(r.released), "tag": r.tag.name, "object_kind": "release", "project": s.hookProject(p),
		"url": fmt.Sprintf("%s/%s/-/releases/%s", s.baseURL, p.fullPath(), r.tag.name), "action": action,
		"assets": rel["assets"], "commit": s.hookCommit(p, c, false)}
}

func (s *Sandbox) tagPushHook(t *tag, userID int64) map[string]any {
	p := t.p
	u := s.userBasic(s.userByID(userID))
	repo := s.hookRepository(p)
	repo["git_http_url"] = s.baseURL + "/" + p.fullPath() + ".git"
	repo["git_ssh_url"] = repo["url"]
	repo["visibility_level"] = visibilityLevel[p.vis]
	var msg any
	if t.message != "" {
		msg = t.message
	}
	out := map[string]any{"object_kind": "tag_push", "event_name": "tag_push", "before": zeroSHA(p.sha256), "after": t.c.sha,
		"ref": "refs/tags/" + t.name, "checkout_sha": t.c.sha, "message": msg, "user_id": u.ID, "user_name": u.Name,
		"user_username": u.Username, "user_email": "", "user_avatar": u.AvatarURL, "project_id": p.id, "project": s.hookProject(p),
		"commits": []any{}, "total_commits_count": 0, "push_options": map[string]any{}, "repository": repo}
	if s.ver.atLeast(15, 11) {
		out["ref_protected"] = false
	}
	return out
}

// jobDeliveries fires the Job Hooks of new jobs and the Deployment Hooks of
// their deployments. Call with s.mu held.
func (s *Sandbox) jobDeliveries(p *project, jobs []*job) []delivery {
	var out []delivery
	for _, j := range jobs {
		out = append(out, s.fire(p, "job_events", "Job Hook", s.jobHook(j))...)
		if j.deploy != nil && s.ver.hasDeploymentHook() {
			out = append(out, s.fire(p, "deployment_events", "Deployment Hook", s.deploymentHook(j.deploy))...)
		}
	}
	return out
}

// --- activity -------------------------------------------------------------

// CommentMR comments on a merge request as the project's creator: a note,
// a "commented on" event and Note Hooks.
func (s *Sandbox) CommentMR(projectID, iid int64, body string) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		m := findMR(p, iid)
		if m == nil {
			return Change{}, nil, fmt.Errorf("%w: merge request !%d", ErrNotFound, iid)
		}
		if strings.TrimSpace(body) == "" {
			body = "Sandbox comment"
		}
		n := &note{mr: m, discussion: discussionID("comment", p.id, m.iid, now.UnixNano()), individual: true, authorID: p.creatorID, body: body, created: now}
		s.addNote(p, n)
		e := s.noteEvent(p, n)
		p.events = p.events[:len(p.events)-1]
		s.addEvent(p, e)
		m.updated = now
		ds := s.fire(p, "note_events", "Note Hook", s.noteHook(n))
		return Change{Kind: "note", Action: "create", ID: n.id, IID: m.iid}, ds, nil
	})
}

// ApproveMR approves an open merge request as user (a username; alice when
// empty), where the version or tier has approvals (ErrInvalid elsewhere):
// the approval, a system note, an "approved" event (13.4+) and Merge
// Request Hooks with action "approved".
func (s *Sandbox) ApproveMR(projectID, iid int64, username string) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		m := findMR(p, iid)
		if m == nil {
			return Change{}, nil, fmt.Errorf("%w: merge request !%d", ErrNotFound, iid)
		}
		if !s.approvalsExist() {
			return Change{}, nil, fmt.Errorf("%w: GitLab %s (Community Edition) has no merge request approvals", ErrInvalid, s.cfg.Version)
		}
		u := s.userByName(username)
		if username == "" {
			u = s.userByName("alice")
		}
		if u == nil {
			return Change{}, nil, fmt.Errorf("%w: user %q", ErrNotFound, username)
		}
		if m.state != stateOpened || u.id == m.authorID {
			return Change{}, nil, fmt.Errorf("%w: %s cannot approve merge request !%d", ErrInvalid, u.username, iid)
		}
		d := p.data()
		for _, a := range d.approvals {
			if a.mr == m && a.userID == u.id {
				return Change{}, nil, fmt.Errorf("%w: %s already approved merge request !%d", ErrInvalid, u.username, iid)
			}
		}
		a := &approval{mr: m, userID: u.id, at: now}
		d.approvals = append(d.approvals, a)
		s.addNote(p, &note{mr: m, discussion: discussionID("approved", p.id, m.iid, now.UnixNano()), individual: true, authorID: u.id,
			body: "approved this merge request", system: true, created: now})
		if s.ver.hasApprovedEvent() {
			e := s.approvalEvent(p, a)
			p.events = p.events[:len(p.events)-1]
			s.addEvent(p, e)
		}
		m.updated = now
		payload := s.mrHook(m, "approved", nil)
		payload["user"] = s.hookUser(u.id)
		ds := s.fire(p, "merge_requests_events", "Merge Request Hook", payload)
		return Change{Kind: "approval", Action: "approved", ID: m.id, IID: m.iid}, ds, nil
	})
}

// CreateRelease tags the default branch's head as tagName and releases it
// (11.7+; before, only the tag): Tag Push Hooks and Release Hooks.
func (s *Sandbox) CreateRelease(projectID int64, tagName string) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		b := p.branch(p.defBranch)
		if b == nil || b.head == nil {
			return Change{}, nil, fmt.Errorf("%w: project %d has no commits to tag", ErrInvalid, p.id)
		}
		d := p.data()
		if tagName == "" {
			tagName = fmt.Sprintf("v2.%d.0", len(d.tags)+1)
		}
		for _, t := range d.tags {
			if t.name == tagName {
				return Change{}, nil, fmt.Errorf("%w: tag %s exists", ErrInvalid, tagName)
			}
		}
		if strings.ContainsAny(tagName, " ~^:?*[\\") || strings.Contains(tagName, "..") {
			return Change{}, nil, fmt.Errorf("%w: %q is not a valid tag name", ErrInvalid, tagName)
		}
		t, r := s.addTagRelease(p, b.head, tagName, now, p.creatorID, true)
		if s.gitDir != "" {
			if err := s.ensureRepo(p); err != nil {
				return Change{}, nil, err
			}
			if lines := gitTagLines(p, []*tag{t}); len(lines) > 0 {
				if _, err := s.git(lines, s.gitRepo(p), "update-ref", "--stdin"); err != nil {
					return Change{}, nil, err
				}
			}
		}
		ds := s.fire(p, "tag_push_events", "Tag Push Hook", s.tagPushHook(t, p.creatorID))
		if r != nil && s.ver.hasReleaseHook() {
			ds = append(ds, s.fire(p, "releases_events", "Release Hook", s.releaseHook(r, "create"))...)
		}
		return Change{Kind: "release", Action: "create", SHA: t.c.sha}, ds, nil
	})
}

// OpenIncident opens an issue of type incident (labelled "incident" before
// the type existed) with Issue Hooks; CloseIssue closes it.
func (s *Sandbox) OpenIncident(projectID int64, title string) (Change, error) {
	return s.mutate(projectID, func(p *project, now time.Time) (Change, []delivery, error) {
		if title == "" {
			title = "Sandbox incident"
		}
		s.nextIssueID++
		is := &issue{id: s.nextIssueID, iid: p.nextIssIID, p: p, title: title, description: "Opened by the sandbox.", authorID: p.creatorID,
			created: now, updated: now, incident: true}
		p.nextIssIID++
		p.issues = append(p.issues, is)
		s.issues = insertSorted(s.issues, is, func(i *issue) (time.Time, int64) { return i.created, i.id })
		s.addEvent(p, &event{action: "opened", targetType: "Issue", targetID: is.id, targetIID: is.iid, title: is.title, authorID: p.creatorID, created: now})
		ds := s.fire(p, "issues_events", "Issue Hook", s.issueHook(is, "open", nil))
		return Change{Kind: "issue", Action: "open", ID: is.id, IID: is.iid}, ds, nil
	})
}

// deliveryTestPayload is the sample a hook test (POST
// /projects/:id/hooks/:hook_id/test/:trigger) sends for the triggers of the
// review and delivery data: the project's latest tag, note, job or release.
// ok is false when the project has none (the caller answers 422).
func (s *Sandbox) deliveryTestPayload(p *project, trigger string) (event string, payload any, ok bool) {
	d := p.view()
	switch trigger {
	case "tag_push_events":
		if n := len(d.tags); n > 0 {
			return "Tag Push Hook", s.tagPushHook(d.tags[n-1], p.creatorID), true
		}
	case "note_events":
		if n := len(d.notes); n > 0 {
			return "Note Hook", s.noteHook(d.notes[n-1]), true
		}
	case "job_events":
		if n := len(d.jobs); n > 0 {
			return "Job Hook", s.jobHook(d.jobs[n-1]), true
		}
	case "releases_events":
		if n := len(d.releases); n > 0 {
			return "Release Hook", s.releaseHook(d.releases[n-1], "create"), true
		}
	}
	return "", nil, false
}
