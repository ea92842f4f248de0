package ingest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// Approvals as the sync reads them (issue 20): the project events with
// action approved (Entities::Event: author, target_type MergeRequest,
// target_iid the merge request's iid, created_at the approval's time) and,
// where GitLab has no such events, a merge request's approvals
// (GET …/merge_requests/:iid/approvals: approved_by, a list of
// {"user": UserBasic}, with approved_at from 16.x where GitLab shows it).
// A webhook's approval is read with the merge request hook.

type approvalEventJSON struct {
	ActionName string      `json:"action_name"`
	TargetType string      `json:"target_type"`
	TargetIID  *int64      `json:"target_iid"`
	ProjectID  int64       `json:"project_id"`
	AuthorID   int64       `json:"author_id"`
	Author     *personJSON `json:"author"`
	CreatedAt  Time        `json:"created_at"`
}

// ApprovalEvent reads a project event of project projectID from a listing
// filtered by action=approved; ok is false for an event of another kind.
// GitLab filters on the stored action, but Community Edition before
// gitlab#231306 was fixed (2020) named an approval event's action "opened"
// (gitlab#231259: the name lived in Enterprise Edition's code), so an
// "opened" merge request event in such a listing is an approval too.
func ApprovalEvent(integrationID, projectID int64, raw json.RawMessage) (a store.Approval, ps []store.Person, ok bool, err error) {
	var j approvalEventJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Approval{}, nil, false, fmt.Errorf("ingest: unreadable event: %w", err)
	}
	if (j.ActionName != "approved" && j.ActionName != "opened") || !strings.EqualFold(j.TargetType, "MergeRequest") {
		return store.Approval{}, nil, false, nil
	}
	if j.TargetIID == nil || *j.TargetIID <= 0 {
		return store.Approval{}, nil, false, fmt.Errorf("ingest: approval event without the merge request's iid")
	}
	if j.Author == nil {
		j.Author = &personJSON{}
	}
	if j.Author.ID == 0 {
		j.Author.ID = j.AuthorID
	}
	if j.Author.ID == 0 {
		return store.Approval{}, nil, false, fmt.Errorf("ingest: approval event without its author")
	}
	at, err := j.CreatedAt.Parse()
	if err != nil || at == nil {
		return store.Approval{}, nil, false, fmt.Errorf("ingest: approval event without a time: %v", err)
	}
	if j.ProjectID != 0 {
		projectID = j.ProjectID
	}
	a = store.Approval{IntegrationID: integrationID, ProjectGitLabID: projectID, MergeRequestIID: *j.TargetIID, UserGitLabID: j.Author.ID,
		Username: j.Author.Username, ApprovedAt: at, Source: store.ApprovalFromEvent, UpdatedAt: *at, Raw: raw}
	return a, people(integrationID, at, j.Author), true, nil
}

type approvalsJSON struct {
	ApprovedBy []struct {
		User       *personJSON `json:"user"`
		ApprovedAt Time        `json:"approved_at"`
	} `json:"approved_by"`
}

// MergeRequestApprovals reads GET …/merge_requests/:iid/approvals of
// merge request iid of project projectID: one approval per approver, its
// time where GitLab gives it (UpdatedAt is then that time, otherwise now:
// when labsync first saw it).
func MergeRequestApprovals(integrationID, projectID, iid int64, raw json.RawMessage, now time.Time) ([]store.Approval, []store.Person, error) {
	var j approvalsJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, nil, fmt.Errorf("ingest: unreadable approvals: %w", err)
	}
	var out []store.Approval
	var ps []store.Person
	for _, b := range j.ApprovedBy {
		if b.User == nil || b.User.ID == 0 {
			continue
		}
		at, err := b.ApprovedAt.Parse()
		if err != nil {
			return nil, nil, fmt.Errorf("ingest: approval of merge request %d: %w", iid, err)
		}
		upd := now.UTC()
		if at != nil {
			upd = *at
		}
		out = append(out, store.Approval{IntegrationID: integrationID, ProjectGitLabID: projectID, MergeRequestIID: iid, UserGitLabID: b.User.ID,
			Username: b.User.Username, ApprovedAt: at, Source: store.ApprovalFromAPI, UpdatedAt: upd})
		ps = append(ps, people(integrationID, &upd, b.User)...)
	}
	return out, ps, nil
}
