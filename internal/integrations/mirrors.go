package integrations

import (
	"context"
	"errors"
	"fmt"

	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
)

// GitCredential is what git needs to fetch an integration's repositories
// over HTTPS. Token is the live credential (an OAuth token refreshed when
// due); it must go to git only through the environment, never a URL or an
// argument.
type GitCredential struct {
	BaseURL  string
	Username string
	Token    secret.Secret
	CAPEM    []byte
}

// GitCredential returns the credential to fetch org's integration's
// repositories with. Git over HTTPS takes Basic auth: "oauth2" and the
// token for an OAuth token, any user name and the token for a personal,
// group or project access token (GitLab's lib/gitlab/auth.rb tries both).
// It fails like [Service.Client] for an unknown or unusable integration.
func (s *Service) GitCredential(ctx context.Context, orgID, integrationID int64) (GitCredential, error) {
	i, err := s.st.Integration(ctx, orgID, integrationID)
	if err != nil {
		return GitCredential{}, err
	}
	if err := usable(i); err != nil {
		return GitCredential{}, err
	}
	cred, err := s.st.Credential(ctx, orgID, integrationID)
	if errors.Is(err, store.ErrNotFound) {
		return GitCredential{}, &problem.Error{Kind: problem.Conflict, Code: CodeUnusable,
			Message: fmt.Sprintf("integration %q has no credential", i.Alias), Remedy: "Connect it again."}
	}
	if err != nil {
		return GitCredential{}, err
	}
	out := GitCredential{BaseURL: i.BaseURL, CAPEM: []byte(i.CAPEM)}
	switch cred.Kind {
	case store.CredentialAccessToken:
		pt, err := s.vault.Open(ctx, orgID, credentialBinding(i.ID, cred.Kind), cred.Ciphertext)
		if err != nil {
			return GitCredential{}, fmt.Errorf("integrations: unable to open the credential of integration %d: %w", i.ID, err)
		}
		out.Username, out.Token = "labsync", secret.New(string(pt))
	case store.CredentialOAuth:
		p, err := s.freshToken(ctx, orgID, integrationID, "")
		if err != nil {
			return GitCredential{}, err
		}
		out.Username, out.Token = "oauth2", secret.New(p.AccessToken)
	default:
		return GitCredential{}, fmt.Errorf("integrations: integration %d has a credential of unknown kind %q", i.ID, cred.Kind)
	}
	return out, nil
}

// MirrorRemover is the repository service as this one needs it:
// [Service.SetMirrors] gives it.
type MirrorRemover interface {
	// RemoveIntegration deletes every mirror of an integration.
	RemoveIntegration(ctx context.Context, integrationID int64) error
	// SelectionChanged clones newly mirrored projects and deletes mirrors
	// no longer wanted after org's integration's selection changed.
	SelectionChanged(ctx context.Context, orgID, integrationID int64)
}

// SetMirrors gives the service the mirrors to delete at disconnect (at once,
// like the credential) and by the purge. Call it once, before serving; nil
// (the default) means this process keeps no mirrors.
func (s *Service) SetMirrors(m MirrorRemover) { s.mirrors = m }

// removeMirrors deletes id's mirrors and records it.
func (s *Service) removeMirrors(ctx context.Context, orgID, id int64) error {
	if s.mirrors == nil {
		return nil
	}
	if err := s.mirrors.RemoveIntegration(ctx, id); err != nil {
		return fmt.Errorf("integrations: unable to delete the repository mirrors of integration %d: %w", id, err)
	}
	return nil
}
