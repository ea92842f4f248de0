package ingest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// eventJSON is a project event (GET /projects/:id/events), which describes
// a push in push_data.
type eventJSON struct {
	ID             int64  `json:"id"`
	ProjectID      int64  `json:"project_id"`
	ActionName     string `json:"action_name"`
	AuthorUsername string `json:"author_username"`
	Author         *user  `json:"author"`
	CreatedAt      Time   `json:"created_at"`
	PushData       *struct {
		CommitCount int64   `json:"commit_count"`
		Action      string  `json:"action"`
		RefType     string  `json:"ref_type"`
		CommitFrom  *string `json:"commit_from"`
		CommitTo    *string `json:"commit_to"`
		Ref         string  `json:"ref"`
		CommitTitle *string `json:"commit_title"`
	} `json:"push_data"`
}

// PushEvent reads a push from a project event of project projectID; ok is
// false for events that are not pushes. at is the event's time (the
// push's, when it is one).
func PushEvent(integrationID, projectID int64, raw json.RawMessage) (p store.Push, at time.Time, ok bool, err error) {
	var j eventJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Push{}, time.Time{}, false, fmt.Errorf("ingest: unreadable event: %w", err)
	}
	created, err := j.CreatedAt.Parse()
	if err != nil {
		return store.Push{}, time.Time{}, false, fmt.Errorf("ingest: event %d: %w", j.ID, err)
	}
	if created != nil {
		at = *created
	}
	if j.PushData == nil {
		return store.Push{}, at, false, nil
	}
	d := j.PushData
	author := j.AuthorUsername
	if author == "" {
		author = j.Author.name()
	}
	p = store.Push{IntegrationID: integrationID, ProjectGitLabID: projectID, Ref: d.Ref, RefType: d.RefType, Action: d.Action,
		Author: author, CommitCount: d.CommitCount, PushedAt: at, Raw: raw}
	if d.CommitFrom != nil {
		p.BeforeSHA = *d.CommitFrom
	}
	if d.CommitTo != nil {
		p.AfterSHA = *d.CommitTo
	}
	if d.CommitTitle != nil {
		p.CommitTitle = *d.CommitTitle
	}
	return p, at, true, nil
}

// PushHook is a push or tag push webhook payload ("Push Hook", "Tag Push
// Hook"), read by ParseHook.
type PushHook struct {
	Project           int64  `json:"project_id"`
	Ref               string `json:"ref"`
	Before            string `json:"before"`
	After             string `json:"after"`
	UserUsername      string `json:"user_username"`
	UserID            int64  `json:"user_id"`
	UserName          string `json:"user_name"`
	TotalCommitsCount int64  `json:"total_commits_count"`
	// Message is an annotated tag's message (Tag Push Hook; null for a
	// lightweight tag and for branches).
	Message *string `json:"message"`
	Commits []struct {
		ID        string `json:"id"`
		Title     string `json:"title"`
		Message   string `json:"message"`
		Timestamp Time   `json:"timestamp"`
		URL       string `json:"url"`
		Author    struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"author"`
	} `json:"commits"`
	// refType is "branch" or "tag".
	refType string
	raw     json.RawMessage
}

// ProjectID is the payload's project.
func (h *PushHook) ProjectID() int64 { return h.Project }

// IsTag reports whether the payload is a Tag Push Hook.
func (h *PushHook) IsTag() bool { return h.refType == "tag" }

// Rows returns the push the payload describes, pushed at pushedAt (the
// delivery's receipt: payloads carry no push time), and the commits it
// describes (the newest 20 at most; CommitCount has them all).
func (h *PushHook) Rows(integrationID int64, pushedAt time.Time) (store.Push, []store.Commit, error) {
	if h.Project == 0 || h.Ref == "" {
		return store.Push{}, nil, fmt.Errorf("push payload without project id or ref")
	}
	name, _ := store.ShortRef(h.Ref)
	pu := store.Push{IntegrationID: integrationID, ProjectGitLabID: h.Project, Ref: name, RefType: h.refType,
		BeforeSHA: h.Before, AfterSHA: h.After, Author: h.UserUsername, CommitCount: h.TotalCommitsCount, PushedAt: pushedAt, Raw: h.raw}
	switch {
	case isZeroSHA(h.Before):
		pu.Action = "created"
	case isZeroSHA(h.After):
		pu.Action = "deleted"
	default:
		pu.Action = "pushed"
	}
	if n := len(h.Commits); n > 0 {
		pu.CommitTitle = h.Commits[n-1].Title
	}
	commits := make([]store.Commit, 0, len(h.Commits))
	for _, c := range h.Commits {
		at, err := c.Timestamp.Parse()
		if err != nil {
			return store.Push{}, nil, fmt.Errorf("push payload: commit %s: %w", shorten(c.ID, 12), err)
		}
		title := c.Title
		if title == "" {
			title, _, _ = strings.Cut(c.Message, "\n")
		}
		commits = append(commits, store.Commit{ProjectGitLabID: h.Project, SHA: c.ID, Title: title,
			AuthorName: c.Author.Name, AuthorEmail: c.Author.Email, AuthoredAt: at, WebURL: c.URL})
	}
	return pu, commits, nil
}

func isZeroSHA(s string) bool { return s != "" && strings.Trim(s, "0") == "" }

// Pusher returns the person who pushed, seen at the given time.
func (h *PushHook) Pusher(integrationID int64, at time.Time) []store.Person {
	return people(integrationID, &at, &personJSON{ID: h.UserID, Username: h.UserUsername, Name: h.UserName})
}

// Tag returns the tag a Tag Push payload creates or moves, pushed at
// pushedAt (its CreatedAt and UpdatedAt: payloads carry no time), or, when
// the push deleted it (after is all zeros), its name with deleted true.
// Target is the pushed object: the tag object of an annotated tag, else
// the commit — as the tags API's target is.
func (h *PushHook) Tag(integrationID int64, pushedAt time.Time) (t store.Tag, deleted bool, err error) {
	name, refType := store.ShortRef(h.Ref)
	if h.Project == 0 || refType != "tag" || h.refType != "tag" {
		return store.Tag{}, false, fmt.Errorf("tag push payload without project id or tag ref")
	}
	t = store.Tag{IntegrationID: integrationID, ProjectGitLabID: h.Project, Name: name, Raw: h.raw}
	if isZeroSHA(h.After) {
		return t, true, nil
	}
	at := pushedAt.UTC()
	t.TargetSHA, t.CreatedAt, t.UpdatedAt = strings.ToLower(h.After), &at, at
	if h.Message != nil {
		t.Message = *h.Message
	}
	return t, false, nil
}
