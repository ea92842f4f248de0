package store

// Invitations to join an organisation: adding a member creates one, and
// the invitee redeems its code. Only the code's SHA-256 is stored.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Invitation is a pending invitation of an email address into an
// organisation with a role.
type Invitation struct {
	ID        int64     `json:"id"`
	OrgID     int64     `json:"-"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateInvitation stores an invitation of email into org with role,
// redeemable with the code whose SHA-256 is codeHash until expiresAt.
// ErrConflict when email already has a pending invitation there.
func (s *Store) CreateInvitation(ctx context.Context, orgID int64, email string, role Role, codeHash []byte, invitedBy int64, expiresAt time.Time) (Invitation, error) {
	now := s.Now()
	inv := Invitation{OrgID: orgID, Email: email, Role: role, CreatedAt: now, ExpiresAt: expiresAt.UTC()}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM invitations WHERE org_id = $1 AND email = $2 AND accepted_at IS NULL AND expires_at > $3`,
			orgID, email, now).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to read invitations: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("store: %s is already invited: %w", email, ErrConflict)
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO invitations (org_id, email, role, code_hash, invited_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, orgID, email, role, codeHash, invitedBy, now, inv.ExpiresAt).Scan(&inv.ID); err != nil {
			return fmt.Errorf("store: unable to create invitation: %w", err)
		}
		return nil
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

// PendingInvitation returns the unexpired, unused invitation whose code
// hashes to codeHash, into an organisation that is not being deleted, or
// ErrNotFound.
func (s *Store) PendingInvitation(ctx context.Context, codeHash []byte) (Invitation, error) {
	var inv Invitation
	err := s.db.QueryRowContext(ctx, `
		SELECT i.id, i.org_id, i.email, i.role, i.created_at, i.expires_at
		FROM invitations i JOIN organizations o ON o.id = i.org_id AND o.deleting_at IS NULL
		WHERE i.code_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > $2`, codeHash, s.Now()).
		Scan(&inv.ID, &inv.OrgID, &inv.Email, &inv.Role, &inv.CreatedAt, &inv.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Invitation{}, ErrNotFound
	}
	if err != nil {
		return Invitation{}, fmt.Errorf("store: unable to read invitation: %w", err)
	}
	return inv, nil
}

// AcceptInvitation uses invitation id for user: the user becomes a member
// of its organisation with its role (a user already a member keeps their
// role). ErrNotFound when the invitation was used or expired meanwhile.
func (s *Store) AcceptInvitation(ctx context.Context, id, userID int64) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		now := s.Now()
		var orgID int64
		var role Role
		err := tx.QueryRowContext(ctx, `UPDATE invitations SET accepted_at = $1 WHERE id = $2 AND accepted_at IS NULL AND expires_at > $1
			RETURNING org_id, role`, now, id).Scan(&orgID, &role)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: unable to accept invitation: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, user_id) DO NOTHING`, orgID, userID, role, now); err != nil {
			return fmt.Errorf("store: unable to add member: %w", err)
		}
		return nil
	})
}

// MarkMemberSignedIn records a sign-in of user into org, the only sign-in
// time member lists show.
func (s *Store) MarkMemberSignedIn(ctx context.Context, orgID, userID int64) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE memberships SET last_sign_in_at = $1 WHERE org_id = $2 AND user_id = $3`, s.Now(), orgID, userID); err != nil {
		return fmt.Errorf("store: unable to record sign-in: %w", err)
	}
	return nil
}

// UserByID returns the user with that id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.rdb.QueryRowContext(ctx, `SELECT id, email, name, created_at FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("store: unable to read user: %w", err)
	}
	return u, nil
}
