package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// TestNewestFirstPagesVisitEveryRowOnceWhateverTheFractionOfASecond: rows
// whose times differ by nanoseconds, by a tenth of a second or not at all
// come newest first, and a walk page by page (cursor = the last row's time
// and id) returns each row exactly once, on both dialects.
func TestNewestFirstPagesVisitEveryRowOnceWhateverTheFractionOfASecond(t *testing.T) {
	ctx := context.Background()
	st, org, integ := newOrgIntegration(t)
	if err := st.UpsertDiscoveredProjects(ctx, org, integ, []store.Project{{GitLabID: 7, NamespacePath: "g", Name: "p",
		PathWithNamespace: "g/p", WebURL: "https://gitlab.test/g/p", Visibility: "private"}}); err != nil {
		t.Fatal(err)
	}
	ps, err := st.AllProjects(ctx, org, integ)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSelectedProjects(ctx, org, integ, []int64{ps[0].ID}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	offsets := []time.Duration{0, 0, time.Microsecond, 100 * time.Millisecond, 120 * time.Millisecond, time.Second,
		time.Second, time.Second + time.Microsecond, 2 * time.Second, 2*time.Second + 999999*time.Microsecond, 10 * time.Second}
	var mrs []store.MergeRequest
	for i, d := range offsets {
		at := base.Add(d)
		mrs = append(mrs, store.MergeRequest{ProjectGitLabID: 7, GitLabID: int64(100 + i), IID: int64(i + 1), Title: fmt.Sprint(i),
			State: "opened", UpdatedAt: at, CreatedAt: &at})
	}
	if _, err := st.UpsertMergeRequests(ctx, nil, org, integ, store.SourceSync, mrs); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 2, 3, 50} {
		t.Run(fmt.Sprintf("pages of %d", size), func(t *testing.T) {
			q := store.DataQuery{NewestFirst: true, Limit: size}
			var got []store.MergeRequest
			for range len(offsets) + 1 {
				page, err := st.MergeRequests(ctx, org, q)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page...)
				if len(page) < size {
					break
				}
				last := page[len(page)-1]
				q.Before = &store.DataCursor{At: last.UpdatedAt, ID: last.ID}
			}
			if len(got) != len(offsets) {
				t.Fatalf("%d rows walked, want %d", len(got), len(offsets))
			}
			seen := map[int64]bool{}
			for i, m := range got {
				if seen[m.ID] {
					t.Fatalf("row %d (%s) returned twice", m.ID, m.Title)
				}
				seen[m.ID] = true
				if i > 0 {
					prev := got[i-1]
					if m.UpdatedAt.After(prev.UpdatedAt) || (m.UpdatedAt.Equal(prev.UpdatedAt) && m.ID > prev.ID) {
						t.Fatalf("not newest first at %d: %v (id %d) after %v (id %d)", i, m.UpdatedAt, m.ID, prev.UpdatedAt, prev.ID)
					}
				}
			}
		})
	}
}
