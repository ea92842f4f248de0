package api

import (
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

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
