package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/vault"
)

type rig struct {
	st     *store.Store
	svc    *Service
	proc   *Processor // processes at intake (newInlineRig); nil: deliveries are stored pending
	srv    *httptest.Server
	issued Issued
	org    int64
	integ  int64
	now    time.Time
}

// newRig is a receiver whose inbox stores deliveries pending, for a
// processor the test runs.
func newRig(t *testing.T, signing bool) *rig {
	t.Helper()
	return buildRig(t, signing, false)
}

// newInlineRig is a receiver as serve wires it: a processor attached to
// the inbox processes deliveries as they are stored (it is not started:
// what intake leaves pending stays pending until the test processes it).
func newInlineRig(t *testing.T) *rig {
	t.Helper()
	return buildRig(t, false, true)
}

func buildRig(t *testing.T, signing, inline bool) *rig {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	kek, _, _ := vault.GenerateKEK()
	v := vault.New(kek, st.OrgKeys())
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "a@localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	in := &store.Integration{OrgID: b.Org.ID, Alias: "gl", BaseURL: "https://gitlab.example.com", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	r := &rig{st: st, org: b.Org.ID, integ: in.ID, now: time.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/webhooks/gitlab/{hook_id}", func(w http.ResponseWriter, req *http.Request) { r.svc.ServeHTTP(w, req) })
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	r.svc = New(st, v, slog.New(slog.DiscardHandler), Options{PublicURL: r.srv.URL, Now: func() time.Time { return r.now }})
	if inline {
		r.proc = NewProcessor(st, nil)
		r.svc.ProcessWith(r.proc)
	}
	r.svc.Start()
	t.Cleanup(r.svc.Stop)
	if r.issued, err = r.svc.Issue(ctx, b.Org.ID, in.ID, signing); err != nil {
		t.Fatal(err)
	}
	return r
}

const mrBody = `{"object_kind":"merge_request","event_type":"merge_request","project":{"id":42,"path_with_namespace":"g/p"},"object_attributes":{"id":7,"iid":1,"updated_at":"2026-11-23 10:00:00 UTC"}}`

func (r *rig) post(t *testing.T, hookID string, h map[string]string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", r.srv.URL+"/api/v1/webhooks/gitlab/"+hookID, bytes.NewReader(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (r *rig) headers(extra ...string) map[string]string {
	h := map[string]string{"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": r.issued.Secret.Reveal(), "Content-Type": "application/json"}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			delete(h, extra[i])
		} else {
			h[extra[i]] = extra[i+1]
		}
	}
	return h
}

func (r *rig) inboxRows(t *testing.T) int64 {
	t.Helper()
	c, err := r.st.InboxCounts(context.Background(), r.org, r.integ)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

func TestBadDeliveriesAreRefusedAndStoreNothing(t *testing.T) {
	r := newRig(t, false)
	big := bytes.Repeat([]byte("x"), MaxBody+1)
	cases := []struct {
		name   string
		hook   string
		h      map[string]string
		body   []byte
		status int
	}{
		{"missing token", r.issued.HookID, r.headers("X-Gitlab-Token", ""), []byte(mrBody), 401},
		{"wrong token", r.issued.HookID, r.headers("X-Gitlab-Token", "lsw_wrong"), []byte(mrBody), 401},
		{"token of the right length but wrong", r.issued.HookID, r.headers("X-Gitlab-Token", strings.Repeat("a", len(r.issued.Secret.Reveal()))), []byte(mrBody), 401},
		{"body over 25 MB", r.issued.HookID, r.headers(), big, 413},
		{"malformed JSON", r.issued.HookID, r.headers(), []byte(`{"object_kind":`), 400},
		{"JSON but not an object", r.issued.HookID, r.headers(), []byte(`[1,2]`), 400},
		{"unknown hook id", "nosuchhook", r.headers(), []byte(mrBody), 404},
		{"hook id of absurd length", strings.Repeat("a", 200), r.headers(), []byte(mrBody), 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := r.post(t, c.hook, c.h, c.body)
			if code != c.status {
				t.Fatalf("got %d %s, want %d", code, body, c.status)
			}
			if n := r.inboxRows(t); n != 0 {
				t.Fatalf("%d deliveries stored after a refused one", n)
			}
			if strings.Contains(body, r.issued.Secret.Reveal()) {
				t.Fatal("the secret is in the answer")
			}
		})
	}
}

func TestAuthenticDeliveriesAreStoredOnceAndAnswered200(t *testing.T) {
	r := newRig(t, false)
	code, body := r.post(t, r.issued.HookID, r.headers("Idempotency-Key", "k-1"), []byte(mrBody))
	if code != 200 || !strings.Contains(body, "accepted") {
		t.Fatalf("%d %s", code, body)
	}
	// GitLab retries with the same Idempotency-Key (and a new Webhook-UUID).
	code, body = r.post(t, r.issued.HookID, r.headers("Idempotency-Key", "k-1", "X-Gitlab-Webhook-UUID", "other"), []byte(mrBody))
	if code != 200 || !strings.Contains(body, "duplicate") {
		t.Fatalf("retry: %d %s", code, body)
	}
	// Before 17.4: the event UUID with the same body is the same delivery…
	h := r.headers("X-Gitlab-Event-UUID", "u-1")
	r.post(t, r.issued.HookID, h, []byte(mrBody))
	if _, body := r.post(t, r.issued.HookID, h, []byte(mrBody)); !strings.Contains(body, "duplicate") {
		t.Fatalf("uuid retry: %s", body)
	}
	// …while a different body under the same UUID is not.
	if _, body := r.post(t, r.issued.HookID, h, []byte(strings.Replace(mrBody, `"iid":1`, `"iid":2`, 1))); !strings.Contains(body, "accepted") {
		t.Fatalf("different body: %s", body)
	}
	// An unknown event is answered 200 and recorded as ignored.
	if code, body := r.post(t, r.issued.HookID, r.headers("X-Gitlab-Event", "Emoji Hook"), []byte(`{"object_kind":"emoji"}`)); code != 200 || !strings.Contains(body, "ignored") {
		t.Fatalf("unknown event: %d %s", code, body)
	}
	counts, _ := r.st.InboxCounts(context.Background(), r.org, r.integ)
	if counts["pending"] != 3 || counts["ignored"] != 1 {
		t.Fatalf("inbox %v, want 3 pending and 1 ignored", counts)
	}
	pend, _ := r.st.PendingDeliveries(context.Background(), nil, 0, 10)
	for _, d := range pend {
		var p Probe
		if err := json.Unmarshal(d.Body, &p); err != nil || p.ProjectID() != 42 || !bytes.Equal(d.Body, d.Body[:len(d.Body)]) {
			t.Fatalf("stored body does not route: %v %d", err, p.ProjectID())
		}
	}
	in, _ := r.st.Integration(context.Background(), r.org, r.integ)
	if in.WebhookLastReceivedAt == nil {
		t.Fatal("last received time not recorded")
	}
}

func sign(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.", id, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestStandardWebhooksSignature(t *testing.T) {
	r := newRig(t, true)
	key, err := signingKey(r.issued.SigningToken.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(mrBody)
	ts := strconv.FormatInt(r.now.Unix(), 10)
	old := strconv.FormatInt(r.now.Add(-6*time.Minute).Unix(), 10)
	otherKey := bytes.Repeat([]byte{7}, 32)
	cases := []struct {
		name   string
		h      map[string]string
		status int
	}{
		{"valid", r.headers("webhook-id", "m1", "webhook-timestamp", ts, "webhook-signature", sign(key, "m1", ts, body)), 200},
		{"one of several signatures valid", r.headers("webhook-id", "m2", "webhook-timestamp", ts,
			"webhook-signature", sign(otherKey, "m2", ts, body)+" "+sign(key, "m2", ts, body)), 200},
		{"no signature", r.headers("webhook-id", "m3", "webhook-timestamp", ts), 401},
		{"signed with another key", r.headers("webhook-id", "m4", "webhook-timestamp", ts, "webhook-signature", sign(otherKey, "m4", ts, body)), 401},
		{"signature over another id", r.headers("webhook-id", "m5", "webhook-timestamp", ts, "webhook-signature", sign(key, "m6", ts, body)), 401},
		{"stale timestamp", r.headers("webhook-id", "m7", "webhook-timestamp", old, "webhook-signature", sign(key, "m7", old, body)), 401},
		{"right signature, wrong token", r.headers("X-Gitlab-Token", "nope", "webhook-id", "m8", "webhook-timestamp", ts, "webhook-signature", sign(key, "m8", ts, body)), 401},
		{"garbage signature", r.headers("webhook-id", "m9", "webhook-timestamp", ts, "webhook-signature", "v1,!!!! v2,abc"), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code, b := r.post(t, r.issued.HookID, c.h, body); code != c.status {
				t.Fatalf("got %d %s, want %d", code, b, c.status)
			}
		})
	}
	if n := r.inboxRows(t); n != 2 {
		t.Fatalf("%d stored, want the 2 valid ones", n)
	}
}

func TestReissueInvalidatesTheOldURLAndSecret(t *testing.T) {
	r := newRig(t, false)
	old := r.issued
	if code, _ := r.post(t, old.HookID, r.headers(), []byte(mrBody)); code != 200 {
		t.Fatal("first delivery refused")
	}
	next, err := r.svc.Issue(context.Background(), r.org, r.integ, false)
	if err != nil {
		t.Fatal(err)
	}
	if next.Secret.Equal(old.Secret) || next.HookID == old.HookID {
		t.Fatal("re-issue reused the secret or hook id")
	}
	if code, _ := r.post(t, old.HookID, r.headers(), []byte(mrBody)); code != 404 {
		t.Fatalf("old URL still accepted: %d", code)
	}
	r.issued = next
	if code, _ := r.post(t, next.HookID, r.headers("X-Gitlab-Token", old.Secret.Reveal()), []byte(mrBody)); code != 401 {
		t.Fatalf("old secret accepted on the new URL: %d", code)
	}
	if code, _ := r.post(t, next.HookID, r.headers("Idempotency-Key", "n"), []byte(mrBody)); code != 200 {
		t.Fatalf("new secret refused: %d", code)
	}
}

func TestSecretsAreUniqueAndNeverStoredInClear(t *testing.T) {
	r := newRig(t, true)
	seen := map[string]bool{r.issued.Secret.Reveal(): true}
	for range 20 {
		is, err := r.svc.Issue(context.Background(), r.org, r.integ, true)
		if err != nil {
			t.Fatal(err)
		}
		if seen[is.Secret.Reveal()] {
			t.Fatal("a secret was issued twice")
		}
		seen[is.Secret.Reveal()] = true
		r.issued = is
	}
	if r.st.Dialect() != store.SQLite {
		return
	}
	r.st.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	raw := readFile(t, r.st.Path())
	for s := range seen {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatal("a webhook secret is in the database file in clear")
		}
	}
	if bytes.Contains(raw, []byte(r.issued.SigningToken.Reveal())) {
		t.Fatal("the signing token is in the database file in clear")
	}
}

func TestConcurrentDeliveriesAreAllStored(t *testing.T) {
	r := newRig(t, false)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				code, _ := r.post(t, r.issued.HookID, r.headers("Idempotency-Key", fmt.Sprintf("w%d-%d", w, i)), []byte(mrBody))
				if code == 200 {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if ok != 400 || r.inboxRows(t) != 400 {
		t.Fatalf("%d answered 200, %d stored; want 400 and 400", ok, r.inboxRows(t))
	}
}

func TestSetSigningToken(t *testing.T) {
	r := newRig(t, false)
	ctx := context.Background()
	for _, bad := range []string{"nothing", "whsec_!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if err := r.svc.SetSigningToken(ctx, r.org, r.integ, secret.New(bad)); err == nil {
			t.Fatalf("accepted signing token %q", bad)
		}
	}
	key := bytes.Repeat([]byte{9}, 32)
	if err := r.svc.SetSigningToken(ctx, r.org, r.integ, secret.New("whsec_"+base64.StdEncoding.EncodeToString(key))); err != nil {
		t.Fatal(err)
	}
	if code, _ := r.post(t, r.issued.HookID, r.headers(), []byte(mrBody)); code != 401 {
		t.Fatalf("unsigned delivery accepted once a signing token is set: %d", code)
	}
	ts := strconv.FormatInt(r.now.Unix(), 10)
	if code, _ := r.post(t, r.issued.HookID, r.headers("webhook-id", "x", "webhook-timestamp", ts, "webhook-signature", sign(key, "x", ts, []byte(mrBody))), []byte(mrBody)); code != 200 {
		t.Fatalf("signed delivery refused: %d", code)
	}
}

func TestMetricsReportHealthAndBacklog(t *testing.T) {
	r := newRig(t, false)
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(r.svc))
	r.post(t, r.issued.HookID, r.headers(), []byte(mrBody))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	id := strconv.FormatInt(r.integ, 10)
	if got["labsync_webhook_inbox_pending"] != 1 || got["labsync_webhook_health,integration_id="+id+",state=healthy"] != 1 {
		t.Fatalf("metrics %v", got)
	}
}
