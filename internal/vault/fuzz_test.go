package vault_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/labsync/labsync/internal/vault"
)

// FuzzOpen feeds arbitrary bytes to Open. Open must never panic, must fail
// with one of its documented errors, and may succeed only on a ciphertext
// Seal made. The seeds run with plain `go test`.
func FuzzOpen(f *testing.F) {
	kek, err := vault.NewLocalKEK(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		f.Fatal(err)
	}
	v := vault.New(kek, newMemKeyStore())
	const org = 7
	valid := map[string]string{}
	for _, pt := range []string{"", "x", token} {
		ct := seal(f, v, org, cred42, pt)
		valid[string(ct)] = pt
		f.Add(ct)
		f.Add(ct[:len(ct)-1])
		f.Add(append(bytes.Clone(ct), 0))
	}
	ct := seal(f, v, org, cred42, token)
	for _, seed := range [][]byte{
		nil,
		{},
		{0x01},
		{0x02},
		{0x00, 0, 0, 0, 1},
		ct[:5],
		ct[:17],
		ct[:32],
		ct[:33],
		append([]byte{0x01, 0, 0, 0, 2}, ct[5:]...), // unknown key id
		append([]byte{0x01, 0, 0, 0, 0}, ct[5:]...), // key id 0
		append([]byte{0x01, 0xff, 0xff, 0xff, 0xff}, ct[5:]...),
		bytes.Repeat([]byte{0x01}, 64),
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		pt, err := v.Open(context.Background(), org, cred42, data)
		if err != nil {
			if pt != nil {
				t.Fatalf("Open returned plaintext with error %v", err)
			}
			for _, want := range []error{vault.ErrMalformed, vault.ErrUnsupportedVersion, vault.ErrUnknownKey, vault.ErrDecrypt} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("Open error %v is none of the documented ones", err)
		}
		want, ok := valid[string(data)]
		if !ok {
			t.Fatalf("Open accepted a ciphertext Seal did not make: %x", data)
		}
		if string(pt) != want {
			t.Fatalf("Open = %q, want %q", pt, want)
		}
	})
}
