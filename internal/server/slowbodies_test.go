package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/server"
	"github.com/labsync/labsync/internal/store/storetest"
)

// serveWithLimits runs a server with routes that read their whole body,
// as sign-in and the webhook receiver do, under limits l.
func serveWithLimits(t *testing.T, l server.BodyLimits) string {
	t.Helper()
	st := storetest.Open(t)
	srv := server.New(st, slog.New(slog.DiscardHandler))
	srv.SetBodyLimits(l)
	readAll := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "unable to read the body", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "ok")
	})
	srv.Handle("POST /signin", readAll)
	srv.Handle("POST /api/v1/webhooks/gitlab/{hook_id}", readAll)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// trickle opens a connection that sends a request's headers and then its
// body one byte at a time, and reports whether the server closed the
// connection before the client's own bound (wait) ran out.
func trickle(t *testing.T, addr, path string, wait time.Duration) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", path)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range 1000 {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(wait))
	_, err = io.Copy(io.Discard, bufio.NewReader(c))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("still open after %s", wait)
	}
	return nil // EOF or reset: the server hung up
}

func TestFiftySlowBodiesAreAllCutOffAfterTheReadTimeout(t *testing.T) {
	addr := serveWithLimits(t, server.BodyLimits{ReadTimeout: 200 * time.Millisecond, MaxReading: 100})
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		path := "/signin"
		if i%2 == 1 {
			path = "/api/v1/webhooks/gitlab/abc"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The client's bound is far above the server's timeout; it
			// only keeps a failing test from hanging.
			errs[i] = trickle(t, addr, path, 15*time.Second)
		}()
	}
	wg.Wait()
	open := 0
	for i, err := range errs {
		if err != nil {
			open++
			t.Logf("connection %d: %v", i, err)
		}
	}
	if open > 0 {
		t.Fatalf("%d of %d slow bodies were not cut off", open, n)
	}
}

func TestABodyThatArrivesInTimeIsServedAndTheConnectionKeptAlive(t *testing.T) {
	addr := serveWithLimits(t, server.BodyLimits{ReadTimeout: 2 * time.Second, MaxReading: 4})
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 3 {
		res, err := client.Post("http://"+addr+"/signin", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, b)
		}
	}
}

func TestBodiesBeyondTheConcurrentLimitAreRefusedAt503(t *testing.T) {
	addr := serveWithLimits(t, server.BodyLimits{ReadTimeout: 5 * time.Second, MaxReading: 2})
	// Two stalled bodies hold both slots.
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /signin HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var status int
	for range 100 { // the stalled requests reach the handler soon; bounded
		res, err := client.Post("http://"+addr+"/signin", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if status = res.StatusCode; status == http.StatusServiceUnavailable {
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("a third body while two stall got %d, want 503", status)
}
