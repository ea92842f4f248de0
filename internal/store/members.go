package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Member is a user's membership of one organisation.
type Member struct {
	UserID       int64      `json:"user_id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Role         Role       `json:"role"`
	JoinedAt     time.Time  `json:"joined_at"`
	LastSignInAt *time.Time `json:"last_sign_in_at,omitempty"`
}

// ErrLastOwner refuses a change that would leave an organisation without
// an owner.
var ErrLastOwner = errors.New("an organisation must keep at least one owner")

// Members lists org's members, owners first.
func (s *Store) Members(ctx context.Context, orgID int64) ([]Member, error) {
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT u.id, u.email, u.name, m.role, m.created_at, u.last_sign_in_at
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = $1
		ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, u.email`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list members: %w", err)
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.UserID, &m.Email, &m.Name, &m.Role, &m.JoinedAt, &m.LastSignInAt); err != nil {
			return nil, fmt.Errorf("store: unable to list members: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetMemberRole changes the role of user in org. ErrNotFound when the user
// is not a member; ErrLastOwner when it would demote the last owner.
func (s *Store) SetMemberRole(ctx context.Context, orgID, userID int64, role Role) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.keepAnOwner(ctx, tx, orgID, userID, role); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3`,
			role, orgID, userID); err != nil {
			return fmt.Errorf("store: unable to change a member's role: %w", err)
		}
		return nil
	})
}

// RemoveMember takes user out of org and revokes the API tokens the user
// holds there. ErrNotFound when not a member; ErrLastOwner for the last owner.
func (s *Store) RemoveMember(ctx context.Context, orgID, userID int64) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.keepAnOwner(ctx, tx, orgID, userID, ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID); err != nil {
			return fmt.Errorf("store: unable to remove a member: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE org_id = $2 AND user_id = $3 AND revoked_at IS NULL`,
			s.Now(), orgID, userID); err != nil {
			return fmt.Errorf("store: unable to revoke a removed member's tokens: %w", err)
		}
		return nil
	})
}

// keepAnOwner checks, inside tx, that user is a member of org and that
// giving them newRole ("" = removing them) leaves org an owner.
func (s *Store) keepAnOwner(ctx context.Context, tx *sql.Tx, orgID, userID int64, newRole Role) error {
	var current Role
	err := tx.QueryRowContext(ctx, `SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: unable to read membership: %w", err)
	}
	if current != RoleOwner || newRole == RoleOwner {
		return nil
	}
	var owners int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'`, orgID).Scan(&owners); err != nil {
		return fmt.Errorf("store: unable to count owners: %w", err)
	}
	if owners <= 1 {
		return ErrLastOwner
	}
	return nil
}

// Organization returns one organisation, or ErrNotFound (also while it is
// being deleted).
func (s *Store) Organization(ctx context.Context, orgID int64) (Organization, error) {
	var o Organization
	err := s.rdb.QueryRowContext(ctx, `SELECT id, name, created_at FROM organizations WHERE id = $1 AND deleting_at IS NULL`, orgID).
		Scan(&o.ID, &o.Name, &o.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("store: unable to read organization: %w", err)
	}
	return o, nil
}

// Organizations lists every organisation (operators' CLI).
func (s *Store) Organizations(ctx context.Context) ([]Organization, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, name, created_at FROM organizations WHERE deleting_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list organizations: %w", err)
	}
	defer rows.Close()
	var out []Organization
	for rows.Next() {
		var o Organization
		if err := rows.Scan(&o.ID, &o.Name, &o.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: unable to list organizations: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// ShredOrganization is the first, irreversible step of deleting an
// organisation: in one transaction it marks the organisation as being
// deleted (every API token and session stops working) and destroys its
// wrapped data keys, so every secret sealed for it is unreadable from
// then on, in this database and in every backup taken afterwards.
// DeleteOrganizationRows then removes its rows.
func (s *Store) ShredOrganization(ctx context.Context, orgID int64) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE organizations SET deleting_at = $1 WHERE id = $2 AND deleting_at IS NULL`, s.Now(), orgID)
		if err != nil {
			return fmt.Errorf("store: unable to mark organization %d for deletion: %w", orgID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM org_keys WHERE org_id = $1`, orgID); err != nil {
			return fmt.Errorf("store: unable to destroy the keys of organization %d: %w", orgID, err)
		}
		return nil
	})
}

// DeleteOrganizationRows deletes an organisation whose keys are shredded,
// with every row that belongs to it. It refuses one that was not shredded.
func (s *Store) DeleteOrganizationRows(ctx context.Context, orgID int64) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		var keys int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_keys WHERE org_id = $1`, orgID).Scan(&keys); err != nil {
			return fmt.Errorf("store: unable to check the keys of organization %d: %w", orgID, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM organizations WHERE id = $1 AND deleting_at IS NOT NULL`, orgID)
		if err != nil {
			return fmt.Errorf("store: unable to delete organization %d: %w", orgID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 || keys > 0 {
			return fmt.Errorf("store: organization %d was not shredded first: %w", orgID, ErrNotFound)
		}
		return nil
	})
}

// OrganizationsBeingDeleted lists organisations shredded but not yet
// deleted, for the job that finishes the work.
func (s *Store) OrganizationsBeingDeleted(ctx context.Context) ([]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id FROM organizations WHERE deleting_at IS NOT NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list organizations being deleted: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
