package integrations

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
)

// TokenInput connects a GitLab with an access token (personal, group,
// project or service account).
type TokenInput struct {
	BaseURL string        `json:"base_url"`
	Token   secret.Secret `json:"token"`
	Alias   string        `json:"alias,omitempty"`
	CAPEM   string        `json:"ca_pem,omitempty"`
	// AllowHookRegistration lets labsync register its own webhooks; the
	// token then needs the api scope.
	AllowHookRegistration bool `json:"allow_hook_registration,omitempty"`
	// AllowInsecureHTTP opts in to plain http to a self-managed GitLab at
	// an http:// URL on another machine; it is refused for GitLab.com and
	// for https URLs. The integration is then shown as insecure.
	AllowInsecureHTTP bool `json:"allow_insecure_http,omitempty"`
}

// ConnectResult is a new connection and what the check noticed.
type ConnectResult struct {
	Integration View `json:"integration"`
	// Notices are warnings of the check (token expiring soon, no visible
	// project, whitespace removed from the token, …).
	Notices   []string        `json:"notices,omitempty"`
	Diagnosis diagnose.Report `json:"diagnosis"`
	// TokenKind says which kind of token labsync got and what that means
	// for its expiry and for what labsync sees.
	TokenKind TokenKindInfo `json:"token_kind"`
}

// ConnectToken checks the token with the diagnosis (address, TLS, API,
// version, token kind, scopes, expiry, account, projects), and saves the
// integration and its sealed token in one transaction. Whitespace around the
// token is removed (and said so). A check that fails saves nothing and
// returns an *Error carrying the diagnosis.
func (s *Service) ConnectToken(ctx context.Context, who Actor, in TokenInput) (ConnectResult, error) {
	base, err := normalizeURL(in.BaseURL, in.AllowInsecureHTTP)
	if err != nil {
		return ConnectResult{}, err
	}
	if err := checkCA(in.CAPEM); err != nil {
		return ConnectResult{}, err
	}
	alias, err := s.checkAlias(ctx, who.OrgID, in.Alias, base, nil)
	if err != nil {
		return ConnectResult{}, err
	}
	v, err := s.validateToken(ctx, base, in.Token, in.CAPEM, in.AllowHookRegistration)
	if err != nil {
		return ConnectResult{}, err
	}
	if err := s.warmKey(ctx, who.OrgID); err != nil {
		return ConnectResult{}, err
	}
	var id int64
	err = s.st.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.st.FreeDisconnectedAlias(ctx, tx, who.OrgID, alias); err != nil {
			return err
		}
		uid := v.userID
		i := &store.Integration{OrgID: who.OrgID, Alias: alias, BaseURL: base.String(), AuthMethod: store.AuthMethodToken,
			Status: store.StatusActive, CAPEM: in.CAPEM, AllowHookRegistration: in.AllowHookRegistration,
			AllowInsecureHTTP: in.AllowInsecureHTTP, GitLabUsername: v.username, GitLabUserID: &uid, CreatedBy: &who.UserID,
			GitLabVersion: v.version.Version, GitLabRevision: v.version.Revision, GitLabEnterprise: v.version.Enterprise,
			Capabilities: v.version.Capabilities, VersionCheckedAt: &v.version.CheckedAt}
		if err := s.st.CreateIntegration(ctx, tx, i); err != nil {
			return err
		}
		id = i.ID
		return s.saveToken(ctx, tx, who.OrgID, id, v)
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ConnectResult{}, &problem.Error{Kind: problem.Conflict, Code: "conflict", Field: "alias",
				Message: fmt.Sprintf("an integration named %q already exists in this organisation", alias), Remedy: "Choose another alias."}
		}
		return ConnectResult{}, err
	}
	s.audit(ctx, who.OrgID, &who.UserID, "user", "integration.connected", id, map[string]any{"auth_method": "token",
		"base_url": base.String(), "alias": alias, "gitlab_user": v.username, "token_kind": v.kind, "scopes": v.scopes})
	s.log.Info("GitLab connected with an access token", "integration", id, "base_url", base.String(), "gitlab_user", v.username)
	view, err := s.View(ctx, who.OrgID, id)
	if err != nil {
		return ConnectResult{}, err
	}
	s.updateGauge(view)
	return ConnectResult{Integration: view, Notices: v.notices, Diagnosis: v.report, TokenKind: tokenKindInfo(v.kind, v.expires, v.resource)}, nil
}

// validated is what the check learned about a token.
type validated struct {
	token    string
	kind     string
	scopes   []string
	expires  *time.Time
	username string
	userID   int64
	// resource is the project or group of a project or group token.
	resource string
	version  store.IntegrationVersion
	notices  []string
	report   diagnose.Report
}

func (s *Service) validateToken(ctx context.Context, base gitlab.BaseURL, tok secret.Secret, caPEM string, wantHooks bool) (validated, error) {
	if tok.IsZero() {
		return validated{}, invalid("token", "Create an access token in GitLab (User settings → Access tokens) with the read_api scope and paste it.", "the access token is missing")
	}
	rep := diagnose.Run(ctx, s.diagnoseInput(base, caPEM, tok))
	if !rep.OK {
		return validated{}, checkFailed(rep, "the connection check failed")
	}
	v := validated{token: strings.TrimSpace(tok.Reveal()), report: rep}
	if v.token != tok.Reveal() {
		v.notices = append(v.notices, "The token had spaces or line breaks around it; they were removed before it was stored.")
	}
	for _, st := range rep.Steps {
		if st.Status == diagnose.Warn {
			v.notices = append(v.notices, st.Title+": "+st.Seen)
		}
	}
	if rep.Token != nil {
		v.scopes = rep.Token.Scopes
		if rep.Token.ExpiresAt != "" {
			if t, err := time.Parse(time.DateOnly, rep.Token.ExpiresAt); err == nil {
				t = t.UTC()
				v.expires = &t
			}
		}
	}
	if wantHooks && len(v.scopes) > 0 && !hasAny(v.scopes, "api") {
		return validated{}, &problem.Error{Kind: problem.Invalid, Code: CodeNeedsScope, Field: "allow_hook_registration",
			Message: fmt.Sprintf("webhook registration needs the api scope; this token has %s", strings.Join(v.scopes, ", ")),
			Remedy:  "Create a token with the api scope, or leave webhook registration off and create the webhook in GitLab yourself."}
	}
	opts := s.clientOptions(base, caPEM)
	opts.Timeout, opts.Token = s.netTimeout, secret.New(v.token)
	c, err := gitlab.New(opts)
	if err != nil {
		return validated{}, invalid("token", "", "%v", err)
	}
	u, err := c.CurrentUser(ctx)
	if err != nil {
		return validated{}, fromAPIError(gitlab.ClassifyError(err), "reading the token's account failed")
	}
	v.username, v.userID = u.Username, u.ID
	k, err := c.ClassifyToken(ctx, u)
	if err != nil {
		return validated{}, fromAPIError(gitlab.ClassifyError(err), "telling the token's kind failed")
	}
	v.kind, v.resource = k.Kind, k.ResourcePath
	if v.version, err = s.inspect(ctx, c); err != nil {
		return validated{}, fromAPIError(gitlab.ClassifyError(err), "reading GitLab's version failed")
	}
	return v, nil
}

func (s *Service) saveToken(ctx context.Context, tx *sql.Tx, orgID, integrationID int64, v validated) error {
	sealed, err := s.vault.Seal(ctx, orgID, credentialBinding(integrationID, store.CredentialAccessToken), []byte(v.token))
	if err != nil {
		return err
	}
	return s.st.SaveCredential(ctx, tx, &store.Credential{OrgID: orgID, IntegrationID: integrationID, Kind: store.CredentialAccessToken,
		Ciphertext: sealed, TokenKind: v.kind, Scopes: v.scopes, ExpiresAt: v.expires})
}

// inspect reads /version (and /metadata from 15.2) and derives the
// capability list.
func (s *Service) inspect(ctx context.Context, c *gitlab.Client) (store.IntegrationVersion, error) {
	ctx, cancel := context.WithTimeout(ctx, s.netTimeout)
	defer cancel()
	v, err := c.ServerVersion(ctx)
	if err != nil {
		return store.IntegrationVersion{}, err
	}
	out := store.IntegrationVersion{Version: v.Version, Revision: v.Revision, CheckedAt: s.clock()}
	ver, perr := gitlab.ParseVersion(v.Version)
	hasMeta := false
	if perr == nil && ver.AtLeast(15, 2) {
		if md, err := c.Metadata(ctx); err == nil {
			hasMeta = true
			ver.Enterprise = ver.Enterprise || md.Enterprise
			if md.Revision != "" {
				out.Revision = md.Revision
			}
		}
	}
	out.Enterprise = ver.Enterprise
	var caps []gitlab.Capability
	if perr == nil {
		caps = gitlab.Capabilities(ver, hasMeta)
	}
	if caps == nil {
		caps = []gitlab.Capability{}
	}
	b, _ := json.Marshal(caps)
	out.Capabilities = b
	return out, nil
}

// normalizeURL checks a GitLab URL a user gave. With insecure (the
// integration's plain-http opt-in) it accepts an http:// URL of a
// self-managed GitLab on another machine, and refuses the opt-in for
// GitLab.com and for a URL that is not such.
func normalizeURL(raw string, insecure bool) (gitlab.BaseURL, error) {
	if insecure {
		if err := checkInsecureOptIn(raw); err != nil {
			return gitlab.BaseURL{}, err
		}
	}
	b, err := storedURL(raw, insecure)
	if err != nil {
		var ue *gitlab.URLError
		if errors.As(err, &ue) {
			return b, invalid("base_url", ue.Remedy(), "%s", ue.Error())
		}
		return b, invalid("base_url", "", "the GitLab URL cannot be used")
	}
	return b, nil
}

func checkCA(pem string) error {
	if strings.TrimSpace(pem) == "" {
		return nil
	}
	if _, err := gitlab.ParseCAPEM([]byte(pem)); err != nil {
		return invalid("ca_pem", "Give the PEM of the CA certificate that signed GitLab's certificate (a block starting with -----BEGIN CERTIFICATE-----).", "%v", err)
	}
	return nil
}

// checkAlias returns the alias to use (the host when none is given) and
// refuses one an active integration of the organisation already holds.
func (s *Service) checkAlias(ctx context.Context, orgID int64, alias string, base gitlab.BaseURL, self *store.Integration) (string, error) {
	alias = strings.Join(strings.Fields(alias), " ")
	if alias == "" {
		alias = base.Host()
		if base.Path() != "" {
			alias += base.Path()
		}
	}
	if len(alias) > 100 {
		return "", invalid("alias", "Use at most 100 characters.", "the alias is too long")
	}
	list, err := s.st.Integrations(ctx, orgID)
	if err != nil {
		return "", err
	}
	for _, i := range list {
		if i.Alias == alias && i.Status != store.StatusDisconnected && (self == nil || self.ID != i.ID) {
			return "", &problem.Error{Kind: problem.Conflict, Code: "conflict", Field: "alias",
				Message: fmt.Sprintf("an integration named %q already exists in this organisation", alias),
				Remedy:  "Give this connection another alias; each connection's alias is shown everywhere to tell them apart."}
		}
	}
	return alias, nil
}
