package accounts

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// InvitationDays is how long an invitation code may be redeemed.
const InvitationDays = 7

// InvitationPrefix starts every invitation code.
const InvitationPrefix = "lsi_"

// Invited is a new invitation and its code, to be passed on privately and
// shown once; only the code's hash is stored.
type Invited struct {
	Invitation store.Invitation
	Code       string
}

// errInvitation refuses a code that names no pending invitation, or a
// password that does not go with it; which one is not said.
var errInvitation = &problem.Error{Kind: problem.Unauthenticated, Code: "invitation_refused",
	Message: "The invitation code or the password is not right, or the invitation expired or was used.",
	Remedy:  "Check the code you were given; if you already use labsync, give your own password. Ask for a new invitation if it expired."}

// AddMember invites email into p's organisation with role (member when
// empty). It answers the same whether or not labsync knows the address,
// and reveals nothing of the address's other organisations: the invitee
// joins by redeeming the code (RedeemInvitation, with their own password
// when they already have one, or AcceptInvitation while signed in). Only
// an owner may invite an owner; an address already a member, or already
// invited, is a store.ErrConflict.
func (s *Service) AddMember(ctx context.Context, p Principal, email, roleName string) (Invited, error) {
	addr, err := mail.ParseAddress(strings.TrimSpace(email))
	if err != nil || addr.Address != strings.TrimSpace(email) {
		return Invited{}, &problem.Error{Kind: problem.Malformed, Code: "invalid", Field: "email", Message: "email must be a plain address such as ada@example.com"}
	}
	address := strings.ToLower(addr.Address)
	if roleName == "" {
		roleName = string(store.RoleMember)
	}
	role, err := ParseRole(roleName)
	if err != nil {
		return Invited{}, err
	}
	if role == store.RoleOwner && p.Role != store.RoleOwner {
		return Invited{}, errOwnersOnly
	}
	// Whether the address is a member here is this organisation's fact.
	if u, err := s.st.UserByEmail(ctx, address); err == nil {
		if _, err := s.st.MemberRole(ctx, p.OrgID, u.ID); err == nil {
			return Invited{}, fmt.Errorf("%s is already a member: %w", address, store.ErrConflict)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return Invited{}, err
	}
	code := InvitationPrefix + NewToken()
	inv, err := s.st.CreateInvitation(ctx, p.OrgID, address, role, hashInvitation(code), p.UserID,
		s.st.Now().AddDate(0, 0, InvitationDays))
	if err != nil {
		return Invited{}, err
	}
	s.audit(ctx, p, "member.invited", fmt.Sprintf("invitation:%d", inv.ID), map[string]any{"email": address, "role": role})
	return Invited{Invitation: inv, Code: code}, nil
}

func hashInvitation(code string) []byte {
	h := sha256.Sum256([]byte(strings.TrimSpace(code)))
	return h[:]
}

// AcceptInvitation lets the signed-in user p join the organisation an
// invitation for their own address names. A code for another address, or
// none pending, is errInvitation (Unauthenticated).
func (s *Service) AcceptInvitation(ctx context.Context, p Principal, code string) (store.Invitation, error) {
	if !strings.HasPrefix(strings.TrimSpace(code), InvitationPrefix) {
		return store.Invitation{}, errInvitation
	}
	inv, err := s.st.PendingInvitation(ctx, hashInvitation(code))
	if errors.Is(err, store.ErrNotFound) {
		return store.Invitation{}, errInvitation
	}
	if err != nil {
		return store.Invitation{}, err
	}
	u, err := s.st.UserByID(ctx, p.UserID)
	if err != nil {
		return store.Invitation{}, err
	}
	if !strings.EqualFold(u.Email, inv.Email) {
		return store.Invitation{}, errInvitation
	}
	return inv, s.join(ctx, inv, u.ID)
}

// RedeemInvitation redeems an invitation code without a session: a user
// who already has that address proves it with their password; an address
// labsync does not know becomes a user with this password (at least
// MinPasswordLength characters) and name. Attempts are throttled per code
// and address ip like sign-in. Every refusal but a short password is
// errInvitation.
func (s *Service) RedeemInvitation(ctx context.Context, code, name, password, ip string) (store.Invitation, error) {
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return store.Invitation{}, &problem.Error{Kind: problem.Invalid, Code: "invalid", Field: "password",
			Message: fmt.Sprintf("Give a password of at least %d characters: your own if you already use labsync, else the one you choose.", MinPasswordLength)}
	}
	code = strings.TrimSpace(code)
	if !strings.HasPrefix(code, InvitationPrefix) || len(code) > 128 {
		return store.Invitation{}, errInvitation
	}
	h := hashInvitation(code)
	account := fmt.Sprintf("invitation:%x", h[:8])
	attempt, err := s.reserveAttempt(ctx, scopeInvitation, account, ip)
	if err != nil {
		return store.Invitation{}, err
	}
	inv, err := s.st.PendingInvitation(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		_ = VerifyPassword(dummyHash(), password)
		return store.Invitation{}, errInvitation
	}
	if err != nil {
		return store.Invitation{}, err
	}
	var userID int64
	u, err := s.st.SignInUserByEmail(ctx, inv.Email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash, err := HashPassword(password)
		if err != nil {
			return store.Invitation{}, err
		}
		nu, err := s.st.CreateUser(ctx, inv.Email, strings.TrimSpace(name), hash)
		if err != nil {
			return store.Invitation{}, err
		}
		// The user chose this password: no first-run change is due.
		if err := s.st.SetUserPassword(ctx, nu.ID, hash); err != nil {
			return store.Invitation{}, err
		}
		userID = nu.ID
	case err != nil:
		return store.Invitation{}, err
	default:
		if u.PasswordHash == "" || VerifyPassword(u.PasswordHash, password) != nil {
			return store.Invitation{}, errInvitation
		}
		userID = u.ID
	}
	if err := s.st.AttemptSucceeded(ctx, attempt, scopeInvitation, account, ip); err != nil {
		return store.Invitation{}, err
	}
	return inv, s.join(ctx, inv, userID)
}

// join makes user a member through inv and audits it in inv's organisation.
func (s *Service) join(ctx context.Context, inv store.Invitation, userID int64) error {
	if err := s.st.AcceptInvitation(ctx, inv.ID, userID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errInvitation
		}
		return err
	}
	s.audit(ctx, Principal{OrgID: inv.OrgID, UserID: userID}, "member.added", userTarget(userID),
		map[string]any{"email": inv.Email, "role": inv.Role, "invitation": inv.ID})
	return nil
}
