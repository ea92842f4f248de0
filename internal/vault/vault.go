// Package vault encrypts the secrets labsync keeps in its database (OAuth
// tokens, client secrets, webhook tokens) with envelope encryption.
//
// Each organisation has its own random 256-bit data key (DEK), created on
// first use and stored in the database only wrapped (encrypted) by the
// key-encryption key (KEK) from LABSYNC_KEK. A field value is sealed with
// AES-256-GCM under its organisation's DEK and bound, through the GCM
// additional data, to where it is stored (organisation, table, row, field),
// so a ciphertext copied to another row, field or organisation does not
// open. Rotating the KEK ([Rewrap]) rewraps the DEKs and leaves the data
// untouched; deleting an organisation's wrapped DEKs crypto-shreds its data.
//
// Ciphertext layout (version 1):
//
//	0x01 | key id (4 bytes, big-endian) | nonce (12 bytes) | GCM sealed data and tag (16 bytes)
//
// This package must never log, print or return key material or plaintext
// in an error, and must never slice input from the database before checking
// its length: every malformed input is an error, never a panic.
package vault

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// Sizes and the layout of a sealed value.
const (
	dekSize     = 32
	nonceSize   = 12
	tagSize     = 16
	formatV1    = 0x01
	headerLen   = 1 + 4 + nonceSize
	minSealed   = headerLen + tagSize
	firstKeyID  = 1
	aadLabel    = "labsync/field"
	dekAADLabel = "labsync/dek/v1"
)

// Errors from KeyStore implementations.
var (
	// ErrNoKey means the organisation has no data key (with that id).
	ErrNoKey = errors.New("vault: organisation has no data key")
	// ErrKeyExists means CreateOrgKey found a key already stored for the
	// organisation and key id: another process created it first.
	ErrKeyExists = errors.New("vault: organisation data key already exists")
)

// Errors from Open, Seal and Rewrap. Match them with errors.Is; none of
// their messages contains key material or plaintext.
var (
	// ErrMalformed means the ciphertext is too short to hold a header and a
	// tag, or its header is invalid.
	ErrMalformed = errors.New("vault: ciphertext is malformed")
	// ErrUnsupportedVersion means the ciphertext's format version byte is
	// not one this build reads.
	ErrUnsupportedVersion = errors.New("vault: unsupported ciphertext version")
	// ErrUnknownKey means the ciphertext names a data key id that the
	// organisation does not have (deleted, or the value belongs elsewhere).
	ErrUnknownKey = errors.New("vault: ciphertext names an unknown data key")
	// ErrDecrypt means authentication failed.
	ErrDecrypt = errors.New("vault: ciphertext does not open: tampered, truncated, or bound to another row")
	// ErrUnwrap means a wrapped data key did not unwrap: it was tampered
	// with, wrapped by another KEK, or copied from another organisation.
	ErrUnwrap = errors.New("vault: data key does not unwrap: tampered, wrapped by another KEK, or copied from another organisation")
	// ErrKEKMismatch is matched by every *KEKMismatchError.
	ErrKEKMismatch = errors.New("vault: KEK mismatch")
	// ErrInvalidBinding means a Binding has an empty field.
	ErrInvalidBinding = errors.New("vault: binding needs a table, a row and a field")
)

// KEKMismatchError says a stored data key was wrapped by a different KEK
// than the one in use: most likely LABSYNC_KEK holds an old or wrong key.
type KEKMismatchError struct {
	OrgID  int64
	KeyID  uint32
	Stored string // KEK.ID() recorded with the wrapped key
	InUse  string // KEK.ID() of the KEK in use
}

func (e *KEKMismatchError) Error() string {
	return fmt.Sprintf("vault: data key %d of organisation %d was wrapped by KEK %s, but the KEK in use is %s: "+
		"the KEK in LABSYNC_KEK is not the one that wrapped this database's keys "+
		"(after `labsync keys rotate`, LABSYNC_KEK must hold the new key)",
		e.KeyID, e.OrgID, e.Stored, e.InUse)
}

// Unwrap makes errors.Is(err, ErrKEKMismatch) true.
func (e *KEKMismatchError) Unwrap() error { return ErrKEKMismatch }

// WrappedKey is an organisation's data key as stored: encrypted by a KEK.
type WrappedKey struct {
	KeyID   uint32 // DEK version within the org, starts at 1
	KEKID   string // KEK.ID() that wrapped it
	Wrapped []byte
}

// KeyStore keeps wrapped data keys, one row per (organisation, key id).
type KeyStore interface {
	// OrgKey returns the organisation's current key, or an error wrapping
	// ErrNoKey if it has none.
	OrgKey(ctx context.Context, orgID int64) (WrappedKey, error)
	// OrgKeyByID returns the organisation's key with the given id, or an
	// error wrapping ErrNoKey.
	OrgKeyByID(ctx context.Context, orgID int64, keyID uint32) (WrappedKey, error)
	// CreateOrgKey stores k, or returns an error wrapping ErrKeyExists if
	// the organisation already has a key with k.KeyID.
	CreateOrgKey(ctx context.Context, orgID int64, k WrappedKey) error
}

// Binding names where a sealed value is stored, e.g.
// {"credentials", "42", "access_token"}. The ciphertext opens only with the
// same Binding (and organisation) it was sealed with.
type Binding struct{ Table, Row, Field string }

func (b Binding) validate() error {
	if b.Table == "" || b.Row == "" || b.Field == "" {
		return fmt.Errorf("%w (got table %q, row %q, field %q)", ErrInvalidBinding, b.Table, b.Row, b.Field)
	}
	return nil
}

// Vault seals and opens field values with per-organisation data keys. It
// is safe for concurrent use. Unwrapped data keys are cached in memory until
// Forget.
type Vault struct {
	kek KEK
	ks  KeyStore

	mu      sync.Mutex
	current map[int64]uint32        // org → id of the key Seal uses
	keys    map[dekRef]cipher.AEAD  // unwrapped data keys
	loading map[int64]chan struct{} // per-org lock held while loading a key
	epoch   uint64                  // bumped by Forget; a load that spans one is not cached
}

type dekRef struct {
	org int64
	id  uint32
}

// New returns a Vault that wraps data keys with kek and stores them in ks.
func New(kek KEK, ks KeyStore) *Vault {
	return &Vault{
		kek:     kek,
		ks:      ks,
		current: make(map[int64]uint32),
		keys:    make(map[dekRef]cipher.AEAD),
		loading: make(map[int64]chan struct{}),
	}
}

// String describes the Vault by its KEK's ID only; Format uses it for every
// verb so that printing a Vault cannot show cached keys.
func (v *Vault) String() string { return "vault.Vault(kek=" + v.kek.ID() + ")" }

// Format writes String for every verb.
func (v *Vault) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(v.String())) }

// Seal encrypts plaintext for the field b of organisation orgID, creating
// the organisation's data key if it has none. Each call uses a fresh random
// nonce, so sealing the same plaintext twice gives different ciphertexts.
func (v *Vault) Seal(ctx context.Context, orgID int64, b Binding, plaintext []byte) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	keyID, aead, err := v.currentKey(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerLen, headerLen+len(plaintext)+tagSize)
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:5], keyID)
	nonce := out[5:headerLen]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("vault: seal: nonce: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, fieldAAD(formatV1, keyID, orgID, b)), nil
}

// Open decrypts a ciphertext made by Seal for the same organisation and
// Binding. It returns an error matching ErrMalformed, ErrUnsupportedVersion,
// ErrUnknownKey or ErrDecrypt for a ciphertext that is truncated, of an
// unknown version, under a key the organisation lacks, or tampered with or
// bound elsewhere; *KEKMismatchError if the data key was wrapped by another
// KEK; and the KeyStore's error if the key cannot be read. Each error that
// says the stored bytes are damaged is a *problem.Error (Conflict) naming
// the value (an integration's credential, an organisation's data key) and
// the remedy, with the sentinel still in its chain.
func (v *Vault) Open(ctx context.Context, orgID int64, b Binding, ciphertext []byte) ([]byte, error) {
	pt, err := v.open(ctx, orgID, b, ciphertext)
	if err != nil {
		return nil, damaged(orgID, b, err)
	}
	return pt, nil
}

func (v *Vault) open(ctx context.Context, orgID int64, b Binding, ciphertext []byte) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if len(ciphertext) == 0 {
		return nil, fmt.Errorf("%w (empty)", ErrMalformed)
	}
	if ciphertext[0] != formatV1 {
		return nil, fmt.Errorf("%w %d", ErrUnsupportedVersion, ciphertext[0])
	}
	if len(ciphertext) < minSealed {
		return nil, fmt.Errorf("%w (%d bytes, at least %d needed)", ErrMalformed, len(ciphertext), minSealed)
	}
	keyID := binary.BigEndian.Uint32(ciphertext[1:5])
	if keyID < firstKeyID {
		return nil, fmt.Errorf("%w (key id %d)", ErrMalformed, keyID)
	}
	aead, err := v.keyByID(ctx, orgID, keyID)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, ciphertext[5:headerLen], ciphertext[headerLen:], fieldAAD(formatV1, keyID, orgID, b))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plaintext, nil
}

// Forget drops the organisation's cached data keys, for when the
// organisation is deleted or its keys are crypto-shredded. Later calls read
// the keys from the KeyStore again. The raw key bytes are zeroed as soon as
// each cipher is built, so there are none left to zero here; the expanded
// AES key inside crypto/aes cannot be zeroed and is left to the garbage
// collector.
func (v *Vault) Forget(orgID int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.epoch++
	delete(v.current, orgID)
	for ref := range v.keys {
		if ref.org == orgID {
			delete(v.keys, ref)
		}
	}
}

// Rewrap unwraps k with oldKEK and wraps the same data key with newKEK,
// keeping its KeyID, for `labsync keys rotate`. Sealed data is untouched:
// once every organisation's keys are rewrapped and stored, oldKEK is no
// longer needed. It returns *KEKMismatchError if k was not wrapped by oldKEK.
func Rewrap(oldKEK, newKEK KEK, orgID int64, k WrappedKey) (WrappedKey, error) {
	if k.KEKID != oldKEK.ID() {
		return WrappedKey{}, &KEKMismatchError{OrgID: orgID, KeyID: k.KeyID, Stored: k.KEKID, InUse: oldKEK.ID()}
	}
	aad := dekAAD(orgID, k.KeyID)
	dek, err := unwrapDEK(oldKEK, orgID, k.KeyID, k.Wrapped, aad)
	if err != nil {
		return WrappedKey{}, err
	}
	defer clear(dek)
	wrapped, err := newKEK.Wrap(dek, aad)
	if err != nil {
		return WrappedKey{}, fmt.Errorf("vault: rewrap data key %d of organisation %d: %w", k.KeyID, orgID, err)
	}
	return WrappedKey{KeyID: k.KeyID, KEKID: newKEK.ID(), Wrapped: wrapped}, nil
}

// currentKey returns the id and cipher of the key Seal uses for orgID,
// creating the key if the organisation has none.
func (v *Vault) currentKey(ctx context.Context, orgID int64) (uint32, cipher.AEAD, error) {
	v.mu.Lock()
	if id, ok := v.current[orgID]; ok {
		aead := v.keys[dekRef{orgID, id}]
		v.mu.Unlock()
		return id, aead, nil
	}
	v.mu.Unlock()

	unlock, err := v.lockOrg(ctx, orgID)
	if err != nil {
		return 0, nil, err
	}
	defer unlock()

	v.mu.Lock()
	if id, ok := v.current[orgID]; ok { // loaded while we waited
		aead := v.keys[dekRef{orgID, id}]
		v.mu.Unlock()
		return id, aead, nil
	}
	epoch := v.epoch
	v.mu.Unlock()

	wk, err := v.ks.OrgKey(ctx, orgID)
	if errors.Is(err, ErrNoKey) {
		wk, err = v.createKey(ctx, orgID)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("vault: data key of organisation %d: %w", orgID, err)
	}
	if wk.KeyID < firstKeyID {
		return 0, nil, fmt.Errorf("vault: data key of organisation %d: key store returned key id 0", orgID)
	}
	aead, err := v.unwrap(orgID, wk)
	if err != nil {
		return 0, nil, err
	}
	v.mu.Lock()
	if v.epoch == epoch {
		v.current[orgID] = wk.KeyID
		v.keys[dekRef{orgID, wk.KeyID}] = aead
	}
	v.mu.Unlock()
	return wk.KeyID, aead, nil
}

// createKey makes, wraps and stores the organisation's first data key. If
// another process stored one first, it returns that one.
func (v *Vault) createKey(ctx context.Context, orgID int64) (WrappedKey, error) {
	dek := make([]byte, dekSize)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return WrappedKey{}, fmt.Errorf("generate: %w", err)
	}
	wrapped, err := v.kek.Wrap(dek, dekAAD(orgID, firstKeyID))
	if err != nil {
		return WrappedKey{}, fmt.Errorf("wrap: %w", err)
	}
	wk := WrappedKey{KeyID: firstKeyID, KEKID: v.kek.ID(), Wrapped: wrapped}
	err = v.ks.CreateOrgKey(ctx, orgID, wk)
	if errors.Is(err, ErrKeyExists) {
		return v.ks.OrgKey(ctx, orgID)
	}
	if err != nil {
		return WrappedKey{}, fmt.Errorf("store: %w", err)
	}
	return wk, nil
}

// keyByID returns the cipher for the organisation's key keyID.
func (v *Vault) keyByID(ctx context.Context, orgID int64, keyID uint32) (cipher.AEAD, error) {
	ref := dekRef{orgID, keyID}
	v.mu.Lock()
	aead, ok := v.keys[ref]
	v.mu.Unlock()
	if ok {
		return aead, nil
	}

	unlock, err := v.lockOrg(ctx, orgID)
	if err != nil {
		return nil, err
	}
	defer unlock()

	v.mu.Lock()
	aead, ok = v.keys[ref]
	epoch := v.epoch
	v.mu.Unlock()
	if ok {
		return aead, nil
	}

	wk, err := v.ks.OrgKeyByID(ctx, orgID, keyID)
	if errors.Is(err, ErrNoKey) {
		return nil, fmt.Errorf("%w: organisation %d has no data key %d", ErrUnknownKey, orgID, keyID)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: data key %d of organisation %d: %w", keyID, orgID, err)
	}
	if wk.KeyID != keyID {
		return nil, fmt.Errorf("vault: key store returned data key %d when asked for %d (organisation %d)", wk.KeyID, keyID, orgID)
	}
	aead, err = v.unwrap(orgID, wk)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if v.epoch == epoch {
		v.keys[ref] = aead
	}
	v.mu.Unlock()
	return aead, nil
}

// lockOrg serialises key loading for one organisation, so that concurrent
// first Seals in this process create one key, not one each. It gives up when
// ctx is done.
func (v *Vault) lockOrg(ctx context.Context, orgID int64) (unlock func(), err error) {
	v.mu.Lock()
	l, ok := v.loading[orgID]
	if !ok {
		l = make(chan struct{}, 1)
		v.loading[orgID] = l
	}
	v.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("vault: waiting for data key of organisation %d: %w", orgID, ctx.Err())
	}
}

// unwrap checks that wk was wrapped by the KEK in use and returns a cipher
// for the data key inside it.
func (v *Vault) unwrap(orgID int64, wk WrappedKey) (cipher.AEAD, error) {
	if wk.KEKID != v.kek.ID() {
		return nil, &KEKMismatchError{OrgID: orgID, KeyID: wk.KeyID, Stored: wk.KEKID, InUse: v.kek.ID()}
	}
	dek, err := unwrapDEK(v.kek, orgID, wk.KeyID, wk.Wrapped, dekAAD(orgID, wk.KeyID))
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	aead, err := newGCM(dek)
	if err != nil {
		return nil, fmt.Errorf("vault: data key %d of organisation %d: %w", wk.KeyID, orgID, err)
	}
	return aead, nil
}

// unwrapDEK unwraps a data key and checks its length.
func unwrapDEK(kek KEK, orgID int64, keyID uint32, wrapped, aad []byte) ([]byte, error) {
	dek, err := kek.Unwrap(wrapped, aad)
	if err != nil {
		if !errors.Is(err, ErrUnwrap) {
			err = fmt.Errorf("%w: %w", ErrUnwrap, err)
		}
		return nil, fmt.Errorf("vault: data key %d of organisation %d: %w", keyID, orgID, err)
	}
	if len(dek) != dekSize {
		clear(dek)
		return nil, fmt.Errorf("vault: data key %d of organisation %d: %w (unwrapped to %d bytes, want %d)",
			keyID, orgID, ErrUnwrap, len(dek), dekSize)
	}
	return dek, nil
}

// dekAAD binds a wrapped data key to its organisation and key id.
func dekAAD(orgID int64, keyID uint32) []byte {
	return []byte(dekAADLabel + "|org=" + strconv.FormatInt(orgID, 10) + "|key=" + strconv.FormatUint(uint64(keyID), 10))
}

// fieldAAD is the canonical encoding of what a sealed value is bound to:
// a label, the format version, key id and organisation in fixed width, and
// each Binding string prefixed by its 4-byte length, so no field can be
// shifted into its neighbour.
func fieldAAD(version byte, keyID uint32, orgID int64, b Binding) []byte {
	buf := make([]byte, 0, 4+len(aadLabel)+1+4+8+3*4+len(b.Table)+len(b.Row)+len(b.Field))
	buf = appendString(buf, aadLabel)
	buf = append(buf, version)
	buf = binary.BigEndian.AppendUint32(buf, keyID)
	buf = binary.BigEndian.AppendUint64(buf, uint64(orgID))
	buf = appendString(buf, b.Table)
	buf = appendString(buf, b.Row)
	buf = appendString(buf, b.Field)
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}
