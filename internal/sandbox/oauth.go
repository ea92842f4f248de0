package sandbox

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// oauthAccessTokenTTL is GitLab's access token lifetime since 15.0.
const oauthAccessTokenTTL = 7200 * time.Second

type oauthApp struct {
	id           int64 // the Applications API's id (not the uid)
	uid, secret  string
	name         string
	redirects    []string
	scopes       []string
	confidential bool
}

type grant struct {
	code      string
	app       *oauthApp
	user      *user
	redirect  string
	scopes    []string
	challenge string
	method    string
	created   time.Time
}

func (s *Sandbox) newApp(name string, redirects, scopes []string) *oauthApp {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addAppLocked(name, redirects, scopes)
}

// addAppLocked registers a confidential application; s.mu must be held.
func (s *Sandbox) addAppLocked(name string, redirects, scopes []string) *oauthApp {
	secret := randomString(64)
	if s.ver.atLeast(16, 0) {
		secret = "gloas-" + secret
	}
	s.nextAppID++
	a := &oauthApp{id: s.nextAppID, uid: randomString(64), secret: secret, name: name,
		redirects: slices.Clone(redirects), scopes: slices.Clone(scopes), confidential: true}
	s.apps[a.uid] = a
	return a
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

const (
	descInvalidGrant  = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	descInvalidClient = "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."
	descInvalidURI    = "The redirect URI included is not valid."
	descDenied        = "The resource owner or authorization server denied the request."
	descBadScope      = "The requested scope is invalid, unknown, or malformed."
)

var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {{.App}} · GitLab sandbox</title>
<style>body{font-family:sans-serif;max-width:36em;margin:4em auto;color:#333}button{font-size:1em;padding:.5em 1.5em;margin-right:1em}.scope{font-family:monospace}</style></head>
<body><h1>Authorize {{.App}} to use your account?</h1>
<p>An application called <strong>{{.App}}</strong> is requesting access to your GitLab sandbox account.
It will be able to act as the user you choose below with these scopes:</p>
<ul>{{range .Scopes}}<li class="scope">{{.}}</li>{{end}}</ul>
<p>You will be redirected to <code>{{.Redirect}}</code>.</p>
<form method="post" action="/oauth/authorize">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<p><label>Sign in as <select name="sandbox_user">{{range .Users}}<option value="{{.}}">{{.}}</option>{{end}}</select></label></p>
<button type="submit" name="decision" value="approve" id="authorize">Authorize</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form></body></html>
`))

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>An error has occurred</title></head>
<body><h1>An error has occurred</h1><main role="main"><pre>{{.}}</pre></main></body></html>
`))

// authorizeRequest validates client and redirect URI; it writes the error
// page itself (as Doorkeeper does, no redirect) when they are wrong.
func (s *Sandbox) authorizeRequest(w http.ResponseWriter, form url.Values) (*oauthApp, bool) {
	s.mu.RLock()
	app := s.apps[form.Get("client_id")]
	s.mu.RUnlock()
	if app == nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_ = errorPage.Execute(w, descInvalidClient)
		return nil, false
	}
	if !slices.Contains(app.redirects, form.Get("redirect_uri")) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = errorPage.Execute(w, descInvalidURI)
		return nil, false
	}
	return app, true
}

func redirectWith(w http.ResponseWriter, r *http.Request, target string, params map[string]string) {
	u, _ := url.Parse(target)
	q := u.Query()
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *Sandbox) requestedScopes(app *oauthApp, form url.Values) ([]string, bool) {
	sc := strings.Fields(form.Get("scope"))
	if len(sc) == 0 {
		return slices.Clone(app.scopes), true
	}
	for _, x := range sc {
		if !slices.Contains(app.scopes, x) {
			return nil, false
		}
	}
	return sc, true
}

func (s *Sandbox) oauthAuthorizePage(w http.ResponseWriter, r *http.Request) {
	form := r.URL.Query()
	app, ok := s.authorizeRequest(w, form)
	if !ok {
		return
	}
	redirect, state := form.Get("redirect_uri"), form.Get("state")
	if form.Get("response_type") != "code" {
		redirectWith(w, r, redirect, map[string]string{"error": "unsupported_response_type", "error_description": "The authorization server does not support this response type.", "state": state})
		return
	}
	scopes, ok := s.requestedScopes(app, form)
	if !ok {
		redirectWith(w, r, redirect, map[string]string{"error": "invalid_scope", "error_description": descBadScope, "state": state})
		return
	}
	if m := form.Get("code_challenge_method"); form.Get("code_challenge") != "" && m != "S256" && m != "plain" && m != "" {
		redirectWith(w, r, redirect, map[string]string{"error": "invalid_request", "error_description": "The code challenge method must be plain or S256.", "state": state})
		return
	}
	hidden := map[string]string{}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method"} {
		hidden[k] = form.Get(k)
	}
	hidden["scope"] = strings.Join(scopes, " ")
	// The seeded users; on the gitlab.com profile the connected user comes
	// first and the public world's users are not offered.
	var users []string
	if s.dotcom {
		users = append(users, s.userName)
	}
	s.mu.RLock()
	for _, u := range s.users[:min(4, len(s.users))] {
		if u.username != s.userName {
			users = append(users, u.username)
		}
	}
	s.mu.RUnlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = consentPage.Execute(w, map[string]any{"App": app.name, "Scopes": scopes, "Redirect": redirect, "Hidden": hidden, "Users": users})
}

func (s *Sandbox) oauthAuthorizeDecide(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	form := r.PostForm
	app, ok := s.authorizeRequest(w, form)
	if !ok {
		return
	}
	redirect, state := form.Get("redirect_uri"), form.Get("state")
	if form.Get("decision") != "approve" {
		redirectWith(w, r, redirect, map[string]string{"error": "access_denied", "error_description": descDenied, "state": state})
		return
	}
	scopes, ok := s.requestedScopes(app, form)
	if !ok {
		redirectWith(w, r, redirect, map[string]string{"error": "invalid_scope", "error_description": descBadScope, "state": state})
		return
	}
	s.mu.Lock()
	u := s.userByName(form.Get("sandbox_user"))
	if u == nil || (form.Get("sandbox_user") == "" && s.dotcom) {
		u = s.userByName(s.connectedUser())
	}
	g := &grant{code: randomString(64), app: app, user: u, redirect: redirect, scopes: scopes,
		challenge: form.Get("code_challenge"), method: form.Get("code_challenge_method"), created: s.clock()}
	if g.challenge != "" && g.method == "" {
		g.method = "plain"
	}
	s.grants[g.code] = g
	s.mu.Unlock()
	redirectWith(w, r, redirect, map[string]string{"code": g.code, "state": state})
}

// AuthorizeCode performs the consent step without a browser, as user
// (default root, alice on the gitlab.com profile) approving every scope of
// the app: it returns the code that
// /oauth/authorize would put in the redirect. challenge may be "" (no PKCE).
func (s *Sandbox) AuthorizeCode(clientID, redirectURI, username, challenge string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.apps[clientID]
	if app == nil || !slices.Contains(app.redirects, redirectURI) {
		return "", false
	}
	if username == "" {
		username = s.connectedUser()
	}
	u := s.userByName(username)
	if u == nil {
		return "", false
	}
	g := &grant{code: randomString(64), app: app, user: u, redirect: redirectURI, scopes: slices.Clone(app.scopes), challenge: challenge, created: s.clock()}
	if challenge != "" {
		g.method = "S256"
	}
	s.grants[g.code] = g
	return g.code, true
}

func clientCredentials(r *http.Request) (id, secret string) {
	if u, p, ok := r.BasicAuth(); ok {
		return u, p
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
}

func (s *Sandbox) issueOAuthToken(app *oauthApp, u *user, scopes []string) *token {
	now := s.clock()
	s.nextTokenID++
	t := &token{id: s.nextTokenID, value: randomString(64), kind: tokenOAuth, user: u, scopes: scopes, created: now, app: app, refresh: randomString(64)}
	if s.ver.oauthExpires() {
		t.expires = now.Add(oauthAccessTokenTTL)
	}
	s.tokens[t.value] = t
	s.refresh[t.refresh] = t
	return t
}

func (s *Sandbox) tokenResponse(t *token) map[string]any {
	out := map[string]any{"access_token": t.value, "token_type": "Bearer", "refresh_token": t.refresh,
		"scope": strings.Join(t.scopes, " "), "created_at": t.created.Unix()}
	if !t.expires.IsZero() {
		out["expires_in"] = int(t.expires.Sub(t.created).Seconds())
	}
	return out
}

func (s *Sandbox) oauthToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "invalid_request", "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.")
		return
	}
	form := r.PostForm
	id, secret := clientCredentials(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.apps[id]
	if app == nil || subtle.ConstantTimeCompare([]byte(app.secret), []byte(secret)) != 1 {
		oauthErr(w, http.StatusUnauthorized, "invalid_client", descInvalidClient)
		return
	}
	switch form.Get("grant_type") {
	case "authorization_code":
		g := s.grants[form.Get("code")]
		if g == nil || g.app != app || g.redirect != form.Get("redirect_uri") || s.clock().Sub(g.created) > 10*time.Minute {
			oauthErr(w, http.StatusBadRequest, "invalid_grant", descInvalidGrant)
			return
		}
		if g.challenge != "" {
			v := form.Get("code_verifier")
			ok := false
			switch g.method {
			case "S256":
				sum := sha256.Sum256([]byte(v))
				ok = base64.RawURLEncoding.EncodeToString(sum[:]) == g.challenge
			default:
				ok = v == g.challenge
			}
			if !ok {
				oauthErr(w, http.StatusBadRequest, "invalid_grant", descInvalidGrant)
				return
			}
		}
		delete(s.grants, g.code) // single use
		writeJSON(w, http.StatusOK, s.tokenResponse(s.issueOAuthToken(app, g.user, g.scopes)))
	case "refresh_token":
		old := s.refresh[form.Get("refresh_token")]
		if old == nil || old.app != app || old.revoked {
			oauthErr(w, http.StatusBadRequest, "invalid_grant", descInvalidGrant)
			return
		}
		// Doorkeeper keeps access and refresh token in one record: refreshing
		// revokes both, so a refresh token works once.
		delete(s.refresh, old.refresh)
		old.revoked = true
		writeJSON(w, http.StatusOK, s.tokenResponse(s.issueOAuthToken(app, old.user, old.scopes)))
	default:
		oauthErr(w, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
	}
}

func (s *Sandbox) oauthRevoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	id, secret := clientCredentials(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.apps[id]
	if app == nil || subtle.ConstantTimeCompare([]byte(app.secret), []byte(secret)) != 1 {
		// RFC 7009 via Doorkeeper: an unauthenticated client may not revoke.
		oauthErr(w, http.StatusForbidden, "unauthorized_client", "You are not authorized to revoke this token")
		return
	}
	v := r.PostForm.Get("token")
	if t := s.tokens[v]; t != nil && t.kind == tokenOAuth && t.app == app {
		t.revoked = true
		delete(s.refresh, t.refresh)
	} else if t := s.refresh[v]; t != nil && t.app == app {
		t.revoked = true
		delete(s.refresh, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Sandbox) oauthTokenInfo(w http.ResponseWriter, r *http.Request) {
	v := tokenFromRequest(r)
	s.mu.RLock()
	t := s.tokens[v]
	s.mu.RUnlock()
	now := s.clock()
	if t == nil || t.kind != tokenOAuth || t.revoked || t.expired(now) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"`)
		oauthErr(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid")
		return
	}
	var expiresIn any
	if !t.expires.IsZero() {
		expiresIn = int(t.expires.Sub(now).Seconds())
	}
	writeJSON(w, http.StatusOK, map[string]any{"resource_owner_id": t.user.id, "scope": t.scopes, "scopes": t.scopes,
		"expires_in": expiresIn, "expires_in_seconds": expiresIn, "application": map[string]string{"uid": t.app.uid}, "created_at": t.created.Unix()})
}
