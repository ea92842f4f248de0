package syncer

import (
	"encoding/json"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// The normalisers of the review and delivery resources are ingest's (one
// normaliser for an API item and a webhook payload), called directly; only
// what a listing wraps around the item is unwrapped here.

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
