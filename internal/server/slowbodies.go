package server

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// BodyLimits bound how long and how many clients may take to send request
// bodies, so that slow or stalled uploads cannot hold connections and
// goroutines open indefinitely. Request headers are bounded separately
// (ReadHeaderTimeout, 10 s).
type BodyLimits struct {
	// ReadTimeout is how long after its headers a request's whole body
	// may take to arrive; a client still sending then is cut off (its
	// body reads fail and the connection is closed). Default 10 s: GitLab
	// waits 10 s for a webhook's answer, so a delivery slower than that
	// has failed on GitLab's side anyway and will be retried.
	ReadTimeout time.Duration
	// MaxReading is how many requests may be receiving a body at once;
	// a request with a body beyond that is answered 503 with Retry-After
	// and the connection closed, before any of its body is read. Default
	// 512.
	MaxReading int
}

// DefaultBodyLimits are the limits Serve applies unless SetBodyLimits
// changed them.
var DefaultBodyLimits = BodyLimits{ReadTimeout: 10 * time.Second, MaxReading: 512}

func (l BodyLimits) withDefaults() BodyLimits {
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultBodyLimits.ReadTimeout
	}
	if l.MaxReading <= 0 {
		l.MaxReading = DefaultBodyLimits.MaxReading
	}
	return l
}

// SetBodyLimits replaces the body limits Serve applies; call it before
// Serve. Zero fields keep their defaults.
func (s *Server) SetBodyLimits(l BodyLimits) { s.bodyLimits = l.withDefaults() }

// limitBodies wraps h so that every request with a body must deliver it
// within l.ReadTimeout, and at most l.MaxReading requests receive bodies
// at once. The read deadline is set on the connection through
// http.ResponseController and cleared once the body has been read, so a
// handler that keeps answering after that (a stream) is not cut off.
func limitBodies(h http.Handler, l BodyLimits) http.Handler {
	l = l.withDefaults()
	slots := make(chan struct{}, l.MaxReading)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests are sending a body at once; retry shortly", http.StatusServiceUnavailable)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(l.ReadTimeout))
		b := &deadlineBody{ReadCloser: r.Body,
			lift:    func() { _ = rc.SetReadDeadline(time.Time{}) },
			release: func() { <-slots }}
		// Whatever the handler read, the slot is freed when it returns; the
		// deadline stays for the server's draining of an unread body.
		defer b.finish(false)
		r.Body = b
		h.ServeHTTP(w, r)
	})
}

// deadlineBody frees its slot and lifts the read deadline once the body
// is read to its end.
type deadlineBody struct {
	io.ReadCloser
	once          sync.Once
	lift, release func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.finish(true)
	}
	return n, err
}

// finish frees the slot, once; lift says whether to lift the deadline too
// (only after the whole body arrived).
func (b *deadlineBody) finish(lift bool) {
	b.once.Do(func() {
		if lift {
			b.lift()
		}
		b.release()
	})
}
