package vault_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/labsync/labsync/internal/vault"
)

var cred42 = vault.Binding{Table: "credentials", Row: "42", Field: "access_token"}

const token = "glpat-PLAINTEXT-token-0123456789"

func newKEK(t testing.TB) *vault.LocalKEK {
	t.Helper()
	kek, _, err := vault.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func seal(t testing.TB, v *vault.Vault, org int64, b vault.Binding, pt string) []byte {
	t.Helper()
	ct, err := v.Seal(context.Background(), org, b, []byte(pt))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return ct
}

func mustOpen(t testing.TB, v *vault.Vault, org int64, b vault.Binding, ct []byte, want string) {
	t.Helper()
	pt, err := v.Open(context.Background(), org, b, ct)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if string(pt) != want {
		t.Fatalf("Open = %q, want %q", pt, want)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	v := vault.New(newKEK(t), newMemKeyStore())
	cases := []struct {
		name string
		pt   []byte
	}{
		{name: "empty", pt: nil},
		{name: "one byte", pt: []byte{0}},
		{name: "token", pt: []byte(token)},
		{name: "binary", pt: []byte{0, 1, 0xff, 0, 0x80}},
		{name: "64KiB", pt: bytes.Repeat([]byte("x"), 64<<10)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, err := v.Seal(context.Background(), 7, cred42, c.pt)
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 + 4 + 12 + len(c.pt) + 16; len(ct) != want {
				t.Errorf("len(ciphertext) = %d, want %d", len(ct), want)
			}
			if ct[0] != 0x01 {
				t.Errorf("version byte = %#x, want 0x01", ct[0])
			}
			if id := binary.BigEndian.Uint32(ct[1:5]); id != 1 {
				t.Errorf("key id = %d, want 1", id)
			}
			if len(c.pt) > 4 && bytes.Contains(ct, c.pt) {
				t.Error("ciphertext contains the plaintext")
			}
			pt, err := v.Open(context.Background(), 7, cred42, ct)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pt, c.pt) {
				t.Fatalf("Open = %q, want %q", pt, c.pt)
			}
		})
	}
}

func TestSealIsRandomized(t *testing.T) {
	v := vault.New(newKEK(t), newMemKeyStore())
	a := seal(t, v, 7, cred42, token)
	b := seal(t, v, 7, cred42, token)
	if bytes.Equal(a, b) {
		t.Fatal("two Seals of the same plaintext are equal")
	}
	if bytes.Equal(a[5:17], b[5:17]) {
		t.Fatal("two Seals used the same nonce")
	}
	mustOpen(t, v, 7, cred42, a, token)
	mustOpen(t, v, 7, cred42, b, token)
}

func TestOpenRejects(t *testing.T) {
	v := vault.New(newKEK(t), newMemKeyStore())
	ct := seal(t, v, 7, cred42, token)
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(ct)) }
	flip := func(i int) []byte { return with(func(b []byte) []byte { b[i] ^= 0x01; return b }) }
	keyID := func(id uint32) []byte {
		return with(func(b []byte) []byte { binary.BigEndian.PutUint32(b[1:5], id); return b })
	}
	cases := []struct {
		name string
		ct   []byte
		want error
	}{
		{name: "nil", ct: nil, want: vault.ErrMalformed},
		{name: "empty", ct: []byte{}, want: vault.ErrMalformed},
		{name: "version byte only", ct: ct[:1], want: vault.ErrMalformed},
		{name: "truncated key id", ct: ct[:3], want: vault.ErrMalformed},
		{name: "truncated nonce", ct: ct[:10], want: vault.ErrMalformed},
		{name: "header only", ct: ct[:17], want: vault.ErrMalformed},
		{name: "shorter than a tag", ct: ct[:17+15], want: vault.ErrMalformed},
		{name: "last byte cut", ct: ct[:len(ct)-1], want: vault.ErrDecrypt},
		{name: "extra byte", ct: append(bytes.Clone(ct), 0), want: vault.ErrDecrypt},
		{name: "version 0", ct: with(func(b []byte) []byte { b[0] = 0; return b }), want: vault.ErrUnsupportedVersion},
		{name: "version 2", ct: with(func(b []byte) []byte { b[0] = 2; return b }), want: vault.ErrUnsupportedVersion},
		{name: "version 0xff alone", ct: []byte{0xff}, want: vault.ErrUnsupportedVersion},
		{name: "key id 0", ct: keyID(0), want: vault.ErrMalformed},
		{name: "unknown key id 2", ct: keyID(2), want: vault.ErrUnknownKey},
		{name: "unknown key id max", ct: keyID(^uint32(0)), want: vault.ErrUnknownKey},
		{name: "flipped nonce bit", ct: flip(5), want: vault.ErrDecrypt},
		{name: "flipped data bit", ct: flip(20), want: vault.ErrDecrypt},
		{name: "flipped tag bit", ct: flip(len(ct) - 1), want: vault.ErrDecrypt},
		{name: "zeroed tag", ct: with(func(b []byte) []byte { clear(b[len(b)-16:]); return b }), want: vault.ErrDecrypt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pt, err := v.Open(context.Background(), 7, cred42, c.ct)
			if !errors.Is(err, c.want) {
				t.Fatalf("Open error = %v, want %v", err, c.want)
			}
			if pt != nil {
				t.Errorf("Open returned plaintext %q with an error", pt)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error contains the plaintext: %v", err)
			}
		})
	}
}

func TestOpenWrongBinding(t *testing.T) {
	v := vault.New(newKEK(t), newMemKeyStore())
	ct := seal(t, v, 7, cred42, token)
	seal(t, v, 8, cred42, "org 8 now has a key")
	cases := []struct {
		name string
		org  int64
		b    vault.Binding
		want error
	}{
		{name: "other row", org: 7, b: vault.Binding{"credentials", "43", "access_token"}, want: vault.ErrDecrypt},
		{name: "other field", org: 7, b: vault.Binding{"credentials", "42", "refresh_token"}, want: vault.ErrDecrypt},
		{name: "other table", org: 7, b: vault.Binding{"oauth_apps", "42", "access_token"}, want: vault.ErrDecrypt},
		{name: "other org with a key", org: 8, b: cred42, want: vault.ErrDecrypt},
		{name: "other org without a key", org: 9, b: cred42, want: vault.ErrUnknownKey},
		{name: "table shifted into row", org: 7, b: vault.Binding{"credentials4", "2", "access_token"}, want: vault.ErrDecrypt},
		{name: "row shifted into field", org: 7, b: vault.Binding{"credentials", "4", "2access_token"}, want: vault.ErrDecrypt},
		{name: "negative org", org: -7, b: cred42, want: vault.ErrUnknownKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Open(context.Background(), c.org, c.b, ct)
			if !errors.Is(err, c.want) {
				t.Fatalf("Open error = %v, want %v", err, c.want)
			}
		})
	}
	mustOpen(t, v, 7, cred42, ct, token)
}

func TestInvalidBinding(t *testing.T) {
	v := vault.New(newKEK(t), newMemKeyStore())
	ct := seal(t, v, 7, cred42, token)
	cases := []struct {
		name string
		b    vault.Binding
	}{
		{name: "zero", b: vault.Binding{}},
		{name: "no table", b: vault.Binding{Row: "42", Field: "access_token"}},
		{name: "no row", b: vault.Binding{Table: "credentials", Field: "access_token"}},
		{name: "no field", b: vault.Binding{Table: "credentials", Row: "42"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := v.Seal(context.Background(), 7, c.b, []byte(token)); !errors.Is(err, vault.ErrInvalidBinding) {
				t.Errorf("Seal error = %v, want ErrInvalidBinding", err)
			}
			if _, err := v.Open(context.Background(), 7, c.b, ct); !errors.Is(err, vault.ErrInvalidBinding) {
				t.Errorf("Open error = %v, want ErrInvalidBinding", err)
			}
		})
	}
}

// TestDEKCreatedOnce runs first Seals concurrently in two Vaults sharing a
// KeyStore, as two replicas would: each organisation ends with one key and
// every ciphertext opens in both.
func TestDEKCreatedOnce(t *testing.T) {
	ks := newMemKeyStore()
	kek := newKEK(t)
	vaults := []*vault.Vault{vault.New(kek, ks), vault.New(kek, ks)}
	orgs := []int64{1, 2, 3}
	const perVault = 16

	type sealed struct {
		org int64
		b   vault.Binding
		ct  []byte
	}
	var (
		mu  sync.Mutex
		out []sealed
		wg  sync.WaitGroup
	)
	start := make(chan struct{})
	for _, v := range vaults {
		for _, org := range orgs {
			for i := range perVault {
				wg.Go(func() {
					<-start
					b := vault.Binding{Table: "credentials", Row: fmt.Sprint(i), Field: "access_token"}
					ct, err := v.Seal(context.Background(), org, b, []byte(token))
					if err != nil {
						t.Errorf("Seal: %v", err)
						return
					}
					mu.Lock()
					out = append(out, sealed{org, b, ct})
					mu.Unlock()
				})
			}
		}
	}
	close(start)
	wg.Wait()

	for _, org := range orgs {
		t.Run(fmt.Sprintf("org %d", org), func(t *testing.T) {
			keys, creates, _ := ks.counts(org)
			if keys != 1 {
				t.Errorf("org has %d keys, want 1", keys)
			}
			// One create per Vault at most: the per-org lock stops a Vault
			// from racing itself.
			if creates < 1 || creates > len(vaults) {
				t.Errorf("CreateOrgKey called %d times, want 1..%d", creates, len(vaults))
			}
		})
	}
	for _, s := range out {
		for _, v := range vaults {
			mustOpen(t, v, s.org, s.b, s.ct, token)
		}
	}
}

// TestCreateOrgKeyRaceLost makes another process store a key between this
// Vault's OrgKey (no key) and CreateOrgKey: the Vault must use the winner's
// key, not fail and not keep its own.
func TestCreateOrgKeyRaceLost(t *testing.T) {
	ks := newMemKeyStore()
	kek := newKEK(t)
	winner, loser := vault.New(kek, ks), vault.New(kek, ks)
	var winnerCT []byte
	ks.beforeCreate = func(org int64) {
		ks.beforeCreate = nil // the winner's own CreateOrgKey runs unhindered
		winnerCT = seal(t, winner, org, cred42, "winner")
	}

	loserCT := seal(t, loser, 7, cred42, "loser")

	keys, creates, _ := ks.counts(7)
	if keys != 1 || creates != 2 {
		t.Fatalf("keys = %d, CreateOrgKey calls = %d; want 1 and 2", keys, creates)
	}
	for name, v := range map[string]*vault.Vault{"winner": winner, "loser": loser, "fresh": vault.New(kek, ks)} {
		t.Run(name, func(t *testing.T) {
			mustOpen(t, v, 7, cred42, winnerCT, "winner")
			mustOpen(t, v, 7, cred42, loserCT, "loser")
		})
	}
}

func TestWrappedKeyBoundToOrg(t *testing.T) {
	ks := newMemKeyStore()
	kek := newKEK(t)
	seal(t, vault.New(kek, ks), 7, cred42, token)
	// Copy org 7's wrapped key to org 8, as a careless restore might.
	for _, k := range ks.all(7) {
		ks.replace(8, k)
	}
	v := vault.New(kek, ks)
	if _, err := v.Seal(context.Background(), 8, cred42, []byte(token)); !errors.Is(err, vault.ErrUnwrap) {
		t.Fatalf("Seal with a key copied from another org: error = %v, want ErrUnwrap", err)
	}
}

func TestKEKMismatch(t *testing.T) {
	ks := newMemKeyStore()
	oldKEK, newKEK := newKEK(t), newKEK(t)
	ct := seal(t, vault.New(oldKEK, ks), 7, cred42, token)
	v := vault.New(newKEK, ks)
	ops := map[string]func() error{
		"Open": func() error { _, err := v.Open(context.Background(), 7, cred42, ct); return err },
		"Seal": func() error { _, err := v.Seal(context.Background(), 7, cred42, []byte(token)); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op()
			var mm *vault.KEKMismatchError
			if !errors.As(err, &mm) || !errors.Is(err, vault.ErrKEKMismatch) {
				t.Fatalf("error = %v, want *KEKMismatchError", err)
			}
			if mm.Stored != oldKEK.ID() || mm.InUse != newKEK.ID() || mm.OrgID != 7 || mm.KeyID != 1 {
				t.Errorf("error fields = %+v", *mm)
			}
			msg := err.Error()
			for _, want := range []string{oldKEK.ID(), newKEK.ID(), "LABSYNC_KEK is not the one that wrapped this database's keys"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestRewrap(t *testing.T) {
	ks := newMemKeyStore()
	oldKEK, newKEK := newKEK(t), newKEK(t)
	before := vault.New(oldKEK, ks)
	cts := map[int64][]byte{1: seal(t, before, 1, cred42, "one"), 2: seal(t, before, 2, cred42, "two")}
	stored := map[int64][]byte{}

	// labsync keys rotate: rewrap every key, leave the data alone.
	for org := range cts {
		for _, k := range ks.all(org) {
			stored[org] = bytes.Clone(k.Wrapped)
			nk, err := vault.Rewrap(oldKEK, newKEK, org, k)
			if err != nil {
				t.Fatalf("Rewrap org %d: %v", org, err)
			}
			if nk.KeyID != k.KeyID || nk.KEKID != newKEK.ID() || bytes.Equal(nk.Wrapped, k.Wrapped) {
				t.Fatalf("Rewrap = {KeyID %d, KEKID %s}, want {%d, %s} and new wrapped bytes", nk.KeyID, nk.KEKID, k.KeyID, newKEK.ID())
			}
			ks.replace(org, nk)
		}
	}

	t.Run("new KEK opens old data", func(t *testing.T) {
		after := vault.New(newKEK, ks) // the old KEK is not given to it
		mustOpen(t, after, 1, cred42, cts[1], "one")
		mustOpen(t, after, 2, cred42, cts[2], "two")
		mustOpen(t, after, 1, cred42, seal(t, after, 1, cred42, "new"), "new")
	})
	t.Run("old KEK is refused", func(t *testing.T) {
		_, err := vault.New(oldKEK, ks).Open(context.Background(), 1, cred42, cts[1])
		if !errors.Is(err, vault.ErrKEKMismatch) {
			t.Fatalf("error = %v, want ErrKEKMismatch", err)
		}
	})

	k := ks.all(1)[0]
	cases := []struct {
		name   string
		oldKEK vault.KEK
		org    int64
		k      vault.WrappedKey
		want   error
	}{
		{name: "wrong old KEK", oldKEK: oldKEK, org: 1, k: k, want: vault.ErrKEKMismatch},
		{name: "other org", oldKEK: newKEK, org: 2, k: k, want: vault.ErrUnwrap},
		{name: "other key id", oldKEK: newKEK, org: 1, k: vault.WrappedKey{KeyID: 2, KEKID: k.KEKID, Wrapped: k.Wrapped}, want: vault.ErrUnwrap},
		{name: "tampered", oldKEK: newKEK, org: 1, k: vault.WrappedKey{KeyID: 1, KEKID: k.KEKID, Wrapped: append(bytes.Clone(k.Wrapped[:len(k.Wrapped)-1]), k.Wrapped[len(k.Wrapped)-1]^1)}, want: vault.ErrUnwrap},
		{name: "truncated", oldKEK: newKEK, org: 1, k: vault.WrappedKey{KeyID: 1, KEKID: k.KEKID, Wrapped: k.Wrapped[:10]}, want: vault.ErrUnwrap},
		{name: "empty", oldKEK: newKEK, org: 1, k: vault.WrappedKey{KeyID: 1, KEKID: k.KEKID}, want: vault.ErrUnwrap},
		{name: "wrapped by old KEK, labelled new", oldKEK: newKEK, org: 1, k: vault.WrappedKey{KeyID: 1, KEKID: newKEK.ID(), Wrapped: stored[1]}, want: vault.ErrUnwrap},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := vault.Rewrap(c.oldKEK, oldKEK, c.org, c.k); !errors.Is(err, c.want) {
				t.Fatalf("Rewrap error = %v, want %v", err, c.want)
			}
		})
	}
}

func TestForget(t *testing.T) {
	ks := newMemKeyStore()
	v := vault.New(newKEK(t), ks)
	ct7 := seal(t, v, 7, cred42, token)
	ct8 := seal(t, v, 8, cred42, token)
	_, _, reads8 := ks.counts(8)

	ks.deleteOrg(7)                       // crypto-shred org 7
	mustOpen(t, v, 7, cred42, ct7, token) // still cached

	v.Forget(7)
	if _, err := v.Open(context.Background(), 7, cred42, ct7); !errors.Is(err, vault.ErrUnknownKey) {
		t.Fatalf("Open after Forget and key deletion: error = %v, want ErrUnknownKey", err)
	}
	mustOpen(t, v, 8, cred42, ct8, token)
	if _, _, r := ks.counts(8); r != reads8 {
		t.Errorf("Forget(7) made org 8 reload its key (%d reads, want %d)", r, reads8)
	}
	// A new key is created for org 7 on the next Seal.
	mustOpen(t, v, 7, cred42, seal(t, v, 7, cred42, "again"), "again")
}

func TestFormatHidesKeys(t *testing.T) {
	kek, b64, err := vault.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(kek, newMemKeyStore())
	seal(t, v, 7, cred42, token) // populate the cache
	for name, arg := range map[string]any{"*LocalKEK": kek, "LocalKEK": *kek, "*Vault": v} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
			t.Run(name+"/"+verb, func(t *testing.T) {
				out := fmt.Sprintf(verb, arg)
				if !strings.Contains(out, kek.ID()) {
					t.Errorf("%s = %q, want it to name %s", verb, out, kek.ID())
				}
				if strings.Contains(out, b64) || strings.Contains(out, strings.TrimRight(b64, "=")) {
					t.Errorf("%s shows the key: %q", verb, out)
				}
			})
		}
	}
}
