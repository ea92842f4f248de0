package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/auth"
	"github.com/labsync/labsync/internal/store"
)

// Sign-in throttling: after MaxFailuresPerEmail failed sign-ins for one
// email, or MaxFailuresPerIP from one address, within FailureWindow, sign-in
// answers 429 until the oldest of them leaves the window. A success clears
// the email's failures.
const (
	MaxFailuresPerEmail = 5
	MaxFailuresPerIP    = 20
	FailureWindow       = 15 * time.Minute
)

// loginCookie carries the sign-in form's CSRF secret (double submit): the
// form is posted before any session exists.
const loginCookie = "labsync_login"

// dummyHash is verified against when the email is unknown, so that an
// unknown email takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword(newToken())
	return h
})

type signinView struct {
	Title, Email, Next, CSRF, Error, Remedy string
}

func (u *UI) signinPage(w http.ResponseWriter, r *http.Request) error {
	if s, err := u.session(r); err == nil && s != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	return u.renderSignin(w, r, http.StatusOK, signinView{Next: safeNext(r.URL.Query().Get("next"))})
}

func (u *UI) renderSignin(w http.ResponseWriter, r *http.Request, status int, v signinView) error {
	tok := newToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/signin", HttpOnly: true, Secure: u.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	w.Header().Set("Cache-Control", "no-store")
	v.Title, v.CSRF = "Sign in", csrfFor(tok)
	u.render(w, r, status, "signin", v)
	return nil
}

// safeNext keeps a post-sign-in destination only when it is a path of
// this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/signin") {
		return ""
	}
	return next
}

func (u *UI) signin(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c, err := r.Cookie(loginCookie)
	if err != nil || !validCSRF(c.Value, r.PostFormValue(csrfField)) {
		return errCSRF
	}
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	v := signinView{Email: email, Next: next}
	if email == "" || password == "" {
		v.Error = "Enter your email and password."
		return u.renderSignin(w, r, http.StatusBadRequest, v)
	}
	ip := clientIP(r)
	now := u.st.Now()
	byEmail, byIP, oldestEmail, oldestIP, err := u.st.LoginFailures(ctx, email, ip, now.Add(-FailureWindow))
	if err != nil {
		return err
	}
	if byEmail >= MaxFailuresPerEmail || byIP >= MaxFailuresPerIP {
		oldest := oldestEmail
		if byEmail < MaxFailuresPerEmail {
			oldest = oldestIP
		}
		wait := max(time.Second, oldest.Add(FailureWindow).Sub(now))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		v.Error = "Too many failed sign-ins."
		v.Remedy = fmt.Sprintf("For your account's safety, signing in is paused. Try again in %s, or ask an owner to reset your password.", roundWait(wait))
		return u.renderSignin(w, r, http.StatusTooManyRequests, v)
	}
	user, err := u.st.SignInUserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_ = auth.VerifyPassword(dummyHash(), password)
		return u.signinFailed(w, r, v, ip, nil)
	case err != nil:
		return err
	}
	if user.PasswordHash == "" || auth.VerifyPassword(user.PasswordHash, password) != nil || user.OrgID == 0 {
		return u.signinFailed(w, r, v, ip, &user)
	}
	if err := u.st.ClearLoginFailures(ctx, email); err != nil {
		return err
	}
	if err := u.st.MarkSignedIn(ctx, user.ID); err != nil {
		return err
	}
	if err := u.startSession(w, r, user.OrgID, user.ID); err != nil {
		return err
	}
	u.audit(r, user.OrgID, &user.ID, "user.signed_in", "user:"+itoa(user.ID), jsonDetail(map[string]any{"ip": ip, "via": "ui"}))
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/signin", MaxAge: -1, HttpOnly: true, Secure: u.secure})
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (u *UI) signinFailed(w http.ResponseWriter, r *http.Request, v signinView, ip string, user *store.SignInUser) error {
	if err := u.st.RecordLoginFailure(r.Context(), v.Email, ip, u.st.Now().Add(-FailureWindow)); err != nil {
		return err
	}
	if user != nil && user.OrgID != 0 {
		u.audit(r, user.OrgID, &user.ID, "user.sign_in_failed", "user:"+itoa(user.ID), jsonDetail(map[string]any{"ip": ip, "via": "ui"}))
	}
	v.Error = "The email or password is not right."
	v.Remedy = fmt.Sprintf("Check both and try again; after %d failed attempts within %d minutes, signing in pauses for a while.",
		MaxFailuresPerEmail, int(FailureWindow.Minutes()))
	return u.renderSignin(w, r, http.StatusUnauthorized, v)
}

func roundWait(d time.Duration) string {
	if m := int(math.Ceil(d.Minutes())); m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "a minute"
}

func jsonDetail(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func (u *UI) signout(w http.ResponseWriter, r *http.Request) error {
	s := sessionFrom(r.Context())
	if err := u.st.DeleteSession(r.Context(), s.IDHash); err != nil {
		return err
	}
	u.audit(r, s.OrgID, &s.UserID, "user.signed_out", "user:"+itoa(s.UserID), "")
	http.SetCookie(w, u.cookie("", time.Time{}))
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

func (u *UI) home(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/connectors", http.StatusSeeOther)
	return nil
}
