package syncer

import (
	"slices"

	"github.com/labsync/labsync/internal/store"
)

// SelectionChange is an edit of an integration's stored selection, as the
// picker form and PUT /api/v1/integrations/{id}/selection make it. A nil
// field keeps the stored value; a set one replaces it.
type SelectionChange struct {
	// Projects replaces the projects selected one by one, as given (order
	// and repeats kept).
	Projects *[]int64
	// Page, applied after Projects, changes only the projects one page of
	// the picker showed.
	Page            *ProjectPage
	Groups          *[]store.GroupSelection
	Exclusions      *[]string
	IncludeArchived *bool
	Services        *store.Services
}

// ProjectPage is one page of the picker: the projects it showed and those
// of them left checked. Shown projects end up selected exactly when
// checked, each once, after the selected projects not shown, which keep
// their order; a checked project that was not shown is ignored.
type ProjectPage struct {
	Shown, Checked []int64
}

// MergeSelection returns the selection cur with ch applied, leaving cur
// untouched. It does not validate: Service.SaveSelection checks the
// exclusion patterns when the result is saved.
func MergeSelection(cur store.Selection, ch SelectionChange) store.Selection {
	sel := cur
	if ch.Projects != nil {
		sel.Projects = slices.Clone(*ch.Projects)
	}
	if ch.Page != nil {
		shown := make(map[int64]bool, len(ch.Page.Shown))
		for _, id := range ch.Page.Shown {
			shown[id] = true
		}
		projects := []int64{}
		for _, id := range sel.Projects {
			if !shown[id] {
				projects = append(projects, id)
			}
		}
		added := map[int64]bool{}
		for _, id := range ch.Page.Checked {
			if shown[id] && !added[id] {
				added[id] = true
				projects = append(projects, id)
			}
		}
		sel.Projects = projects
	}
	if ch.Groups != nil {
		sel.Groups = slices.Clone(*ch.Groups)
	}
	if ch.Exclusions != nil {
		sel.Exclusions = slices.Clone(*ch.Exclusions)
	}
	if ch.IncludeArchived != nil {
		sel.IncludeArchived = *ch.IncludeArchived
	}
	if ch.Services != nil {
		sel.Services = *ch.Services
	}
	return sel
}
