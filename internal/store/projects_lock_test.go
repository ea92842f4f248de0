package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// TestProjectWritersAtOnceNeitherDeadlockNorMixSelections: two selections
// applied at once (a selection saved while a sync applies the previous one),
// polls recording what they saw, discovery saving projects and polls marking
// them fresh, all on the same projects in different orders, finish without
// an error, and the selection left is one of those applied, never a mix.
// On PostgreSQL the old selection writer (clear every selected row, then set
// each in the caller's order) deadlocked against the poll's last-seen writes.
func TestProjectWritersAtOnceNeitherDeadlockNorMixSelections(t *testing.T) {
	ctx := context.Background()
	st, org, integ := newOrgIntegration(t)
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC) // the polls' item times
	const n = 40
	var discovered []store.Project
	for i := range n {
		// GitLab ids run against the order the rows are created in.
		discovered = append(discovered, store.Project{GitLabID: int64(1000 - i), NamespacePath: "g", Name: fmt.Sprint("p", i),
			PathWithNamespace: fmt.Sprint("g/p", i), WebURL: fmt.Sprint("https://gitlab.test/g/p", i), Visibility: "private"})
	}
	if err := st.UpsertDiscoveredProjects(ctx, org, integ, discovered); err != nil {
		t.Fatal(err)
	}
	ps, err := st.AllProjects(ctx, org, integ)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	evens, odds := []int64{}, []int64{}
	for i, id := range ids {
		if i%2 == 0 {
			evens = append(evens, id)
		} else {
			odds = append(odds, id)
		}
	}

	slices.Sort(evens)
	slices.Sort(odds)

	const rounds = 25
	var wg sync.WaitGroup
	errs := make(chan error, 8*rounds)
	shuffled := func(r *rand.Rand, s []int64) []int64 {
		s = slices.Clone(s)
		r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		return s
	}
	for w, sel := range [][]int64{evens, odds} {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				if err := st.SetSelectedProjects(ctx, org, integ, shuffled(r, sel)); err != nil {
					errs <- fmt.Errorf("selection: %w", err)
				}
			}
		})
	}
	wg.Go(func() {
		for round := range rounds {
			var mrs []store.MergeRequest
			for i, p := range discovered {
				mrs = append(mrs, store.MergeRequest{ProjectGitLabID: p.GitLabID, GitLabID: int64(100000 + i), IID: 1,
					Title: fmt.Sprint("round ", round), State: "opened", UpdatedAt: at})
			}
			if _, err := st.UpsertMergeRequests(ctx, nil, org, integ, store.SourcePoll, mrs); err != nil {
				errs <- fmt.Errorf("poll: %w", err)
			}
		}
	})
	wg.Go(func() {
		r := rand.New(rand.NewPCG(7, 7))
		for range rounds {
			if err := st.MarkProjectsPolled(ctx, org, integ, shuffled(r, ids), at); err != nil {
				errs <- fmt.Errorf("polled: %w", err)
			}
		}
	})
	wg.Go(func() {
		for range rounds {
			if err := st.UpsertDiscoveredProjects(ctx, org, integ, discovered); err != nil {
				errs <- fmt.Errorf("discovery: %w", err)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	after, err := st.AllProjects(ctx, org, integ)
	if err != nil {
		t.Fatal(err)
	}
	var selected []int64
	for _, p := range after {
		if p.Selected {
			selected = append(selected, p.ID)
		}
	}
	slices.Sort(selected)
	if !slices.Equal(selected, evens) && !slices.Equal(selected, odds) {
		t.Fatalf("selected %v: neither of the two selections applied (%v, %v)", selected, evens, odds)
	}
}
