package sandbox

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// consentAs opens the consent page for authURL and presses Authorize as a
// person would; it returns the status of the page and, when it was the
// consent form, the redirect the decision led to.
func consentAs(t *testing.T, authURL string) (int, *url.URL) {
	t.Helper()
	page := do(t, noRedirect, http.MethodGet, authURL, "", "")
	if page.status == http.StatusFound {
		loc, _ := url.Parse(page.header.Get("Location"))
		return page.status, loc
	}
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `id="authorize"`) {
		return page.status, nil
	}
	u, _ := url.Parse(authURL)
	form := u.Query()
	form.Set("decision", "approve")
	form.Set("sandbox_user", "root")
	resp, err := noRedirect.PostForm(u.Scheme+"://"+u.Host+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	return resp.StatusCode, loc
}

func TestTheSandboxOAuthApplicationGrantsEveryScopeTheVersionOffers(t *testing.T) {
	cases := []struct {
		version string
		scope   string
		ok      bool
	}{
		{"17.11", "read_api read_user read_repository", true},
		{"19.0", "read_api read_user read_repository", true},
		{"19.0", "openid profile email", true},
		{"19.0", "api write_repository", true},
		{"12.10", "read_api read_user read_repository", true},
		{"11.0", "write_repository", false}, // 11.11
		{"11.0", "read_api", false},         // 12.10
		{"10.8", "api read_user read_repository openid", true},
		{"17.11", "no_such_scope", false},
	}
	for _, tc := range cases {
		t.Run(tc.version+" "+tc.scope, func(t *testing.T) {
			sb := start(t, Config{Version: tc.version, Seed: 1, Projects: 1})
			id, secret := sb.OAuthApp()
			cfg := &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: DefaultRedirectURI, Scopes: strings.Fields(tc.scope),
				Endpoint: oauth2.Endpoint{AuthURL: sb.URL() + "/oauth/authorize", TokenURL: sb.URL() + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
			_, loc := consentAs(t, cfg.AuthCodeURL("st"))
			if loc == nil {
				t.Fatal("no redirect back to labsync")
			}
			q := loc.Query()
			if !tc.ok {
				if q.Get("error") != "invalid_scope" {
					t.Fatalf("redirect %v, want error=invalid_scope", q)
				}
				return
			}
			if q.Get("code") == "" {
				t.Fatalf("redirect %v, want a code", q)
			}
			tok, err := cfg.Exchange(context.Background(), q.Get("code"))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if got := tok.Extra("scope"); got != tc.scope {
				t.Errorf("token scope %q, want %q", got, tc.scope)
			}
		})
	}
}

func TestTheOAuthApplicationAcceptsTheConfiguredRedirectURIsOnly(t *testing.T) {
	mine := []string{"http://127.0.0.1:9090/api/v1/connectors/gitlab/callback", "https://labsync.example.com/api/v1/connectors/gitlab/callback"}
	sb := start(t, Config{Seed: 1, Projects: 1, RedirectURIs: mine})
	if got := sb.OAuthRedirectURIs(); strings.Join(got, " ") != strings.Join(mine, " ") {
		t.Fatalf("OAuthRedirectURIs = %v, want %v", got, mine)
	}
	id, _ := sb.OAuthApp()
	for _, tc := range []struct {
		name, redirect string
		ok             bool
	}{
		{"first configured", mine[0], true},
		{"second configured", mine[1], true},
		{"the default one is not registered any more", DefaultRedirectURI, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"client_id": {id}, "redirect_uri": {tc.redirect}, "response_type": {"code"}, "scope": {"read_api"}, "state": {"s"}}
			status, loc := consentAs(t, sb.URL()+"/oauth/authorize?"+q.Encode())
			if !tc.ok {
				if status != http.StatusBadRequest {
					t.Fatalf("status %d, want the 400 error page (The redirect URI included is not valid.)", status)
				}
				return
			}
			if loc == nil || loc.Scheme+"://"+loc.Host+loc.Path != tc.redirect || loc.Query().Get("code") == "" {
				t.Fatalf("status %d, redirect %v", status, loc)
			}
		})
	}
}

func TestTheApplicationsAPIRegistersListsAndDeletesOAuthApplicationsForAdministrators(t *testing.T) {
	ctx := context.Background()
	sb := start(t, Config{Version: "17.11", Seed: 1, Projects: 1})
	admin := sb.AdminToken()
	redirect := "http://127.0.0.1:9191/api/v1/connectors/gitlab/callback"

	created := do(t, nil, http.MethodPost, sb.URL()+"/api/v4/applications", admin,
		`{"name":"labsync 2","redirect_uri":"`+redirect+`","scopes":"read_api read_user read_repository"}`)
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	app := created.json(t)
	appID, secret := app["application_id"].(string), app["secret"].(string)
	if appID == "" || !strings.HasPrefix(secret, "gloas-") || app["callback_url"] != redirect || app["confidential"] != true {
		t.Fatalf("created application %v", app)
	}

	cfg := &oauth2.Config{ClientID: appID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"read_api", "read_repository"},
		Endpoint: oauth2.Endpoint{AuthURL: sb.URL() + "/oauth/authorize", TokenURL: sb.URL() + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	_, loc := consentAs(t, cfg.AuthCodeURL("x"))
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("consent with the new application: %v", loc)
	}
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if r := get(t, sb, "/api/v4/projects", "x"); r.status != http.StatusUnauthorized {
		t.Fatalf("an unknown token read projects: %d", r.status)
	}
	bearer := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, sb.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return do2(t, req).status
	}
	if st := bearer("/api/v4/projects"); st != http.StatusOK {
		t.Fatalf("the new application's token: %d", st)
	}

	list := do(t, nil, http.MethodGet, sb.URL()+"/api/v4/applications", admin, "")
	var apps []map[string]any
	mustJSON(t, list.body, &apps)
	if list.status != http.StatusOK || len(apps) != 2 {
		t.Fatalf("list: %d, %d applications, want the default one and the new one", list.status, len(apps))
	}
	for _, a := range apps {
		if _, ok := a["secret"]; ok {
			t.Errorf("the list shows a secret: %v", a)
		}
	}

	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"a scope GitLab does not offer", `{"name":"x","redirect_uri":"` + redirect + `","scopes":"read_everything"}`, http.StatusBadRequest},
		{"no name", `{"redirect_uri":"` + redirect + `","scopes":"api"}`, http.StatusBadRequest},
		{"blank scopes", `{"name":"x","redirect_uri":"` + redirect + `","scopes":""}`, http.StatusBadRequest},
		{"a relative redirect URI", `{"name":"x","redirect_uri":"/callback","scopes":"api"}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := do(t, nil, http.MethodPost, sb.URL()+"/api/v4/applications", admin, tc.body); r.status != tc.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tc.status)
			}
		})
	}

	alice := sb.CreateToken(TokenSpec{User: "alice", Scopes: []string{"api"}})
	if r := do(t, nil, http.MethodGet, sb.URL()+"/api/v4/applications", alice, ""); r.status != http.StatusForbidden {
		t.Fatalf("a non-administrator listed applications: %d", r.status)
	}

	del := do(t, nil, http.MethodDelete, sb.URL()+"/api/v4/applications/"+itoa(int(app["id"].(float64))), admin, "")
	if del.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", del.status, del.body)
	}
	if st := bearer("/api/v4/projects"); st != http.StatusUnauthorized {
		t.Fatalf("a deleted application's token still reads: %d", st)
	}
	if r := do(t, nil, http.MethodDelete, sb.URL()+"/api/v4/applications/"+itoa(int(app["id"].(float64))), admin, ""); r.status != http.StatusNotFound {
		t.Fatalf("deleting again: %d, want 404", r.status)
	}
}

func TestTheApplicationsAPIIsRefusedOnGitLabComWhereNobodyIsAnAdministrator(t *testing.T) {
	sb := start(t, Config{Profile: ProfileGitLabCom, Seed: 1, Projects: 2, PublicProjects: 100})
	r := do(t, nil, http.MethodPost, sb.URL()+"/api/v4/applications", sb.UserToken(), `{"name":"x","redirect_uri":"http://127.0.0.1:1/cb","scopes":"api"}`)
	if r.status != http.StatusForbidden {
		t.Fatalf("status %d, want 403", r.status)
	}
}
