package accounts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// Throttling of password checks (sign-in and the password form). Each
// attempt is reserved in the database before the password is checked, so
// parallel requests cannot all be checked, on any replica:
//
//   - one account from one address: MaxFailuresPerPair attempts per
//     FailureWindow, then that address is paused for that account;
//   - one address, any account: MaxFailuresPerAddress per FailureWindow;
//   - one account from any address: after AccountSlowAfter attempts within
//     FailureWindow, one attempt per AccountSpacing. The account slows down
//     but is never locked, so no address can lock its owner out.
//
// A success forgets the attempts of that account from that address.
// Behind a reverse proxy the address is the client's only when the proxy
// is listed in LABSYNC_TRUSTED_PROXIES (the faces resolve it).
const (
	MaxFailuresPerPair    = 5
	MaxFailuresPerAddress = 20
	AccountSlowAfter      = 10
	AccountSpacing        = 5 * time.Second
	FailureWindow         = 15 * time.Minute
)

var attemptLimits = store.AttemptLimits{Window: FailureWindow, PerPair: MaxFailuresPerPair,
	PerAddress: MaxFailuresPerAddress, AccountSlowAfter: AccountSlowAfter, AccountSpacing: AccountSpacing}

// Throttle scopes: the two password checks are counted apart.
const (
	scopeSignIn     = "signin"
	scopePassword   = "password"
	scopeInvitation = "invitation"
)

// MinPasswordLength is the shortest password a user may choose.
const MinPasswordLength = 12

// Throttled is the cause of a RateLimited sign-in: how long until the next
// attempt may succeed.
type Throttled struct{ Wait time.Duration }

func (t *Throttled) Error() string { return "sign-in throttled for " + t.Wait.String() }

// RetryAfter is Wait in whole seconds, rounded up, for a Retry-After header.
func (t *Throttled) RetryAfter() string { return strconv.Itoa(int(math.Ceil(t.Wait.Seconds()))) }

// dummyHash is verified against when the email is unknown, so that an
// unknown email takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword(NewToken())
	return h
})

// SignedIn is a new session: its token goes into the cookie (and nowhere
// else) until Expires.
type SignedIn struct {
	Token   string
	Expires time.Time
	Principal
}

// SignIn checks email and password from ip and starts a session. Refusals
// are problems: Malformed when either is empty, RateLimited (caused by a
// *Throttled) while the throttle holds, Unauthenticated for a wrong email
// or password (which one is not said, and both take as long).
func (s *Service) SignIn(ctx context.Context, email, password, ip string) (SignedIn, error) {
	if email == "" || password == "" {
		return SignedIn{}, &problem.Error{Kind: problem.Malformed, Code: "invalid", Message: "Enter your email and password."}
	}
	attempt, err := s.reserveAttempt(ctx, scopeSignIn, email, ip)
	if err != nil {
		return SignedIn{}, err
	}
	user, err := s.st.SignInUserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_ = VerifyPassword(dummyHash(), password)
		return SignedIn{}, s.signInFailed(ctx, ip, nil)
	case err != nil:
		return SignedIn{}, err
	}
	if user.PasswordHash == "" || VerifyPassword(user.PasswordHash, password) != nil || user.OrgID == 0 {
		return SignedIn{}, s.signInFailed(ctx, ip, &user)
	}
	if err := s.st.AttemptSucceeded(ctx, attempt, scopeSignIn, email, ip); err != nil {
		return SignedIn{}, err
	}
	if err := s.st.MarkSignedIn(ctx, user.ID); err != nil {
		return SignedIn{}, err
	}
	if err := s.st.MarkMemberSignedIn(ctx, user.OrgID, user.ID); err != nil {
		return SignedIn{}, err
	}
	tok, exp, err := s.StartSession(ctx, user.OrgID, user.ID)
	if err != nil {
		return SignedIn{}, err
	}
	p := Principal{OrgID: user.OrgID, UserID: user.ID}
	s.audit(ctx, p, "user.signed_in", userTarget(user.ID), map[string]any{"ip": ip, "via": "ui"})
	return SignedIn{Token: tok, Expires: exp, Principal: p}, nil
}

// reserveAttempt reserves a password check of scope for account from ip,
// or returns a RateLimited problem caused by a *Throttled.
func (s *Service) reserveAttempt(ctx context.Context, scope, account, ip string) (int64, error) {
	id, refused, err := s.st.ReserveAttempt(ctx, scope, account, ip, attemptLimits)
	if err != nil {
		return 0, err
	}
	if refused == nil {
		return id, nil
	}
	msg := "Too many failed sign-ins."
	if scope == scopePassword {
		msg = "Too many wrong current passwords."
	}
	remedy := fmt.Sprintf("Signing in from this address is paused. Try again in %s; signing in from elsewhere is not affected.", roundWait(refused.Wait))
	if refused.Limit == "account" {
		remedy = fmt.Sprintf("This account has seen many failed attempts, so it accepts one attempt every %d seconds. Try again in a few seconds.",
			int(AccountSpacing.Seconds()))
	}
	return 0, &problem.Error{Kind: problem.RateLimited, Code: "rate_limited", Message: msg, Remedy: remedy,
		Err: &Throttled{Wait: refused.Wait}}
}

// signInFailed audits a failed sign-in of a known user and returns the
// problem; the attempt reserved for it stays counted.
func (s *Service) signInFailed(ctx context.Context, ip string, user *store.SignInUser) error {
	if user != nil && user.OrgID != 0 {
		s.audit(ctx, Principal{OrgID: user.OrgID, UserID: user.ID}, "user.sign_in_failed", userTarget(user.ID), map[string]any{"ip": ip, "via": "ui"})
	}
	return &problem.Error{Kind: problem.Unauthenticated, Code: "unauthenticated", Message: "The email or password is not right.",
		Remedy: fmt.Sprintf("Check both and try again; after %d failed attempts within %d minutes, signing in from this address pauses for a while.",
			MaxFailuresPerPair, int(FailureWindow.Minutes()))}
}

func roundWait(d time.Duration) string {
	if m := int(math.Ceil(d.Minutes())); m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "a minute"
}

// ChangePassword replaces the session user's password when current is
// right, and signs out their other sessions. Refusals are Invalid problems
// in words for the password form; wrong current passwords are throttled
// like sign-in (per user and address ip), a RateLimited problem.
func (s *Service) ChangePassword(ctx context.Context, se *Session, current, next, confirm, ip string) error {
	p := se.Principal()
	account := userTarget(se.UserID)
	attempt, err := s.reserveAttempt(ctx, scopePassword, account, ip)
	if err != nil {
		return err
	}
	hash, err := s.st.UserPasswordHash(ctx, se.UserID)
	if err != nil {
		return err
	}
	invalid := func(msg string) error {
		return &problem.Error{Kind: problem.Invalid, Code: "invalid", Message: msg}
	}
	if hash == "" || VerifyPassword(hash, current) != nil {
		s.audit(ctx, p, "user.password_change_failed", userTarget(se.UserID), map[string]any{"reason": "current password wrong"})
		return invalid("The current password is not right.")
	}
	if err := s.st.AttemptSucceeded(ctx, attempt, scopePassword, account, ip); err != nil {
		return err
	}
	switch {
	case utf8.RuneCountInString(next) < MinPasswordLength:
		return invalid(fmt.Sprintf("Choose a new password of at least %d characters.", MinPasswordLength))
	case next != confirm:
		return invalid("The two new passwords differ; type the same one twice.")
	case next == current:
		return invalid("The new password must differ from the current one.")
	}
	newHash, err := HashPassword(next)
	if err != nil {
		return err
	}
	if err := s.st.SetUserPassword(ctx, se.UserID, newHash); err != nil {
		return err
	}
	// Other browsers signed in with the old password are signed out.
	if err := s.st.DeleteUserSessions(ctx, se.UserID, se.IDHash); err != nil {
		return err
	}
	s.audit(ctx, p, "user.password_changed", userTarget(se.UserID), map[string]any{})
	return nil
}

func userTarget(id int64) string { return "user:" + strconv.FormatInt(id, 10) }
