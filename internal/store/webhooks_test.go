package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

func TestInsertDeliveriesReportsDuplicatesWithinAndAcrossBatches(t *testing.T) {
	ctx := context.Background()
	s, b, in := storeWithIntegration(t)
	d := func(key string) store.Delivery {
		return store.Delivery{OrgID: b.Org.ID, IntegrationID: in.ID, DedupeKey: key, EventKind: "push", Headers: "{}",
			Body: []byte(`{}`), ReceivedAt: time.Now().UTC()}
	}
	fresh, err := s.InsertDeliveries(ctx, []store.Delivery{d("a"), d("b"), d("a")})
	if err != nil {
		t.Fatal(err)
	}
	if fresh[0] != store.Inserted || fresh[1] != store.Inserted || fresh[2] != store.Duplicate {
		t.Fatalf("within a batch: %v, want [true true false]", fresh)
	}
	batch := make([]store.Delivery, 0, 450)
	for i := range 450 { // more than one chunk
		batch = append(batch, d(string(rune('A'+i%26))+string(rune('a'+i/26))))
	}
	batch = append(batch, d("b"))
	fresh, err = s.InsertDeliveries(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fresh[:450] {
		if f != store.Inserted {
			t.Fatalf("delivery %d reported as duplicate", i)
		}
	}
	if fresh[450] != store.Duplicate {
		t.Fatal("a key stored by an earlier batch was reported new")
	}
	c, _ := s.InboxCounts(ctx, b.Org.ID, in.ID)
	if c["pending"] != 452 {
		t.Fatalf("stored %v, want 452", c)
	}
}

// TestAFailedDeliveryBatchWritesNothingAndLeavesTheStoreUsable: a batch
// with one impossible row (an integration that does not exist) fails as a
// whole, stores none of its rows, and the next batch goes through (on
// PostgreSQL the pipelined transaction is rolled back before its
// connection is reused).
func TestAFailedDeliveryBatchWritesNothingAndLeavesTheStoreUsable(t *testing.T) {
	ctx := context.Background()
	s, b, in := storeWithIntegration(t)
	d := func(integ int64, key string) store.Delivery {
		return store.Delivery{OrgID: b.Org.ID, IntegrationID: integ, DedupeKey: key, EventKind: "push", Headers: "{}",
			Body: []byte(`{}`), ReceivedAt: time.Now().UTC()}
	}
	for range 3 { // more than once: a connection left in a broken transaction would fail the next round
		if _, err := s.InsertDeliveries(ctx, []store.Delivery{d(in.ID, "ok-1"), d(in.ID+1000, "bad")}); err == nil {
			t.Fatal("a batch with a row of a missing integration was accepted")
		}
	}
	c, _ := s.InboxCounts(ctx, b.Org.ID, in.ID)
	if c["pending"] != 0 {
		t.Fatalf("a failed batch stored rows: %v", c)
	}
	for i := range 5 {
		res, err := s.InsertDeliveries(ctx, []store.Delivery{d(in.ID, fmt.Sprintf("good-%d", i))})
		if err != nil || res[0] != store.Inserted {
			t.Fatalf("the batch after a failed one: %v %v", res, err)
		}
	}
	if c, _ := s.InboxCounts(ctx, b.Org.ID, in.ID); c["pending"] != 5 {
		t.Fatalf("stored %v, want 5", c)
	}
}

// storeWithIntegration returns a migrated store of the test's dialect with
// an organisation and one token integration in it.
func storeWithIntegration(t *testing.T) (*store.Store, store.Bootstrap, *store.Integration) {
	t.Helper()
	ctx := context.Background()
	s := storetest.Open(t)
	b, _, err := s.BootstrapIfEmpty(ctx, "A", "a@localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	in := &store.Integration{OrgID: b.Org.ID, Alias: "gl", BaseURL: "https://g.example.com", AuthMethod: store.AuthMethodToken}
	if err := s.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	return s, b, in
}

// Outcomes recorded for a batch move exactly those deliveries out of
// pending, whatever their number, and the summary counts them and says when
// the last one was processed; the others are still pending.
func TestFinishedDeliveriesLeavePendingAndAreSummarised(t *testing.T) {
	ctx := context.Background()
	s, b, in := storeWithIntegration(t)
	var ds []store.Delivery
	for i := range 70 { // more than one statement's worth
		ds = append(ds, store.Delivery{OrgID: b.Org.ID, IntegrationID: in.ID, DedupeKey: fmt.Sprint("k", i), EventKind: "push",
			Headers: "{}", Body: []byte(`{}`), ReceivedAt: time.Now().UTC()})
	}
	if _, err := s.InsertDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	pend, err := s.PendingDeliveries(ctx, nil, 0, 100)
	if err != nil || len(pend) != 70 {
		t.Fatalf("pending %d, %v", len(pend), err)
	}
	var outs []store.Outcome
	var ids []int64
	for i, d := range pend {
		ids = append(ids, d.ID)
		switch {
		case i < 66:
			outs = append(outs, store.Outcome{OrgID: d.OrgID, ID: d.ID, Status: "processed"})
		case i < 68:
			outs = append(outs, store.Outcome{OrgID: d.OrgID, ID: d.ID, Status: "ignored", Error: "why"})
		}
	}
	var still map[int64]bool
	if err := s.InTx(ctx, func(tx store.Tx) error {
		if err := s.FinishDeliveries(ctx, tx, outs); err != nil {
			return err
		}
		still, err = s.StillPending(ctx, tx, ids)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(still) != 2 || !still[pend[68].ID] || !still[pend[69].ID] {
		t.Fatalf("still pending %v, want the last two", still)
	}
	sum, err := s.InboxSummary(ctx, b.Org.ID, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ByStatus["processed"] != 66 || sum.ByStatus["ignored"] != 2 || sum.ByStatus["pending"] != 2 ||
		sum.FirstReceived == nil || sum.LastProcessed == nil {
		t.Fatalf("summary %+v", sum)
	}
}

// A delivery stored inside the caller's transaction keeps the outcome the
// caller decided (processed, ignored with its reason) or stays pending; a
// rolled-back transaction stores none of them.
func TestDeliveriesInsertedInATransactionKeepTheirOutcome(t *testing.T) {
	ctx := context.Background()
	s, b, in := storeWithIntegration(t)
	now := time.Now().UTC()
	d := func(key, status, why string) store.Delivery {
		d := store.Delivery{OrgID: b.Org.ID, IntegrationID: in.ID, DedupeKey: key, EventKind: "merge_request", Headers: "{}",
			Body: []byte(`{}`), ReceivedAt: now, Status: status, Error: why}
		if status != "pending" {
			d.ProcessedAt = &now
		}
		return d
	}
	errRollback := fmt.Errorf("roll back")
	err := s.InTx(ctx, func(tx store.Tx) error {
		if _, err := s.InsertDeliveriesTx(ctx, tx, []store.Delivery{d("gone", "processed", "")}); err != nil {
			return err
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatalf("rolled-back transaction: %v", err)
	}
	var res []store.InsertResult
	err = s.InTx(ctx, func(tx store.Tx) error {
		var err error
		res, err = s.InsertDeliveriesTx(ctx, tx, []store.Delivery{d("p", "processed", ""), d("i", "ignored", "the issues service is off"),
			d("w", "pending", ""), d("p", "processed", "")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res) != fmt.Sprint([]store.InsertResult{store.Inserted, store.Inserted, store.Inserted, store.Duplicate}) {
		t.Fatalf("results %v", res)
	}
	rows, err := s.DB().QueryContext(ctx, `SELECT dedupe_key, status, error, processed_at IS NOT NULL FROM webhook_inbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var k, st, why string
		var done bool
		if err := rows.Scan(&k, &st, &why, &done); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %q %v", k, st, why, done))
	}
	want := []string{`p processed "" true`, `i ignored "the issues service is off" true`, `w pending "" false`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %v\nwant %v", got, want)
	}
}

// On PostgreSQL 14 and later built with lz4, the payload columns are
// compressed with lz4 (migration 00015).
func TestPayloadColumnsAreCompressedWithLZ4OnPostgreSQL(t *testing.T) {
	s := postgresOrSkip(t)
	var version int
	var lz4 bool
	if err := s.DB().QueryRow(`SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 140000 {
		t.Skipf("PostgreSQL %d has no column compression", version)
	}
	// A server built without lz4 refuses the setting: the migration kept pglz.
	if _, err := s.DB().Exec(`CREATE TEMP TABLE lz4_probe (b bytea COMPRESSION lz4)`); err == nil {
		lz4 = true
	}
	rows, err := s.DB().Query(`SELECT c.relname || '.' || a.attname, a.attcompression::text FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND (c.relname, a.attname) IN (('webhook_inbox', 'body'), ('merge_requests', 'raw'),
			('issues', 'raw'), ('pipelines', 'raw'), ('pushes', 'raw'), ('commits', 'raw'), ('projects', 'raw'), ('gitlab_groups', 'raw'))
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var col, method string
		if err := rows.Scan(&col, &method); err != nil {
			t.Fatal(err)
		}
		n++
		if want := map[bool]string{true: "l", false: ""}[lz4]; method != want {
			t.Errorf("%s compression %q, want %q (lz4 available: %v)", col, method, want, lz4)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 8 {
		t.Fatalf("found %d of the 8 payload columns", n)
	}
}
