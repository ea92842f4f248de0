package store

// Users and their memberships of organisations, with roles; an
// organisation always keeps an owner.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Role is a member's power within an organisation.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// User is a person who signs in.
type User struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Member is a user's membership of one organisation. LastSignInAt is the
// member's last sign-in into this organisation, never their sign-ins
// elsewhere.
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

// CreateUser creates a user; ErrConflict when the email is taken.
func (s *Store) CreateUser(ctx context.Context, email, name, passwordHash string) (User, error) {
	u := User{Email: email, Name: name, CreatedAt: s.Now()}
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		email, name, passwordHash, u.CreatedAt).Scan(&u.ID)
	if isUniqueViolation(err) {
		return User{}, fmt.Errorf("store: user %s: %w", email, ErrConflict)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: unable to create user: %w", err)
	}
	return u, nil
}

// UserByEmail returns the user with that email, or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.rdb.QueryRowContext(ctx,
		`SELECT id, email, name, created_at FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("store: unable to read user: %w", err)
	}
	return u, nil
}

// AddMember gives user a role in org, replacing any previous role.
func (s *Store) AddMember(ctx context.Context, orgID, userID int64, role Role) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`,
		orgID, userID, role, s.Now())
	if err != nil {
		return fmt.Errorf("store: unable to add member: %w", err)
	}
	return nil
}

// MemberRole returns user's role in org, or ErrNotFound.
func (s *Store) MemberRole(ctx context.Context, orgID, userID int64) (Role, error) {
	var r Role
	err := s.rdb.QueryRowContext(ctx,
		`SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: unable to read membership: %w", err)
	}
	return r, nil
}

// Members lists org's members, owners first, with facts of this
// organisation only: LastSignInAt is the last sign-in into org.
func (s *Store) Members(ctx context.Context, orgID int64) ([]Member, error) {
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT u.id, u.email, u.name, m.role, m.created_at, m.last_sign_in_at
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
