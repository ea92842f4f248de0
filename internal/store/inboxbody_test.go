package store_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// Inbox bodies are stored compressed and come back byte for byte as
// received; rows written before compression (codec ”) still read, and a
// stored body that no longer decodes is reported on its delivery instead of
// failing the whole read.
func TestInboxBodiesAreStoredCompressedAndReadBackAsReceived(t *testing.T) {
	ctx := context.Background()
	s, b, in := storeWithIntegration(t)
	big := []byte(`{"object_kind":"merge_request","labels":[` + strings.Repeat(`{"title":"API","color":"#ffffff","type":"ProjectLabel"},`, 60) + `{}]}`)
	bodies := map[string][]byte{
		"big":   big,
		"small": []byte(`{"object_kind":"push"}`),
		"noisy": bytes.Repeat([]byte{0xff, 0x13, 0x7a, 0x01}, 200), // compresses well, not JSON: stored all the same
	}
	var ds []store.Delivery
	for k, body := range bodies {
		ds = append(ds, store.Delivery{OrgID: b.Org.ID, IntegrationID: in.ID, DedupeKey: k, EventKind: "push",
			Headers: "{}", Body: body, ReceivedAt: time.Now().UTC()})
	}
	ds[0].Pack() // packed by the caller, as the receiver does; the others by the store
	if _, err := s.InsertDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	var stored int
	if err := s.DB().QueryRowContext(ctx, `SELECT length(body) FROM webhook_inbox WHERE dedupe_key = 'big'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored >= len(big)/2 {
		t.Errorf("a %d-byte body is stored in %d bytes", len(big), stored)
	}
	// A row from before compression, and one whose stored form is damaged.
	for _, row := range []struct{ key, codec, body string }{{"old", "", `{"object_kind":"issue"}`}, {"damaged", "s2", "\xffnot s2 at all"}} {
		if _, err := s.DB().ExecContext(ctx, `INSERT INTO webhook_inbox (org_id, integration_id, dedupe_key, event_kind, body, body_codec, received_at)
			VALUES ($1, $2, $3, 'push', $4, $5, $6)`, b.Org.ID, in.ID, row.key, []byte(row.body), row.codec, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
	}
	bodies["old"] = []byte(`{"object_kind":"issue"}`)
	got, err := s.PendingDeliveries(ctx, nil, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("read %d deliveries, want 5", len(got))
	}
	for _, d := range got {
		if d.DedupeKey == "damaged" {
			if d.BodyErr == nil || !strings.Contains(d.BodyErr.Error(), "corrupt") {
				t.Errorf("damaged body: err %v, body %q", d.BodyErr, d.Body)
			}
			continue
		}
		if d.BodyErr != nil || !bytes.Equal(d.Body, bodies[d.DedupeKey]) {
			t.Errorf("%s: err %v, body %d bytes, want %d bytes as received", d.DedupeKey, d.BodyErr, len(d.Body), len(bodies[d.DedupeKey]))
		}
	}
}
