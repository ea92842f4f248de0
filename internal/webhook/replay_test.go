package webhook

import (
	"strconv"
	"strings"
	"testing"
)

func TestASignedDeliveryReplayedWithAnotherIdempotencyKeyIsADuplicate(t *testing.T) {
	r := newRig(t, true)
	key, err := signingKey(r.issued.SigningToken.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(mrBody)
	ts := strconv.FormatInt(r.now.Unix(), 10)
	sig := sign(key, "msg-1", ts, body)
	first := r.headers("webhook-id", "msg-1", "webhook-timestamp", ts, "webhook-signature", sig, "Idempotency-Key", "idem-a")
	if code, b := r.post(t, r.issued.HookID, first, body); code != 200 || !strings.Contains(b, "accepted") {
		t.Fatalf("first delivery: %d %s", code, b)
	}
	// Within the signature's 5 minutes, the captured delivery is sent again
	// with new unsigned headers.
	for _, c := range []struct{ name, header, value string }{
		{"a new Idempotency-Key", "Idempotency-Key", "idem-b"},
		{"no Idempotency-Key", "Idempotency-Key", ""},
		{"a new X-Gitlab-Event-UUID", "X-Gitlab-Event-UUID", "11111111-2222-3333-4444-555555555555"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := r.headers("webhook-id", "msg-1", "webhook-timestamp", ts, "webhook-signature", sig, c.header, c.value)
			if code, b := r.post(t, r.issued.HookID, h, body); code != 200 || !strings.Contains(b, "duplicate") {
				t.Fatalf("replay: %d %s, want 200 duplicate", code, b)
			}
		})
	}
	if n := r.inboxRows(t); n != 1 {
		t.Fatalf("%d deliveries stored, want the one signed delivery once", n)
	}
}
