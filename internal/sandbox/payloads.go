package sandbox

import (
	"fmt"
	"time"
)

// Webhook payloads, in the shapes GitLab's Gitlab::DataBuilder produces and
// doc/user/project/integrations/webhook_events.md shows, field sets and time
// formats included: merge request and issue object_attributes carry ISO 8601
// times ("2013-12-03T17:23:34Z"), their changes and pipeline attributes the
// "2016-08-12 15:23:28 UTC" form, commits RFC 3339 timestamps.

// hookISOTime is the ISO 8601 form of merge request and issue attributes.
func hookISOTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// hookUserShort is a user as the assignees and reviewers lists show one.
func (s *Sandbox) hookUserShort(id int64, withID bool) map[string]any {
	u := s.userByID(id)
	if u == nil {
		return nil
	}
	out := map[string]any{"name": u.name, "username": u.username, "avatar_url": s.userBasic(u).AvatarURL}
	if withID {
		out["id"] = u.id
	}
	return out
}

// labelColors gives each pooled label a stable colour.
var labelColors = []string{"#d9534f", "#428bca", "#5cb85c", "#f0ad4e", "#7f8c8d", "#8e44ad", "#34495e", "#ff69b4"}

// hookLabels renders label names as the label objects hooks carry.
func (s *Sandbox) hookLabels(p *project, names []string) []any {
	out := make([]any, 0, len(names))
	for _, n := range names {
		i := len(labelPool) // "incident" (delivery.go) is not pooled
		for j, l := range labelPool {
			if l == n {
				i = j
			}
		}
		out = append(out, map[string]any{"id": p.id*100 + int64(i) + 1, "title": n, "color": labelColors[i%len(labelColors)],
			"project_id": p.id, "created_at": hookISOTime(p.created), "updated_at": hookISOTime(p.created), "template": false,
			"description": nil, "type": "ProjectLabel", "group_id": nil})
	}
	return out
}

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

// hookCommit is Commit#hook_attrs: with the changed files for push events,
// without them for a merge request's last_commit and a pipeline's commit.
func (s *Sandbox) hookCommit(p *project, c *commit, withFiles bool) map[string]any {
	if c == nil {
		return nil
	}
	out := map[string]any{"id": c.sha, "message": c.title + "\n", "title": c.title, "timestamp": c.created.UTC().Format(time.RFC3339),
		"url":    fmt.Sprintf("%s/%s/-/commit/%s", s.baseURL, p.fullPath(), c.sha),
		"author": map[string]any{"name": c.author.name, "email": c.author.email}}
	if withFiles {
		out["added"], out["modified"], out["removed"] = []string{}, []string{"README.md"}, []string{}
	}
	return out
}

func (s *Sandbox) mrHook(m *mergeRequest, action string, changes map[string]any) map[string]any {
	p := m.p
	stateID := map[uint8]int{stateOpened: 1, stateClosed: 2, stateMerged: 3, stateLocked: 4}[m.state]
	var head *commit
	if b := p.branch(m.source); b != nil {
		head = b.head
	}
	if head == nil {
		head = &commit{sha: m.sha, title: m.title, author: s.userByID(m.authorID), created: m.updated}
	}
	labels := s.hookLabels(p, m.labels)
	attrs := map[string]any{
		"id": m.id, "iid": m.iid, "target_branch": p.defBranch, "source_branch": m.source, "source_project_id": p.id, "target_project_id": p.id,
		"author_id": m.authorID, "assignee_id": m.assigneeID, "assignee_ids": []int64{m.assigneeID}, "title": m.title,
		"created_at": hookISOTime(m.created), "updated_at": hookISOTime(m.updated), "last_edited_at": nil, "last_edited_by_id": nil,
		"milestone_id": nil, "state_id": stateID, "state": stateNames[m.state], "merge_status": "can_be_merged",
		"merge_when_pipeline_succeeds": false, "merge_commit_sha": nil, "merge_user_id": nil, "description": m.description,
		"url":    fmt.Sprintf("%s/%s/-/merge_requests/%d", s.baseURL, p.fullPath(), m.iid),
		"source": s.hookProject(p), "target": s.hookProject(p), "last_commit": s.hookCommit(p, head, false),
		"work_in_progress": m.draft, "total_time_spent": 0, "time_change": 0, "human_total_time_spent": nil, "human_time_change": nil,
		"human_time_estimate": nil, "time_estimate": 0, "labels": labels, "action": action, "head_pipeline_id": nil,
		"blocking_discussions_resolved": true, "first_contribution": false,
	}
	if m.state == stateMerged {
		attrs["merge_commit_sha"], attrs["merge_user_id"], attrs["merge_status"] = m.mergeSHA, m.mergeUserID, "merged"
	}
	for i := len(p.pipelines) - 1; i >= 0; i-- {
		if p.pipelines[i].sha == m.sha {
			attrs["head_pipeline_id"] = p.pipelines[i].id
			break
		}
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
	if s.ver.atLeast(16, 1) { // prepared_at: when GitLab finished preparing the diff
		attrs["prepared_at"] = hookISOTime(m.created)
	}
	if changes == nil {
		changes = map[string]any{}
	}
	// assignees (and reviewers, which sandbox MRs never have) appear only
	// when there are some (Gitlab::DataBuilder::Issuable).
	out := map[string]any{"object_kind": "merge_request", "event_type": "merge_request", "user": s.hookUser(p.creatorID), "project": s.hookProject(p),
		"object_attributes": attrs, "labels": labels, "changes": changes, "repository": s.hookRepository(p)}
	if a := s.hookUserShort(m.assigneeID, true); a != nil {
		out["assignees"] = []any{a}
	}
	return out
}

func (s *Sandbox) issueHook(is *issue, action string, changes map[string]any) map[string]any {
	p := is.p
	stateID := map[uint8]int{stateOpened: 1, stateClosed: 2}[is.state]
	labels := s.hookLabels(p, s.issueLabels(is))
	var assigneeIDs []int64
	var assigneeID any
	if is.assigneeID != 0 {
		assigneeIDs, assigneeID = []int64{is.assigneeID}, is.assigneeID
	} else {
		assigneeIDs = []int64{}
	}
	attrs := map[string]any{
		"id": is.id, "iid": is.iid, "title": is.title, "assignee_ids": assigneeIDs, "assignee_id": assigneeID, "author_id": is.authorID, "project_id": p.id,
		"created_at": hookISOTime(is.created), "updated_at": hookISOTime(is.updated), "updated_by_id": p.creatorID, "last_edited_at": nil, "last_edited_by_id": nil,
		"relative_position": nil, "description": is.description, "milestone_id": nil, "state_id": stateID, "confidential": false,
		"discussion_locked": nil, "due_date": nil, "moved_to_id": nil, "duplicated_to_id": nil, "time_estimate": 0, "total_time_spent": 0,
		"time_change": 0, "human_total_time_spent": nil, "human_time_estimate": nil, "human_time_change": nil, "weight": nil,
		"url": fmt.Sprintf("%s/%s/-/issues/%d", s.baseURL, p.fullPath(), is.iid), "state": stateNames[is.state], "action": action,
		"labels": labels, "closed_at": hookISOTime(is.closed),
	}
	if s.ver.atLeast(13, 12) {
		attrs["type"] = map[bool]string{false: "Issue", true: "Incident"}[is.incident]
		attrs["severity"] = "unknown"
	}
	if changes == nil {
		changes = map[string]any{}
	}
	// assignees and assignee appear only when the issue has one
	// (Gitlab::DataBuilder::Issuable).
	out := map[string]any{"object_kind": "issue", "event_type": "issue", "user": s.hookUser(p.creatorID), "project": s.hookProject(p),
		"object_attributes": attrs, "repository": s.hookRepository(p), "labels": labels, "changes": changes}
	if a := s.hookUserShort(is.assigneeID, false); a != nil {
		out["assignees"], out["assignee"] = []any{a}, a
	}
	return out
}

func (s *Sandbox) pushHook(p *project, ref, before string, cs []*commit) map[string]any {
	// Only the newest 20 commits are described; total_commits_count has them all.
	commits := make([]any, 0, min(len(cs), 20))
	for _, c := range cs[max(len(cs)-20, 0):] {
		commits = append(commits, s.hookCommit(p, c, true))
	}
	after := cs[len(cs)-1].sha
	u := s.userBasic(s.userByID(p.creatorID))
	repo := s.hookRepository(p)
	repo["git_http_url"] = s.baseURL + "/" + p.fullPath() + ".git"
	repo["git_ssh_url"] = repo["url"]
	repo["visibility_level"] = visibilityLevel[p.vis]
	out := map[string]any{"object_kind": "push", "event_name": "push", "before": before, "after": after, "ref": "refs/heads/" + ref,
		"checkout_sha": after, "message": nil, "user_id": u.ID, "user_name": u.Name, "user_username": u.Username, "user_email": "",
		"user_avatar": u.AvatarURL, "project_id": p.id, "project": s.hookProject(p), "commits": commits, "total_commits_count": len(cs),
		"push_options": map[string]any{}, "repository": repo}
	if s.ver.atLeast(15, 11) {
		out["ref_protected"] = ref == p.defBranch
	}
	return out
}

func (s *Sandbox) pipelineHook(pl *pipeline, head *commit) map[string]any {
	p := pl.p
	duration := int(pl.finished.Sub(pl.started).Seconds())
	queued := int(pl.started.Sub(pl.created).Seconds())
	attrs := map[string]any{"id": pl.id, "ref": pl.ref, "tag": false, "sha": pl.sha, "before_sha": zeroSHA(p.sha256), "source": pl.source,
		"status": pl.status, "detailed_status": map[string]string{"success": "passed"}[pl.status], "stages": []string{"build", "test"},
		"created_at": hookTime(pl.created), "finished_at": hookTime(pl.finished), "duration": duration,
		"queued_duration": queued, "variables": []any{},
		"url": fmt.Sprintf("%s/%s/-/pipelines/%d", s.baseURL, p.fullPath(), pl.id)}
	if attrs["detailed_status"] == "" {
		attrs["detailed_status"] = pl.status
	}
	if s.ver.atLeast(14, 6) {
		attrs["iid"] = pl.iid
	}
	if s.ver.atLeast(16, 1) { // object_attributes.name since 16.1 (gitlab!123639)
		attrs["name"] = nil
	}
	// The pipeline's latest jobs (delivery.go); without any, one job per
	// stage.
	builds, stages := s.hookBuilds(pl)
	if len(builds) > 0 {
		attrs["stages"] = stages
	}
	for i, stage := range []string{"build", "test"} {
		if len(stages) > 0 {
			break
		}
		status := "success"
		if i == 1 {
			status = pl.status
		}
		var failure any
		if status == "failed" {
			failure = "script_failure"
		}
		builds = append(builds, map[string]any{"id": pl.id*10 + int64(i), "stage": stage, "name": stage, "status": status,
			"created_at": hookTime(pl.created), "started_at": hookTime(pl.started), "finished_at": hookTime(pl.finished),
			"duration": float64(duration) / 2, "queued_duration": float64(queued), "failure_reason": failure, "when": "on_success",
			"manual": false, "allow_failure": false, "user": s.hookUser(pl.userID), "runner": nil,
			"artifacts_file": map[string]any{"filename": nil, "size": nil}, "environment": nil})
	}
	// The pipeline event's project is the short form, without the legacy
	// homepage/url/ssh_url/http_url keys.
	proj := s.hookProject(p)
	for _, k := range []string{"homepage", "url", "ssh_url", "http_url", "ci_config_path"} {
		delete(proj, k)
	}
	return map[string]any{"object_kind": "pipeline", "object_attributes": attrs, "merge_request": nil, "user": s.hookUser(pl.userID),
		"project": proj, "commit": s.hookCommit(p, head, false), "builds": builds}
}
