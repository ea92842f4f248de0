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

// Sign-in throttling: after MaxFailuresPerEmail failed sign-ins for one
// email, or MaxFailuresPerIP from one address, within FailureWindow,
// sign-in is refused (RateLimited) until the oldest of them leaves the
// window. A success clears the email's failures. The failures are stored
// in the database, so the throttle holds across replicas.
const (
	MaxFailuresPerEmail = 5
	MaxFailuresPerIP    = 20
	FailureWindow       = 15 * time.Minute
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
	now := s.st.Now()
	byEmail, byIP, oldestEmail, oldestIP, err := s.st.LoginFailures(ctx, email, ip, now.Add(-FailureWindow))
	if err != nil {
		return SignedIn{}, err
	}
	if byEmail >= MaxFailuresPerEmail || byIP >= MaxFailuresPerIP {
		oldest := oldestEmail
		if byEmail < MaxFailuresPerEmail {
			oldest = oldestIP
		}
		wait := max(time.Second, oldest.Add(FailureWindow).Sub(now))
		return SignedIn{}, &problem.Error{Kind: problem.RateLimited, Code: "rate_limited", Message: "Too many failed sign-ins.",
			Remedy: fmt.Sprintf("For your account's safety, signing in is paused. Try again in %s, or ask an owner to reset your password.", roundWait(wait)),
			Err:    &Throttled{Wait: wait}}
	}
	user, err := s.st.SignInUserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_ = VerifyPassword(dummyHash(), password)
		return SignedIn{}, s.signInFailed(ctx, email, ip, nil)
	case err != nil:
		return SignedIn{}, err
	}
	if user.PasswordHash == "" || VerifyPassword(user.PasswordHash, password) != nil || user.OrgID == 0 {
		return SignedIn{}, s.signInFailed(ctx, email, ip, &user)
	}
	if err := s.st.ClearLoginFailures(ctx, email); err != nil {
		return SignedIn{}, err
	}
	if err := s.st.MarkSignedIn(ctx, user.ID); err != nil {
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

func (s *Service) signInFailed(ctx context.Context, email, ip string, user *store.SignInUser) error {
	if err := s.st.RecordLoginFailure(ctx, email, ip, s.st.Now().Add(-FailureWindow)); err != nil {
		return err
	}
	if user != nil && user.OrgID != 0 {
		s.audit(ctx, Principal{OrgID: user.OrgID, UserID: user.ID}, "user.sign_in_failed", userTarget(user.ID), map[string]any{"ip": ip, "via": "ui"})
	}
	return &problem.Error{Kind: problem.Unauthenticated, Code: "unauthenticated", Message: "The email or password is not right.",
		Remedy: fmt.Sprintf("Check both and try again; after %d failed attempts within %d minutes, signing in pauses for a while.",
			MaxFailuresPerEmail, int(FailureWindow.Minutes()))}
}

func roundWait(d time.Duration) string {
	if m := int(math.Ceil(d.Minutes())); m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "a minute"
}

// ChangePassword replaces the session user's password when current is
// right, and signs out their other sessions. Refusals are Invalid problems
// in words for the password form.
func (s *Service) ChangePassword(ctx context.Context, se *Session, current, next, confirm string) error {
	p := se.Principal()
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
