package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/labsync/labsync/internal/vault"
)

// OrgKeys is the vault's view of the store: wrapped data keys per
// organisation. It implements vault.KeyStore.
type OrgKeys struct{ s *Store }

// OrgKeys returns the store as a vault.KeyStore.
func (s *Store) OrgKeys() OrgKeys { return OrgKeys{s} }

var _ vault.KeyStore = OrgKeys{}

// OrgKey returns the newest key of org, or vault.ErrNoKey.
func (k OrgKeys) OrgKey(ctx context.Context, orgID int64) (vault.WrappedKey, error) {
	return k.one(ctx, `SELECT key_id, kek_id, wrapped FROM org_keys WHERE org_id = $1 ORDER BY key_id DESC LIMIT 1`, orgID)
}

// OrgKeyByID returns one key of org, or vault.ErrNoKey.
func (k OrgKeys) OrgKeyByID(ctx context.Context, orgID int64, keyID uint32) (vault.WrappedKey, error) {
	return k.one(ctx, `SELECT key_id, kek_id, wrapped FROM org_keys WHERE org_id = $1 AND key_id = $2`, orgID, int64(keyID))
}

func (k OrgKeys) one(ctx context.Context, q string, args ...any) (vault.WrappedKey, error) {
	var (
		w  vault.WrappedKey
		id int64
	)
	// Read from the write pool: a key created a moment ago by this process
	// must be visible at once.
	err := k.s.db.QueryRowContext(ctx, q, args...).Scan(&id, &w.KEKID, &w.Wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return w, vault.ErrNoKey
	}
	if err != nil {
		return w, fmt.Errorf("store: unable to read organization key: %w", err)
	}
	if id < 0 || id > int64(^uint32(0)) {
		return w, fmt.Errorf("store: organization key id %d out of range", id)
	}
	w.KeyID = uint32(id)
	return w, nil
}

// CreateOrgKey stores a new wrapped key, or returns vault.ErrKeyExists.
func (k OrgKeys) CreateOrgKey(ctx context.Context, orgID int64, w vault.WrappedKey) error {
	_, err := k.s.db.ExecContext(ctx,
		`INSERT INTO org_keys (org_id, key_id, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)`,
		orgID, int64(w.KeyID), w.KEKID, w.Wrapped, k.s.Now())
	if isUniqueViolation(err) {
		return vault.ErrKeyExists
	}
	if err != nil {
		return fmt.Errorf("store: unable to save organization key: %w", err)
	}
	return nil
}

// KEKIDs returns the distinct KEK ids that wrap the stored keys.
func (s *Store) KEKIDs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT kek_id FROM org_keys ORDER BY kek_id`)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read key ids: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: unable to read key ids: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// RotateKEK re-wraps every organisation's data keys from old to new in one
// transaction. Ciphertexts are untouched: they are sealed by the data keys,
// which do not change. It returns how many keys were re-wrapped. Keys
// already wrapped by new are left as they are, so an interrupted rotation
// can be run again.
func (s *Store) RotateKEK(ctx context.Context, old, new vault.KEK) (int, error) {
	n := 0
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT org_id, key_id, kek_id, wrapped FROM org_keys ORDER BY org_id, key_id`)
		if err != nil {
			return err
		}
		type row struct {
			org int64
			key vault.WrappedKey
		}
		var all []row
		for rows.Next() {
			var r row
			var id int64
			if err := rows.Scan(&r.org, &id, &r.key.KEKID, &r.key.Wrapped); err != nil {
				rows.Close()
				return err
			}
			r.key.KeyID = uint32(id)
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range all {
			if r.key.KEKID == new.ID() {
				continue
			}
			w, err := vault.Rewrap(old, new, r.org, r.key)
			if err != nil {
				return fmt.Errorf("organization %d key %d: %w", r.org, r.key.KeyID, err)
			}
			if _, err := tx.ExecContext(ctx,
				`UPDATE org_keys SET kek_id = $1, wrapped = $2, rotated_at = $3 WHERE org_id = $4 AND key_id = $5`,
				w.KEKID, w.Wrapped, s.Now(), r.org, int64(r.key.KeyID)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: key rotation failed, nothing was changed: %w", err)
	}
	return n, nil
}
