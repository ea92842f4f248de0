// Package keys finds the key-encryption key (KEK) labsync runs with and
// rotates the organisations' data keys from one KEK to another.
//
// The KEK is LABSYNC_KEK when it is set; otherwise a development key kept in
// a file in the data directory, created on first use, with a loud warning on
// every start. A rotation re-wraps the data keys in one database transaction;
// the data they seal is never rewritten.
//
// keys must never print, log or return key material (only key ids), must
// never replace a development key file before the database has committed to
// the key it holds, and must never start with a KEK that did not wrap the
// database's keys, or with a data key that does not unwrap.
package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
)

// Config says where the KEK comes from.
type Config struct {
	// KEK is the base64 key (LABSYNC_KEK); zero means the development key
	// file in DataDir.
	KEK secret.Secret
	// DataDir is labsync's data directory (LABSYNC_DATA_DIR).
	DataDir string
}

// DevKEKPath is where the development KEK is kept when LABSYNC_KEK is unset.
func DevKEKPath(dataDir string) string { return filepath.Join(dataDir, "kek.dev") }

// Load returns the KEK of c: LABSYNC_KEK, else the development key file
// (created on first use; a warning that names the file is logged on every
// call). It fails when the database holds data keys wrapped by another KEK,
// naming LABSYNC_KEK — except where a development rotation was interrupted
// after the database switched to the new development key but before its
// file replaced the old one: Load then finishes the rename and returns the
// new key. It fails, naming each organisation, when a stored data key does
// not unwrap with the KEK (tampered or truncated).
func Load(ctx context.Context, st *store.Store, c Config, log *slog.Logger) (*vault.LocalKEK, error) {
	var kek *vault.LocalKEK
	if !c.KEK.IsZero() {
		k, err := vault.ParseKEK(c.KEK.Reveal())
		if err != nil {
			return nil, err
		}
		kek = k
	} else {
		path := DevKEKPath(c.DataDir)
		k, created, err := vault.LoadOrCreateDevKEK(path)
		if err != nil {
			return nil, fmt.Errorf("development key %s: %w", path, err)
		}
		kek = k
		log.Warn("LABSYNC_KEK is not set: secrets are encrypted with a development key stored next to the database. "+
			"Anyone who can read the data directory can decrypt them. Set LABSYNC_KEK (base64 of 32 random bytes) for production "+
			"and run `labsync keys rotate` to move to it.", "key_file", path, "created_now", created)
	}
	ids, err := st.KEKIDs(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if id == kek.ID() {
			continue
		}
		if c.KEK.IsZero() {
			if pending, err := finishDevRotation(c.DataDir, id); err == nil && pending != nil {
				log.Warn("finished an interrupted key rotation: the new development key is now in use")
				return pending, nil
			}
		}
		return nil, fmt.Errorf("the key-encryption key in use (%s) is not the one that wrapped this database's keys (%s): "+
			"set LABSYNC_KEK to the key this database was last rotated to", kek.ID(), id)
	}
	// Every organisation's data key must unwrap now, not when one of its
	// integrations is next used.
	if err := vault.CheckKeys(ctx, kek, st.OrgKeys()); err != nil {
		return nil, err
	}
	return kek, nil
}

// finishDevRotation renames kek.dev.new over kek.dev when the database is
// already wrapped by it.
func finishDevRotation(dataDir, wantID string) (*vault.LocalKEK, error) {
	next := DevKEKPath(dataDir) + ".new"
	if _, err := os.Stat(next); err != nil {
		return nil, err
	}
	k, _, err := vault.LoadOrCreateDevKEK(next)
	if err != nil || k.ID() != wantID {
		return nil, errors.New("no matching pending key")
	}
	if err := os.Rename(next, DevKEKPath(dataDir)); err != nil {
		return nil, err
	}
	return k, nil
}

// ErrNoNewKey is returned by Rotate when it is given no new key on an
// install that does not use the development key.
var ErrNoNewKey = errors.New("keys: no new key-encryption key given")

// ErrSameKey is returned by Rotate when the new key is the current one.
var ErrSameKey = errors.New("the new KEK is the same as the current one")

// Rotation is what Rotate did.
type Rotation struct {
	// Rewrapped counts the organisation keys re-wrapped.
	Rewrapped int
	// From and To are the ids of the old and the new KEK.
	From, To string
	// DevKey is true when the new key is a new development key file, which
	// replaced the old one: nothing is left for the operator to do.
	DevKey bool
}

// Rotate re-wraps every organisation's data keys from old (the KEK Load
// returned for c) to next in one transaction. With next nil on a
// development install (c.KEK zero), the new key is a new development key:
// it is written beside the old file first (kek.dev.new), so that a crash
// after the database commit loses nothing, and renamed over the old file
// once the database has committed; Load finishes that rename if it was
// interrupted. With next nil on any other install it returns ErrNoNewKey;
// with next equal to old, ErrSameKey.
func Rotate(ctx context.Context, st *store.Store, c Config, old, next *vault.LocalKEK) (Rotation, error) {
	devNext := ""
	if next == nil {
		if !c.KEK.IsZero() {
			return Rotation{}, ErrNoNewKey
		}
		devNext = DevKEKPath(c.DataDir) + ".new"
		os.Remove(devNext)
		k, _, err := vault.LoadOrCreateDevKEK(devNext)
		if err != nil {
			return Rotation{}, err
		}
		next = k
	}
	if next.ID() == old.ID() {
		return Rotation{}, ErrSameKey
	}
	n, err := st.RotateKEK(ctx, old, next)
	if err != nil {
		if devNext != "" {
			os.Remove(devNext)
		}
		return Rotation{}, err
	}
	if devNext != "" {
		if err := os.Rename(devNext, DevKEKPath(c.DataDir)); err != nil {
			return Rotation{}, fmt.Errorf("keys were rotated but %s could not replace %s (serve will finish this at start): %w", devNext, DevKEKPath(c.DataDir), err)
		}
	}
	return Rotation{Rewrapped: n, From: old.ID(), To: next.ID(), DevKey: devNext != ""}, nil
}
