package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labsync/labsync/internal/auth"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// Principal is who is calling: a user acting within one organisation.
type Principal struct {
	OrgID   int64
	UserID  int64
	Role    store.Role
	TokenID int64 // 0 for a UI session
}

type principalKey struct{}

// PrincipalFrom returns the caller; ok is false on unauthenticated requests.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p (sessions and tests use it).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Authenticator turns a request into a Principal. The API-token one is
// below; the UI session one arrives with sign-in.
type Authenticator func(r *http.Request) (Principal, bool, error)

// tokenAuthenticator resolves "Authorization: Bearer lsk_…".
func tokenAuthenticator(st *store.Store) Authenticator {
	return func(r *http.Request) (Principal, bool, error) {
		h := r.Header.Get("Authorization")
		if h == "" {
			return Principal{}, false, nil
		}
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(strings.TrimSpace(tok), auth.APITokenPrefix) {
			return Principal{}, false, errUnauthenticated
		}
		t, role, err := st.APITokenByHash(r.Context(), auth.HashAPIToken(tok))
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, false, errUnauthenticated
		}
		if err != nil {
			return Principal{}, false, err
		}
		// Recording use is best effort: a failure must not refuse the call.
		_ = st.TouchAPIToken(r.Context(), t.OrgID, t.ID)
		return Principal{OrgID: t.OrgID, UserID: t.UserID, Role: role, TokenID: t.ID}, true, nil
	}
}

var errUnauthenticated = &problem.Error{Kind: problem.Unauthenticated, Code: "unauthenticated",
	Message: "missing, unknown or revoked API token",
	Remedy:  "send Authorization: Bearer <token>; create one with `labsync admin token create`"}

var errForbidden = &problem.Error{Kind: problem.Forbidden, Code: "forbidden",
	Message: "your role does not allow this", Remedy: "ask an owner or admin of your organisation"}

// access says who may call a route.
type access int

const (
	// anyMember: every member of the organisation (read).
	anyMember access = iota
	// adminOnly: owners and admins (connect, change, disconnect).
	adminOnly
	// ownerOnly: owners (deleting the organisation).
	ownerOnly
)

// String names the level in the route list.
func (a access) String() string {
	return [...]string{"member", "admin", "owner"}[a]
}

func (a access) allows(r store.Role) bool {
	switch a {
	case ownerOnly:
		return r == store.RoleOwner
	case adminOnly:
		return r == store.RoleOwner || r == store.RoleAdmin
	default:
		return r == store.RoleOwner || r == store.RoleAdmin || r == store.RoleMember
	}
}
