package store_test

import (
	"testing"

	"github.com/labsync/labsync/internal/store"
)

func TestGroupTreeNestsUnderVisibleParents(t *testing.T) {
	id := func(n int64) *int64 { return &n }
	gs := []store.Group{
		{GitLabID: 1, FullPath: "a"},
		{GitLabID: 2, FullPath: "a/b", ParentGitLabID: id(1)},
		{GitLabID: 3, FullPath: "a/b/c", ParentGitLabID: id(2)},
		{GitLabID: 4, FullPath: "hidden/d", ParentGitLabID: id(99)}, // parent not visible: a root
		{GitLabID: 5, FullPath: "a/e", ParentGitLabID: id(1)},
	}
	roots := store.GroupTree(gs)
	if len(roots) != 2 || roots[0].GitLabID != 1 || roots[1].GitLabID != 4 {
		t.Fatalf("roots: %+v", roots)
	}
	a := roots[0]
	if len(a.Subgroups) != 2 || a.Subgroups[0].GitLabID != 2 || a.Subgroups[1].GitLabID != 5 {
		t.Fatalf("a's subgroups: %+v", a.Subgroups)
	}
	if b := a.Subgroups[0]; len(b.Subgroups) != 1 || b.Subgroups[0].GitLabID != 3 || len(b.Subgroups[0].Subgroups) != 0 {
		t.Fatalf("a/b's subgroups: %+v", b.Subgroups)
	}
	if roots[1].Subgroups == nil {
		t.Fatal("a leaf's subgroups must be an empty list, not null, in the API")
	}
}
