package ingest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// releaseJSON is a release as an API item has it (Entities::Release:
// tag_name, upcoming_release 12.1, author, commit) and as a Release Hook
// has it (Gitlab::DataBuilder::Release / Release#hook_attrs: id, tag,
// action create/update/delete, commit; no author, no upcoming flag).
type releaseJSON struct {
	TagName     string      `json:"tag_name"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	CreatedAt   Time        `json:"created_at"`
	ReleasedAt  Time        `json:"released_at"`
	Upcoming    bool        `json:"upcoming_release"`
	Author      *personJSON `json:"author"`
	Commit      *struct {
		ID string `json:"id"`
	} `json:"commit"`

	// Payload only.
	Tag     string `json:"tag"`
	Action  string `json:"action"`
	Project idOnly `json:"project"`
}

func (j *releaseJSON) row(integrationID, projectID int64, raw json.RawMessage) (store.Release, error) {
	tag := j.TagName
	if tag == "" {
		tag = j.Tag
	}
	if tag == "" {
		return store.Release{}, fmt.Errorf("release without tag name")
	}
	r := store.Release{IntegrationID: integrationID, ProjectGitLabID: projectID, TagName: tag, Name: j.Name, Description: j.Description,
		Upcoming: j.Upcoming, Author: j.Author.username(), Raw: raw}
	var err error
	if r.CreatedAt, err = j.CreatedAt.Parse(); err != nil {
		return store.Release{}, fmt.Errorf("release %s: %w", tag, err)
	}
	if r.ReleasedAt, err = j.ReleasedAt.Parse(); err != nil {
		return store.Release{}, fmt.Errorf("release %s: %w", tag, err)
	}
	if j.Commit != nil {
		r.CommitSHA = strings.ToLower(j.Commit.ID)
	}
	r.UpdatedAt = store.JobUpdatedAt(r.CreatedAt, r.ReleasedAt)
	return r, nil
}

// Release reads a release from an API item of project projectID.
func Release(integrationID, projectID int64, raw json.RawMessage) (store.Release, []store.Person, error) {
	var j releaseJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Release{}, nil, fmt.Errorf("ingest: unreadable release: %w", err)
	}
	r, err := j.row(integrationID, projectID, raw)
	if err != nil {
		return store.Release{}, nil, fmt.Errorf("ingest: %w", err)
	}
	return r, people(integrationID, r.CreatedAt, j.Author), nil
}

// ReleaseHook is a release webhook payload ("Release Hook"), read by
// ParseHook.
type ReleaseHook struct {
	releaseJSON
	raw json.RawMessage
}

// ProjectID is the payload's project.
func (h *ReleaseHook) ProjectID() int64 { return h.Project.ID }

// Deleted reports whether the delivery says the release was deleted
// (action "delete", 15.x+).
func (h *ReleaseHook) Deleted() bool { return h.Action == "delete" }

// Row returns the release the payload describes. The payload has no
// author and no upcoming flag: upcoming is worked out from released_at
// against now (GitLab's Release#upcoming_release?), and the author left
// for the caller to keep.
func (h *ReleaseHook) Row(integrationID int64, now time.Time) (store.Release, error) {
	if h.Project.ID == 0 {
		return store.Release{}, fmt.Errorf("release payload without project id")
	}
	r, err := h.row(integrationID, h.Project.ID, h.raw)
	if err != nil {
		return store.Release{}, fmt.Errorf("release payload: %w", err)
	}
	r.Upcoming = r.ReleasedAt != nil && r.ReleasedAt.After(now)
	return r, nil
}

// tagJSON is a tag as an API item has it (Entities::Tag: name, message,
// target, commit, protected 13.x, created_at 17.x for annotated tags).
type tagJSON struct {
	Name      string `json:"name"`
	Message   string `json:"message"`
	Target    string `json:"target"`
	Protected *bool  `json:"protected"`
	CreatedAt Time   `json:"created_at"`
	Commit    *struct {
		ID            string `json:"id"`
		CommittedDate Time   `json:"committed_date"`
	} `json:"commit"`
}

// Tag reads a tag from an API item of project projectID. UpdatedAt is its
// created_at, else its commit's committed_date.
func Tag(integrationID, projectID int64, raw json.RawMessage) (store.Tag, error) {
	var j tagJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Tag{}, fmt.Errorf("ingest: unreadable tag: %w", err)
	}
	if j.Name == "" {
		return store.Tag{}, fmt.Errorf("ingest: tag without name")
	}
	t := store.Tag{IntegrationID: integrationID, ProjectGitLabID: projectID, Name: j.Name, TargetSHA: strings.ToLower(j.Target),
		Message: j.Message, Protected: j.Protected, Raw: raw}
	var err error
	if t.CreatedAt, err = j.CreatedAt.Parse(); err != nil {
		return store.Tag{}, fmt.Errorf("ingest: tag %s: %w", j.Name, err)
	}
	if t.TargetSHA == "" && j.Commit != nil {
		t.TargetSHA = strings.ToLower(j.Commit.ID)
	}
	switch {
	case t.CreatedAt != nil:
		t.UpdatedAt = *t.CreatedAt
	case j.Commit != nil:
		c, err := j.Commit.CommittedDate.Parse()
		if err != nil {
			return store.Tag{}, fmt.Errorf("ingest: tag %s: %w", j.Name, err)
		}
		if c != nil {
			t.UpdatedAt = *c
		}
	}
	return t, nil
}
