package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labsync/labsync/internal/accounts"
)

// csrfField is the form field that carries the CSRF token.
const csrfField = "csrf_token"

type sessionKey struct{}

func withSession(ctx context.Context, s *accounts.Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

func sessionFrom(ctx context.Context) *accounts.Session {
	s, _ := ctx.Value(sessionKey{}).(*accounts.Session)
	return s
}

// session resolves the request's cookie to a live session; nil when there
// is none.
func (u *UI) session(r *http.Request) (*accounts.Session, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	}
	c, err := r.Cookie(accounts.CookieName)
	if err != nil {
		return nil, nil
	}
	return u.Accounts.LookupSession(r.Context(), c.Value)
}

func (u *UI) cookie(value string, exp time.Time) *http.Cookie {
	c := &http.Cookie{Name: accounts.CookieName, Value: value, Path: "/", HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = exp
	}
	return c
}
