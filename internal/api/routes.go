package api

import (
	"log/slog"
	"net/http"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/repository"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/webhook"
)

// Deps are what the API is built from. Features add their service here.
type Deps struct {
	Store *store.Store
	Log   *slog.Logger
	// Webhooks receives deliveries and issues webhook endpoints.
	Webhooks *webhook.Service
	// Integrations connects GitLabs and hands out their clients.
	Integrations *integrations.Service
	// Accounts authenticates callers and owns members, tokens and the
	// organisation; New builds one over Store when it is nil.
	Accounts *accounts.Service
	// Sync discovers, selects, backfills and polls; nil on a server that
	// does not run it.
	Sync *syncer.Service
	// Repository keeps and reports the repository mirrors; nil on a
	// server that keeps none.
	Repository *repository.Service
}

// API holds what the handlers share.
type API struct {
	Deps
	store *store.Store
	log   *slog.Logger
	auths []accounts.Authenticator
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

// New returns the API. Requests are authenticated by API token, then by
// each of extra in turn (serve adds the UI session's).
func New(d Deps, extra ...accounts.Authenticator) *API {
	if d.Accounts == nil {
		d.Accounts = accounts.New(d.Store, d.Log, d.Integrations, accounts.Options{})
	}
	return &API{Deps: d, store: d.Store, log: d.Log, auths: append([]accounts.Authenticator{d.Accounts.TokenAuthenticator()}, extra...)}
}

// Register mounts every route on mux.
func (a *API) Register(mux Mux) {
	a.route(mux, "GET /api/v1/me", anyMember, a.me)
	a.route(mux, "GET /api/v1/audit", adminOnly, a.auditLog)
	a.registerTenancy(mux)      // tenancy_routes.go
	a.registerIntegrations(mux) // integrations_routes.go
	a.registerSync(mux)         // sync_routes.go
	a.registerDelivery(mux)     // delivery_routes.go
	a.registerWebhooks(mux)     // webhook_routes.go
	a.registerMirrors(mux)      // mirrors_routes.go
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
		p.Via = "api"
		if err := h(w, r.WithContext(accounts.WithPrincipal(r.Context(), p))); err != nil {
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

func (a *API) authenticate(r *http.Request) (accounts.Principal, error) {
	if p, ok := accounts.PrincipalFrom(r.Context()); ok {
		return p, nil
	}
	for _, auth := range a.auths {
		p, ok, err := auth(r)
		if err != nil {
			return accounts.Principal{}, err
		}
		if ok {
			return p, nil
		}
	}
	return accounts.Principal{}, accounts.ErrUnauthenticated
}

func caller(r *http.Request) accounts.Principal {
	p, _ := accounts.PrincipalFrom(r.Context())
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
