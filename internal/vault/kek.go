package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KEK wraps and unwraps data keys. A local key now; a KMS later.
//
// Implementations must bind the wrapped key to aad (Unwrap with a different
// aad fails), must not include key material in errors, and must treat
// wrapped as untrusted input.
type KEK interface {
	// ID returns a stable, non-secret fingerprint of the key. Vault stores
	// it next to every wrapped data key to detect a wrong LABSYNC_KEK.
	ID() string
	// Wrap encrypts dek bound to aad.
	Wrap(dek, aad []byte) ([]byte, error)
	// Unwrap reverses Wrap; it fails if wrapped or aad were changed.
	Unwrap(wrapped, aad []byte) ([]byte, error)
}

// KEKSize is the length in bytes of a local key-encryption key.
const KEKSize = 32

// Layout of a key wrapped by LocalKEK: version | nonce | GCM(dek) + tag.
const (
	wrapVersion   byte = 0x01
	wrapHeaderLen      = 1 + nonceSize
)

// LocalKEK is a KEK held in process memory: AES-256-GCM under a 32-byte key
// given by the operator in LABSYNC_KEK (or a development key file).
//
// LocalKEK keeps no copy of the raw key, only the AES cipher made from it.
// Printing a LocalKEK with any fmt verb shows only its ID.
type LocalKEK struct {
	aead cipher.AEAD
	id   string
}

// NewLocalKEK returns a LocalKEK for key, which must be exactly 32 bytes.
// The caller may zero key once NewLocalKEK returns.
func NewLocalKEK(key []byte) (*LocalKEK, error) {
	if len(key) != KEKSize {
		return nil, fmt.Errorf("vault: a KEK must be exactly %d bytes (got %d bytes)", KEKSize, len(key))
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, fmt.Errorf("vault: KEK: %w", err)
	}
	h := sha256.New()
	h.Write([]byte("labsync-kek-id"))
	h.Write(key)
	return &LocalKEK{aead: aead, id: "local:" + hex.EncodeToString(h.Sum(nil)[:8])}, nil
}

// ParseKEK decodes the value of LABSYNC_KEK: the standard or URL-safe base64
// encoding, with or without padding, of exactly 32 bytes. Surrounding
// whitespace is ignored. Errors name LABSYNC_KEK and never contain the value.
func ParseKEK(b64 string) (*LocalKEK, error) {
	key, err := decodeKey(b64)
	if err != nil {
		return nil, fmt.Errorf("LABSYNC_KEK %w", err)
	}
	defer clear(key)
	return NewLocalKEK(key)
}

// decodeKey decodes base64 s to a 32-byte key. Its errors complete a
// sentence whose subject is the key's source ("LABSYNC_KEK ...") and never
// contain s.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var key []byte
	var decoded bool
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.DecodeString(s); err == nil {
			key, decoded = b, true
			break
		}
	}
	if !decoded {
		return nil, errors.New("is not valid base64; it must be the base64 encoding of exactly 32 random bytes " +
			"(generate one with: openssl rand -base64 32)")
	}
	if len(key) != KEKSize {
		n := len(key)
		clear(key)
		return nil, fmt.Errorf("must be the base64 encoding of exactly %d random bytes (got %d bytes); "+
			"generate one with: openssl rand -base64 32", KEKSize, n)
	}
	return key, nil
}

// GenerateKEK returns a new random LocalKEK and its base64 encoding (standard
// alphabet, padded), the form LABSYNC_KEK takes.
func GenerateKEK() (*LocalKEK, string, error) {
	key := make([]byte, KEKSize)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return nil, "", fmt.Errorf("vault: generate KEK: %w", err)
	}
	kek, err := NewLocalKEK(key)
	if err != nil {
		return nil, "", err
	}
	return kek, base64.StdEncoding.EncodeToString(key), nil
}

// ID returns "local:" followed by 16 hex digits of a SHA-256 fingerprint of
// the key. It is safe to log and store.
func (k *LocalKEK) ID() string { return k.id }

// Wrap encrypts dek under the KEK with a fresh random nonce, bound to aad.
func (k *LocalKEK) Wrap(dek, aad []byte) ([]byte, error) {
	out := make([]byte, wrapHeaderLen, wrapHeaderLen+len(dek)+k.aead.Overhead())
	out[0] = wrapVersion
	if _, err := rand.Read(out[1:wrapHeaderLen]); err != nil {
		return nil, fmt.Errorf("vault: wrap: nonce: %w", err)
	}
	return k.aead.Seal(out, out[1:wrapHeaderLen], dek, aad), nil
}

// Unwrap decrypts a key made by Wrap. It returns an error wrapping ErrUnwrap
// if wrapped is truncated, tampered with, made by another KEK, or bound to
// another aad.
func (k *LocalKEK) Unwrap(wrapped, aad []byte) ([]byte, error) {
	if len(wrapped) < wrapHeaderLen+k.aead.Overhead() {
		return nil, fmt.Errorf("%w (wrapped key is %d bytes, too short)", ErrUnwrap, len(wrapped))
	}
	if wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("%w (unknown wrapping version %d)", ErrUnwrap, wrapped[0])
	}
	dek, err := k.aead.Open(nil, wrapped[1:wrapHeaderLen], wrapped[wrapHeaderLen:], aad)
	if err != nil {
		return nil, ErrUnwrap
	}
	return dek, nil
}

// String returns a description naming only the key's ID.
func (k LocalKEK) String() string { return "LocalKEK(" + k.id + ")" }

// GoString is String, so %#v shows no key material.
func (k LocalKEK) GoString() string { return k.String() }

// Format writes String for every verb, so no fmt verb can print the cipher
// state (which holds the expanded key).
func (k LocalKEK) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// newGCM returns AES-256-GCM with a 12-byte nonce for a 32-byte key.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
