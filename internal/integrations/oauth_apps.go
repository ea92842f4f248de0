package integrations

// The organisation's GitLab OAuth applications: the one a connection
// uses, and registering one (its secret sealed, never shown again).

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
)

// resolveApp saves the application given, or finds the organisation's.
func (s *Service) resolveApp(ctx context.Context, who Actor, base gitlab.BaseURL, clientID string, clientSecret secret.Secret) (store.OAuthApp, error) {
	clientID = strings.TrimSpace(clientID)
	if clientID == "" && clientSecret.IsZero() {
		app, err := s.st.OAuthAppFor(ctx, who.OrgID, base.String())
		if errors.Is(err, store.ErrNotFound) {
			return app, &problem.Error{Kind: problem.Invalid, Code: CodeNoOAuthApp, Field: "client_id",
				Message: fmt.Sprintf("your organisation has no OAuth application registered for %s", base),
				Remedy: fmt.Sprintf("Create an application in GitLab (Admin Area → Applications, or User settings → Applications) with the redirect URI %s, confidential, the scopes %s, and give its Application ID and Secret here (or register it once with PUT /api/v1/oauth-apps).",
					s.RedirectURI(), strings.Join(DefaultScopes, ", "))}
		}
		return app, err
	}
	return s.SaveOAuthApp(ctx, who, OAuthAppInput{BaseURL: base.String(), ClientID: clientID, ClientSecret: clientSecret})
}

// OAuthAppInput registers an organisation's GitLab OAuth application.
type OAuthAppInput struct {
	BaseURL      string        `json:"base_url"`
	ClientID     string        `json:"client_id"`
	ClientSecret secret.Secret `json:"client_secret"`
}

// SaveOAuthApp creates or replaces the organisation's application for a
// GitLab; the secret is sealed and never shown again.
func (s *Service) SaveOAuthApp(ctx context.Context, who Actor, in OAuthAppInput) (store.OAuthApp, error) {
	base, err := normalizeURL(in.BaseURL)
	if err != nil {
		return store.OAuthApp{}, err
	}
	id := strings.TrimSpace(in.ClientID)
	sec := strings.TrimSpace(in.ClientSecret.Reveal())
	switch {
	case id == "":
		return store.OAuthApp{}, invalid("client_id", "Copy the Application ID from GitLab's application page.", "the application id (client_id) is missing")
	case sec == "":
		return store.OAuthApp{}, invalid("client_secret", "Copy the Secret from GitLab's application page; GitLab shows it once, renew it there if it is lost.", "the application secret (client_secret) is missing")
	case strings.ContainsFunc(id, isSpace) || strings.ContainsFunc(sec, isSpace):
		return store.OAuthApp{}, invalid("client_secret", "Paste the id and secret again, each as one word.", "the application id or secret contains spaces or line breaks")
	case strings.HasPrefix(sec, "glpat-"):
		return store.OAuthApp{}, invalid("client_secret", "Connect with POST /api/v1/integrations/gitlab/token to use an access token, or paste the application's Secret here.", "this is a personal access token, not an OAuth application secret")
	}
	sealed, err := s.vault.Seal(ctx, who.OrgID, appSecretBinding(base.String()), []byte(sec))
	if err != nil {
		return store.OAuthApp{}, err
	}
	app, err := s.st.SaveOAuthApp(ctx, who.OrgID, base.String(), id, sealed)
	if err != nil {
		return app, err
	}
	s.audit(ctx, who.OrgID, &who.UserID, "user", "oauth_app.saved", 0, map[string]any{"base_url": base.String(), "client_id": id, "oauth_app_id": app.ID})
	return app, nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }
