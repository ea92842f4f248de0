package store

// Organisations: the tenants everything else belongs to — first-start
// bootstrap, creating, listing, and deleting one (keys first, then rows).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Organization is a tenant: everything else belongs to exactly one.
type Organization struct {
	ID        int64     `json:"id"`
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
