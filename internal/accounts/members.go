package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

var errOwnersOnly = &problem.Error{Kind: problem.Forbidden, Code: "forbidden",
	Message: "only an owner may make someone an owner or change an owner", Remedy: "ask an owner of your organisation"}

var errLastOwner = &problem.Error{Kind: problem.Conflict, Code: "last_owner",
	Message: "an organisation must keep at least one owner", Remedy: "make someone else an owner first"}

// ParseRole reads a role name; anything but owner, admin or member is a
// Malformed problem about the field "role".
func ParseRole(s string) (store.Role, error) {
	switch r := store.Role(strings.TrimSpace(s)); r {
	case store.RoleOwner, store.RoleAdmin, store.RoleMember:
		return r, nil
	}
	return "", &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "role",
		Message: fmt.Sprintf("role %q is not one of owner, admin, member", s)}
}

// Members lists p's organisation's members, owners first.
func (s *Service) Members(ctx context.Context, p Principal) ([]store.Member, error) {
	return s.st.Members(ctx, p.OrgID)
}

// createUser creates a user with a one-time password and returns both.
func (s *Service) createUser(ctx context.Context, email, name string) (store.User, string, error) {
	password, err := RandomPassword()
	if err != nil {
		return store.User{}, "", err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.User{}, "", err
	}
	u, err := s.st.CreateUser(ctx, email, name, hash)
	if err != nil {
		return store.User{}, "", err
	}
	return u, password, nil
}

// Member resolves uid to the role of a member of p's organisation that p
// may change: store.ErrNotFound when uid is no member, Forbidden when the
// member is an owner and p is not.
func (s *Service) Member(ctx context.Context, p Principal, uid int64) (store.Role, error) {
	role, err := s.st.MemberRole(ctx, p.OrgID, uid)
	if err != nil {
		return "", err
	}
	if role == store.RoleOwner && p.Role != store.RoleOwner {
		return "", errOwnersOnly
	}
	return role, nil
}

// ChangeMember gives member uid of p's organisation a new role and returns
// the old one. Only an owner may change an owner or make one; the last
// owner stays an owner.
func (s *Service) ChangeMember(ctx context.Context, p Principal, uid int64, roleName string) (old, role store.Role, err error) {
	if old, err = s.Member(ctx, p, uid); err != nil {
		return "", "", err
	}
	if role, err = ParseRole(roleName); err != nil {
		return "", "", err
	}
	if role == store.RoleOwner && p.Role != store.RoleOwner {
		return "", "", errOwnersOnly
	}
	if err := s.st.SetMemberRole(ctx, p.OrgID, uid, role); err != nil {
		if errors.Is(err, store.ErrLastOwner) {
			return "", "", errLastOwner
		}
		return "", "", err
	}
	s.audit(ctx, p, "member.role_changed", fmt.Sprintf("user:%d", uid), map[string]any{"from": old, "to": role})
	return old, role, nil
}

// RemoveMember removes member uid from p's organisation (their API tokens
// there are revoked) and returns the role they had.
func (s *Service) RemoveMember(ctx context.Context, p Principal, uid int64) (store.Role, error) {
	old, err := s.Member(ctx, p, uid)
	if err != nil {
		return "", err
	}
	if err := s.st.RemoveMember(ctx, p.OrgID, uid); err != nil {
		if errors.Is(err, store.ErrLastOwner) {
			return "", errLastOwner
		}
		return "", err
	}
	s.audit(ctx, p, "member.removed", fmt.Sprintf("user:%d", uid), map[string]any{"role": old})
	return old, nil
}

// Tokens lists the API tokens p may see: every token of the organisation
// for owners and admins, their own for members; never a token itself.
func (s *Service) Tokens(ctx context.Context, p Principal) ([]store.APIToken, error) {
	user := p.UserID
	if p.IsAdmin() {
		user = 0
	}
	return s.st.APITokens(ctx, p.OrgID, user)
}

// MaxTokenDays bounds an API token's lifetime when one is asked for.
const MaxTokenDays = 366

// IssuedToken is a new API token: Token is shown once and never stored.
type IssuedToken struct {
	Token    string
	APIToken store.APIToken
}

// CreateToken makes a token for p, acting with p's role, that expires
// after days (0: never).
func (s *Service) CreateToken(ctx context.Context, p Principal, name string, days int) (IssuedToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return IssuedToken{}, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "name", Message: "name must be 1 to 100 characters, to recognise the token by"}
	}
	if days < 0 || days > MaxTokenDays {
		return IssuedToken{}, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "expires_in_days",
			Message: fmt.Sprintf("expires_in_days must be between 1 and %d, or 0 for a token that does not expire", MaxTokenDays)}
	}
	var exp *time.Time
	if days > 0 {
		t := s.st.Now().Add(time.Duration(days) * 24 * time.Hour)
		exp = &t
	}
	tok, prefix, hash, err := NewAPIToken()
	if err != nil {
		return IssuedToken{}, err
	}
	t, err := s.st.CreateExpiringAPIToken(ctx, p.OrgID, p.UserID, name, prefix, hash, exp)
	if err != nil {
		return IssuedToken{}, err
	}
	s.audit(ctx, p, "api_token.created", fmt.Sprintf("api_token:%d", t.ID), map[string]any{"name": t.Name, "prefix": t.Prefix})
	return IssuedToken{Token: tok, APIToken: t}, nil
}

// RevokeToken revokes one of p's tokens; owners and admins may revoke any
// token of the organisation. Another's token is store.ErrNotFound.
func (s *Service) RevokeToken(ctx context.Context, p Principal, id int64) error {
	holder, err := s.st.APITokenOwner(ctx, p.OrgID, id)
	if err != nil {
		return err
	}
	if holder != p.UserID && !p.IsAdmin() {
		return store.ErrNotFound
	}
	if err := s.st.RevokeAPIToken(ctx, p.OrgID, id); err != nil {
		return err
	}
	s.audit(ctx, p, "api_token.revoked", fmt.Sprintf("api_token:%d", id), nil)
	return nil
}
