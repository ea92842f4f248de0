package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// APITokenPrefix starts every labsync API token, so secret scanners and
// people recognise one.
const APITokenPrefix = "lsk_"

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewAPIToken returns a new token (to show once), its display prefix (safe
// to store and show), and the hash to store.
func NewAPIToken() (token, displayPrefix string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, fmt.Errorf("accounts: unable to read randomness: %w", err)
	}
	token = APITokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(b))
	return token, token[:len(APITokenPrefix)+6], HashAPIToken(token), nil
}

// HashAPIToken returns the stored form of a token. Tokens carry 256 random
// bits, so a plain SHA-256 is enough (no salt or stretching needed).
func HashAPIToken(token string) []byte {
	h := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return h[:]
}
