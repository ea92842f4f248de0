// Package web is labsync's browser UI at /: server-rendered pages
// (html/template, embedded templates, one CSS and one small script, nothing
// fetched from elsewhere) over the same services the REST API calls.
//
// It is a face: a page parses the form, calls one service method and
// renders the answer, or the problem, as a page. Sign-in, its throttle and
// sessions are accounts' use-cases; the UI keeps the session token in an
// HttpOnly cookie and checks the CSRF token of every state-changing form.
// It never imports the api package: the two faces sit side by side.
//
// It must never put a secret (token, client secret, webhook secret,
// password, session token, invitation code) into a page, a log line, a URL
// or an error, except in the one page that shows it to the user who made
// it: a webhook secret, a new API token or an invitation code, each in the
// one GET its POST redirects to (they wait in memory for it, see flashes);
// never show or change
// another organisation's objects (they are "not found"); and never switch
// TLS verification off.
package web

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/repository"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/webhook"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deps are what the UI is built from: the services it calls.
type Deps struct {
	Store  *store.Store
	Log    *slog.Logger
	Config config.Config
	// Accounts signs users in and holds their sessions; required.
	Accounts *accounts.Service
	// Webhooks issues and registers webhook endpoints; nil hides them.
	Webhooks *webhook.Service
	// Integrations connects GitLabs; nil on a server without it.
	Integrations *integrations.Service
	// Sync discovers, selects and syncs; nil on a server that does not run it.
	Sync *syncer.Service
	// Repository reports the repository mirrors; nil hides them.
	Repository *repository.Service
}

// UI is the web interface. Build it with New and mount it with Register.
type UI struct {
	Deps
	st     *store.Store
	log    *slog.Logger
	pages  map[string]*template.Template
	secure bool
	flash  *flashes
}

// New returns the UI over d.
func New(d Deps) *UI {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &UI{Deps: d, st: d.Store, log: log, pages: parsePages(), secure: isHTTPS(d.Config.PublicURL), flash: newFlashes()}
}

func isHTTPS(publicURL string) bool {
	u, err := url.Parse(publicURL)
	return err == nil && u.Scheme == "https"
}

// Mux is where routes are mounted (the server's mux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Register mounts the UI's routes on mux. The API must be registered too:
// the UI's pages live at / and leave /api/v1 to it.
func (u *UI) Register(mux Mux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", u.headers(http.StripPrefix("/static/", staticHandler(http.FileServerFS(static)))))
	u.public(mux, "GET /signin", u.signinPage)
	u.public(mux, "POST /signin", u.signin)
	u.page(mux, "POST /signout", memberLevel, u.signout)
	u.page(mux, "GET /account/password", memberLevel, u.passwordPage)
	u.page(mux, "POST /account/password", memberLevel, u.changePassword)
	u.page(mux, "GET /{$}", memberLevel, u.home)
	u.page(mux, "GET /connectors", memberLevel, u.connectors)
	u.page(mux, "GET /connect", adminLevel, u.connectPage)
	u.page(mux, "POST /connect/test", adminLevel, u.connectTest)
	u.page(mux, "POST /connect/oauth", adminLevel, u.connectOAuth)
	u.page(mux, "POST /connect/token", adminLevel, u.connectToken)
	u.page(mux, "GET /integrations/{id}", memberLevel, u.integrationPage)
	u.page(mux, "GET /integrations/{id}/projects", memberLevel, u.pickerPage)
	u.page(mux, "POST /integrations/{id}/projects", adminLevel, u.savePicker)
	u.page(mux, "POST /integrations/{id}/sync", adminLevel, u.startSync)
	u.page(mux, "GET /integrations/{id}/progress", memberLevel, u.progressStream)
	u.page(mux, "POST /integrations/{id}/settings", adminLevel, u.saveSettings)
	u.page(mux, "POST /integrations/{id}/webhook", adminLevel, u.issueWebhook)
	u.page(mux, "POST /integrations/{id}/webhook/register", adminLevel, u.registerWebhooks)
	u.page(mux, "POST /integrations/{id}/reauthorize", adminLevel, u.reauthorize)
	u.page(mux, "POST /integrations/{id}/webhook/test", adminLevel, u.testWebhook) // webhook_health.go
	u.page(mux, "GET /integrations/{id}/disconnect", adminLevel, u.disconnectPage)
	u.page(mux, "POST /integrations/{id}/disconnect", adminLevel, u.disconnect)
	u.page(mux, "GET /data/{kind}", memberLevel, u.dataPage)
	u.registerDora(mux) // dora.go
	u.page(mux, "GET /members", adminLevel, u.membersPage)
	u.page(mux, "POST /members/invite", adminLevel, u.invite)
	u.page(mux, "POST /members/{uid}/role", adminLevel, u.changeRole)
	u.page(mux, "GET /members/{uid}/remove", adminLevel, u.removePage)
	u.page(mux, "POST /members/{uid}/remove", adminLevel, u.removeMember)
	u.page(mux, "GET /tokens", memberLevel, u.tokensPage)
	u.page(mux, "POST /tokens", memberLevel, u.createToken)
	u.page(mux, "POST /tokens/{id}/revoke", memberLevel, u.revokeToken)
	u.page(mux, "GET /audit", adminLevel, u.auditPage)
	u.page(mux, "GET /credentials", adminLevel, u.credentialsIndex)
	u.page(mux, "GET /integrations/{id}/credentials", adminLevel, u.credentialsPage)
	u.page(mux, "POST /integrations/{id}/credentials/token", adminLevel, u.replaceToken)
	u.page(mux, "POST /integrations/{id}/credentials/signing", adminLevel, u.setSigning)
}

// staticHandler lets browsers cache the embedded files for an hour.
func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// csp is the Content-Security-Policy of every page: nothing inline,
// nothing from elsewhere, no framing. form-action is left out on purpose:
// "Continue to GitLab" posts here and is redirected to the GitLab's
// authorize page, which form-action would block in Chromium.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; frame-ancestors 'none'; object-src 'none'"

// headers sets the security headers every UI response carries.
func (u *UI) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// handlerFunc is a UI handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// level says who may use a page.
type level int

const (
	memberLevel level = iota
	adminLevel
)

func (l level) allows(r store.Role) bool {
	if l == adminLevel {
		return r == store.RoleOwner || r == store.RoleAdmin
	}
	return r == store.RoleOwner || r == store.RoleAdmin || r == store.RoleMember
}

// public mounts a page that needs no session.
func (u *UI) public(mux Mux, pattern string, h handlerFunc) {
	mux.Handle(pattern, u.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			u.serveError(w, r, err)
		}
	})))
}

// page mounts a page that needs a session of at least lvl. Unsafe methods
// need the form's CSRF token; without it nothing runs (403).
func (u *UI) page(mux Mux, pattern string, lvl level, h handlerFunc) {
	mux.Handle(pattern, u.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, err := u.session(r)
		if err != nil {
			u.serveError(w, r, err)
			return
		}
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			u.serveError(w, r, errSignedOut)
			return
		}
		if !accounts.SafeMethod(r.Method) && !s.ValidCSRF(r.PostFormValue(csrfField)) {
			u.serveError(w, r, errCSRF)
			return
		}
		// The one-time first-run password must be replaced before anything else.
		if !s.PasswordChanged && r.URL.Path != "/account/password" && r.URL.Path != "/signout" {
			http.Redirect(w, r, "/account/password", http.StatusSeeOther)
			return
		}
		if !lvl.allows(s.Role) {
			u.serveError(w, r, errForbidden)
			return
		}
		ctx := withSession(r.Context(), s)
		p := s.Principal()
		p.Via = "ui"
		ctx = accounts.WithPrincipal(ctx, p)
		if err := h(w, r.WithContext(ctx)); err != nil {
			u.serveError(w, r, err)
		}
	})))
}

var (
	errNotFound = &problem.Error{Kind: problem.NotFound, Code: "not_found", Title: "Not found",
		Message: "There is nothing here, or it belongs to another organisation."}
	errForbidden = &problem.Error{Kind: problem.Forbidden, Code: "forbidden", Title: "Not allowed", Message: "Your role does not allow this.",
		Remedy: "Ask an owner or admin of your organisation."}
	errCSRF = &problem.Error{Kind: problem.Forbidden, Code: "csrf", Title: "Form expired",
		Message: "This form was not sent from a labsync page you have open, so nothing was changed.",
		Remedy:  "Go back, reload the page and try again."}
	errSignedOut = &problem.Error{Kind: problem.Unauthenticated, Code: "unauthenticated", Title: "Signed out",
		Message: "Your session has ended, so nothing was changed.", Remedy: "Sign in again."}
	errInternal = &problem.Error{Kind: problem.Internal, Code: "internal", Title: "Something went wrong",
		Message: "The page could not be shown; the server log has the details."}
)

// statuses is the one place a problem's kind becomes the status of the
// error page; the page's headline is the problem's Title, else the
// status's text.
var statuses = map[problem.Kind]int{
	problem.Internal:        http.StatusInternalServerError,
	problem.Malformed:       http.StatusBadRequest,
	problem.Invalid:         http.StatusUnprocessableEntity,
	problem.Unsupported:     http.StatusUnsupportedMediaType,
	problem.Unauthenticated: http.StatusUnauthorized,
	problem.Forbidden:       http.StatusForbidden,
	problem.NotFound:        http.StatusNotFound,
	problem.Conflict:        http.StatusConflict,
	problem.RateLimited:     http.StatusTooManyRequests,
	problem.Upstream:        http.StatusBadGateway,
	problem.Unavailable:     http.StatusServiceUnavailable,
	problem.Canceled:        499,
}

// statusOf is the status of a page showing a problem of kind k.
func statusOf(k problem.Kind) int {
	if s, ok := statuses[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorPage is what templates/error.html shows.
type errorPage struct {
	Title   string
	Message string
	Remedy  string
}

// serveError renders err as a page with the status of its kind. Errors that
// are no problem (and Internal ones) are logged and shown as a 500 without
// details.
func (u *UI) serveError(w http.ResponseWriter, r *http.Request, err error) {
	var p *problem.Error
	switch {
	case errors.As(err, &p):
	case errors.Is(err, store.ErrNotFound):
		p = errNotFound
	default:
		p, _ = problem.From(err)
	}
	if p == nil || p.Kind == problem.Internal {
		u.log.Error("page failed", "method", r.Method, "route", r.Pattern, "err", err)
		p = errInternal
	}
	status := statusOf(p.Kind)
	pe := errorPage{Title: p.Title, Message: p.Message, Remedy: p.Remedy}
	if pe.Title == "" {
		pe.Title = http.StatusText(status)
	}
	w.Header().Set("Cache-Control", "no-store")
	u.render(w, r, status, "error", map[string]any{"Title": pe.Title, "Error": pe})
}

// integration resolves {id} to one of the caller's integrations; another
// organisation's is store.ErrNotFound.
func (u *UI) integration(r *http.Request) (store.Integration, error) {
	id, err := store.ParseID(r.PathValue("id"))
	if err != nil {
		return store.Integration{}, err
	}
	return u.st.Integration(r.Context(), sessionFrom(r.Context()).OrgID, id)
}

// actor is the signed-in user, as the integrations service names a caller.
func actor(r *http.Request) integrations.Actor {
	p, _ := accounts.PrincipalFrom(r.Context())
	return p.Actor()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
