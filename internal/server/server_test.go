package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/server"
	"github.com/labsync/labsync/internal/store/storetest"
)

func TestHealthReadyMetrics(t *testing.T) {
	st := storetest.Open(t)
	srv := server.New(st, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	for _, c := range []struct{ path, want string }{
		{"/healthz", `"ok"`},
		{"/readyz", `"ready"`},
		{"/metrics", "labsync_build_info"},
	} {
		t.Run(c.path, func(t *testing.T) {
			res, err := http.Get(ts.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(b), c.want) {
				t.Fatalf("%s: %d %s", c.path, res.StatusCode, b)
			}
		})
	}
	res, _ := http.Get(ts.URL + "/metrics")
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `labsync_http_requests_total{code="200",route="GET /healthz"}`) {
		t.Fatalf("request metric missing:\n%.2000s", b)
	}
}

func TestReadyzIs503WhenTheDatabaseIsGone(t *testing.T) {
	st := storetest.Open(t)
	srv := server.New(st, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	st.Close()
	res, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || body["reason"] != "database unreachable" {
		t.Fatalf("got %d %v", res.StatusCode, body)
	}
	// Liveness is about the process, not the database.
	if res, _ := http.Get(ts.URL + "/healthz"); res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	st := storetest.Open(t)
	srv := server.New(st, slog.New(slog.DiscardHandler))
	started := make(chan struct{})
	srv.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "finished")
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()

	got := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	if body := <-got; body != "finished" {
		t.Fatalf("in-flight request got %q", body)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestAPrefixHandlerGetsDotSegmentsUncleanedWhereTheMuxWouldRedirect(t *testing.T) {
	st := storetest.Open(t)
	srv := server.New(st, slog.New(slog.DiscardHandler))
	var got []string
	srv.HandlePrefix("/git/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath())
		http.NotFound(w, r)
	}))
	srv.Handle("/", http.NotFoundHandler())
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	for _, path := range []string{"/git/1/../2/x.git/info/refs", "/git/1//etc/x.git/info/refs", "/git/1/%2e%2e/x.git/info/refs"} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", hs.URL+"/", nil)
			req.URL.Opaque = path // sent as written, not cleaned by the client
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || len(got) == 0 || got[len(got)-1] != path {
				t.Errorf("%s: status %d, handler saw %q; want 404 from the prefix handler with the path as sent", path, resp.StatusCode, got)
			}
		})
	}
}
