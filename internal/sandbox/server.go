package sandbox

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// apiError is an HTTP error answered with GitLab's body for it.
type apiError struct {
	status int
	body   any
	header http.Header
	text   string // plain-text body instead of JSON
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %v", e.status, e.body) }

// msgErr is GitLab's usual {"message": "..."} error.
func msgErr(status int, msg string) *apiError {
	return &apiError{status: status, body: map[string]string{"message": msg}}
}

// grapeErr is Grape's {"error": "..."} error (unknown routes, pagination limits).
func grapeErr(status int, msg string) *apiError {
	return &apiError{status: status, body: map[string]string{"error": msg}}
}

func notFound(what string) *apiError { return msgErr(http.StatusNotFound, "404 "+what+" Not Found") }

var (
	errUnauthorized = msgErr(http.StatusUnauthorized, "401 Unauthorized")
	errForbidden    = msgErr(http.StatusForbidden, "403 Forbidden")
	errNoRoute      = grapeErr(http.StatusNotFound, "404 Not Found")
)

// bearerErr is rack-oauth2's error as GitLab's API guard renders it.
func bearerErr(status int, code, desc string, extra map[string]any) *apiError {
	body := map[string]any{"error": code, "error_description": desc}
	for k, v := range extra {
		body[k] = v
	}
	h := http.Header{}
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="Protected by OAuth 2.0", error="%s", error_description="%s"`, code, desc))
	}
	return &apiError{status: status, body: body, header: h}
}

// call is one API request being served.
type call struct {
	s    *Sandbox
	w    http.ResponseWriter
	r    *http.Request
	tok  *token
	user *user // nil for anonymous requests
}

func (c *call) q(name string) string { return c.r.URL.Query().Get(name) }

// access describes who may call an endpoint.
type access int

const (
	accessRead     access = iota // api or read_api; anonymous allowed (public data)
	accessReadAuth               // api or read_api; authentication required
	accessUserRead               // api, read_api or read_user; authentication required
	accessWrite                  // api; authentication required
	accessAnyScope               // any valid token
)

type handlerFunc func(c *call) (any, error)

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// routes builds the whole HTTP surface.
func (s *Sandbox) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, a access, h handlerFunc) {
		mux.Handle(pattern, s.apiHandler(a, h))
	}
	gate := func(ok bool, h handlerFunc) handlerFunc {
		if ok {
			return h
		}
		return func(*call) (any, error) { return nil, errNoRoute }
	}
	api("GET /api/v4/version", accessUserRead, s.getVersion)
	api("GET /api/v4/metadata", accessUserRead, gate(s.ver.hasMetadata(), s.getMetadata))
	api("GET /api/v4/user", accessUserRead, s.getUser)
	api("GET /api/v4/personal_access_tokens/self", accessAnyScope, gate(s.ver.hasPATSelf(), s.getPATSelf))
	api("GET /api/v4/projects", accessRead, s.listProjects)
	api("GET /api/v4/projects/{id}", accessRead, s.getProject)
	api("GET /api/v4/groups", accessRead, s.listGroups)
	api("GET /api/v4/groups/{id}", accessRead, s.getGroup)
	api("GET /api/v4/groups/{id}/subgroups", accessRead, s.listSubgroups)
	api("GET /api/v4/groups/{id}/projects", accessRead, s.listGroupProjects)
	api("GET /api/v4/groups/{id}/merge_requests", accessRead, gate(s.ver.hasInstanceMRs(), s.listGroupMRs))
	api("GET /api/v4/groups/{id}/issues", accessRead, s.listGroupIssues)
	api("GET /api/v4/merge_requests", accessReadAuth, gate(s.ver.hasInstanceMRs(), s.listAllMRs))
	api("GET /api/v4/projects/{id}/merge_requests", accessRead, s.listProjectMRs)
	api("GET /api/v4/projects/{id}/merge_requests/{iid}", accessRead, s.getMR)
	api("GET /api/v4/issues", accessReadAuth, s.listAllIssues)
	api("GET /api/v4/projects/{id}/issues", accessRead, s.listProjectIssues)
	api("GET /api/v4/projects/{id}/issues/{iid}", accessRead, s.getIssue)
	api("GET /api/v4/projects/{id}/pipelines", accessRead, s.listPipelines)
	api("GET /api/v4/projects/{id}/pipelines/{pid}", accessRead, s.getPipeline)
	// Review and delivery data (reviews.go, delivery.go).
	api("GET /api/v4/projects/{id}/merge_requests/{iid}/notes", accessRead, s.listMRNotes)
	api("GET /api/v4/projects/{id}/merge_requests/{iid}/discussions", accessRead, gate(s.ver.hasDiscussions(), s.listMRDiscussions))
	api("GET /api/v4/projects/{id}/merge_requests/{iid}/approvals", accessRead, gate(s.approvalsExist(), s.getMRApprovals))
	api("GET /api/v4/projects/{id}/merge_requests/{iid}/commits", accessRead, s.listMRCommits)
	api("GET /api/v4/projects/{id}/jobs", accessRead, s.listProjectJobs)
	api("GET /api/v4/projects/{id}/pipelines/{pid}/jobs", accessRead, s.listPipelineJobs)
	api("GET /api/v4/projects/{id}/environments", accessRead, s.listEnvironments)
	api("GET /api/v4/projects/{id}/deployments", accessRead, s.listDeployments)
	api("GET /api/v4/projects/{id}/releases", accessRead, gate(s.ver.hasReleases(), s.listReleases))
	api("GET /api/v4/projects/{id}/repository/tags", accessRead, s.listTags)
	api("GET /api/v4/projects/{id}/repository/commits", accessRead, s.listCommits)
	api("GET /api/v4/projects/{id}/repository/branches", accessRead, s.listBranches)
	api("GET /api/v4/projects/{id}/events", accessRead, s.listEvents)
	api("GET /api/v4/projects/{id}/hooks", accessReadAuth, s.listHooks)
	api("GET /api/v4/projects/{id}/hooks/{hid}", accessReadAuth, s.getHook)
	api("POST /api/v4/projects/{id}/hooks", accessWrite, s.createHook)
	api("PUT /api/v4/projects/{id}/hooks/{hid}", accessWrite, s.updateHook)
	api("DELETE /api/v4/projects/{id}/hooks/{hid}", accessWrite, s.deleteHook)
	api("POST /api/v4/projects/{id}/hooks/{hid}/test/{trigger}", accessWrite, gate(s.ver.atLeast(16, 11), s.testHook))
	api("GET /api/v4/projects/{id}/hooks/{hid}/events", accessReadAuth, gate(s.ver.atLeast(17, 3), s.listHookEvents))
	// Resource access tokens: project (API 13.9) and group (14.7).
	api("GET /api/v4/projects/{id}/access_tokens", accessReadAuth, gate(s.ver.atLeast(13, 9), s.listProjectAccessTokens))
	api("GET /api/v4/groups/{id}/access_tokens", accessReadAuth, gate(s.ver.atLeast(14, 7), s.listGroupAccessTokens))
	// The Applications API (lib/api/applications.rb, 10.5+), administrators only.
	api("POST /api/v4/applications", accessWrite, gate(s.ver.atLeast(10, 5), s.createApplication))
	api("GET /api/v4/applications", accessReadAuth, gate(s.ver.atLeast(10, 5), s.listApplications))
	api("DELETE /api/v4/applications/{id}", accessWrite, gate(s.ver.atLeast(10, 5), s.deleteApplication))
	mux.Handle("/api/v4/", s.apiHandler(accessRead, func(*call) (any, error) { return nil, errNoRoute }))

	// GraphQL (graphql.go): the pipelines query labsync needs.
	mux.Handle("GET /api/graphql", s.plain(s.serveGraphQL))
	mux.Handle("POST /api/graphql", s.plain(s.serveGraphQL))

	mux.Handle("GET /oauth/authorize", s.plain(s.oauthAuthorizePage))
	mux.Handle("POST /oauth/authorize", s.plain(s.oauthAuthorizeDecide))
	mux.Handle("POST /oauth/token", s.plain(s.oauthToken))
	mux.Handle("POST /oauth/revoke", s.plain(s.oauthRevoke))
	mux.Handle("GET /oauth/token/info", s.plain(s.oauthTokenInfo))

	mux.Handle("/", s.plain(s.serveGit)) // /<path_with_namespace>.git/…, else 404
	s.adminRoutes(mux)
	mux.Handle("GET /{$}", s.plain(s.homePage))
	return mux
}

// plain wraps non-API endpoints (OAuth, admin, pages): logging and latency only.
func (s *Sandbox) plain(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		start := s.clock()
		if !s.delay(r) {
			return
		}
		h(rec, r)
		s.logRequest(RequestLogEntry{Method: r.Method, Route: r.Pattern, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rec.statusOr200(), Time: start})
	})
}

func (r *statusRecorder) statusOr200() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// delay applies latency; it reports false when the client went away.
func (s *Sandbox) delay(r *http.Request) bool {
	d := s.cfg.Latency + s.faults.Load().Latency
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Sandbox) apiHandler(a access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		start := s.clock()
		defer func() {
			s.logRequest(RequestLogEntry{Method: r.Method, Route: r.Pattern, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rec.statusOr200(), Time: start})
		}()
		s.serveAPI(rec, r, a, h)
	})
}

func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request, a access, h handlerFunc) {
	if !s.delay(r) {
		w.WriteHeader(499) // client closed request, as nginx logs it
		return
	}
	f := s.faults.Load()
	if f.StallRate > 0 && rand.Float64() < f.StallRate {
		t := time.NewTimer(f.StallFor)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			w.WriteHeader(499)
			return
		}
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		if rand.IntN(2) == 0 {
			writeErr(w, msgErr(http.StatusInternalServerError, "500 Internal Server Error"))
		} else {
			writeErr(w, &apiError{status: http.StatusBadGateway, text: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"})
		}
		return
	}
	c := &call{s: s, w: w, r: r}
	tokValue := tokenFromRequest(r)
	if err := s.rate.check(s, w, r, tokValue); err != nil {
		writeErr(w, err)
		return
	}
	if tokValue != "" {
		t, err := s.authenticate(tokValue)
		if err != nil {
			writeErr(w, err)
			return
		}
		c.tok, c.user = t, t.user
		if err := checkScope(t, r.Method, a, s.ver.hasReadAPI()); err != nil {
			writeErr(w, err)
			return
		}
	} else if a != accessRead {
		writeErr(w, errUnauthorized)
		return
	}
	if s.dotcom {
		who := "ip:" + clientIP(r)
		if c.user != nil {
			who = fmt.Sprintf("user:%d", c.user.id)
		}
		if err := s.endpoints.check(s.clock(), r.Pattern, who, c.user == nil); err != nil {
			writeErr(w, err)
			return
		}
	}
	s.reap()
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		s.mu.RLock()
	} else {
		s.mu.Lock()
	}
	out, err := h(c)
	deferred, isDeferred := out.(afterUnlock)
	var body []byte
	if err == nil && out != nil && !isDeferred {
		body, err = json.Marshal(out) // under the lock: out may point into live data
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		s.mu.RUnlock()
	} else {
		s.mu.Unlock()
	}
	if isDeferred && err == nil {
		// Outgoing requests (a test delivery) run without the lock.
		if out, err = deferred(); err == nil && out != nil {
			body, err = json.Marshal(out)
		}
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	status := http.StatusOK
	if sc, ok := out.(statusCoder); ok {
		status = sc.statusCode()
		body, _ = json.Marshal(sc.payload())
		if sc.payload() == nil {
			body = nil
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=0, private, must-revalidate")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.WriteHeader(status)
	if r.Method != http.MethodHead && body != nil {
		_, _ = w.Write(body)
	}
}

// statusCoder lets a handler answer something else than 200.
type statusCoder interface {
	statusCode() int
	payload() any
}

type withStatus struct {
	code int
	v    any
}

func (w withStatus) statusCode() int { return w.code }
func (w withStatus) payload() any    { return w.v }

func writeErr(w http.ResponseWriter, err error) {
	ae, ok := err.(*apiError)
	if !ok {
		ae = msgErr(http.StatusInternalServerError, "500 Internal Server Error")
	}
	for k, v := range ae.header {
		w.Header()[k] = v
	}
	if ae.text != "" {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/html")
		}
		w.WriteHeader(ae.status)
		_, _ = w.Write([]byte(ae.text))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.status)
	_ = json.NewEncoder(w).Encode(ae.body)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func tokenFromRequest(r *http.Request) string {
	if v := r.Header.Get("Private-Token"); v != "" {
		return v
	}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	q := r.URL.Query()
	if v := q.Get("private_token"); v != "" {
		return v
	}
	return q.Get("access_token")
}

// rateLimiter is GitLab's fixed-window throttle: at most limit requests per
// identifier in each 60-second window aligned to the Unix epoch.
type rateLimiter struct {
	mu      sync.Mutex
	windows map[string]*rateWindow
}

type rateWindow struct {
	start int64
	count int
}

func (l *rateLimiter) check(s *Sandbox, w http.ResponseWriter, r *http.Request, tok string) *apiError {
	limit := s.cfg.RateLimitPerMin
	if limit <= 0 {
		return nil
	}
	key, name := "token:"+tok, "throttle_authenticated_api"
	if tok == "" {
		key, name = "ip:"+clientIP(r), "throttle_unauthenticated_api"
		if s.dotcom { // GitLab.com: 500 unauthenticated requests per IP and minute
			limit = min(limit, dotcomUnauthenticatedLimit)
		}
	}
	now := s.clock().Unix()
	start := now - now%60
	l.mu.Lock()
	if l.windows == nil {
		l.windows = map[string]*rateWindow{}
	}
	win := l.windows[key]
	if win == nil || win.start != start {
		win = &rateWindow{start: start}
		l.windows[key] = win
	}
	win.count++
	observed := win.count
	l.mu.Unlock()
	reset := time.Unix(start+60, 0).UTC()
	h := w.Header()
	if !s.ver.hasRateLimitHeaders() {
		// Rack::Attack's own answer before GitLab added its headers.
		if observed <= limit {
			return nil
		}
		h.Set("Content-Type", "text/plain")
		return &apiError{status: http.StatusTooManyRequests, text: "Retry later\n"}
	}
	h.Set("RateLimit-Limit", fmt.Sprint(limit))
	h.Set("RateLimit-Observed", fmt.Sprint(observed))
	h.Set("RateLimit-Remaining", fmt.Sprint(max(limit-observed, 0)))
	h.Set("RateLimit-Reset", fmt.Sprint(reset.Unix()))
	h.Set("RateLimit-ResetTime", reset.Format(http.TimeFormat))
	if observed <= limit {
		return nil
	}
	h.Set("RateLimit-Name", name)
	h.Set("Retry-After", fmt.Sprint(start+60-now))
	h.Set("Content-Type", "text/plain")
	return &apiError{status: http.StatusTooManyRequests, text: "Retry later\n"}
}

// scopesFor lists the scopes that satisfy an access kind for a method, in
// the order GitLab names them in insufficient_scope errors.
// Before 12.10 there is no read_api: reads need api (or read_user for the
// user endpoints).
func scopesFor(method string, a access, readAPI bool) []string {
	read := method == http.MethodGet || method == http.MethodHead
	switch {
	case a == accessWrite || !read:
		return []string{"api"}
	case a == accessUserRead && readAPI:
		return []string{"api", "read_api", "read_user"}
	case a == accessUserRead:
		return []string{"api", "read_user"}
	case readAPI:
		return []string{"api", "read_api"}
	default:
		return []string{"api"}
	}
}

func checkScope(t *token, method string, a access, readAPI bool) *apiError {
	if a == accessAnyScope {
		return nil
	}
	want := scopesFor(method, a, readAPI)
	for _, sc := range t.scopes {
		if slices.Contains(want, sc) {
			return nil
		}
	}
	return bearerErr(http.StatusForbidden, "insufficient_scope",
		"The request requires higher privileges than provided by the access token.", map[string]any{"scope": strings.Join(want, " ")})
}
