package sandbox

import (
	"net/http"
	"time"
)

type tokenKind int

const (
	tokenPAT tokenKind = iota
	tokenOAuth
)

type token struct {
	id       int64
	value    string
	kind     tokenKind
	name     string
	user     *user
	scopes   []string
	created  time.Time
	expires  time.Time // zero: never
	revoked  bool
	lastUsed time.Time

	app     *oauthApp // OAuth tokens
	refresh string    // OAuth: the refresh token issued with it ("" once used)

	faultGen    int64     // SetFaults generation of the first use under ExpireTokensAfter
	faultExpiry time.Time // expiry injected by Faults.ExpireTokensAfter
}

var (
	errTokenExpired = bearerErr(http.StatusUnauthorized, "invalid_token", "Token is expired. You can either do re-authorization or token refresh.", nil)
	errTokenRevoked = bearerErr(http.StatusUnauthorized, "invalid_token", "Token was revoked. You have to re-authorize from the user.", nil)
)

// authenticate resolves a token value as GitLab's API guard does.
func (s *Sandbox) authenticate(value string) (*token, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[value]
	if t == nil {
		return nil, errUnauthorized
	}
	now := s.clock()
	if t.revoked {
		return nil, errTokenRevoked
	}
	if f := s.faults.Load(); f.ExpireTokensAfter > 0 {
		if gen := s.faultGen.Load(); t.faultGen != gen {
			t.faultGen, t.faultExpiry = gen, now.Add(f.ExpireTokensAfter)
		}
	} else {
		t.faultExpiry = time.Time{}
	}
	if t.expired(now) {
		return nil, errTokenExpired
	}
	t.lastUsed = now
	return t, nil
}

func (t *token) expired(now time.Time) bool {
	if !t.expires.IsZero() && !now.Before(t.expires) {
		return true
	}
	return !t.faultExpiry.IsZero() && !now.Before(t.faultExpiry)
}

// groupAccess is the user's access level through a group or its ancestors.
func groupAccess(g *group, uid int64) int {
	best := 0
	for ; g != nil; g = g.parent {
		best = max(best, g.members[uid])
	}
	return best
}

// accessLevel is the user's effective level on a project (0: not a member).
func accessLevel(p *project, u *user) int {
	if u == nil {
		return 0
	}
	l := max(p.members[u.id], groupAccess(p.group, u.id))
	if p.group == nil && u.id == 1 {
		l = accessOwner
	}
	return l
}

// canRead reports whether the user (nil: anonymous) can see the project.
func canRead(p *project, u *user) bool {
	switch {
	case p.deleted:
		return false
	case p.vis == "public":
		return true
	case u == nil:
		return false
	case u.admin || p.vis == "internal":
		return true
	default:
		return accessLevel(p, u) > 0
	}
}

func canReadGroup(g *group, u *user) bool {
	switch {
	case g.vis == "public":
		return true
	case u == nil:
		return false
	case u.admin || g.vis == "internal":
		return true
	}
	for x := g; x != nil; x = x.parent {
		if x.members[u.id] > 0 {
			return true
		}
	}
	// Members of a project in the group can see the group too.
	for _, p := range g.projects {
		if p.members[u.id] > 0 {
			return true
		}
	}
	return false
}
