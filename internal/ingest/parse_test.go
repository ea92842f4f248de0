package ingest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// decodedV1 is what encoding/json makes of body as a payload of kind: the
// decoding ParseHook must agree with.
func decodedV1(t *testing.T, kind string, body []byte) (Hook, error) {
	t.Helper()
	h := newHook(kind, body)
	if h == nil {
		t.Fatalf("no hook type for %s", kind)
	}
	return h, json.Unmarshal(body, h)
}

// TestParseHookDecodesAsEncodingJSONDoes holds ParseHook's faster decoder
// to encoding/json's verdicts and values, on GitLab's payloads of every kind
// and on the inputs where the two decoders differ unless told otherwise:
// names in another case, a name twice, invalid UTF-8.
func TestParseHookDecodesAsEncodingJSONDoes(t *testing.T) {
	type input struct {
		name, kind string
		body       []byte
	}
	var inputs []input
	files, err := filepath.Glob(filepath.Join("..", "webhook", "testdata", "gitlab", "*.json"))
	if err != nil || len(files) < 9 {
		t.Fatalf("GitLab's payloads: %d files, %v", len(files), err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		kind := strings.TrimSuffix(filepath.Base(f), ".json")
		if strings.HasPrefix(kind, "note_") {
			kind = "note"
		}
		inputs = append(inputs, input{filepath.Base(f), kind, b})
	}
	mr, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", "gitlab", "merge_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs,
		input{"names in upper case", "merge_request", bytes.ReplaceAll(mr, []byte(`"object_attributes"`), []byte(`"OBJECT_ATTRIBUTES"`))},
		input{"a name twice, the last one counts", "merge_request", bytes.Replace(mr, []byte(`"object_attributes"`), []byte(`"object_attributes": {"id": 1, "title": "first"}, "object_attributes"`), 1)},
		input{"invalid UTF-8 in a string", "merge_request", bytes.Replace(mr, []byte(`"title": "`), []byte("\"title\": \"\xff\xfe "), 1)},
		input{"a number where a string belongs", "merge_request", bytes.Replace(mr, []byte(`"title": "`), []byte(`"title": 12, "x": "`), 1)},
		input{"cut short", "merge_request", mr[:len(mr)/2]},
		input{"trailing data", "merge_request", append(append([]byte{}, mr...), []byte(` {}`)...)},
	)
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			want, wantErr := decodedV1(t, in.kind, in.body)
			got, err := ParseHook(in.kind, in.body)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("ParseHook error %v, encoding/json error %v", err, wantErr)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Fatalf("ParseHook decoded\n%s\nencoding/json decoded\n%s", g, w)
			}
		})
	}
}
