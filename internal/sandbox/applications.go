package sandbox

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// DefaultRedirectURI is the redirect URI of the pre-registered OAuth
// application when Config.RedirectURIs is empty: labsync's callback on its
// default address.
const DefaultRedirectURI = "http://127.0.0.1:8787/api/v1/connectors/gitlab/callback"

// oauthScopes is every scope an OAuth application may hold on the version,
// as Gitlab::Auth's scope lists (API_SCOPES, REPOSITORY_SCOPES,
// REGISTRY_SCOPES, ADMIN_SCOPES, OPENID_SCOPES, PROFILE_SCOPES) grew:
//
//   - api (the default), read_user (8.15), openid (9.0), sudo,
//     read_registry (9.3), read_repository (10.7): the 10.x lists hold
//     API_SCOPES = [api, read_user, sudo, read_repository];
//   - profile and email (PROFILE_SCOPES, 11.1), write_repository (11.11,
//     "Added write_repository scope for personal access token", April 2019);
//   - read_api and write_registry (12.10, API_SCOPES = [api, read_user,
//     read_api], REGISTRY_SCOPES = [read_registry, write_registry]);
//   - admin_mode (15.8), create_runner (15.10), ai_features (16.0),
//     k8s_proxy (16.4), read_service_ping (16.8), manage_runner (17.1),
//     self_rotate (17.9) from the personal access token scope table of
//     doc/user/profile/personal_access_tokens.md.
//
// The gates of the scopes after 12.10 are taken from release notes and are
// approximate; labsync requests none of them.
func oauthScopes(v version) []string {
	gates := []struct {
		scope        string
		major, minor int
	}{
		{"api", 0, 0}, {"read_user", 8, 15}, {"openid", 9, 0}, {"sudo", 9, 0}, {"read_registry", 9, 3},
		{"read_repository", 10, 7}, {"profile", 11, 1}, {"email", 11, 1}, {"write_repository", 11, 11},
		{"read_api", 12, 10}, {"write_registry", 12, 10}, {"admin_mode", 15, 8}, {"create_runner", 15, 10},
		{"ai_features", 16, 0}, {"k8s_proxy", 16, 4}, {"read_service_ping", 16, 8}, {"manage_runner", 17, 1},
		{"self_rotate", 17, 9},
	}
	var out []string
	for _, g := range gates {
		if v.atLeast(g.major, g.minor) {
			out = append(out, g.scope)
		}
	}
	return out
}

// OAuthScopes lists every scope the served version offers OAuth
// applications; the pre-registered application holds all of them.
func (s *Sandbox) OAuthScopes() []string { return oauthScopes(s.ver) }

// OAuthRedirectURIs returns the pre-registered application's redirect URIs
// (Config.RedirectURIs, or DefaultRedirectURI).
func (s *Sandbox) OAuthRedirectURIs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.defaultApp.redirects)
}

// validRedirectURI is Doorkeeper's RedirectUriValidator in short: an
// absolute URI without a fragment.
func validRedirectURI(v string) bool {
	u, err := url.Parse(v)
	return err == nil && u.Scheme != "" && u.Host != "" && u.Fragment == ""
}

// renderApplication is Entities::Application (lib/api/entities/application.rb):
// id, application_id (the uid), application_name, callback_url (the
// redirect URIs, newline-separated as stored), confidential (shown since the
// column came, 12.x; the sandbox shows it from 13.0, approximate) and scopes
// (shown in the 17.x entity; from 17.0 here, approximate). withSecret is
// Entities::ApplicationWithSecret, answered only on creation.
func (s *Sandbox) renderApplication(a *oauthApp, withSecret bool) map[string]any {
	out := map[string]any{"id": a.id, "application_id": a.uid, "application_name": a.name,
		"callback_url": strings.Join(a.redirects, "\n")}
	if s.ver.atLeast(13, 0) {
		out["confidential"] = a.confidential
	}
	if s.ver.atLeast(17, 0) {
		out["scopes"] = slices.Clone(a.scopes)
	}
	if withSecret {
		out["secret"] = a.secret
	}
	return out
}

// adminOnly is authenticated_as_admin!: 403 for everyone but administrators.
func (c *call) adminOnly() error {
	if c.user == nil || !c.user.admin {
		return errForbidden
	}
	return nil
}

// createApplication is POST /api/v4/applications (lib/api/applications.rb,
// GitLab 10.5+): name, redirect_uri and scopes required (scopes
// space-separated, not blank), confidential defaults to true. Several
// redirect URIs are newline-separated, as in the admin form.
func (s *Sandbox) createApplication(c *call) (any, error) {
	if err := c.adminOnly(); err != nil {
		return nil, err
	}
	in, err := c.params()
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"name", "redirect_uri", "scopes"} {
		if _, ok := in[k]; !ok {
			return nil, grapeErr(http.StatusBadRequest, k+" is missing")
		}
	}
	// Blank scopes were accepted in 10.x–12.x (the API spec created apps with
	// scopes: ''), and Doorkeeper then checks requests against the server's
	// scopes only; later releases declare scopes allow_blank: false (from
	// 13.0 here, approximate).
	blank := strings.TrimSpace(in["scopes"]) == ""
	if blank && s.ver.atLeast(13, 0) {
		return nil, grapeErr(http.StatusBadRequest, "scopes is empty")
	}
	problems := map[string][]string{}
	if strings.TrimSpace(in["name"]) == "" {
		problems["name"] = append(problems["name"], "can't be blank")
	}
	redirects := strings.Fields(in["redirect_uri"])
	if len(redirects) == 0 {
		problems["redirect_uri"] = append(problems["redirect_uri"], "can't be blank")
	}
	for _, r := range redirects {
		if !validRedirectURI(r) {
			problems["redirect_uri"] = append(problems["redirect_uri"], "must be an absolute URI.")
			break
		}
	}
	offered := oauthScopes(s.ver)
	for _, sc := range strings.Fields(in["scopes"]) {
		if !slices.Contains(offered, sc) {
			problems["scopes"] = append(problems["scopes"], "doesn't match configured on the server.")
			break
		}
	}
	if len(problems) > 0 {
		return nil, &apiError{status: http.StatusBadRequest, body: map[string]any{"message": problems}}
	}
	confidential := true
	if v, ok := in["confidential"]; ok {
		switch v {
		case "true", "1":
		case "false", "0":
			confidential = false
		default:
			return nil, badParam("confidential")
		}
	}
	scopes := strings.Fields(in["scopes"])
	if blank {
		scopes = offered
	}
	a := s.addAppLocked(in["name"], redirects, scopes)
	a.confidential = confidential
	// Grape answers a POST with 201 unless told otherwise; the documented
	// "Returns 200" predates that check and GitLab's specs expect 201.
	return withStatus{http.StatusCreated, s.renderApplication(a, true)}, nil
}

// listApplications is GET /api/v4/applications: every instance-wide
// application, never a secret.
func (s *Sandbox) listApplications(c *call) (any, error) {
	if err := c.adminOnly(); err != nil {
		return nil, err
	}
	apps := make([]*oauthApp, 0, len(s.apps))
	for _, a := range s.apps {
		apps = append(apps, a)
	}
	slices.SortFunc(apps, func(a, b *oauthApp) int { return int(a.id - b.id) })
	out := make([]any, 0, len(apps))
	for _, a := range apps {
		out = append(out, s.renderApplication(a, false))
	}
	return out, nil
}

// deleteApplication is DELETE /api/v4/applications/:id (the numeric id, not
// the application_id): 204, or 404 "Application Not Found". Tokens issued
// to the application stop working, as Doorkeeper's dependent: :delete_all.
func (s *Sandbox) deleteApplication(c *call) (any, error) {
	if err := c.adminOnly(); err != nil {
		return nil, err
	}
	id, err := c.iidParam("id")
	if err != nil {
		return nil, err
	}
	for uid, a := range s.apps {
		if a.id != id {
			continue
		}
		delete(s.apps, uid)
		for _, t := range s.tokens {
			if t.app == a {
				t.revoked = true
				delete(s.refresh, t.refresh)
			}
		}
		for code, g := range s.grants {
			if g.app == a {
				delete(s.grants, code)
			}
		}
		return withStatus{http.StatusNoContent, nil}, nil
	}
	return nil, notFound("Application")
}
