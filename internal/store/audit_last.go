package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// LastAudit returns org's newest audit entry with action about target (for
// example "integration.disconnected" about "integration:7"), or ErrNotFound.
// It only reads.
func (s *Store) LastAudit(ctx context.Context, orgID int64, action, target string) (AuditEntry, error) {
	var e AuditEntry
	var detail string
	err := s.rdb.QueryRowContext(ctx, `
		SELECT id, org_id, actor_user_id, actor, action, target, detail, at
		FROM audit_log WHERE org_id = $1 AND action = $2 AND target = $3 ORDER BY id DESC LIMIT 1`,
		orgID, action, target).Scan(&e.ID, &e.OrgID, &e.ActorUserID, &e.Actor, &e.Action, &e.Target, &detail, &e.At)
	if errors.Is(err, sql.ErrNoRows) {
		return AuditEntry{}, ErrNotFound
	}
	if err != nil {
		return AuditEntry{}, fmt.Errorf("store: unable to read audit log: %w", err)
	}
	e.Detail = json.RawMessage(detail)
	return e, nil
}
