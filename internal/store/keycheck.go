package store

import (
	"context"
	"fmt"

	"github.com/labsync/labsync/internal/vault"
)

var _ vault.OrgKeyLister = OrgKeys{}

// AllOrgKeys returns every stored data key, by organisation, for the
// startup check that each one unwraps.
func (k OrgKeys) AllOrgKeys(ctx context.Context) (map[int64][]vault.WrappedKey, error) {
	rows, err := k.s.db.QueryContext(ctx, `SELECT org_id, key_id, kek_id, wrapped FROM org_keys ORDER BY org_id, key_id`)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read organization keys: %w", err)
	}
	defer rows.Close()
	out := map[int64][]vault.WrappedKey{}
	for rows.Next() {
		var org, id int64
		var w vault.WrappedKey
		if err := rows.Scan(&org, &id, &w.KEKID, &w.Wrapped); err != nil {
			return nil, fmt.Errorf("store: unable to read organization keys: %w", err)
		}
		w.KeyID = uint32(id)
		out[org] = append(out[org], w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: unable to read organization keys: %w", err)
	}
	return out, nil
}
