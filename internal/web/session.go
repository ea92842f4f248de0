package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// CookieName is the session cookie.
const CookieName = "labsync_session"

// csrfField is the form field, and CSRFHeader the API header, that carry
// the CSRF token.
const (
	csrfField  = "csrf_token"
	CSRFHeader = "X-CSRF-Token"
)

// touchEvery bounds how often a session's last use is written.
const touchEvery = time.Minute

// session is the signed-in caller of a request.
type session struct {
	store.Session
	// token is the cookie's value; it stays in memory for the request only.
	token string
}

// CSRF is the token forms of this session carry.
func (s *session) CSRF() string { return csrfFor(s.token) }

type sessionKey struct{}

func withSession(ctx context.Context, s *session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// newToken returns 32 random bytes, URL-safe base64.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// csrfFor derives a session's CSRF token: HMAC-SHA256 keyed by the session
// token, so it needs no storage and dies with the session.
func csrfFor(tok string) string {
	m := hmac.New(sha256.New, []byte(tok))
	m.Write([]byte("labsync csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func validCSRF(tok, got string) bool {
	if tok == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(csrfFor(tok)), []byte(got))
}

// lookupSession resolves the cookie of r to a live session; nil when there
// is no cookie or it names no live session.
func lookupSession(r *http.Request, st *store.Store, idle time.Duration) (*session, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, nil
	}
	se, err := st.SessionByHash(r.Context(), hashToken(c.Value), st.Now().Add(-idle))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if st.Now().Sub(se.LastSeenAt) > touchEvery {
		// Best effort: a failed write must not sign the user out.
		_ = st.TouchSession(r.Context(), se.IDHash)
	}
	return &session{Session: se, token: c.Value}, nil
}

func (u *UI) session(r *http.Request) (*session, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	}
	return lookupSession(r, u.st, u.opts.IdleTimeout)
}

// startSession creates a session for user in org and sets its cookie.
func (u *UI) startSession(w http.ResponseWriter, r *http.Request, orgID, userID int64) error {
	tok := newToken()
	exp := u.st.Now().Add(u.opts.MaxAge)
	if err := u.st.CreateSession(r.Context(), hashToken(tok), orgID, userID, exp); err != nil {
		return err
	}
	http.SetCookie(w, u.cookie(tok, exp))
	return nil
}

func (u *UI) cookie(value string, exp time.Time) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = exp
	}
	return c
}

// SessionAuthenticator lets the REST API accept the UI's session cookie.
// Requests with unsafe methods must carry the session's CSRF token in the
// X-CSRF-Token header; without it they are refused with 403. Requests that
// carry an Authorization header are left to the API-token authenticator.
func SessionAuthenticator(st *store.Store, opts Options) api.Authenticator {
	idle := opts.withDefaults().IdleTimeout
	return func(r *http.Request) (api.Principal, bool, error) {
		if r.Header.Get("Authorization") != "" {
			return api.Principal{}, false, nil
		}
		s, err := lookupSession(r, st, idle)
		if err != nil || s == nil {
			return api.Principal{}, false, err
		}
		if !safeMethod(r.Method) && !validCSRF(s.token, r.Header.Get(CSRFHeader)) {
			return api.Principal{}, false, &problem.Error{Kind: problem.Forbidden, Code: "csrf",
				Message: "a request made with the UI session must carry the X-CSRF-Token header",
				Remedy:  "send the csrf token of the page (meta name=csrf-token) in X-CSRF-Token, or use an API token"}
		}
		if !s.PasswordChanged {
			return api.Principal{}, false, &problem.Error{Kind: problem.Forbidden, Code: "password_change_required",
				Message: "change the one-time password before using labsync", Remedy: "open /account/password in the UI"}
		}
		return api.Principal{OrgID: s.OrgID, UserID: s.UserID, Role: s.Role}, true, nil
	}
}
