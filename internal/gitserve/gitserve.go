// Package gitserve serves labsync's repository mirrors read-only over Git's
// smart HTTP protocol, so runners and indexers clone from labsync with a
// labsync API token instead of holding a GitLab credential:
//
//	git clone https://<labsync>/git/<integration id>/<path_with_namespace>.git
//
// Only GET …/info/refs?service=git-upload-pack and POST …/git-upload-pack
// are served (protocol v0 and v2, shallow clones, and partial clones with
// --filter as Debian's git http-backend offers them). The caller authenticates
// with Basic auth, any user name and a labsync API token as password; the
// [Authorizer] decides which mirror the path names for that caller.
//
// Answers: 401 with WWW-Authenticate for a missing, bad or revoked token; 404
// for a path that is not a plain GitLab path (.., encoded characters, absolute
// or empty segments) and for a project the caller's organisation did not
// select; 403 for git-receive-pack (labsync never takes pushes); 503 while a
// selected project's first mirror is not made yet. Every clone or fetch
// (each info/refs request that starts one) is audited through the
// [Authorizer]. A client that takes longer than BodyTimeout to send its
// request, stops reading the answer for IdleTimeout, or whose request runs
// past MaxDuration, is cut off.
//
// This package must never serve git-receive-pack or any file of a mirror
// other than through upload-pack, never build a file path from the request
// (mirrors are found by id through the mirror manager), never log or echo the
// token, and never answer a caller about a project of another organisation
// differently from one that does not exist.
package gitserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/mirror"
)

// Grant is what a caller may read: one mirror, on behalf of someone.
type Grant struct {
	OrgID             int64
	Key               mirror.Key
	PathWithNamespace string
	// Who names the caller for logs; UserID and TokenID identify it for
	// the audit log.
	Who     string
	UserID  int64
	TokenID int64
}

// ErrUnauthenticated is returned by an [Authorizer] for a missing, unknown,
// expired or revoked token.
var ErrUnauthenticated = errors.New("gitserve: not authenticated")

// ErrNotFound is returned by an [Authorizer] when the caller's organisation
// has no such integration or did not select the project.
var ErrNotFound = errors.New("gitserve: no such repository")

// Authorizer decides access and records it. It is the seam to labsync's
// accounts and integrations.
type Authorizer interface {
	// Authorize returns the mirror the caller holding token may read at
	// path (GitLab's path_with_namespace) of integration, or an error
	// wrapping ErrUnauthenticated or ErrNotFound.
	Authorize(ctx context.Context, token string, integrationID int64, path string) (Grant, error)
	// Audit records that g's caller started a clone or fetch.
	Audit(ctx context.Context, g Grant, at time.Time) error
}

// Config configures a [Handler].
type Config struct {
	Mirrors *mirror.Manager
	Access  Authorizer
	// Git is the git program; "git" from PATH when empty.
	Git string
	// BodyTimeout is how long a client may take to send a request's body
	// (the wants and haves of a clone); 10s when zero, as the server's
	// other request bodies.
	BodyTimeout time.Duration
	// IdleTimeout cuts off a client that stops reading the answer for this
	// long; 60s when zero.
	IdleTimeout time.Duration
	// MaxDuration bounds one request; 1h when zero.
	MaxDuration time.Duration
	// MaxConcurrent bounds upload-pack processes at once; further clones
	// get 503 with Retry-After. 16 when zero.
	MaxConcurrent int
	Logger        *slog.Logger
}

// Handler serves /git/. Mount it where the path reaches it uncleaned
// (server.HandlePrefix): it refuses "." and ".." segments itself.
type Handler struct {
	cfg  Config
	git  string
	slot chan struct{}
	now  func() time.Time
}

// New returns the handler; mount it on "/git/".
func New(cfg Config) *Handler {
	if cfg.Git == "" {
		cfg.Git = "git"
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = time.Hour
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, slot: make(chan struct{}, cfg.MaxConcurrent), now: time.Now}
}

// request is a parsed /git/ path.
type request struct {
	integrationID int64
	path          string // path_with_namespace
	op            string // "info/refs", "git-upload-pack" or "git-receive-pack"
}

// parse accepts /git/<id>/<seg>(/<seg>)*.git/<op> where every segment is
// made of the characters GitLab allows in group and project paths. Anything
// else, including any percent-encoding, is refused.
func parse(escapedPath string) (request, bool) {
	rest, ok := strings.CutPrefix(escapedPath, "/git/")
	if !ok || strings.Contains(rest, "%") {
		return request{}, false
	}
	var r request
	for _, op := range []string{"/info/refs", "/git-upload-pack", "/git-receive-pack"} {
		if p, ok := strings.CutSuffix(rest, ".git"+op); ok {
			rest, r.op = p, op[1:]
			break
		}
	}
	if r.op == "" {
		return request{}, false
	}
	id, path, ok := strings.Cut(rest, "/")
	if !ok {
		return request{}, false
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
		return request{}, false
	}
	r.integrationID = n
	for _, seg := range strings.Split(path, "/") {
		if !gitlabSegment(seg) {
			return request{}, false
		}
	}
	r.path = path
	return r, true
}

// gitlabSegment reports whether s may be one segment of a GitLab
// path_with_namespace: letters, digits, '_', '-', '.', not starting with '.'
// or '-' (GitLab's path regex), so never "." or "..".
func gitlabSegment(s string) bool {
	if s == "" || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	req, ok := parse(r.URL.EscapedPath())
	if !ok {
		http.Error(w, "Repository not found.", http.StatusNotFound)
		return
	}
	service := r.URL.Query().Get("service")
	if req.op == "git-receive-pack" || (req.op == "info/refs" && service == "git-receive-pack") {
		http.Error(w, "labsync serves repositories read-only: push to GitLab.", http.StatusForbidden)
		return
	}
	switch {
	case req.op == "info/refs" && r.Method == http.MethodGet && service == "git-upload-pack":
	case req.op == "git-upload-pack" && r.Method == http.MethodPost:
	case req.op == "info/refs" && r.Method == http.MethodGet:
		// The dumb protocol (no service) reads files; labsync does not offer it.
		http.Error(w, "labsync speaks only Git's smart HTTP protocol; use git 1.6.6 or later.", http.StatusForbidden)
		return
	default:
		w.Header().Set("Allow", map[string]string{"info/refs": "GET", "git-upload-pack": "POST"}[req.op])
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
		return
	}
	_, token, ok := r.BasicAuth()
	if !ok || token == "" {
		unauthorized(w)
		return
	}
	grant, err := h.cfg.Access.Authorize(r.Context(), token, req.integrationID, req.path)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		unauthorized(w)
		return
	case errors.Is(err, ErrNotFound):
		http.Error(w, "Repository not found.", http.StatusNotFound)
		return
	case err != nil:
		h.cfg.Logger.Error("gitserve: unable to authorize a clone", "integration", req.integrationID, "error", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	dir, ok := h.cfg.Mirrors.Path(grant.Key)
	if !ok {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "The mirror of this project is not made yet; try again in a minute, or see its status in labsync.", http.StatusServiceUnavailable)
		return
	}
	select {
	case h.slot <- struct{}{}:
		defer func() { <-h.slot }()
	default:
		w.Header().Set("Retry-After", "10")
		http.Error(w, "labsync is serving as many clones as it may; try again shortly.", http.StatusServiceUnavailable)
		return
	}
	if req.op == "info/refs" {
		if err := h.cfg.Access.Audit(r.Context(), grant, h.now()); err != nil {
			h.cfg.Logger.Error("gitserve: unable to audit a clone; refusing it", "integration", req.integrationID, "error", err)
			http.Error(w, "Internal error.", http.StatusInternalServerError)
			return
		}
	}
	h.backend(w, r, dir, req.op)
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="labsync"`)
	http.Error(w, "A labsync API token is required as the password (any user name).", http.StatusUnauthorized)
}

// backend runs git http-backend on the one mirror directory, with the
// client's deadlines renewed on every read and write.
func (h *Handler) backend(w http.ResponseWriter, r *http.Request, dir, op string) {
	rc := http.NewResponseController(w)
	idle := h.cfg.IdleTimeout
	deadline := time.Now().Add(h.cfg.MaxDuration)
	extend := func(set func(time.Time) error) {
		d := time.Now().Add(idle)
		if d.After(deadline) {
			d = deadline
		}
		_ = set(d) // unsupported on some writers (tests); MaxDuration still applies
	}
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { // past MaxDuration: cut the connection
		_ = rc.SetReadDeadline(time.Now())
		_ = rc.SetWriteDeadline(time.Now())
	})
	defer stop()
	// The body must arrive within BodyTimeout (never extended by a client
	// that drips it); the answer's deadline moves with every write.
	bodyBy := time.Now().Add(h.cfg.BodyTimeout)
	if bodyBy.After(deadline) {
		bodyBy = deadline
	}
	_ = rc.SetReadDeadline(bodyBy)
	extend(rc.SetWriteDeadline)

	// The CGI sees only the mirror's own directory as its project root and
	// a path made of the op: nothing from the request names a file.
	in := r.Clone(ctx)
	in.URL.Path = "/" + op
	in.URL.RawPath = ""
	cg := &cgi.Handler{
		Path: h.gitPath(),
		Args: []string{"http-backend"},
		Dir:  filepath.Dir(dir),
		Env: []string{
			"GIT_PROJECT_ROOT=" + dir,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"HOME=" + filepath.Dir(dir),
			"LC_ALL=C",
			"GIT_CONFIG_COUNT=5",
			"GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=false",
			"GIT_CONFIG_KEY_1=http.uploadpack", "GIT_CONFIG_VALUE_1=true",
			"GIT_CONFIG_KEY_2=http.getanyfile", "GIT_CONFIG_VALUE_2=false",
			"GIT_CONFIG_KEY_3=uploadpack.allowFilter", "GIT_CONFIG_VALUE_3=true",
			"GIT_CONFIG_KEY_4=core.hooksPath", "GIT_CONFIG_VALUE_4=/dev/null",
		},
		InheritEnv: []string{"PATH"},
		Stderr:     io.Discard,
	}
	cg.ServeHTTP(&idleWriter{ResponseWriter: w, extend: func() { extend(rc.SetWriteDeadline) }}, in)
}

func (h *Handler) gitPath() string {
	p, err := exec.LookPath(h.cfg.Git)
	if err != nil {
		return h.cfg.Git
	}
	return p
}

// idleWriter renews the write deadline before each write of the answer.
type idleWriter struct {
	http.ResponseWriter
	extend func()
}

func (i *idleWriter) Write(p []byte) (int, error) { i.extend(); return i.ResponseWriter.Write(p) }
func (i *idleWriter) Flush() {
	if f, ok := i.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
func (i *idleWriter) Unwrap() http.ResponseWriter { return i.ResponseWriter }
