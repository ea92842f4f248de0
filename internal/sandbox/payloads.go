package sandbox

import (
	"fmt"
	"time"
)

// Webhook payloads, in the shapes GitLab's Gitlab::DataBuilder produces.

var visibilityLevel = map[string]int{"private": 0, "internal": 10, "public": 20}

func (s *Sandbox) hookProject(p *project) map[string]any {
	web := s.baseURL + "/" + p.fullPath()
	ssh := "git@" + hostOf(s.baseURL) + ":" + p.fullPath() + ".git"
	ns := "Administrator"
	if p.group != nil {
		ns = p.group.name
	}
	out := map[string]any{"id": p.id, "name": p.name, "description": p.description, "web_url": web, "avatar_url": nil,
		"git_ssh_url": ssh, "git_http_url": web + ".git", "namespace": ns, "visibility_level": visibilityLevel[p.vis],
		"path_with_namespace": p.fullPath(), "default_branch": p.defBranch, "homepage": web, "url": ssh, "ssh_url": ssh, "http_url": web + ".git"}
	if s.ver.atLeast(13, 0) {
		out["ci_config_path"] = nil
	}
	return out
}

func (s *Sandbox) hookUser(id int64) map[string]any {
	u := s.userByID(id)
	if u == nil {
		return nil
	}
	b := s.userBasic(u)
	return map[string]any{"id": u.id, "name": u.name, "username": u.username, "avatar_url": b.AvatarURL, "email": "[REDACTED]"}
}

func (s *Sandbox) hookRepository(p *project) map[string]any {
	web := s.baseURL + "/" + p.fullPath()
	return map[string]any{"name": p.name, "url": "git@" + hostOf(s.baseURL) + ":" + p.fullPath() + ".git", "description": p.description, "homepage": web}
}

func (s *Sandbox) hookCommit(p *project, c *commit) map[string]any {
	if c == nil {
		return nil
	}
	return map[string]any{"id": c.sha, "message": c.title + "\n", "title": c.title, "timestamp": c.created.UTC().Format(time.RFC3339),
		"url":    fmt.Sprintf("%s/%s/-/commit/%s", s.baseURL, p.fullPath(), c.sha),
		"author": map[string]any{"name": c.author.name, "email": c.author.email}, "added": []string{}, "modified": []string{"README.md"}, "removed": []string{}}
}

func (s *Sandbox) mrHook(m *mergeRequest, action string, changes map[string]any) map[string]any {
	p := m.p
	stateID := map[uint8]int{stateOpened: 1, stateClosed: 2, stateMerged: 3, stateLocked: 4}[m.state]
	var head *commit
	if b := p.branch(m.source); b != nil {
		head = b.head
	}
	if head == nil {
		head = &commit{sha: m.sha, title: m.title, author: s.users[0], created: m.updated}
	}
	attrs := map[string]any{
		"id": m.id, "iid": m.iid, "target_branch": p.defBranch, "source_branch": m.source, "source_project_id": p.id, "target_project_id": p.id,
		"author_id": m.authorID, "assignee_id": m.assigneeID, "assignee_ids": []int64{m.assigneeID}, "title": m.title,
		"created_at": hookTime(m.created), "updated_at": hookTime(m.updated), "last_edited_at": nil, "last_edited_by_id": nil,
		"milestone_id": nil, "state_id": stateID, "state": stateNames[m.state], "merge_status": "can_be_merged",
		"merge_when_pipeline_succeeds": false, "merge_commit_sha": nil, "merge_user_id": nil, "description": m.description,
		"url":    fmt.Sprintf("%s/%s/-/merge_requests/%d", s.baseURL, p.fullPath(), m.iid),
		"source": s.hookProject(p), "target": s.hookProject(p), "last_commit": s.hookCommit(p, head),
		"work_in_progress": m.draft, "total_time_spent": 0, "time_change": 0, "human_total_time_spent": nil, "human_time_change": nil,
		"human_time_estimate": nil, "time_estimate": 0, "labels": []any{}, "action": action, "head_pipeline_id": nil,
		"blocking_discussions_resolved": true, "first_contribution": false,
	}
	if m.state == stateMerged {
		attrs["merge_commit_sha"], attrs["merge_user_id"], attrs["merge_status"] = m.mergeSHA, m.mergeUserID, "merged"
	}
	if s.ver.atLeast(12, 10) {
		attrs["reviewer_ids"] = []int64{}
	}
	if s.ver.hasDraft() {
		attrs["draft"] = m.draft
	}
	if s.ver.hasDetailedStatus() {
		attrs["detailed_merge_status"] = map[bool]string{true: "mergeable", false: "not_open"}[m.state == stateOpened]
	}
	if changes == nil {
		changes = map[string]any{}
	}
	return map[string]any{"object_kind": "merge_request", "event_type": "merge_request", "user": s.hookUser(1), "project": s.hookProject(p),
		"object_attributes": attrs, "labels": []any{}, "changes": changes, "repository": s.hookRepository(p),
		"assignees": []any{s.hookUser(m.assigneeID)}, "reviewers": []any{}}
}

func (s *Sandbox) issueHook(is *issue, action string, changes map[string]any) map[string]any {
	p := is.p
	stateID := map[uint8]int{stateOpened: 1, stateClosed: 2}[is.state]
	attrs := map[string]any{
		"id": is.id, "iid": is.iid, "title": is.title, "assignee_ids": []int64{}, "assignee_id": nil, "author_id": is.authorID, "project_id": p.id,
		"created_at": hookTime(is.created), "updated_at": hookTime(is.updated), "updated_by_id": 1, "last_edited_at": nil, "last_edited_by_id": nil,
		"relative_position": nil, "description": is.description, "milestone_id": nil, "state_id": stateID, "confidential": false,
		"discussion_locked": nil, "due_date": nil, "moved_to_id": nil, "duplicated_to_id": nil, "time_estimate": 0, "total_time_spent": 0,
		"time_change": 0, "human_total_time_spent": nil, "human_time_estimate": nil, "human_time_change": nil, "weight": nil,
		"url": fmt.Sprintf("%s/%s/-/issues/%d", s.baseURL, p.fullPath(), is.iid), "state": stateNames[is.state], "action": action,
		"labels": []any{}, "closed_at": hookTime(is.closed),
	}
	if s.ver.atLeast(13, 12) {
		attrs["type"] = "Issue"
		attrs["severity"] = "unknown"
	}
	if changes == nil {
		changes = map[string]any{}
	}
	return map[string]any{"object_kind": "issue", "event_type": "issue", "user": s.hookUser(1), "project": s.hookProject(p),
		"object_attributes": attrs, "repository": s.hookRepository(p), "assignees": []any{}, "labels": []any{}, "changes": changes}
}

func (s *Sandbox) pushHook(p *project, ref, before string, cs []*commit) map[string]any {
	commits := make([]any, 0, len(cs))
	for _, c := range cs {
		commits = append(commits, s.hookCommit(p, c))
	}
	after := cs[len(cs)-1].sha
	u := s.userBasic(s.users[0])
	repo := s.hookRepository(p)
	repo["git_http_url"] = s.baseURL + "/" + p.fullPath() + ".git"
	repo["git_ssh_url"] = repo["url"]
	repo["visibility_level"] = visibilityLevel[p.vis]
	out := map[string]any{"object_kind": "push", "event_name": "push", "before": before, "after": after, "ref": "refs/heads/" + ref,
		"checkout_sha": after, "message": nil, "user_id": 1, "user_name": u.Name, "user_username": u.Username, "user_email": "",
		"user_avatar": u.AvatarURL, "project_id": p.id, "project": s.hookProject(p), "commits": commits, "total_commits_count": len(cs),
		"push_options": map[string]any{}, "repository": repo}
	if s.ver.atLeast(15, 11) {
		out["ref_protected"] = ref == p.defBranch
	}
	return out
}

func (s *Sandbox) pipelineHook(pl *pipeline, head *commit) map[string]any {
	p := pl.p
	attrs := map[string]any{"id": pl.id, "ref": pl.ref, "tag": false, "sha": pl.sha, "before_sha": zeroSHA(p.sha256), "source": pl.source,
		"status": pl.status, "detailed_status": map[string]string{"success": "passed"}[pl.status], "stages": []string{"build", "test"},
		"created_at": hookTime(pl.created), "finished_at": hookTime(pl.finished), "duration": int(pl.finished.Sub(pl.started).Seconds()),
		"queued_duration": int(pl.started.Sub(pl.created).Seconds()), "variables": []any{},
		"url": fmt.Sprintf("%s/%s/-/pipelines/%d", s.baseURL, p.fullPath(), pl.id)}
	if attrs["detailed_status"] == "" {
		attrs["detailed_status"] = pl.status
	}
	if s.ver.atLeast(14, 6) {
		attrs["iid"] = pl.iid
	}
	if s.ver.atLeast(16, 0) {
		attrs["name"] = nil
	}
	return map[string]any{"object_kind": "pipeline", "object_attributes": attrs, "merge_request": nil, "user": s.hookUser(pl.userID),
		"project": s.hookProject(p), "commit": s.hookCommit(p, head), "builds": []any{}}
}
