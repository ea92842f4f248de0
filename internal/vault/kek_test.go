package vault_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/labsync/labsync/internal/vault"
)

func TestNewLocalKEK(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31, 33, 64} {
		t.Run(fmt.Sprintf("len %d", n), func(t *testing.T) {
			if _, err := vault.NewLocalKEK(make([]byte, n)); err == nil {
				t.Fatalf("NewLocalKEK(%d bytes) succeeded", n)
			}
		})
	}
	t.Run("len 32", func(t *testing.T) {
		if _, err := vault.NewLocalKEK(make([]byte, 32)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestKEKID(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	kek, err := vault.NewLocalKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append([]byte("labsync-kek-id"), key...))
	if want := "local:" + hex.EncodeToString(sum[:8]); kek.ID() != want {
		t.Errorf("ID = %s, want %s", kek.ID(), want)
	}
	if !regexp.MustCompile(`^local:[0-9a-f]{16}$`).MatchString(kek.ID()) {
		t.Errorf("ID %q has the wrong form", kek.ID())
	}
	again, _ := vault.NewLocalKEK(key)
	if again.ID() != kek.ID() {
		t.Error("ID is not stable for the same key")
	}
	other, _ := vault.NewLocalKEK(bytes.Repeat([]byte{0xac}, 32))
	if other.ID() == kek.ID() {
		t.Error("different keys have the same ID")
	}
}

func TestGenerateKEK(t *testing.T) {
	a, b64, err := vault.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := vault.ParseKEK(b64)
	if err != nil {
		t.Fatalf("ParseKEK(GenerateKEK's output): %v", err)
	}
	if parsed.ID() != a.ID() {
		t.Errorf("parsed ID %s, generated %s", parsed.ID(), a.ID())
	}
	b, _, _ := vault.GenerateKEK()
	if a.ID() == b.ID() {
		t.Error("two generated KEKs are equal")
	}
}

// A key whose encodings use '+' and '/' (standard) or '-' and '_' (URL).
var alphabetKey = bytes.Repeat([]byte{0xfb, 0xef, 0xff}, 11)[:32]

func TestParseKEK(t *testing.T) {
	want, err := vault.NewLocalKEK(alphabetKey)
	if err != nil {
		t.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(alphabetKey)
	cases := []struct{ name, in string }{
		{name: "std padded", in: std},
		{name: "std raw", in: base64.RawStdEncoding.EncodeToString(alphabetKey)},
		{name: "url padded", in: base64.URLEncoding.EncodeToString(alphabetKey)},
		{name: "url raw", in: base64.RawURLEncoding.EncodeToString(alphabetKey)},
		{name: "trailing newline", in: std + "\n"},
		{name: "surrounding whitespace", in: " \t" + std + " \r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kek, err := vault.ParseKEK(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if kek.ID() != want.ID() {
				t.Errorf("ID = %s, want %s", kek.ID(), want.ID())
			}
		})
	}
}

func TestParseKEKRejects(t *testing.T) {
	enc := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, n)) }
	std := base64.StdEncoding.EncodeToString(alphabetKey)
	cases := []struct {
		name, in, want string
	}{
		{name: "empty", in: "", want: "(got 0 bytes)"},
		{name: "whitespace", in: " \n", want: "(got 0 bytes)"},
		{name: "short", in: enc(16), want: "(got 16 bytes)"},
		{name: "one short", in: enc(31), want: "(got 31 bytes)"},
		{name: "one long", in: enc(33), want: "(got 33 bytes)"},
		{name: "long", in: enc(64), want: "(got 64 bytes)"},
		{name: "hex not base64", in: strings.Repeat("ab", 32), want: "(got 48 bytes)"},
		{name: "not base64", in: "this is not base64 at all!", want: "is not valid base64"},
		{name: "bad character", in: std[:10] + "*" + std[11:], want: "is not valid base64"},
		{name: "mixed alphabets", in: "+-" + std[2:], want: "is not valid base64"},
		{name: "bad padding", in: std + "==", want: "is not valid base64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := vault.ParseKEK(c.in)
			if err == nil {
				t.Fatal("ParseKEK succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "LABSYNC_KEK ") {
				t.Errorf("error %q does not start with LABSYNC_KEK", msg)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not contain %q", msg, c.want)
			}
			if c.want != "is not valid base64" && !strings.Contains(msg, "must be the base64 encoding of exactly 32 random bytes") {
				t.Errorf("error %q does not say what LABSYNC_KEK must be", msg)
			}
			if in := strings.TrimSpace(c.in); len(in) >= 4 && strings.Contains(msg, in[:4]) {
				t.Errorf("error %q echoes the input", msg)
			}
		})
	}
}

func TestLocalKEKUnwrapRejects(t *testing.T) {
	kek, other := newKEK(t), newKEK(t)
	dek := bytes.Repeat([]byte{7}, 32)
	aad := []byte("labsync/dek/v1|org=7|key=1")
	w, err := kek.Wrap(dek, aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kek.Unwrap(w, aad); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("Unwrap = %x, %v", got, err)
	}
	mod := func(f func([]byte) []byte) []byte { return f(bytes.Clone(w)) }
	cases := []struct {
		name    string
		kek     *vault.LocalKEK
		wrapped []byte
		aad     []byte
	}{
		{name: "nil", kek: kek, wrapped: nil, aad: aad},
		{name: "version only", kek: kek, wrapped: w[:1], aad: aad},
		{name: "shorter than nonce and tag", kek: kek, wrapped: w[:28], aad: aad},
		{name: "truncated", kek: kek, wrapped: w[:len(w)-1], aad: aad},
		{name: "unknown version", kek: kek, wrapped: mod(func(b []byte) []byte { b[0] = 2; return b }), aad: aad},
		{name: "tampered", kek: kek, wrapped: mod(func(b []byte) []byte { b[20] ^= 1; return b }), aad: aad},
		{name: "other org", kek: kek, wrapped: w, aad: []byte("labsync/dek/v1|org=8|key=1")},
		{name: "other KEK", kek: other, wrapped: w, aad: aad},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.kek.Unwrap(c.wrapped, c.aad)
			if !errors.Is(err, vault.ErrUnwrap) || got != nil {
				t.Fatalf("Unwrap = %x, %v; want ErrUnwrap", got, err)
			}
		})
	}
}

func TestLoadOrCreateDevKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "kek")

	kek, created, err := vault.LoadOrCreateDevKEK(path)
	if err != nil || !created {
		t.Fatalf("first call: created = %v, err = %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %04o, want 0600", perm)
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasSuffix(b, []byte("\n")) {
		t.Errorf("file does not end in a newline")
	}
	if fromFile, err := vault.ParseKEK(string(b)); err != nil || fromFile.ID() != kek.ID() {
		t.Errorf("file holds a different key: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".labsync-kek-*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	again, created, err := vault.LoadOrCreateDevKEK(path)
	if err != nil || created {
		t.Fatalf("second call: created = %v, err = %v", created, err)
	}
	if again.ID() != kek.ID() {
		t.Errorf("second call returned another key: %s, want %s", again.ID(), kek.ID())
	}
}

func TestLoadOrCreateDevKEKConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	const n = 16
	ids := make([]string, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			kek, c, err := vault.LoadOrCreateDevKEK(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], created[i] = kek.ID(), c
		})
	}
	wg.Wait()
	var nCreated int
	for i := range n {
		if ids[i] != ids[0] {
			t.Errorf("caller %d got key %s, caller 0 got %s", i, ids[i], ids[0])
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Errorf("%d callers report creating the file, want 1", nCreated)
	}
}

func TestLoadOrCreateDevKEKRefuses(t *testing.T) {
	_, good, _ := vault.GenerateKEK()
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{name: "0644", content: good + "\n", mode: 0o644, want: "run: chmod 600 "},
		{name: "0640", content: good + "\n", mode: 0o640, want: "run: chmod 600 "},
		{name: "0604", content: good + "\n", mode: 0o604, want: "run: chmod 600 "},
		{name: "0620", content: good + "\n", mode: 0o620, want: "run: chmod 600 "},
		{name: "short key", content: base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n", mode: 0o600, want: "(got 16 bytes)"},
		{name: "empty", content: "", mode: 0o600, want: "(got 0 bytes)"},
		{name: "not base64", content: "hunter2 hunter2\n", mode: 0o600, want: "is not valid base64"},
		{name: "huge", content: strings.Repeat("A", 8192), mode: 0o600, want: "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil { // not subject to umask
				t.Fatal(err)
			}
			_, _, err := vault.LoadOrCreateDevKEK(path)
			if err == nil {
				t.Fatal("LoadOrCreateDevKEK succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, path) {
				t.Errorf("error %q does not contain %q and the path", msg, c.want)
			}
			if c.want == "run: chmod 600 " && !strings.HasSuffix(msg, "chmod 600 "+path) {
				t.Errorf("error %q does not end with chmod 600 %s", msg, path)
			}
			if strings.Contains(msg, good[:8]) || strings.Contains(msg, "hunter2") {
				t.Errorf("error %q echoes the file's content", msg)
			}
			if b, _ := os.ReadFile(path); string(b) != c.content {
				t.Error("the file was changed")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		if _, _, err := vault.LoadOrCreateDevKEK(t.TempDir()); err == nil {
			t.Fatal("LoadOrCreateDevKEK accepted a directory")
		}
	})
}
