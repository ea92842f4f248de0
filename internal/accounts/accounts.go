// Package accounts is who may use labsync and how they prove it: its users,
// organisations and members, API tokens, UI sessions and sign-in (with its
// throttle), first-start setup, and creating and deleting organisations.
// The faces (api, web, cli) call it; it owns these use-cases and their
// audit entries, whichever door they come through.
//
// Passwords are hashed with argon2id; API tokens and session tokens carry
// 256 random bits and only their SHA-256 is stored.
//
// It must never store, log, or put into an error a password or a token in
// clear (a new API token, a one-time password and an invitation code are
// returned once, to be shown once); never show or change another
// organisation's members or tokens (they are store.ErrNotFound); never
// tell a caller whether an address they add is known, or anything of its
// other organisations; never check a password without first reserving
// the attempt with the throttle; and never let a caller give a role above
// their own.
package accounts

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/store"
)

// Principal is who is calling: a user acting within one organisation.
type Principal struct {
	OrgID   int64
	UserID  int64
	Role    store.Role
	TokenID int64 // 0 for a UI session or the command line
	// Via names the face the request came through ("api", "ui"); the
	// face sets it, and audit entries record it.
	Via string
}

// Actor is p as the integrations service names a caller.
func (p Principal) Actor() integrations.Actor {
	return integrations.Actor{OrgID: p.OrgID, UserID: p.UserID, Via: p.Via}
}

// IsAdmin reports whether p is an owner or an admin of their organisation.
func (p Principal) IsAdmin() bool { return p.Role == store.RoleOwner || p.Role == store.RoleAdmin }

type principalKey struct{}

// PrincipalFrom returns the caller; ok is false on unauthenticated requests.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Options tune sessions; the zero value is right for production.
type Options struct {
	// IdleTimeout ends a session unused for this long (default 12 h).
	IdleTimeout time.Duration
	// MaxAge ends a session this long after sign-in (default 7 days).
	MaxAge time.Duration
}

func (o Options) withDefaults() Options {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 12 * time.Hour
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	return o
}

// Service is the accounts use-cases over the store.
type Service struct {
	st   *store.Store
	log  *slog.Logger
	opts Options
	// integrations disconnects an organisation's integrations before it is
	// deleted; nil where no organisation is deleted.
	integrations *integrations.Service
}

// New returns the service. integ may be nil: DeleteOrganization then
// refuses with Unavailable.
func New(st *store.Store, log *slog.Logger, integ *integrations.Service, opts Options) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, log: log, opts: opts.withDefaults(), integrations: integ}
}

// Options returns the session options in force (defaults filled in).
func (s *Service) Options() Options { return s.opts }

// audit writes an audit entry for p; detail (marshalled as it is) holds no
// secret. A failed write is logged and does not undo what was done.
func (s *Service) audit(ctx context.Context, p Principal, action, target string, detail any) {
	b, _ := json.Marshal(detail)
	uid := p.UserID
	if err := s.st.Audit(ctx, store.AuditEntry{OrgID: p.OrgID, ActorUserID: &uid, Actor: "user",
		Action: action, Target: target, Detail: b}); err != nil {
		s.log.Warn("unable to write the audit log", "action", action, "err", err)
	}
}
