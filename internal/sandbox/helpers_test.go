package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// start runs a sandbox for the test and closes it at cleanup.
func start(t *testing.T, cfg Config) *Sandbox {
	t.Helper()
	sb, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

// client is the official Go client pointed at the sandbox.
func client(t *testing.T, sb *Sandbox, token string) *gitlab.Client {
	t.Helper()
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(sb.URL()+"/api/v4"), gitlab.WithoutRetries())
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r rawResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends one request with the token in Private-Token (when not empty).
func do(t *testing.T, hc *http.Client, method, url, token, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Private-Token", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, resp.Header, b}
}

func get(t *testing.T, sb *Sandbox, path, token string) rawResponse {
	t.Helper()
	return do(t, nil, http.MethodGet, sb.URL()+path, token, "")
}

func scan[T any](t *testing.T, what string, f func(p gitlab.PaginationOptionFunc) ([]T, *gitlab.Response, error)) int {
	t.Helper()
	n := 0
	for _, err := range gitlab.Scan2(f) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		n++
	}
	return n
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
}

func contains[T comparable](xs []T, x T) bool { return slices.Contains(xs, x) }
