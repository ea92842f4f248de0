package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/problem"
)

// loginCookie carries the sign-in form's CSRF secret (double submit): the
// form is posted before any session exists.
const loginCookie = "labsync_login"

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
	tok := accounts.NewToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/signin", HttpOnly: true, Secure: u.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	w.Header().Set("Cache-Control", "no-store")
	v.Title, v.CSRF = "Sign in", accounts.CSRFFor(tok)
	u.render(w, r, status, "signin", v)
	return nil
}

func (u *UI) signin(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c, err := r.Cookie(loginCookie)
	if err != nil || !accounts.ValidCSRF(c.Value, r.PostFormValue(csrfField)) {
		return errCSRF
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	next := safeNext(r.PostFormValue("next"))
	v := signinView{Email: email, Next: next}
	in, err := u.Accounts.SignIn(r.Context(), email, r.PostFormValue("password"), u.clientIP(r))
	if err != nil {
		var p *problem.Error
		if !errors.As(err, &p) {
			return err
		}
		var th *accounts.Throttled
		if errors.As(err, &th) {
			w.Header().Set("Retry-After", th.RetryAfter())
		}
		v.Error, v.Remedy = p.Message, p.Remedy
		return u.renderSignin(w, r, statusOf(p.Kind), v)
	}
	http.SetCookie(w, u.cookie(in.Token, in.Expires))
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/signin", MaxAge: -1, HttpOnly: true, Secure: u.secure})
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (u *UI) signout(w http.ResponseWriter, r *http.Request) error {
	if err := u.Accounts.SignOut(r.Context(), sessionFrom(r.Context())); err != nil {
		return err
	}
	http.SetCookie(w, u.cookie("", time.Time{}))
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

func (u *UI) home(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/connectors", http.StatusSeeOther)
	return nil
}
