package store

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

// Organization is a tenant: everything else belongs to exactly one.
type Organization struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// User is a person who signs in.
type User struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// advisoryBootstrap is the PostgreSQL advisory lock key of BootstrapIfEmpty.
const advisoryBootstrap int64 = 0x6c73_0001

// Bootstrap is what the first start created.
type Bootstrap struct {
	Org   Organization
	Owner User
}

// CountOrganizations returns how many organisations exist.
func (s *Store) CountOrganizations(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: unable to count organizations: %w", err)
	}
	return n, nil
}

// BootstrapIfEmpty creates the first organisation and its owner when the
// database has none, in one transaction, and reports whether it did. Two
// processes racing here create one organisation: the loser sees it exists.
func (s *Store) BootstrapIfEmpty(ctx context.Context, orgName, email, passwordHash string) (Bootstrap, bool, error) {
	var b Bootstrap
	created := false
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		// SQLite transactions here are IMMEDIATE, so writers are already
		// serialised; PostgreSQL needs a lock for replicas starting together.
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryBootstrap); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		now := s.Now()
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO organizations (name, created_at) VALUES ($1, $2) RETURNING id`,
			orgName, now).Scan(&b.Org.ID); err != nil {
			return err
		}
		b.Org.Name, b.Org.CreatedAt = orgName, now
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			email, "Owner", passwordHash, now).Scan(&b.Owner.ID); err != nil {
			return err
		}
		b.Owner.Email, b.Owner.Name, b.Owner.CreatedAt = email, "Owner", now
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			b.Org.ID, b.Owner.ID, RoleOwner, now); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return Bootstrap{}, false, fmt.Errorf("store: unable to create the first organization: %w", err)
	}
	return b, created, nil
}

// CreateOrganization creates an organisation with the given owner.
func (s *Store) CreateOrganization(ctx context.Context, name string, ownerID int64) (Organization, error) {
	o := Organization{Name: name, CreatedAt: s.Now()}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO organizations (name, created_at) VALUES ($1, $2) RETURNING id`,
			name, o.CreatedAt).Scan(&o.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			o.ID, ownerID, RoleOwner, o.CreatedAt)
		return err
	})
	if err != nil {
		return Organization{}, fmt.Errorf("store: unable to create organization: %w", err)
	}
	return o, nil
}

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

// FirstOwner returns the oldest organisation and its first owner, for CLI
// commands that act on the single-organisation install.
func (s *Store) FirstOwner(ctx context.Context) (Organization, User, error) {
	var o Organization
	var u User
	err := s.rdb.QueryRowContext(ctx, `
		SELECT o.id, o.name, o.created_at, u.id, u.email, u.name, u.created_at
		FROM organizations o
		JOIN memberships m ON m.org_id = o.id AND m.role = 'owner'
		JOIN users u ON u.id = m.user_id
		ORDER BY o.id, m.created_at, u.id LIMIT 1`).
		Scan(&o.ID, &o.Name, &o.CreatedAt, &u.ID, &u.Email, &u.Name, &u.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return o, u, ErrNotFound
	}
	if err != nil {
		return o, u, fmt.Errorf("store: unable to read the first owner: %w", err)
	}
	return o, u, nil
}
