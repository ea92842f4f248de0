package ingest_test

import (
	"encoding/json"
	"testing"

	"github.com/labsync/labsync/internal/ingest"
)

// TestAnApprovalEventIsReadWhateverCommunityEditionNamedIt: in a listing
// filtered by action=approved, a merge request event named "approved"
// (Enterprise Edition, and Community Edition once fixed) and one named
// "opened" (Community Edition 13.2 until gitlab#231306) are approvals; an
// event on another target, or named otherwise, is not.
func TestAnApprovalEventIsReadWhateverCommunityEditionNamedIt(t *testing.T) {
	event := func(action, target string) json.RawMessage {
		return json.RawMessage(`{"id": 9, "project_id": 4, "action_name": "` + action + `", "target_type": "` + target + `",
			"target_id": 70, "target_iid": 7, "author_id": 3, "author": {"id": 3, "username": "ada", "name": "Ada"},
			"created_at": "2020-10-01T10:00:00.000Z"}`)
	}
	cases := []struct {
		action, target string
		want           bool
	}{
		{"approved", "MergeRequest", true},
		{"opened", "MergeRequest", true},
		{"commented on", "MergeRequest", false},
		{"opened", "Issue", false},
	}
	for _, c := range cases {
		a, _, ok, err := ingest.ApprovalEvent(1, 4, event(c.action, c.target))
		if err != nil {
			t.Fatalf("%s %s: %v", c.action, c.target, err)
		}
		if ok != c.want {
			t.Errorf("%s on a %s: read as an approval %v, want %v", c.action, c.target, ok, c.want)
		}
		if ok && (a.MergeRequestIID != 7 || a.UserGitLabID != 3) {
			t.Errorf("%s: approval %+v, want merge request 7 approved by user 3", c.action, a)
		}
	}
}
