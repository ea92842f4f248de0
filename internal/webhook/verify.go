package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxSignatureAge bounds how old (or how far in the future) a signed
// delivery's webhook-timestamp may be.
const maxSignatureAge = 5 * time.Minute

var (
	errBadToken     = errors.New("webhook: missing or wrong X-Gitlab-Token")
	errBadSignature = errors.New("webhook: missing or invalid webhook-signature")
	errStale        = errors.New("webhook: webhook-timestamp is more than 5 minutes away from now")
)

// tokenMatches compares the presented token with the stored one's SHA-256
// in constant time (hashing first also hides the secret's length).
func tokenMatches(presented string, wantSHA [32]byte) bool {
	got := sha256.Sum256([]byte(presented))
	return presented != "" && subtle.ConstantTimeCompare(got[:], wantSHA[:]) == 1
}

// signingKey decodes a Standard Webhooks signing token ("whsec_" + base64).
func signingKey(token string) ([]byte, error) {
	raw, ok := strings.CutPrefix(strings.TrimSpace(token), "whsec_")
	if !ok {
		return nil, errors.New("a signing token starts with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 16 || len(key) > 128 {
		return nil, errors.New("a signing token is whsec_ followed by the base64 of 16 to 128 bytes")
	}
	return key, nil
}

// verifySignature checks the Standard Webhooks headers: webhook-id,
// webhook-timestamp (unix seconds, within 5 minutes of now) and
// webhook-signature, a space-separated list of "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" of which one must match.
func verifySignature(h http.Header, body, key []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errBadSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxSignatureAge || d < -maxSignatureAge {
		return errStale
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(got) != len(want) {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return errBadSignature
}
