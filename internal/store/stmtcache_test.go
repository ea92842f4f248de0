package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestBatchSizesCoverEveryRowInFewShapes(t *testing.T) {
	for n := range 300 {
		sizes := batchSizes(n, 64)
		sum := 0
		for _, s := range sizes {
			if !slices.Contains([]int{64, 16, 4, 1}, s) {
				t.Fatalf("batchSizes(%d) has a chunk of %d", n, s)
			}
			sum += s
		}
		if sum != n {
			t.Fatalf("batchSizes(%d) covers %d rows", n, sum)
		}
	}
}

// The inbox's statements are compiled once and then reused, and a reused
// statement reports duplicates exactly like a fresh one.
func TestInboxStatementsAreCompiledOnceAndStayCorrect(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{SQLitePath: filepath.Join(t.TempDir(), "t.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b, _, err := s.BootstrapIfEmpty(ctx, "A", "a@localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	in := &Integration{OrgID: b.Org.ID, Alias: "gl", BaseURL: "https://g.example.com", AuthMethod: AuthMethodToken}
	if err := s.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	batch := func(keys ...string) []InsertResult {
		var ds []Delivery
		for _, k := range keys {
			ds = append(ds, Delivery{OrgID: b.Org.ID, IntegrationID: in.ID, DedupeKey: k, EventKind: "push", Headers: "{}",
				Body: []byte(`{}`), ReceivedAt: time.Now().UTC()})
		}
		res, err := s.InsertDeliveries(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	keys := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s-%d", prefix, i))
		}
		return out
	}
	batch(keys("a", 5)...) // shapes of 4 and 1 rows: noted, then compiled
	s.stmts.mu.Lock()
	compiled := len(s.stmts.stmts)
	s.stmts.mu.Unlock()
	if compiled < 3 { // insert ×4, insert ×1, last-received update
		t.Fatalf("%d statements compiled after the first batch, want the inbox's", compiled)
	}
	// The same shapes again, through the compiled statements: two new, three
	// already stored, in the order given.
	res := batch("a-0", "b-0", "a-1", "b-1", "a-4")
	want := []InsertResult{Duplicate, Inserted, Duplicate, Inserted, Duplicate}
	if !slices.Equal(res, want) {
		t.Fatalf("through compiled statements: %v, want %v", res, want)
	}
	s.stmts.mu.Lock()
	again := len(s.stmts.stmts)
	s.stmts.mu.Unlock()
	if again != compiled {
		t.Fatalf("the same shapes compiled again: %d statements, then %d", compiled, again)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.cachedStmt("SELECT 1") != nil {
		t.Fatal("a closed store still hands out compiled statements")
	}
}
