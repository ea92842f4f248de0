package integrations

import (
	"context"
	"fmt"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

// ErrSyncUnavailable refuses a use-case that needs the sync service on a
// server that does not run it.
var ErrSyncUnavailable = &problem.Error{Kind: problem.Unavailable, Code: "sync_unavailable",
	Message: "this server does not run the sync service"}

// ChangeSelection applies change to the selection of who's integration id
// and saves it (projects, groups with auto-import expanded, exclusions,
// services); it applies at the next sync. An exclusion pattern that is
// not valid is a Malformed problem about the field "exclusions", and
// nothing is saved. The audit entry is written whichever door was used; if
// it cannot be, the error says so (the selection is saved).
func (s *Service) ChangeSelection(ctx context.Context, who Actor, id int64, change syncer.SelectionChange) (store.Selection, error) {
	if s.sync == nil {
		return store.Selection{}, ErrSyncUnavailable
	}
	if _, err := s.st.Integration(ctx, who.OrgID, id); err != nil {
		return store.Selection{}, err
	}
	sel, err := s.st.SelectionFor(ctx, who.OrgID, id)
	if err != nil {
		return store.Selection{}, err
	}
	sel = syncer.MergeSelection(sel, change)
	if err := syncer.ValidatePatterns(sel.Exclusions); err != nil {
		return store.Selection{}, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "exclusions", Message: err.Error(), Err: err}
	}
	out, err := s.sync.SaveSelection(ctx, who.OrgID, id, sel)
	if err != nil {
		return store.Selection{}, err
	}
	if s.mirrors != nil {
		s.mirrors.SelectionChanged(ctx, who.OrgID, id)
	}
	if err := s.auditUse(ctx, who, "sync.selection_changed", id); err != nil {
		return out, err
	}
	return out, nil
}

// StartSync queues a full sync of who's integration id (discovery,
// selection, backfill of what is new, resumption of what is unfinished)
// and records who asked.
func (s *Service) StartSync(ctx context.Context, who Actor, id int64) error {
	if s.sync == nil {
		return ErrSyncUnavailable
	}
	if _, err := s.st.Integration(ctx, who.OrgID, id); err != nil {
		return err
	}
	if err := s.sync.StartSync(ctx, who.OrgID, id, syncer.ModeFull); err != nil {
		return err
	}
	return s.auditUse(ctx, who, "sync.started", id)
}

// auditUse records a use-case of a user on integration id: the actor is
// the user, whichever door (API or UI) it came through, and the detail
// names the door. A failed write is returned, never dropped.
func (s *Service) auditUse(ctx context.Context, who Actor, action string, id int64) error {
	detail := []byte("{}")
	if who.Via != "" {
		detail = fmt.Appendf(nil, `{"via":%q}`, who.Via)
	}
	uid := who.UserID
	if err := s.st.Audit(ctx, store.AuditEntry{OrgID: who.OrgID, ActorUserID: &uid, Actor: "user", Action: action,
		Target: fmt.Sprintf("integration:%d", id), Detail: detail}); err != nil {
		return fmt.Errorf("integrations: unable to record %s of integration %d: %w", action, id, err)
	}
	return nil
}
