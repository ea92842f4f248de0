package integrations

// Revoking an OAuth token at GitLab: on disconnect, and when a connection
// fails after GitLab granted a token.

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/store"
)

// revokeAt revokes a pair at GitLab (refresh token, then access token); it
// reports the first failure.
func (s *Service) revokeAt(ctx context.Context, hc *http.Client, base gitlab.BaseURL, clientID, clientSecret string, p tokenPair) error {
	ctx, cancel := context.WithTimeout(ctx, s.netTimeout)
	defer cancel()
	var first error
	for _, t := range []struct{ v, hint string }{{p.RefreshToken, "refresh_token"}, {p.AccessToken, "access_token"}} {
		if t.v == "" {
			continue
		}
		form := url.Values{"token": {t.v}, "token_type_hint": {t.hint}, "client_id": {clientID}, "client_secret": {clientSecret}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.URL("/oauth/revoke"), strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			if first == nil {
				first = fromAPIError(gitlab.ClassifyError(err), "revoking the OAuth token failed")
			}
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if ae := gitlab.Classify(resp, body); ae != nil && first == nil {
			first = fromAPIError(ae, "GitLab refused to revoke the OAuth token")
		}
	}
	return first
}

// revokeIntegration revokes the OAuth token of integration i at GitLab; it
// reports whether GitLab confirmed it and, if not, why.
func (s *Service) revokeIntegration(ctx context.Context, i store.Integration) (bool, string) {
	cred, err := s.st.Credential(ctx, i.OrgID, i.ID)
	if err != nil {
		return false, "no credential to revoke"
	}
	p, err := s.openPair(ctx, i.OrgID, i.ID, cred)
	if err != nil {
		return false, "the stored token could not be opened"
	}
	conf, hc, err := s.oauthConfigFor(ctx, i)
	if err != nil {
		return false, err.Error()
	}
	base, _ := gitlab.NormalizeBaseURL(i.BaseURL)
	if err := s.revokeAt(ctx, hc, base, conf.ClientID, conf.ClientSecret, p); err != nil {
		return false, err.Error()
	}
	return true, ""
}
