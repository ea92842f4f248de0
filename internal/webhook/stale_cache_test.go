package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestAnotherReplicasCacheCannotStoreThroughAGoneEndpoint: a second
// replica has the endpoint cached (its clock never lets the cache expire).
// After the endpoint is re-issued, and after the integration is
// disconnected, deliveries to the old URL through that replica answer 404
// and store nothing, although its cache still trusts the old secret.
func TestAnotherReplicasCacheCannotStoreThroughAGoneEndpoint(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, false)
	other := New(r.st, r.svc.vault, slog.New(slog.DiscardHandler), Options{PublicURL: r.srv.URL,
		Now: func() time.Time { return r.now }, CacheTTL: time.Hour})
	other.Start()
	t.Cleanup(other.Stop)
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/webhooks/gitlab/{hook_id}", other)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	via := &rig{st: r.st, svc: other, srv: srv, issued: r.issued, org: r.org, integ: r.integ}

	if code, body := via.post(t, r.issued.HookID, r.headers(), []byte(mrBody)); code != 200 {
		t.Fatalf("first delivery: %d %s", code, body)
	}
	stored := r.inboxRows(t)

	// Re-issued on the first replica: the old URL is dead on both.
	old := r.issued
	if _, err := r.svc.Issue(ctx, r.org, r.integ, false); err != nil {
		t.Fatal(err)
	}
	h := r.headers("X-Gitlab-Token", old.Secret.Reveal(), "X-Gitlab-Event-UUID", "after-reissue")
	if code, body := via.post(t, old.HookID, h, []byte(mrBody)); code != 404 {
		t.Fatalf("old URL after re-issue, through the other replica: %d %s", code, body)
	}
	if n := r.inboxRows(t); n != stored {
		t.Fatalf("a delivery to a re-issued endpoint was stored: %d -> %d rows", stored, n)
	}

	// Disconnected: the current URL is dead too, cached or not.
	is, err := r.svc.Issue(ctx, r.org, r.integ, false) // a fresh secret the test knows
	if err != nil {
		t.Fatal(err)
	}
	h = r.headers("X-Gitlab-Token", is.Secret.Reveal(), "X-Gitlab-Event-UUID", "before-disconnect")
	if code, body := via.post(t, is.HookID, h, []byte(mrBody)); code != 200 {
		t.Fatalf("current URL before disconnecting: %d %s", code, body)
	}
	stored = r.inboxRows(t)
	if _, err := r.st.DisconnectIntegration(ctx, r.org, r.integ, "test", r.now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	h = r.headers("X-Gitlab-Token", is.Secret.Reveal(), "X-Gitlab-Event-UUID", "after-disconnect")
	if code, body := via.post(t, is.HookID, h, []byte(mrBody)); code != 404 {
		t.Fatalf("after disconnecting, through the replica that cached the endpoint: %d %s", code, body)
	}
	if n := r.inboxRows(t); n != stored {
		t.Fatalf("a delivery after disconnecting was stored: %d -> %d rows", stored, n)
	}
}
