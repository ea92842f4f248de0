// Package server is labsync's HTTP front: it owns the listener, the mux, the
// operational endpoints (/healthz, /readyz, /metrics) and graceful shutdown.
// Feature handlers (API, UI, webhooks) mount on it through Handle; it never
// logs request bodies or headers, which may carry secrets.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/buildinfo"
	"github.com/labsync/labsync/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves labsync over HTTP.
type Server struct {
	mux      *http.ServeMux
	store    *store.Store
	log      *slog.Logger
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	prefixes []prefixHandler
	// bodyLimits bound slow request bodies (slowbodies.go).
	bodyLimits BodyLimits
}

// New returns a server with the operational endpoints mounted.
func New(st *store.Store, log *slog.Logger) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "labsync_build_info", Help: "Version and commit of the running binary; always 1.",
	}, []string{"version", "commit", "dialect"})
	build.WithLabelValues(buildinfo.Version, buildinfo.CommitOrUnknown(), string(st.Dialect())).Set(1)
	s := &Server{
		mux:      http.NewServeMux(),
		store:    st,
		log:      log,
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labsync_http_requests_total", Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "labsync_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route"}),
	}
	reg.MustRegister(build, s.requests, s.latency)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s
}

// Registry is where feature packages register their metrics.
func (s *Server) Registry() prometheus.Registerer { return s.registry }

// Handle mounts h on a method-and-path pattern of net/http.ServeMux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandlePrefix sends every request whose path starts with prefix to h as it
// came, before the mux sees it: ServeMux answers paths with "." or ".."
// segments or repeated slashes with a redirect to the cleaned path, and a
// handler that must refuse such paths itself (Git under /git/: 404) mounts
// here. Call it before serving.
func (s *Server) HandlePrefix(prefix string, h http.Handler) {
	s.prefixes = append(s.prefixes, prefixHandler{prefix, h})
}

type prefixHandler struct {
	prefix string
	h      http.Handler
}

// Handler is the whole server with its request instrumentation.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		served := false
		for _, p := range s.prefixes {
			if strings.HasPrefix(r.URL.Path, p.prefix) || strings.HasPrefix(r.URL.EscapedPath(), p.prefix) {
				r.Pattern = p.prefix
				p.h.ServeHTTP(rec, r)
				served = true
				break
			}
		}
		if !served {
			s.mux.ServeHTTP(rec, r)
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		s.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		if rec.code >= 500 {
			s.log.Error("request failed", "method", r.Method, "route", route, "status", rec.code)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only when the database answers and its schema is at
// head: a replica that cannot serve correctly leaves the load balancer.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database unreachable"})
		return
	}
	st, err := s.store.MigrationStatus(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "schema version unreadable"})
		return
	}
	if !st.AtHead() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "migrations pending", "migrations": st})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "dialect": s.store.Dialect(), "migrations": st})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Serve answers on ln until ctx ends, then stops accepting, lets in-flight
// requests finish for up to drain, and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	hs := &http.Server{
		Handler:           limitBodies(s.Handler(), s.bodyLimits),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests", "timeout", drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("server: shutdown did not drain within %s: %w", drain, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}
