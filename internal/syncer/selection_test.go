package syncer_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

func TestMergeSelection(t *testing.T) {
	ptr := func(b bool) *bool { return &b }
	cur := store.Selection{
		Projects:        []int64{5, 6, 7, 8},
		Groups:          []store.GroupSelection{{GitLabID: 3, AutoImport: true}, {GitLabID: 4}},
		Exclusions:      []string{"a/**", "b/*"},
		IncludeArchived: true,
		Services:        store.Services{MergeRequests: true, Pipelines: true},
	}
	// with returns cur changed by edit.
	with := func(edit func(*store.Selection)) store.Selection {
		s := cur
		s.Projects, s.Groups, s.Exclusions = slices.Clone(cur.Projects), slices.Clone(cur.Groups), slices.Clone(cur.Exclusions)
		edit(&s)
		return s
	}
	cases := []struct {
		name string
		ch   syncer.SelectionChange
		want store.Selection
	}{
		{"an empty change keeps everything", syncer.SelectionChange{}, cur},
		{"projects are replaced as given", syncer.SelectionChange{Projects: &[]int64{9, 1, 9}},
			with(func(s *store.Selection) { s.Projects = []int64{9, 1, 9} })},
		{"an empty project list clears them", syncer.SelectionChange{Projects: &[]int64{}},
			with(func(s *store.Selection) { s.Projects = []int64{} })},
		{"groups are replaced, auto-import included", syncer.SelectionChange{Groups: &[]store.GroupSelection{{GitLabID: 4, AutoImport: true}}},
			with(func(s *store.Selection) { s.Groups = []store.GroupSelection{{GitLabID: 4, AutoImport: true}} })},
		{"exclusions are replaced", syncer.SelectionChange{Exclusions: &[]string{"c/**"}},
			with(func(s *store.Selection) { s.Exclusions = []string{"c/**"} })},
		{"include archived can be switched off", syncer.SelectionChange{IncludeArchived: ptr(false)},
			with(func(s *store.Selection) { s.IncludeArchived = false })},
		{"services are replaced as a whole", syncer.SelectionChange{Services: &store.Services{Issues: true}},
			with(func(s *store.Selection) { s.Services = store.Services{Issues: true} })},
		{
			"a page changes only the projects it showed",
			// 6 and 7 shown: 6 unchecked, 7 stays, 2 is newly checked
			// (twice); 99 is checked but was not shown.
			syncer.SelectionChange{Page: &syncer.ProjectPage{Shown: []int64{6, 7, 2, 3}, Checked: []int64{2, 99, 7, 2}}},
			with(func(s *store.Selection) { s.Projects = []int64{5, 8, 2, 7} }),
		},
		{"a page can uncheck every project", syncer.SelectionChange{Page: &syncer.ProjectPage{Shown: []int64{8, 7, 6, 5}}},
			with(func(s *store.Selection) { s.Projects = []int64{} })},
		{"a page showing nothing keeps every project", syncer.SelectionChange{Page: &syncer.ProjectPage{Checked: []int64{1}}}, cur},
		{"a page applies after Projects",
			syncer.SelectionChange{Projects: &[]int64{1, 2}, Page: &syncer.ProjectPage{Shown: []int64{2, 3}, Checked: []int64{3}}},
			with(func(s *store.Selection) { s.Projects = []int64{1, 3} })},
		{
			"the picker form: a page, and everything else replaced",
			syncer.SelectionChange{Page: &syncer.ProjectPage{Shown: []int64{5}}, Groups: &[]store.GroupSelection{},
				Exclusions: &[]string{}, IncludeArchived: ptr(false), Services: &store.AllServices},
			store.Selection{Projects: []int64{6, 7, 8}, Groups: []store.GroupSelection{}, Exclusions: []string{},
				Services: store.AllServices},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := with(func(*store.Selection) {})
			got := syncer.MergeSelection(cur, c.ch)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
			if !reflect.DeepEqual(cur, before) {
				t.Fatalf("MergeSelection changed its input: %+v", cur)
			}
			// The result shares no list with the change: editing it later
			// must not edit the selection.
			if c.ch.Projects != nil && len(*c.ch.Projects) > 0 && len(got.Projects) > 0 && &(*c.ch.Projects)[0] == &got.Projects[0] {
				t.Error("the result aliases the change's projects")
			}
		})
	}
}
