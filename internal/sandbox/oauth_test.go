package sandbox

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const testRedirect = "http://127.0.0.1:8787/api/v1/connectors/gitlab/callback"

func oauthConfig(sb *Sandbox) *oauth2.Config {
	id, secret := sb.OAuthApp()
	return &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: testRedirect, Scopes: []string{"api"},
		Endpoint: oauth2.Endpoint{AuthURL: sb.URL() + "/oauth/authorize", TokenURL: sb.URL() + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// consent does what a person does in a browser: open the consent page and
// press Authorize (or Deny). It returns the redirect's query.
func consent(t *testing.T, authURL, decision string) url.Values {
	t.Helper()
	page := do(t, noRedirect, http.MethodGet, authURL, "", "")
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `id="authorize"`) {
		t.Fatalf("consent page: %d %s", page.status, page.body)
	}
	u, _ := url.Parse(authURL)
	form := u.Query()
	form.Set("decision", decision)
	form.Set("sandbox_user", "root")
	resp, err := noRedirect.PostForm(u.Scheme+"://"+u.Host+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %s, want %s", got, testRedirect)
	}
	return loc.Query()
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestOAuth(t *testing.T) {
	ctx := context.Background()
	sb := start(t, Config{Version: "17.11", Seed: 1, Projects: 2})
	cfg := oauthConfig(sb)

	t.Run("authorization code with PKCE S256", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		q := consent(t, cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)), "approve")
		if q.Get("state") != "st4te" || q.Get("code") == "" {
			t.Fatalf("redirect query %v", q)
		}
		if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("wrong verifier: %v, want invalid_grant", err)
		}
		// The code survives a failed verifier attempt? GitLab (Doorkeeper) keeps
		// it until used; a fresh consent keeps the test independent of that.
		q = consent(t, cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)), "approve")
		tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.Extra("expires_in") != float64(7200) || tok.RefreshToken == "" {
			t.Errorf("token response: expires_in %v, refresh %q", tok.Extra("expires_in"), tok.RefreshToken)
		}
		if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("second use of a code: %v, want invalid_grant", err)
		}
		r := do(t, nil, http.MethodGet, sb.URL()+"/api/v4/user", "", "")
		req, _ := http.NewRequest(http.MethodGet, sb.URL()+"/api/v4/user", nil)
		tok.SetAuthHeader(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 || r.status != 401 {
			t.Fatalf("/user with OAuth token: %v %v (anonymous %d)", resp.StatusCode, err, r.status)
		}
		resp.Body.Close()

		info := do(t, nil, http.MethodGet, sb.URL()+"/oauth/token/info?access_token="+tok.AccessToken, "", "").json(t)
		if info["resource_owner_id"] != float64(1) || info["expires_in"].(float64) > 7200 || info["application"].(map[string]any)["uid"] != cfg.ClientID {
			t.Errorf("token/info %v", info)
		}

		// Refresh rotates: the new pair works, the old refresh token is refused.
		fresh, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
			t.Fatalf("refresh: %v", err)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("reused refresh token: %v, want invalid_grant", err)
		}
		if r := get(t, sb, "/api/v4/user?access_token="+tok.AccessToken, ""); r.status != 401 {
			t.Errorf("access token replaced by refresh still works: %d", r.status)
		}

		// Revoke, then token/info and the API refuse it.
		resp, err = http.PostForm(sb.URL()+"/oauth/revoke", url.Values{"token": {fresh.AccessToken}, "client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret}})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revoke: %v %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		if r := do(t, nil, http.MethodGet, sb.URL()+"/oauth/token/info?access_token="+fresh.AccessToken, "", ""); r.status != 401 {
			t.Errorf("token/info after revoke: %d", r.status)
		}
		r = get(t, sb, "/api/v4/user?access_token="+fresh.AccessToken, "")
		if r.status != 401 || !strings.Contains(string(r.body), "Token was revoked") {
			t.Errorf("API after revoke: %d %s", r.status, r.body)
		}
	})

	t.Run("redirect URI must match exactly", func(t *testing.T) {
		for _, uri := range []string{testRedirect + "/", testRedirect + "?x=1", strings.Replace(testRedirect, "127.0.0.1", "localhost", 1)} {
			c := *cfg
			c.RedirectURL = uri
			r := do(t, noRedirect, http.MethodGet, c.AuthCodeURL("s"), "", "")
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "The redirect URI included is not valid.") {
				t.Errorf("%s: %d %s", uri, r.status, r.body)
			}
		}
	})

	t.Run("code bound to its redirect URI", func(t *testing.T) {
		q := consent(t, cfg.AuthCodeURL("s"), "approve")
		c := *cfg
		c.RedirectURL = testRedirect + "/other"
		if _, err := c.Exchange(ctx, q.Get("code")); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("exchange with another redirect_uri: %v", err)
		}
	})

	t.Run("deny", func(t *testing.T) {
		q := consent(t, cfg.AuthCodeURL("s"), "deny")
		if q.Get("error") != "access_denied" || q.Get("state") != "s" {
			t.Errorf("deny redirect %v", q)
		}
	})

	t.Run("wrong client secret", func(t *testing.T) {
		q := consent(t, cfg.AuthCodeURL("s"), "approve")
		c := *cfg
		c.ClientSecret = "nope"
		if _, err := c.Exchange(ctx, q.Get("code")); oauthErrorCode(err) != "invalid_client" {
			t.Errorf("wrong secret: %v", err)
		}
	})

	t.Run("no expiry before 15.0", func(t *testing.T) {
		old := start(t, Config{Version: "14.10", Seed: 1, Projects: 1})
		c := oauthConfig(old)
		tok, err := c.Exchange(ctx, consent(t, c.AuthCodeURL("s"), "approve").Get("code"))
		if err != nil || tok.Extra("expires_in") != nil {
			t.Errorf("14.10 token: %v, expires_in %v", err, tok.Extra("expires_in"))
		}
	})
}
