package syncer

import (
	"encoding/json"
	"time"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// The normalisers of the review and delivery resources are ingest's (one
// normaliser for an API item and a webhook payload); these read what the
// listings the syncer uses wrap around the item, and return the people the
// item names with it.

// noteFromEvent reads the comment of a "commented on" project event: the
// note itself is the event's "note" field. ok is false for an event
// without one.
func noteFromEvent(integrationID, projectID int64, raw json.RawMessage) (store.Note, []store.Person, bool, error) {
	n := rawField(raw, "note")
	if n == nil {
		return store.Note{}, nil, false, nil
	}
	note, people, err := ingest.Note(integrationID, projectID, n)
	return note, people, err == nil, err
}

// approvalFromEvent reads an "approved" project event.
func approvalFromEvent(integrationID, projectID int64, raw json.RawMessage) (store.Approval, []store.Person, bool, error) {
	return ingest.ApprovalEvent(integrationID, projectID, raw)
}

// approvalsFromAPI reads GET …/merge_requests/:iid/approvals.
func approvalsFromAPI(integrationID, projectID, iid int64, raw json.RawMessage, now time.Time) ([]store.Approval, []store.Person, error) {
	return ingest.MergeRequestApprovals(integrationID, projectID, iid, raw, now)
}

func mrCommit(projectID int64, raw json.RawMessage) (store.Commit, error) {
	return ingest.Commit(projectID, raw)
}

func job(integrationID, projectID int64, raw json.RawMessage) (store.Job, []store.Person, error) {
	return ingest.Job(integrationID, projectID, raw)
}

func deployment(integrationID, projectID int64, raw json.RawMessage, tierOf func(int64) string) (store.Deployment, []store.Person, error) {
	return ingest.Deployment(integrationID, projectID, raw, tierOf)
}

func environment(integrationID, projectID int64, raw json.RawMessage) (store.Environment, error) {
	return ingest.Environment(integrationID, projectID, raw)
}

func release(integrationID, projectID int64, raw json.RawMessage) (store.Release, []store.Person, error) {
	return ingest.Release(integrationID, projectID, raw)
}

func tag(integrationID, projectID int64, raw json.RawMessage) (store.Tag, error) {
	return ingest.Tag(integrationID, projectID, raw)
}
