package ingest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/labsync/labsync/internal/store"
)

// issueJSON is an issue as an API item has it and as a payload's
// object_attributes has it (url for web_url; users beside it).
type issueJSON struct {
	ID           int64  `json:"id"`
	IID          int64  `json:"iid"`
	ProjectID    int64  `json:"project_id"`
	Title        string `json:"title"`
	State        string `json:"state"`
	Confidential bool   `json:"confidential"`
	Author       *user  `json:"author"`
	Assignees    users  `json:"assignees"`
	Labels       labels `json:"labels"`
	WebURL       string `json:"web_url"`
	ClosedAt     Time   `json:"closed_at"`
	CreatedAt    Time   `json:"created_at"`
	UpdatedAt    Time   `json:"updated_at"`
	// IssueType is issue_type (API items and payloads from 13.x: issue,
	// incident, test_case, requirement, task, …); Type is type (API items
	// from 15.x: ISSUE, INCIDENT, TEST_CASE, TASK; payloads from 16.x name
	// the work item type: Issue, Incident, Test Case, Task).
	IssueType string `json:"issue_type"`
	Type      string `json:"type"`

	// Payload only.
	URL    string `json:"url"`
	Action string `json:"action"`
}

func (j *issueJSON) row(integrationID, projectID int64, raw json.RawMessage) (store.Issue, error) {
	created, err := j.CreatedAt.Parse()
	if err != nil {
		return store.Issue{}, err
	}
	updated, err := j.UpdatedAt.Parse()
	if err != nil || updated == nil {
		return store.Issue{}, fmt.Errorf("issue without a valid updated_at")
	}
	return store.Issue{IntegrationID: integrationID, ProjectGitLabID: projectID, GitLabID: j.ID, IID: j.IID, Title: j.Title,
		State: j.State, Confidential: j.Confidential, Labels: j.Labels.list(), IssueType: IssueType(j.IssueType, j.Type, j.Labels),
		CreatedAt: created, UpdatedAt: *updated, Raw: raw}, nil
}

// IssueType is an issue's type in lower case with underscores: issueType
// (issue_type) where given, else typ (type: "INCIDENT", "Test Case"), else
// "incident" for an issue labelled incident — the label GitLab's alert
// management put on the issues it opened before the type existed (12.x) —
// else "issue".
func IssueType(issueType, typ string, labels []string) string {
	for _, t := range []string{issueType, typ} {
		if t = strings.TrimSpace(t); t != "" {
			return strings.ToLower(strings.ReplaceAll(t, " ", "_"))
		}
	}
	for _, l := range labels {
		if strings.EqualFold(l, "incident") {
			return "incident"
		}
	}
	return "issue"
}

// Issue reads an issue from an API item.
func Issue(integrationID int64, raw json.RawMessage) (store.Issue, error) {
	var j issueJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Issue{}, fmt.Errorf("ingest: unreadable issue: %w", err)
	}
	if j.ID == 0 {
		return store.Issue{}, fmt.Errorf("ingest: issue without id")
	}
	is, err := j.row(integrationID, j.ProjectID, raw)
	if err != nil {
		return store.Issue{}, fmt.Errorf("ingest: issue %d: %w", j.ID, err)
	}
	is.Author, is.Assignees, is.WebURL = j.Author.name(), j.Assignees.names(), j.WebURL
	if is.ClosedAt, err = j.ClosedAt.Parse(); err != nil {
		return store.Issue{}, fmt.Errorf("ingest: issue %d: %w", j.ID, err)
	}
	return is, nil
}

// IssueHook is an issue webhook payload ("Issue Hook" or "Confidential
// Issue Hook"), read by ParseHook.
type IssueHook struct {
	ObjectAttributes issueJSON `json:"object_attributes"`
	Project          idOnly    `json:"project"`
	User             *user     `json:"user"`
	Assignees        users     `json:"assignees"`
	Labels           labels    `json:"labels"`
	raw              json.RawMessage
}

// ProjectID is the payload's project.
func (h *IssueHook) ProjectID() int64 { return h.Project.ID }

// ObjectID is the issue's GitLab id.
func (h *IssueHook) ObjectID() int64 { return h.ObjectAttributes.ID }

// Row returns the issue the payload describes. Author is the acting user
// when the delivery opened the issue, otherwise empty for the caller to
// fill (payloads name it by id only). ClosedAt is the payload's closed_at
// (Gitlab::HookData::IssueBuilder lists it among the issue's attributes;
// read as the API's is), else its updated_at when the issue is closed.
func (h *IssueHook) Row(integrationID int64) (store.Issue, error) {
	a := &h.ObjectAttributes
	if a.ID == 0 || h.Project.ID == 0 {
		return store.Issue{}, fmt.Errorf("issue payload without object or project id")
	}
	is, err := a.row(integrationID, h.Project.ID, h.raw)
	if err != nil {
		return store.Issue{}, fmt.Errorf("issue payload: %w", err)
	}
	if a.Action == "open" {
		is.Author = h.User.name()
	}
	is.Assignees, is.Labels, is.WebURL = h.Assignees.names(), h.Labels.list(), a.URL
	is.IssueType = IssueType(a.IssueType, a.Type, is.Labels)
	if a.State == "closed" {
		closed, err := a.ClosedAt.Parse()
		if err != nil {
			return store.Issue{}, fmt.Errorf("issue payload: %w", err)
		}
		if closed == nil {
			updated := is.UpdatedAt
			closed = &updated
		}
		is.ClosedAt = closed
	}
	return is, nil
}
