package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
)

// Authenticator turns a request into a Principal: ok is false when the
// request carries no credential it knows; an error refuses the request.
type Authenticator func(r *http.Request) (p Principal, ok bool, err error)

// ErrUnauthenticated refuses a request without a live credential.
var ErrUnauthenticated = &problem.Error{Kind: problem.Unauthenticated, Code: "unauthenticated",
	Message: "missing, unknown or revoked API token",
	Remedy:  "send Authorization: Bearer <token>; create one with `labsync admin token create`"}

// TokenAuthenticator resolves "Authorization: Bearer lsk_…".
func (s *Service) TokenAuthenticator() Authenticator {
	return func(r *http.Request) (Principal, bool, error) {
		h := r.Header.Get("Authorization")
		if h == "" {
			return Principal{}, false, nil
		}
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(strings.TrimSpace(tok), APITokenPrefix) {
			return Principal{}, false, ErrUnauthenticated
		}
		p, err := s.APIToken(r.Context(), tok)
		if err != nil {
			return Principal{}, false, err
		}
		return p, true, nil
	}
}

// APIToken returns the principal of a live API token (the same check as
// [Service.TokenAuthenticator], for doors that carry the token otherwise,
// such as Git's Basic auth), or ErrUnauthenticated for a token that is
// unknown, expired or revoked.
func (s *Service) APIToken(ctx context.Context, tok string) (Principal, error) {
	tok = strings.TrimSpace(tok)
	if !strings.HasPrefix(tok, APITokenPrefix) {
		return Principal{}, ErrUnauthenticated
	}
	t, role, err := s.st.APITokenByHash(ctx, HashAPIToken(tok))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	// Recording use is best effort: a failure must not refuse the call.
	// Like a session's, it is written at most once a minute, so a busy
	// client (a runner's clone is several requests) costs no write per
	// request on the single writer.
	if t.LastUsedAt == nil || s.st.Now().Sub(*t.LastUsedAt) > touchEvery {
		_ = s.st.TouchAPIToken(ctx, t.OrgID, t.ID)
	}
	return Principal{OrgID: t.OrgID, UserID: t.UserID, Role: role, TokenID: t.ID}, nil
}

// CookieName is the UI session's cookie.
const CookieName = "labsync_session"

// CSRFHeader is the header that carries a session's CSRF token on API
// requests made with the session.
const CSRFHeader = "X-CSRF-Token"

// touchEvery bounds how often a session's last use is written.
const touchEvery = time.Minute

// Session is a signed-in UI session. Its token lives in memory for the
// request only; the store holds its hash.
type Session struct {
	store.Session
	token string
}

// Principal is who the session acts as.
func (s *Session) Principal() Principal {
	return Principal{OrgID: s.OrgID, UserID: s.UserID, Role: s.Role}
}

// CSRF is the token forms and API requests of this session carry.
func (s *Session) CSRF() string { return csrfFor(s.token) }

// ValidCSRF reports whether got is this session's CSRF token.
func (s *Session) ValidCSRF(got string) bool { return ValidCSRF(s.token, got) }

// NewToken returns 32 random bytes, URL-safe base64 (session tokens and
// the sign-in form's double-submit secret).
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// csrfFor derives a secret's CSRF token: HMAC-SHA256 keyed by the secret,
// so it needs no storage and dies with it.
func csrfFor(tok string) string {
	m := hmac.New(sha256.New, []byte(tok))
	m.Write([]byte("labsync csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CSRFFor is the CSRF token derived from secret tok.
func CSRFFor(tok string) string { return csrfFor(tok) }

// ValidCSRF reports whether got is the CSRF token of secret tok.
func ValidCSRF(tok, got string) bool {
	if tok == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(csrfFor(tok)), []byte(got))
}

// LookupSession resolves a session cookie's value to a live session; nil
// when it names none.
func (s *Service) LookupSession(ctx context.Context, token string) (*Session, error) {
	if token == "" || len(token) > 128 {
		return nil, nil
	}
	se, err := s.st.SessionByHash(ctx, hashToken(token), s.st.Now().Add(-s.opts.IdleTimeout))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.st.Now().Sub(se.LastSeenAt) > touchEvery {
		// Best effort: a failed write must not sign the user out.
		_ = s.st.TouchSession(ctx, se.IDHash)
	}
	return &Session{Session: se, token: token}, nil
}

// StartSession creates a session for user in org and returns its token
// (for the cookie, never stored) and when it ends.
func (s *Service) StartSession(ctx context.Context, orgID, userID int64) (token string, expires time.Time, err error) {
	token = NewToken()
	expires = s.st.Now().Add(s.opts.MaxAge)
	if err := s.st.CreateSession(ctx, hashToken(token), orgID, userID, expires); err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// SignOut ends the session and records it.
func (s *Service) SignOut(ctx context.Context, se *Session) error {
	if err := s.st.DeleteSession(ctx, se.IDHash); err != nil {
		return err
	}
	s.audit(ctx, se.Principal(), "user.signed_out", userTarget(se.UserID), map[string]any{})
	return nil
}

// SessionAuthenticator lets the REST API accept the UI's session cookie.
// Requests with unsafe methods must carry the session's CSRF token in the
// X-CSRF-Token header; without it they are refused with 403. Requests that
// carry an Authorization header are left to the API-token authenticator.
func (s *Service) SessionAuthenticator() Authenticator {
	return func(r *http.Request) (Principal, bool, error) {
		if r.Header.Get("Authorization") != "" {
			return Principal{}, false, nil
		}
		c, err := r.Cookie(CookieName)
		if err != nil {
			return Principal{}, false, nil
		}
		se, err := s.LookupSession(r.Context(), c.Value)
		if err != nil || se == nil {
			return Principal{}, false, err
		}
		if !SafeMethod(r.Method) && !se.ValidCSRF(r.Header.Get(CSRFHeader)) {
			return Principal{}, false, &problem.Error{Kind: problem.Forbidden, Code: "csrf",
				Message: "a request made with the UI session must carry the X-CSRF-Token header",
				Remedy:  "send the csrf token of the page (meta name=csrf-token) in X-CSRF-Token, or use an API token"}
		}
		if !se.PasswordChanged {
			return Principal{}, false, &problem.Error{Kind: problem.Forbidden, Code: "password_change_required",
				Message: "change the one-time password before using labsync", Remedy: "open /account/password in the UI"}
		}
		return se.Principal(), true, nil
	}
}

// SafeMethod reports whether an HTTP method changes nothing.
func SafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
