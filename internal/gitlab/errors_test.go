package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
	"github.com/labsync/labsync/internal/secret"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		kind    Kind
		scopes  []string
		retry   time.Duration
		message string // must appear in GitLabMessage
	}{
		{"expired token", 401, nil, gitlabtest.BodyExpired, KindTokenExpired, nil, 0, "Token is expired"},
		{"revoked token", 401, nil, gitlabtest.BodyRevoked, KindTokenRevoked, nil, 0, "Token was revoked"},
		{"plain 401", 401, nil, gitlabtest.BodyUnauthorized, KindTokenInvalid, nil, 0, "401 Unauthorized"},
		{"bad access token", 401, nil, `{"error":"invalid_token","error_description":"Bad Access Token."}`, KindTokenInvalid, nil, 0, "Bad Access Token"},
		{"expired from header only", 401, http.Header{"Www-Authenticate": {`Bearer realm="", error="invalid_token", error_description="Token is expired. You can either do re-authorization or token refresh."`}}, ``, KindTokenExpired, nil, 0, ""},
		{"insufficient scope", 403, nil, gitlabtest.InsufficientScopeBody("api", "read_api"), KindInsufficientScope, []string{"api", "read_api"}, 0, "higher privileges"},
		{"plain 403", 403, nil, gitlabtest.BodyForbidden, KindForbidden, nil, 0, "403 Forbidden"},
		{"404", 404, nil, `{"message":"404 Project Not Found"}`, KindNotFound, nil, 0, "Project Not Found"},
		{"429 with Retry-After", 429, http.Header{"Retry-After": {"30"}}, "Retry later\n", KindRateLimited, nil, 30 * time.Second, ""},
		{"503 with Retry-After", 503, http.Header{"Retry-After": {"5"}}, "", KindServerError, nil, 5 * time.Second, ""},
		{"502 HTML from a proxy", 502, http.Header{"Content-Type": {"text/html"}}, "<html><head><title>502 Bad Gateway</title></head></html>", KindServerError, nil, 0, "502 Bad Gateway"},
		{"422 with field errors", 422, nil, `{"message":{"url":["is blocked"]}}`, KindUnexpected, nil, 0, "url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			e := Classify(&http.Response{StatusCode: tc.status, Header: h}, []byte(tc.body))
			if e == nil {
				t.Fatal("nil")
			}
			if e.Kind != tc.kind || e.Status != tc.status {
				t.Errorf("kind %q status %d", e.Kind, e.Status)
			}
			if !slices.Equal(e.RequiredScopes, tc.scopes) {
				t.Errorf("scopes %v", e.RequiredScopes)
			}
			if e.RetryAfter != tc.retry {
				t.Errorf("retry after %s", e.RetryAfter)
			}
			if !strings.Contains(e.GitLabMessage, tc.message) {
				t.Errorf("message %q", e.GitLabMessage)
			}
			if e.Error() == "" || e.Remedy() == "" {
				t.Error("empty sentence")
			}
		})
	}
	if Classify(&http.Response{StatusCode: 200}, nil) != nil {
		t.Error("200 classified as an error")
	}
}

// TestClassifyClientErrors goes through client-go and the real transport, and
// checks that no error text carries the token.
func TestClassifyClientErrors(t *testing.T) {
	const token = "glpat-classifytesttoken01"
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the base URL
		kind  Kind
	}{
		{"expired", func(t *testing.T) string {
			return gitlabtest.Serve(t, &gitlabtest.GitLab{Token: token, TokenState: "expired", Version: "17.0.0"}).URL
		}, KindTokenExpired},
		{"revoked", func(t *testing.T) string {
			return gitlabtest.Serve(t, &gitlabtest.GitLab{Token: token, TokenState: "revoked", Version: "17.0.0"}).URL
		}, KindTokenRevoked},
		{"missing scope", func(t *testing.T) string {
			return gitlabtest.Serve(t, &gitlabtest.GitLab{Token: token, Scopes: []string{"read_repository"}, Version: "17.0.0"}).URL
		}, KindInsufficientScope},
		{"not found", func(t *testing.T) string {
			return gitlabtest.Serve(t, http.NotFoundHandler()).URL
		}, KindNotFound},
		{"connection refused", func(t *testing.T) string { return "http://" + gitlabtest.ClosedPort(t) }, KindRefused},
		{"timeout", func(t *testing.T) string { return "http://" + gitlabtest.Silent(t) }, KindTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, err := NormalizeBaseURL(tc.setup(t))
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(Options{BaseURL: base, Token: secret.New(token), Policy: AddressPolicy{AllowLoopback: true}, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = c.API().Users.CurrentUser()
			ae := ClassifyError(err)
			if ae == nil || ae.Kind != tc.kind {
				t.Fatalf("got %v (%v), want %s", ae, err, tc.kind)
			}
			for _, s := range []string{ae.Error(), ae.Remedy(), fmt.Sprintf("%+v", ae)} {
				if strings.Contains(s, token) {
					t.Errorf("token in %q", s)
				}
			}
		})
	}
	t.Run("dns", func(t *testing.T) {
		err := fmt.Errorf("get: %w", &net.DNSError{Err: "no such host", Name: "gitlab.invalid", IsNotFound: true})
		ae := ClassifyError(err)
		if ae.Kind != KindDNS || !strings.Contains(ae.Error(), "NXDOMAIN") || ae.Retryable() {
			t.Errorf("%v retryable=%v", ae, ae.Retryable())
		}
	})
	t.Run("canceled", func(t *testing.T) {
		if ae := ClassifyError(context.Canceled); ae.Kind != KindCanceled {
			t.Errorf("%v", ae.Kind)
		}
	})
	t.Run("nil", func(t *testing.T) {
		if ClassifyError(nil) != nil {
			t.Error("not nil")
		}
	})
	t.Run("already classified", func(t *testing.T) {
		in := &APIError{Kind: KindRateLimited}
		if ae := ClassifyError(fmt.Errorf("sync: %w", in)); ae != in || !errors.Is(fmt.Errorf("x: %w", in), in) {
			t.Error("not passed through")
		}
	})
}
