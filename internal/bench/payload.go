package bench

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"strconv"
)

// mergeRequestJSON is testdata/webhooks/merge_request.json of the official
// Go client (gitlab.com/gitlab-org/api/client-go/v2 v2.64.0), unchanged: a
// merge request event for project 1, merge request id 99.
//
//go:embed testdata/merge_request.json
var mergeRequestJSON []byte

// benchProjectID is the GitLab project the benchmark payload belongs to;
// the deployed bench discovers and selects it so the processor stores rows.
const benchProjectID = 1

// mrPayload renders the client's merge request event compacted, as GitLab
// sends it, with a merge request id and iid of the caller's choosing: each
// delivery of the bench is a distinct merge request, so every processed
// delivery leaves its own row and change-feed entry to count.
type mrPayload struct {
	pre, mid, post []byte
}

// idAttrs is where the merge request's own id and iid sit in the
// compacted payload.
var idAttrs = []byte(`"object_attributes":{"id":99,"iid":1,`)

func newMRPayload() mrPayload {
	var b bytes.Buffer
	if err := json.Compact(&b, mergeRequestJSON); err != nil {
		panic("bench: the embedded merge request payload is not JSON: " + err.Error())
	}
	pre, post, ok := bytes.Cut(b.Bytes(), idAttrs)
	if !ok {
		panic("bench: the embedded merge request payload has no object_attributes id 99, iid 1")
	}
	return mrPayload{
		pre:  append(pre, `"object_attributes":{"id":`...),
		mid:  []byte(`,"iid":`),
		post: append([]byte(","), post...),
	}
}

// body returns the payload for merge request i (1-based).
func (p mrPayload) body(i int64) []byte {
	b := make([]byte, 0, len(p.pre)+len(p.mid)+len(p.post)+24)
	b = append(b, p.pre...)
	b = strconv.AppendInt(b, 1_000_000+i, 10)
	b = append(b, p.mid...)
	b = strconv.AppendInt(b, i, 10)
	return append(b, p.post...)
}
