package ingest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// noteJSON is a note as an API item has it (Entities::Note: body, author,
// noteable_iid, resolvable, resolved, resolved_by, resolved_at) and as a
// Note Hook's object_attributes has it (Note#hook_attrs: note, author_id,
// discussion_id, commit_id, resolved_at, resolved_by_id, type; the
// noteable's iid is in the payload's merge_request / issue object).
type noteJSON struct {
	ID           int64       `json:"id"`
	Type         *string     `json:"type"` // DiffNote, DiscussionNote, null
	ProjectID    int64       `json:"project_id"`
	NoteableType string      `json:"noteable_type"`
	NoteableID   *int64      `json:"noteable_id"`
	NoteableIID  *int64      `json:"noteable_iid"`
	CommitID     *string     `json:"commit_id"`
	DiscussionID string      `json:"discussion_id"`
	System       bool        `json:"system"`
	Resolvable   *bool       `json:"resolvable"`
	Resolved     *bool       `json:"resolved"`
	ResolvedAt   Time        `json:"resolved_at"`
	CreatedAt    Time        `json:"created_at"`
	UpdatedAt    Time        `json:"updated_at"`
	Body         string      `json:"body"`
	Author       *personJSON `json:"author"`
	ResolvedBy   *personJSON `json:"resolved_by"`

	// Payload only.
	Note         string `json:"note"`
	AuthorID     int64  `json:"author_id"`
	ResolvedByID *int64 `json:"resolved_by_id"`
}

// resolvableTypes are the note classes GitLab lets one resolve on a merge
// request (DiffNote and DiscussionNote; app/models/concerns/resolvable_note.rb).
func resolvable(noteableType string, typ *string, system bool) bool {
	if system || noteableType != "MergeRequest" || typ == nil {
		return false
	}
	return *typ == "DiffNote" || *typ == "DiscussionNote"
}

func (j *noteJSON) row(integrationID, projectID int64, raw json.RawMessage) (store.Note, error) {
	if j.ID == 0 {
		return store.Note{}, fmt.Errorf("note without id")
	}
	created, err := j.CreatedAt.Parse()
	if err != nil {
		return store.Note{}, fmt.Errorf("note %d: %w", j.ID, err)
	}
	updated, err := j.UpdatedAt.Parse()
	if err != nil {
		return store.Note{}, fmt.Errorf("note %d: %w", j.ID, err)
	}
	if updated == nil {
		updated = created
	}
	if updated == nil {
		return store.Note{}, fmt.Errorf("note %d without created_at or updated_at", j.ID)
	}
	resolvedAt, err := j.ResolvedAt.Parse()
	if err != nil {
		return store.Note{}, fmt.Errorf("note %d: %w", j.ID, err)
	}
	n := store.Note{IntegrationID: integrationID, ProjectGitLabID: projectID, GitLabID: j.ID, NoteableType: j.NoteableType,
		NoteableGitLabID: j.NoteableID, NoteableIID: j.NoteableIID, DiscussionID: j.DiscussionID, System: j.System,
		ResolvedAt: resolvedAt, CreatedAt: created, UpdatedAt: *updated, Raw: raw}
	if j.CommitID != nil {
		n.CommitID = strings.ToLower(*j.CommitID)
	}
	return n, nil
}

// Note reads a note from an API item of project projectID: the notes of a
// merge request, issue or commit, a discussion's notes (see Discussion) or
// an event's note. Resolvable comes from the item where it says (10.x+),
// else from GitLab's rule (a DiffNote or DiscussionNote on a merge request,
// not a system note).
func Note(integrationID, projectID int64, raw json.RawMessage) (store.Note, []store.Person, error) {
	var j noteJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Note{}, nil, fmt.Errorf("ingest: unreadable note: %w", err)
	}
	if j.ProjectID != 0 {
		projectID = j.ProjectID
	}
	n, err := j.row(integrationID, projectID, raw)
	if err != nil {
		return store.Note{}, nil, fmt.Errorf("ingest: %w", err)
	}
	n.Body, n.Author, n.AuthorGitLabID = j.Body, j.Author.username(), j.Author.id()
	n.Resolvable = resolvable(j.NoteableType, j.Type, j.System)
	if j.Resolvable != nil {
		n.Resolvable = *j.Resolvable
	}
	n.Resolved = j.Resolved != nil && *j.Resolved
	if n.Resolved {
		n.ResolvedBy = j.ResolvedBy.username()
	} else {
		n.ResolvedAt = nil
	}
	return n, people(integrationID, &n.UpdatedAt, j.Author, j.ResolvedBy), nil
}

// Discussion reads the notes of a discussion (GET …/discussions items:
// id is the discussion id, notes the Entities::Note items without it).
func Discussion(integrationID, projectID int64, raw json.RawMessage) ([]store.Note, []store.Person, error) {
	var d struct {
		ID    string            `json:"id"`
		Notes []json.RawMessage `json:"notes"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, nil, fmt.Errorf("ingest: unreadable discussion: %w", err)
	}
	var notes []store.Note
	var ps []store.Person
	for _, nr := range d.Notes {
		n, p, err := Note(integrationID, projectID, nr)
		if err != nil {
			return nil, nil, err
		}
		if n.DiscussionID == "" {
			n.DiscussionID = d.ID
		}
		notes = append(notes, n)
		ps = append(ps, p...)
	}
	return notes, ps, nil
}

// NoteHook is a note webhook payload ("Note Hook" or "Confidential Note
// Hook"), read by ParseHook.
type NoteHook struct {
	ObjectAttributes noteJSON    `json:"object_attributes"`
	Project          idOnly      `json:"project"`
	ProjectIDField   int64       `json:"project_id"`
	User             *personJSON `json:"user"`
	MergeRequest     *iidOnly    `json:"merge_request"`
	Issue            *iidOnly    `json:"issue"`
	raw              json.RawMessage
}

type iidOnly struct {
	ID  int64 `json:"id"`
	IID int64 `json:"iid"`
}

// ProjectID is the payload's project.
func (h *NoteHook) ProjectID() int64 {
	if h.Project.ID != 0 {
		return h.Project.ID
	}
	return h.ProjectIDField
}

// ObjectID is the note's GitLab id.
func (h *NoteHook) ObjectID() int64 { return h.ObjectAttributes.ID }

// Row returns the note the payload describes and the people it names. The
// author is the payload's user when that user wrote the note (author_id);
// otherwise empty for the caller to keep or fill. A resolved note names
// its resolver by id only: ResolvedBy is empty then.
func (h *NoteHook) Row(integrationID int64) (store.Note, []store.Person, error) {
	a := &h.ObjectAttributes
	if h.ProjectID() == 0 {
		return store.Note{}, nil, fmt.Errorf("note payload without project id")
	}
	n, err := a.row(integrationID, h.ProjectID(), h.raw)
	if err != nil {
		return store.Note{}, nil, fmt.Errorf("note payload: %w", err)
	}
	n.Body = a.Note
	if a.AuthorID != 0 {
		id := a.AuthorID
		n.AuthorGitLabID = &id
	}
	if h.User != nil && h.User.ID != 0 && h.User.ID == a.AuthorID {
		n.Author = h.User.Username
	}
	switch {
	case h.MergeRequest != nil && a.NoteableType == "MergeRequest":
		iid := h.MergeRequest.IID
		n.NoteableIID = &iid
	case h.Issue != nil && a.NoteableType == "Issue":
		iid := h.Issue.IID
		n.NoteableIID = &iid
	}
	n.Resolvable = resolvable(a.NoteableType, a.Type, a.System)
	n.Resolved = n.ResolvedAt != nil
	var seen *time.Time = &n.UpdatedAt
	return n, people(integrationID, seen, h.User), nil
}
