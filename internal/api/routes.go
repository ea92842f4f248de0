package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
	labsync "github.com/labsync/labsync/internal/sync"
	"github.com/labsync/labsync/internal/vault"
	"github.com/labsync/labsync/internal/webhook"
)

// Deps are what the API is built from. Features add their service here.
type Deps struct {
	Store  *store.Store
	Log    *slog.Logger
	Vault  *vault.Vault
	Jobs   *jobs.Runner
	Config config.Config
	// Webhooks receives deliveries and issues webhook endpoints.
	Webhooks *webhook.Service
	// Integrations connects GitLabs and hands out their clients.
	Integrations *integrations.Service
	// Sync discovers, selects, backfills and polls; nil on a server that
	// does not run it.
	Sync *labsync.Service
}

// API holds what the handlers share.
type API struct {
	Deps
	store *store.Store
	log   *slog.Logger
	auths []Authenticator
	// routes lists every authenticated route, for the access matrix.
	routes []Route
}

// Route is one authenticated endpoint and who may call it.
type Route struct {
	Pattern string // "METHOD /path/{param}"
	Access  string // member, admin or owner
}

// Routes lists the authenticated routes mounted by Register.
func (a *API) Routes() []Route { return append([]Route(nil), a.routes...) }

// Mux is where routes are mounted (the server's mux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// New returns the API. More authenticators (the UI session) may be added.
func New(d Deps, extra ...Authenticator) *API {
	if d.Integrations != nil && d.Webhooks != nil {
		// Disconnecting removes registered hooks and forgets the cached
		// webhook endpoint, whichever door (API, UI, CLI) it came through.
		d.Integrations.SetDisconnectHooks(integrations.DisconnectHooks{
			RemoveRegistered: func(ctx context.Context, c *gitlab.Client, cerr error, orgID, id int64) (any, error) {
				return removeRegisteredHooks(ctx, d.Store, d.Webhooks, c, cerr, orgID, id)
			},
			Forget: d.Webhooks.Invalidate,
		})
	}
	return &API{Deps: d, store: d.Store, log: d.Log, auths: append([]Authenticator{tokenAuthenticator(d.Store)}, extra...)}
}

// Register mounts every route on mux.
func (a *API) Register(mux Mux) {
	a.route(mux, "GET /api/v1/me", anyMember, a.me)
	a.route(mux, "GET /api/v1/audit", adminOnly, a.auditLog)
	a.registerTenancy(mux)      // tenancy_routes.go
	a.registerIntegrations(mux) // integrations_routes.go
	a.registerSync(mux)         // sync_routes.go
	a.registerWebhooks(mux)     // webhook_routes.go
	a.public(mux, "GET /api/v1/openapi.json", a.openAPI)
	mux.Handle("/api/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveError(w, r, a.log, problem.New(problem.NotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
	}))
}

// route mounts an authenticated handler that requires level.
func (a *API) route(mux Mux, pattern string, level access, h handlerFunc) {
	a.routes = append(a.routes, Route{Pattern: pattern, Access: level.String()})
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err != nil {
			serveError(w, r, a.log, err)
			return
		}
		if !level.allows(p.Role) {
			serveError(w, r, a.log, errForbidden)
			return
		}
		if err := h(w, r.WithContext(WithPrincipal(r.Context(), p))); err != nil {
			serveError(w, r, a.log, err)
		}
	}))
}

// public mounts a handler that needs no authentication.
func (a *API) public(mux Mux, pattern string, h handlerFunc) {
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			serveError(w, r, a.log, err)
		}
	}))
}

func (a *API) authenticate(r *http.Request) (Principal, error) {
	if p, ok := PrincipalFrom(r.Context()); ok {
		return p, nil
	}
	for _, auth := range a.auths {
		p, ok, err := auth(r)
		if err != nil {
			return Principal{}, err
		}
		if ok {
			return p, nil
		}
	}
	return Principal{}, errUnauthenticated
}

func caller(r *http.Request) Principal {
	p, _ := PrincipalFrom(r.Context())
	return p
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	writeJSON(w, http.StatusOK, map[string]any{"org_id": p.OrgID, "user_id": p.UserID, "role": p.Role})
	return nil
}

func (a *API) auditLog(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	entries, err := a.store.AuditLog(r.Context(), p.OrgID, 0, 200)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}
