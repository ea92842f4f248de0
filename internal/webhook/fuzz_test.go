package webhook

import (
	"encoding/json"
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
		k := dedupeKey(h, event, []byte{1, 2, 3})
		if k == "" || len(k) > 400 {
			t.Fatalf("dedupe key %q", k)
		}
		_ = eventKind(event, p.ObjectKind)
		if err := verifySignature(h, body, []byte("0123456789abcdef"), time.Unix(1700000000, 0)); err == nil {
			t.Fatal("a random signature verified")
		}
	})
}
