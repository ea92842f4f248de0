package syncer

import (
	"context"
	"math"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// ResourceProgress is one (project, resource) chain as users see it.
type ResourceProgress struct {
	store.Progress
	// Rate is items per second over the current pass.
	Rate float64 `json:"rate"`
	// ETASeconds estimates the rest of the pass, when items_known is known.
	ETASeconds *float64 `json:"eta_s,omitempty"`
}

// ProjectProgress groups a project's resources.
type ProjectProgress struct {
	ProjectID    int64              `json:"project_id"`
	Path         string             `json:"path_with_namespace"`
	ObjectFormat string             `json:"object_format"`
	Resources    []ResourceProgress `json:"resources"`
}

// Totals sum a report per resource (and overall under "all").
type Totals struct {
	PagesDone  int64    `json:"pages_done"`
	ItemsDone  int64    `json:"items_done"`
	ItemsKnown int64    `json:"items_known"`
	Done       int      `json:"chains_done"`
	Chains     int      `json:"chains"`
	Errors     int      `json:"chains_with_errors"`
	Rate       float64  `json:"rate"`
	ETASeconds *float64 `json:"eta_s,omitempty"`
}

// Report is an integration's sync progress.
type Report struct {
	store.SyncState
	Totals   map[string]*Totals `json:"totals"`
	Projects []ProjectProgress  `json:"projects,omitempty"`
}

// Progress reports an integration's sync: its state, totals per resource,
// and (with detail) every selected project's chains with rate, ETA and
// last error. The pipelines of a project with CI/CD disabled (its project
// JSON says so, or GitLab answered 403) show as status "ci_disabled", done
// and not an error.
func (s *Service) Progress(ctx context.Context, orgID, integrationID int64, detail bool) (Report, error) {
	st, err := s.st.SyncStateFor(ctx, orgID, integrationID)
	if err != nil {
		return Report{}, err
	}
	rows, err := s.st.ProgressRows(ctx, orgID, integrationID, false)
	if err != nil {
		return Report{}, err
	}
	rep := Report{SyncState: st, Totals: map[string]*Totals{"all": {}}}
	now := s.st.Now()
	var cur *ProjectProgress
	for _, row := range rows {
		rp := ResourceProgress{Progress: row}
		if row.StartedAt != nil {
			end := now
			if row.FinishedAt != nil && row.Status != store.ProgressRunning && row.Status != store.ProgressPending {
				end = *row.FinishedAt
			}
			if secs := end.Sub(*row.StartedAt).Seconds(); secs > 0 {
				rp.Rate = round(float64(row.ItemsDone) / secs)
			}
		}
		known := row.ItemsDone
		if row.ItemsKnown != nil && *row.ItemsKnown > known {
			known = *row.ItemsKnown
		}
		if rp.Rate > 0 && row.Status == store.ProgressRunning {
			eta := round(float64(known-row.ItemsDone) / rp.Rate)
			rp.ETASeconds = &eta
		}
		for _, key := range []string{row.Resource, "all"} {
			t := rep.Totals[key]
			if t == nil {
				t = &Totals{}
				rep.Totals[key] = t
			}
			t.Chains++
			t.PagesDone += row.PagesDone
			t.ItemsDone += row.ItemsDone
			t.ItemsKnown += known
			switch row.Status {
			case store.ProgressDone, store.ProgressCIDisabled:
				t.Done++
			case store.ProgressForbidden, store.ProgressNotFound, store.ProgressFailed:
				t.Done++
				t.Errors++
			}
		}
		if detail {
			if cur == nil || cur.ProjectID != row.ProjectGitLabID {
				rep.Projects = append(rep.Projects, ProjectProgress{ProjectID: row.ProjectGitLabID, Path: row.ProjectPath, ObjectFormat: row.ObjectFormat})
				cur = &rep.Projects[len(rep.Projects)-1]
			}
			cur.Resources = append(cur.Resources, rp)
		}
	}
	if st.State == store.SyncRunning && st.StartedAt != nil {
		if secs := now.Sub(*st.StartedAt).Seconds(); secs > 0 {
			for _, t := range rep.Totals {
				t.Rate = round(float64(t.ItemsDone) / secs)
				if t.Rate > 0 && t.ItemsKnown > t.ItemsDone {
					eta := round(float64(t.ItemsKnown-t.ItemsDone) / t.Rate)
					t.ETASeconds = &eta
				}
			}
		}
	}
	return rep, nil
}

func round(f float64) float64 { return math.Round(f*10) / 10 }

// SaveSelection validates and stores an integration's selection: groups
// picked without auto-import become the projects they hold now. The new
// selection applies at the next sync.
func (s *Service) SaveSelection(ctx context.Context, orgID, integrationID int64, sel store.Selection) (store.Selection, error) {
	if err := ValidatePatterns(sel.Exclusions); err != nil {
		return sel, err
	}
	groups, err := s.st.Groups(ctx, orgID, integrationID)
	if err != nil {
		return sel, err
	}
	all, err := s.st.AllProjects(ctx, orgID, integrationID)
	if err != nil {
		return sel, err
	}
	sel = ExpandGroups(sel, groups, all)
	if err := s.st.SaveSelection(ctx, orgID, integrationID, sel); err != nil {
		return sel, err
	}
	selected, err := Selected(sel, groups, all)
	if err != nil {
		return sel, err
	}
	ids := make([]int64, 0, len(selected))
	for _, p := range selected {
		ids = append(ids, p.ID)
	}
	if err := s.st.SetSelectedProjects(ctx, orgID, integrationID, ids); err != nil {
		return sel, err
	}
	return s.st.SelectionFor(ctx, orgID, integrationID)
}

// Discover refreshes the discovery cache of one integration now (groups
// and projects), without syncing data.
func (s *Service) Discover(ctx context.Context, orgID, integrationID int64) error {
	integ, err := s.st.Integration(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	client, err := s.opts.Clients(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	st, err := s.st.SyncStateFor(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	sel, err := s.st.SelectionFor(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	r := &run{svc: s, orgID: orgID, integ: integrationID, integration: integ, state: st, sel: sel,
		conn: s.newConn(client, integrationID)}
	if err := r.discover(ctx); err != nil {
		if isTokenProblem(err) && s.opts.TokenProblem != nil {
			s.opts.TokenProblem(ctx, orgID, integrationID, err)
		}
		return err
	}
	cur, err := s.st.SyncStateFor(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	cur.DiscoveredAt = r.state.DiscoveredAt
	cur.SeesInstance, cur.VisibleProjects = r.state.SeesInstance, r.state.VisibleProjects
	return s.st.SaveSyncState(ctx, orgID, cur)
}

var _ = time.Second
