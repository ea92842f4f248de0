// Package problem is labsync's one user-facing error type: what went wrong
// in words, what to do about it, the request field at fault, and a Kind
// that says which sort of refusal it is.
//
// Services return a *Error when the user can act on the failure; each face
// (api, web, cli) maps Kind to its own form in one place: an HTTP status and
// a JSON body, an error page, an exit code and a line.
//
// It must never carry an HTTP status or anything else specific to one face,
// never hold a secret in any field, and never import another labsync
// package: it is a leaf every layer may use.
package problem

import (
	"context"
	"errors"
	"fmt"
)

// Kind sorts refusals the way a user (and a face) needs to tell them apart.
type Kind int

// The kinds. The zero Kind is Internal, so a forgotten Kind is never shown
// as the user's fault.
const (
	// Internal: labsync failed; the details are in the server log, not
	// shown.
	Internal Kind = iota
	// Malformed: the request could not be read (bad JSON, a parameter that
	// is not a number, an OAuth state that is missing or unknown).
	Malformed
	// Invalid: the request was read but a value in it is refused.
	Invalid
	// Unsupported: the request came in a form that is not accepted (a body
	// that is not JSON).
	Unsupported
	// Unauthenticated: the caller is not known (no or a revoked credential).
	Unauthenticated
	// Forbidden: the caller is known but may not do this.
	Forbidden
	// NotFound: nothing of that name exists in the caller's organisation.
	NotFound
	// Conflict: the current state forbids it (a name in use, the last
	// owner, an integration that needs reauthorization).
	Conflict
	// RateLimited: too many attempts; wait and try again.
	RateLimited
	// Upstream: the GitLab answered with a failure or could not be reached.
	Upstream
	// Unavailable: this server does not run what the request needs.
	Unavailable
	// Canceled: the caller went away before the answer was ready.
	Canceled
)

var kindNames = [...]string{"internal", "malformed", "invalid", "unsupported", "unauthenticated", "forbidden",
	"not_found", "conflict", "rate_limited", "upstream", "unavailable", "canceled"}

// Kinds lists every Kind, for faces' tests that each is mapped.
func Kinds() []Kind {
	out := make([]Kind, len(kindNames))
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}

// String is the kind's stable lower-case name.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// Error is a refusal the user can act on. Message and Remedy are sentences
// for people; Code is a stable machine-readable word callers may branch on
// (the API shows it as "code"). It never holds a secret.
type Error struct {
	Kind Kind
	// Code is the stable word for this refusal, such as "oauth_state_expired".
	Code string
	// Title is an optional headline for faces that show one (a page); empty
	// means the face's default for Kind.
	Title   string
	Message string
	Remedy  string
	// Field names the request field at fault, when one is.
	Field string
	// Reason is a finer classification of the cause when there is one, such
	// as the gitlab.Kind of a GitLab failure ("token_expired").
	Reason string
	// Diagnosis is the connection check that refused the input, if any
	// (a diagnose.Report); faces show it as it is.
	Diagnosis any
	// Err is the cause, for errors.Is/As and logs; never shown.
	Err error
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error of kind with code and a formatted message.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an Invalid *Error about field, code "invalid".
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: "invalid", Field: field, Message: fmt.Sprintf(format, args...)}
}

// MalformedField returns a Malformed *Error about field, code "invalid".
func MalformedField(field, format string, args ...any) *Error {
	return &Error{Kind: Malformed, Code: "invalid", Field: field, Message: fmt.Sprintf(format, args...)}
}

// WithRemedy returns a copy of e with remedy set.
func (e *Error) WithRemedy(remedy string) *Error {
	c := *e
	c.Remedy = remedy
	return &c
}

// WithTitle returns a copy of e with a headline for faces that show one.
func (e *Error) WithTitle(title string) *Error {
	c := *e
	c.Title = title
	return &c
}

// remedier is any error that knows what the user should do about it (the
// gitlab package's typed errors).
type remedier interface{ Remedy() string }

// From returns the problem err is or carries: an *Error in its chain; a
// canceled context as Canceled; any other error with a Remedy method as
// Invalid with that remedy. ok is false for everything else, which faces
// treat as Internal (logged, not shown).
func From(err error) (p *Error, ok bool) {
	if errors.As(err, &p) {
		return p, true
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Kind: Canceled, Code: "canceled", Message: "request canceled", Err: err}, true
	}
	var rem remedier
	if errors.As(err, &rem) {
		return &Error{Kind: Invalid, Code: "invalid", Message: err.Error(), Remedy: rem.Remedy(), Err: err}, true
	}
	return nil, false
}
