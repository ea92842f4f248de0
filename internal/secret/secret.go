// Package secret holds values that must not leak: access tokens, refresh
// tokens, client secrets, webhook tokens, passwords.
//
// A [Secret] prints, logs and serialises as "[redacted]" through every path
// the standard library offers: fmt (every verb, including %v, %+v, %#v, %q, %s
// and %x), log/slog (text and JSON handlers), encoding/json and
// encoding.TextMarshaler. The only way to get the value is [Secret.Reveal],
// and callers should do that as late as possible, at the point of use (an
// Authorization header, a constant-time comparison, a call to the vault).
//
// This package must never return the value from any method other than
// Reveal, and must never include the value in an error message.
package secret

import (
	"crypto/subtle"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// Redacted is what a Secret shows in place of its value.
const Redacted = "[redacted]"

// Secret is a string that never shows its value by accident.
//
// The zero Secret is empty. The value sits behind a pointer so that even
// when a Secret is an unexported field of another struct, which fmt prints
// without calling its methods, fmt shows an address rather than the value.
// Because of that, compare Secrets with [Secret.Equal], never with ==.
type Secret struct {
	v *string
}

// New returns a Secret holding s. New("") returns the zero Secret.
func New(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &s}
}

// Reveal returns the value. Call it only where the value is used, never to
// print or log it.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the Secret is empty.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

// Equal reports whether s and o hold the same value, in time that depends
// only on their lengths.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// String returns "[redacted]".
func (s Secret) String() string { return Redacted }

// GoString returns "[redacted]", so %#v does not show the value.
func (s Secret) GoString() string { return Redacted }

// Format writes "[redacted]" for every verb and flag.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue makes log/slog record "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON returns the JSON string "[redacted]". A Secret therefore does
// not survive a JSON round trip: responses never carry secrets.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns "[redacted]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// errNotString is returned by UnmarshalJSON for anything but a JSON string
// or null. It does not quote the input, which may be the secret itself.
var errNotString = errors.New("secret: value must be a JSON string")

// UnmarshalJSON accepts a JSON string, so request bodies can decode into a
// Secret. JSON null leaves the Secret unchanged, as encoding/json does for
// other types. Any other JSON value is an error that does not echo the input.
func (s *Secret) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) == 0 || b[0] != '"' {
		return errNotString
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return errNotString
	}
	*s = New(v)
	return nil
}

// Interface checks.
var (
	_ fmt.Stringer           = Secret{}
	_ fmt.GoStringer         = Secret{}
	_ fmt.Formatter          = Secret{}
	_ slog.LogValuer         = Secret{}
	_ json.Marshaler         = Secret{}
	_ encoding.TextMarshaler = Secret{}
	_ json.Unmarshaler       = (*Secret)(nil)
)
