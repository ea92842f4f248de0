package ingest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// mrJSON is a merge request as an API item has it and as a payload's
// object_attributes has it: the fields both carry under the same names,
// and those each carries under its own (web_url / url, sha /
// last_commit.id). Payloads name the author, merge user, assignees and
// reviewers by id only inside object_attributes; the users are beside it.
type mrJSON struct {
	ID                  int64  `json:"id"`
	IID                 int64  `json:"iid"`
	ProjectID           int64  `json:"project_id"`
	Title               string `json:"title"`
	State               string `json:"state"`
	Draft               *bool  `json:"draft"`            // 14.0
	WorkInProgress      bool   `json:"work_in_progress"` // before 14.0
	Author              *user  `json:"author"`
	Assignees           users  `json:"assignees"`
	Reviewers           users  `json:"reviewers"`
	Labels              labels `json:"labels"`
	SourceBranch        string `json:"source_branch"`
	TargetBranch        string `json:"target_branch"`
	MergeStatus         string `json:"merge_status"`
	DetailedMergeStatus string `json:"detailed_merge_status"` // 15.6
	MergeUser           *user  `json:"merge_user"`            // 14.7
	MergedBy            *user  `json:"merged_by"`             // before 14.7
	SHA                 string `json:"sha"`
	WebURL              string `json:"web_url"`
	MergedAt            Time   `json:"merged_at"`
	ClosedAt            Time   `json:"closed_at"`
	CreatedAt           Time   `json:"created_at"`
	UpdatedAt           Time   `json:"updated_at"`

	// Payload only.
	URL        string `json:"url"`
	Action     string `json:"action"`
	LastCommit struct {
		ID string `json:"id"`
	} `json:"last_commit"`
}

func (j *mrJSON) draft() bool {
	if j.Draft != nil {
		return *j.Draft || j.WorkInProgress
	}
	return j.WorkInProgress
}

// row is what both shapes say alike; times are checked by the caller.
func (j *mrJSON) row(integrationID, projectID int64, raw json.RawMessage) (store.MergeRequest, error) {
	created, err := j.CreatedAt.Parse()
	if err != nil {
		return store.MergeRequest{}, err
	}
	updated, err := j.UpdatedAt.Parse()
	if err != nil || updated == nil {
		return store.MergeRequest{}, fmt.Errorf("merge request without a valid updated_at")
	}
	return store.MergeRequest{IntegrationID: integrationID, ProjectGitLabID: projectID, GitLabID: j.ID, IID: j.IID, Title: j.Title,
		State: j.State, Draft: j.draft(), Labels: j.Labels.list(), SourceBranch: j.SourceBranch, TargetBranch: j.TargetBranch,
		MergeStatus: j.MergeStatus, DetailedMergeStatus: j.DetailedMergeStatus, CreatedAt: created, UpdatedAt: *updated, Raw: raw}, nil
}

// MergeRequest reads a merge request from an API item (the merge request
// lists and GET /projects/:id/merge_requests/:iid).
func MergeRequest(integrationID int64, raw json.RawMessage) (store.MergeRequest, error) {
	var j mrJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.MergeRequest{}, fmt.Errorf("ingest: unreadable merge request: %w", err)
	}
	if j.ID == 0 {
		return store.MergeRequest{}, fmt.Errorf("ingest: merge request without id")
	}
	mr, err := j.row(integrationID, j.ProjectID, raw)
	if err != nil {
		return store.MergeRequest{}, fmt.Errorf("ingest: merge request %d: %w", j.ID, err)
	}
	mu := j.MergeUser
	if mu == nil {
		mu = j.MergedBy
	}
	mr.Author, mr.MergeUser = j.Author.name(), mu.name()
	mr.Assignees, mr.Reviewers = j.Assignees.names(), j.Reviewers.names()
	mr.SHA, mr.WebURL = j.SHA, j.WebURL
	if mr.MergedAt, err = j.MergedAt.Parse(); err != nil {
		return store.MergeRequest{}, fmt.Errorf("ingest: merge request %d: %w", j.ID, err)
	}
	if mr.ClosedAt, err = j.ClosedAt.Parse(); err != nil {
		return store.MergeRequest{}, fmt.Errorf("ingest: merge request %d: %w", j.ID, err)
	}
	return mr, nil
}

// MergeRequestHook is a merge request webhook payload ("Merge Request
// Hook"), read by ParseHook.
type MergeRequestHook struct {
	ObjectAttributes mrJSON `json:"object_attributes"`
	Project          idOnly `json:"project"`
	User             *user  `json:"user"`
	Assignees        users  `json:"assignees"`
	Reviewers        users  `json:"reviewers"`
	Labels           labels `json:"labels"`
	raw              json.RawMessage
}

// ProjectID is the payload's project.
func (h *MergeRequestHook) ProjectID() int64 { return h.Project.ID }

// ObjectID is the merge request's GitLab id.
func (h *MergeRequestHook) ObjectID() int64 { return h.ObjectAttributes.ID }

// Row returns the merge request the payload describes. A payload names the
// author only by id: Author is the acting user when the delivery opened
// the merge request, otherwise empty for the caller to fill from what it
// stored. Merged and closed times are the payload's updated_at when it
// merged or closed the merge request (payloads carry neither), and the
// merge user the acting user of the merge.
func (h *MergeRequestHook) Row(integrationID int64) (store.MergeRequest, error) {
	a := &h.ObjectAttributes
	if a.ID == 0 || h.Project.ID == 0 {
		return store.MergeRequest{}, fmt.Errorf("merge request payload without object or project id")
	}
	mr, err := a.row(integrationID, h.Project.ID, h.raw)
	if err != nil {
		return store.MergeRequest{}, fmt.Errorf("merge request payload: %w", err)
	}
	if a.Action == "open" {
		mr.Author = h.User.name()
	}
	mr.Assignees, mr.Reviewers, mr.Labels = h.Assignees.names(), h.Reviewers.names(), h.Labels.list()
	mr.SHA, mr.WebURL = a.LastCommit.ID, a.URL
	updated := mr.UpdatedAt
	if a.State == "merged" && a.Action == "merge" {
		mr.MergedAt = &updated
		mr.MergeUser = h.User.name()
	}
	if a.State == "closed" {
		mr.ClosedAt = &updated
	}
	return mr, nil
}

// Approval reads what an approval delivery says: action "approved" or
// "approval" (the merge request, or one approver's approval of it, 16.x)
// adds the acting user's approval, "unapproved" or "unapproval" removes
// it. Payloads carry no approval time: approvedAt is the delivery's. ok is
// false for other actions and for payloads whose user has no id (before
// 13.x).
func (h *MergeRequestHook) Approval(integrationID int64, approvedAt time.Time) (a store.Approval, approved, ok bool) {
	switch h.ObjectAttributes.Action {
	case "approved", "approval":
		approved = true
	case "unapproved", "unapproval":
	default:
		return store.Approval{}, false, false
	}
	if h.User == nil || h.User.ID == 0 || h.Project.ID == 0 || h.ObjectAttributes.IID == 0 {
		return store.Approval{}, false, false
	}
	at := approvedAt.UTC()
	return store.Approval{IntegrationID: integrationID, ProjectGitLabID: h.Project.ID, MergeRequestIID: h.ObjectAttributes.IID,
		UserGitLabID: h.User.ID, Username: h.User.Username, ApprovedAt: &at, Source: store.ApprovalFromWebhook, Raw: h.raw}, approved, true
}

// People returns the acting user of the delivery, seen at the given time.
func (h *MergeRequestHook) People(integrationID int64, at time.Time) []store.Person {
	if h.User == nil {
		return nil
	}
	return people(integrationID, &at, &personJSON{ID: h.User.ID, Username: h.User.Username, Name: h.User.Name})
}
