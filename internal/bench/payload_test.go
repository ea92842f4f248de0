package bench

import (
	"encoding/json"
	"testing"
)

// Every delivery of the bench is the Go client's merge request event,
// compacted, for project 1, with a merge request id and iid of its own.
func TestBenchDeliveriesAreTheClientsMergeRequestEachWithItsOwnIDs(t *testing.T) {
	p := newMRPayload()
	seen := map[int64]bool{}
	for _, i := range []int64{1, 2, 12345} {
		var ev struct {
			ObjectKind string `json:"object_kind"`
			Project    struct {
				ID int64 `json:"id"`
			} `json:"project"`
			Attrs struct {
				ID, IID      int64
				SourceBranch string `json:"source_branch"`
			} `json:"object_attributes"`
		}
		if err := json.Unmarshal(p.body(i), &ev); err != nil {
			t.Fatalf("delivery %d is not JSON: %v", i, err)
		}
		if ev.ObjectKind != "merge_request" || ev.Project.ID != benchProjectID || ev.Attrs.IID != i ||
			ev.Attrs.SourceBranch != "ms-viewport" || seen[ev.Attrs.ID] {
			t.Fatalf("delivery %d: %+v", i, ev)
		}
		seen[ev.Attrs.ID] = true
	}
}
