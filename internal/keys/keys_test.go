package keys_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/keys"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/vault"
)

var binding = vault.Binding{Table: "oauth_apps", Row: "https://g.example.com", Field: "client_secret"}

// sealedOrg returns a store with one organisation whose data key is
// wrapped by kek, and a ciphertext sealed with that data key.
func sealedOrg(t *testing.T, kek vault.KEK) (*store.Store, int64, []byte) {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := vault.New(kek, st.OrgKeys()).Seal(ctx, b.Org.ID, binding, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	return st, b.Org.ID, ct
}

// opens fails the test unless kek opens ct of org in st.
func opens(t *testing.T, st *store.Store, kek vault.KEK, org int64, ct []byte) {
	t.Helper()
	pt, err := vault.New(kek, st.OrgKeys()).Open(context.Background(), org, binding, ct)
	if err != nil || string(pt) != "s3cret" {
		t.Fatalf("open under %s: %q %v", kek.ID(), pt, err)
	}
}

func devKey(t *testing.T, path string) *vault.LocalKEK {
	t.Helper()
	k, created, err := vault.LoadOrCreateDevKEK(path)
	if err != nil || created {
		t.Fatalf("development key %s: created %v, %v", path, created, err)
	}
	return k
}

func logger(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

func TestLoadWithoutLABSYNC_KEKCreatesADevelopmentKeyFileAndWarnsOnEveryCall(t *testing.T) {
	dir := t.TempDir()
	st := storetest.Open(t)
	c := keys.Config{DataDir: dir}
	for i, created := range []string{"created_now=true", "created_now=false"} {
		var logs bytes.Buffer
		k, err := keys.Load(context.Background(), st, c, logger(&logs))
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(keys.DevKEKPath(dir))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("call %d: key file %v %v", i, fi, err)
		}
		if got := devKey(t, keys.DevKEKPath(dir)); got.ID() != k.ID() {
			t.Fatalf("call %d: Load returned %s, the file holds %s", i, k.ID(), got.ID())
		}
		if !strings.Contains(logs.String(), "LABSYNC_KEK is not set") || !strings.Contains(logs.String(), created) {
			t.Fatalf("call %d: no warning saying %s:\n%s", i, created, logs.String())
		}
	}
}

func TestLoadUsesLABSYNC_KEKAndRefusesOneThatDidNotWrapTheDatabase(t *testing.T) {
	wrapping, wrappingB64, _ := vault.GenerateKEK()
	other, otherB64, _ := vault.GenerateKEK()
	st, org, ct := sealedOrg(t, wrapping)
	var logs bytes.Buffer
	k, err := keys.Load(context.Background(), st, keys.Config{KEK: secret.New(wrappingB64), DataDir: t.TempDir()}, logger(&logs))
	if err != nil || k.ID() != wrapping.ID() {
		t.Fatalf("the wrapping key: %v %v", k, err)
	}
	opens(t, st, k, org, ct)
	if logs.Len() != 0 {
		t.Fatalf("a warning with LABSYNC_KEK set:\n%s", logs.String())
	}

	dir := t.TempDir()
	_, err = keys.Load(context.Background(), st, keys.Config{KEK: secret.New(otherB64), DataDir: dir}, logger(&logs))
	if err == nil || !strings.Contains(err.Error(), "LABSYNC_KEK") || !strings.Contains(err.Error(), other.ID()) || strings.Contains(err.Error(), otherB64) {
		t.Fatalf("another key: %v", err)
	}
	if _, err := os.Stat(keys.DevKEKPath(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a development key file was made although LABSYNC_KEK is set: %v", err)
	}
}

func TestLoadFinishesADevelopmentRotationInterruptedAfterTheDatabaseCommitted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := keys.DevKEKPath(dir)
	old, _, err := vault.LoadOrCreateDevKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	st, org, ct := sealedOrg(t, old)
	next, _, err := vault.LoadOrCreateDevKEK(path + ".new")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RotateKEK(ctx, old, next); err != nil { // the crash comes before the rename
		t.Fatal(err)
	}
	var logs bytes.Buffer
	k, err := keys.Load(ctx, st, keys.Config{DataDir: dir}, logger(&logs))
	if err != nil || k.ID() != next.ID() {
		t.Fatalf("Load: %v %v, want %s", k, err, next.ID())
	}
	opens(t, st, k, org, ct)
	if got := devKey(t, path); got.ID() != next.ID() {
		t.Fatalf("kek.dev holds %s, want the new %s", got.ID(), next.ID())
	}
	if _, err := os.Stat(path + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("kek.dev.new is still there: %v", err)
	}
	if !strings.Contains(logs.String(), "finished an interrupted key rotation") {
		t.Fatalf("no warning:\n%s", logs.String())
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	t.Run("a development install gets a new development key file and its data still opens", func(t *testing.T) {
		dir := t.TempDir()
		old, _, _ := vault.LoadOrCreateDevKEK(keys.DevKEKPath(dir))
		st, org, ct := sealedOrg(t, old)
		r, err := keys.Rotate(ctx, st, keys.Config{DataDir: dir}, old, nil)
		if err != nil {
			t.Fatal(err)
		}
		now := devKey(t, keys.DevKEKPath(dir))
		if r.Rewrapped != 1 || r.From != old.ID() || r.To != now.ID() || !r.DevKey || now.ID() == old.ID() {
			t.Fatalf("rotation %+v, file holds %s, old %s", r, now.ID(), old.ID())
		}
		opens(t, st, now, org, ct)
		if _, err := os.Stat(keys.DevKEKPath(dir) + ".new"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("kek.dev.new left behind: %v", err)
		}
	})
	t.Run("a given new key re-wraps the data keys and no key file is touched", func(t *testing.T) {
		dir := t.TempDir()
		old, oldB64, _ := vault.GenerateKEK()
		next, _, _ := vault.GenerateKEK()
		st, org, ct := sealedOrg(t, old)
		r, err := keys.Rotate(ctx, st, keys.Config{KEK: secret.New(oldB64), DataDir: dir}, old, next)
		if err != nil || r.Rewrapped != 1 || r.DevKey || r.To != next.ID() {
			t.Fatalf("rotation %+v %v", r, err)
		}
		opens(t, st, next, org, ct)
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("files written to the data directory: %v", entries)
		}
	})
	t.Run("an operator key install without a new key is refused", func(t *testing.T) {
		old, oldB64, _ := vault.GenerateKEK()
		st, org, ct := sealedOrg(t, old)
		if _, err := keys.Rotate(ctx, st, keys.Config{KEK: secret.New(oldB64), DataDir: t.TempDir()}, old, nil); !errors.Is(err, keys.ErrNoNewKey) {
			t.Fatalf("got %v, want ErrNoNewKey", err)
		}
		opens(t, st, old, org, ct)
	})
	t.Run("the current key as the new one is refused", func(t *testing.T) {
		old, oldB64, _ := vault.GenerateKEK()
		st, org, ct := sealedOrg(t, old)
		if _, err := keys.Rotate(ctx, st, keys.Config{KEK: secret.New(oldB64), DataDir: t.TempDir()}, old, old); !errors.Is(err, keys.ErrSameKey) {
			t.Fatalf("got %v, want ErrSameKey", err)
		}
		opens(t, st, old, org, ct)
	})
	t.Run("a failed development rotation keeps the old key file and leaves no new one", func(t *testing.T) {
		dir := t.TempDir()
		old, _, _ := vault.LoadOrCreateDevKEK(keys.DevKEKPath(dir))
		wrong, _, _ := vault.GenerateKEK() // did not wrap the database: the re-wrap fails
		st, org, ct := sealedOrg(t, old)
		if _, err := keys.Rotate(ctx, st, keys.Config{DataDir: dir}, wrong, nil); err == nil {
			t.Fatal("a rotation from a key that wrapped nothing succeeded")
		}
		if got := devKey(t, keys.DevKEKPath(dir)); got.ID() != old.ID() {
			t.Fatalf("kek.dev holds %s, want the old %s", got.ID(), old.ID())
		}
		if _, err := os.Stat(keys.DevKEKPath(dir) + ".new"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("kek.dev.new left behind: %v", err)
		}
		opens(t, st, old, org, ct)
	})
}
