package syncer

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// splitItems cuts a page into exactly the items encoding/json finds, and
// refuses what encoding/json refuses (an answer cut short is retried).
func TestSplitItemsAgreesWithEncodingJSON(t *testing.T) {
	for _, body := range []string{
		`[]`, ` [ ] `, `null`, `[{"id":1},{"id":2,"labels":["a","b"],"nested":{"x":[1,{"y":null}]}}]`,
		"[\n  {\"title\": \"caf\\u00e9 \\\"quoted\\\"\"},\n  {\"id\": -1.5e3}\n]\n", `[1,"two",true,null]`,
	} {
		var want []json.RawMessage
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatalf("bad case %q: %v", body, err)
		}
		got, err := splitItems([]byte(body), false)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if !slices.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Errorf("%q: split into %q, want %q", body, got, want)
		}
	}
	for _, body := range []string{``, `[{"id":1},{"id":2`, `[{"id":1}]x`, `{"id":1}`, `[{"id":01}]`, `<html>`} {
		if got, err := splitItems([]byte(body), false); !errors.Is(err, errNotJSON) {
			t.Errorf("%q: %q, %v; want errNotJSON", body, got, err)
		}
	}
	one, err := splitItems([]byte(" {\"version\":\"17.11.0\"}\n"), true)
	if err != nil || len(one) != 1 || string(one[0]) != `{"version":"17.11.0"}` {
		t.Errorf("one object: %q %v", one, err)
	}
	if _, err := splitItems([]byte(`{"version":`), true); !errors.Is(err, errNotJSON) {
		t.Errorf("a cut-off object: %v", err)
	}
}

func FuzzSplitItemsAgreesWithEncodingJSON(f *testing.F) {
	f.Add([]byte(`[{"id":1},{"id":2}]`))
	f.Add([]byte(`[1,[2,[3]],{"a":"]"}]`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var want []json.RawMessage
		werr := json.Unmarshal(body, &want)
		got, err := splitItems(body, false)
		if (werr == nil) != (err == nil) {
			t.Fatalf("%q: encoding/json says %v, splitItems %v", body, werr, err)
		}
		if err == nil && !slices.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Fatalf("%q: split into %q, want %q", body, got, want)
		}
	})
}

// benchPage is a page of 100 merge-request-sized objects.
func benchPage() []byte {
	item := `{"id":1,"iid":1,"project_id":7,"title":"Fix the thing","description":"` + string(make([]byte, 0)) +
		`A longer description with \"quotes\" and unicode caf\u00e9.","state":"opened","labels":["a","b"],` +
		`"author":{"id":1,"username":"root","name":"Administrator","avatar_url":"http://example.com/a.png"},` +
		`"assignees":[{"id":2,"username":"u2"}],"reviewers":[],"source_branch":"feature","target_branch":"main",` +
		`"sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","web_url":"http://example.com/g/p/-/merge_requests/1",` +
		`"created_at":"2026-01-02T03:04:05.000Z","updated_at":"2026-01-02T03:04:05.000Z","merged_at":null}`
	b := []byte{'['}
	for i := range 100 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, item...)
	}
	return append(b, ']')
}

func BenchmarkSplitPage(b *testing.B) {
	page := benchPage()
	b.Run("splitItems", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			if _, err := splitItems(page, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			var items []json.RawMessage
			if err := json.Unmarshal(page, &items); err != nil {
				b.Fatal(err)
			}
		}
	})
}
