package webhook

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bodies and headers through what the receiver
// reads of a delivery: the probe, the dedupe key, the signature check.
func FuzzParse(f *testing.F) {
	f.Add([]byte(mrBody), "Merge Request Hook", "k", "1700000000", "v1,abc")
	f.Add([]byte(`{"object_kind":"push","project_id":1}`), "Push Hook", "", "", "")
	f.Add([]byte(`{"project":{"id":"x"}}`), "", "", "-1", "v1, v1,")
	f.Add([]byte(`[`), "\x00", "\xff", "99999999999999999999", "v1,AAAA v1,====")
	f.Fuzz(func(t *testing.T, body []byte, event, idem, ts, sig string) {
		var p Probe
		if json.Unmarshal(body, &p) == nil {
			_ = p.ProjectID()
		}
		_ = isJSONObject(body)
		h := http.Header{}
		h.Set("Idempotency-Key", idem)
		h.Set("webhook-id", idem)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		k := dedupeKey(h, event, []byte{1, 2, 3}, false)
		if k == "" || len(k) > 400 {
			t.Fatalf("dedupe key %q", k)
		}
		_ = eventKind(event, p.ObjectKind)
		if err := verifySignature(h, body, []byte("0123456789abcdef"), time.Unix(1700000000, 0)); err == nil {
			t.Fatal("a random signature verified")
		}
	})
}

// FuzzValidityMatchesEncodingJSON: the receiver's fast validity check says
// what encoding/json says of every body.
func FuzzValidityMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{mrBody, `{}`, ` {"a":[1,2.5e-3,-0,true,null,"\u00e9\ud83d\ude00"]} `, `{"a":01}`, `{"a":1.}`,
		`{"a":"\x"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", `{"a":1}x`, `{"a":1,}`, `{"a" 1}`, `[1]`, `{"a":-}`,
		`{"a":1e}`, `{"a":tru}`, `{"a":"\ud800"}`, "{\"a\":1}\n", `{"a":{"b":{"c":[[[]]]}}}`, `{` + "\t" + `}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want := json.Valid(body) && len(bytes.TrimLeft(body, " \t\r\n")) > 0 && bytes.TrimLeft(body, " \t\r\n")[0] == '{'
		if got := isJSONObject(body); got != want {
			t.Fatalf("isJSONObject(%q) = %v, encoding/json says %v", body, got, want)
		}
	})
}

// The kept headers are the JSON encoding/json would write for them.
func FuzzKeptHeadersMatchEncodingJSON(f *testing.F) {
	f.Add("Push Hook", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "GitLab/17.4.0")
	f.Add("a\"b\\c", "<tag>&amp;", "\x00\x1f\u2028é\xff")
	f.Fuzz(func(t *testing.T, event, idem, agent string) {
		h := http.Header{}
		h.Set("X-Gitlab-Event", event)
		h.Set("Idempotency-Key", idem)
		h.Set("User-Agent", agent)
		var got, want map[string]string
		if err := json.Unmarshal([]byte(keptHeaders(h)), &got); err != nil {
			t.Fatalf("keptHeaders is not JSON: %v: %s", err, keptHeaders(h))
		}
		m := map[string]string{}
		for _, k := range headersKept {
			if v := h.Get(k); v != "" {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		json.Unmarshal(b, &want)
		if !maps.Equal(got, want) {
			t.Fatalf("keptHeaders gives %v, encoding/json %v", got, want)
		}
	})
}
