package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEntry is one line of an organisation's audit log.
type AuditEntry struct {
	ID          int64           `json:"id"`
	OrgID       int64           `json:"org_id"`
	ActorUserID *int64          `json:"actor_user_id,omitempty"`
	Actor       string          `json:"actor"`
	Action      string          `json:"action"`
	Target      string          `json:"target,omitempty"`
	Detail      json.RawMessage `json:"detail,omitempty"`
	At          time.Time       `json:"at"`
}

// Audit appends to org's audit log. Detail must hold no secret.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	detail := e.Detail
	if len(detail) == 0 {
		detail = json.RawMessage(`{}`)
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO audit_log (org_id, actor_user_id, actor, action, target, detail, at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.OrgID, e.ActorUserID, e.Actor, e.Action, e.Target, string(detail), s.Now())
	if err != nil {
		return fmt.Errorf("store: unable to write audit log: %w", err)
	}
	return nil
}

// AuditLog returns org's newest entries, newest first, before the given id
// (0 for the newest).
func (s *Store) AuditLog(ctx context.Context, orgID, beforeID int64, limit int) ([]AuditEntry, error) {
	if beforeID <= 0 {
		beforeID = 1 << 62
	}
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT id, org_id, actor_user_id, actor, action, target, detail, at
		FROM audit_log WHERE org_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
		orgID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var detail string
		if err := rows.Scan(&e.ID, &e.OrgID, &e.ActorUserID, &e.Actor, &e.Action, &e.Target, &detail, &e.At); err != nil {
			return nil, fmt.Errorf("store: unable to read audit log: %w", err)
		}
		e.Detail = json.RawMessage(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}
