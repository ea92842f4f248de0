package integrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/webhook"
)

// UpdateInput changes an integration's settings; nil fields stay as they are.
type UpdateInput struct {
	Alias *string `json:"alias,omitempty"`
	// CAPEM replaces the extra CA certificates; "" removes them.
	CAPEM                 *string `json:"ca_pem,omitempty"`
	AllowHookRegistration *bool   `json:"allow_hook_registration,omitempty"`
	// Token replaces the access token of a token integration (the way out
	// of "needs a new token").
	Token secret.Secret `json:"token,omitzero"`
	// AllowInsecureHTTP turns the plain-http opt-in on (only for an
	// integration whose URL is http:// on another machine, never
	// GitLab.com) or off (only when its URL does not need it).
	AllowInsecureHTTP *bool `json:"allow_insecure_http,omitempty"`
	// RequestConcurrency, HistorySince (YYYY-MM-DD, "" for the whole
	// history) and KeepLostProjectData are the sync settings (see
	// Settings).
	RequestConcurrency  *int    `json:"request_concurrency,omitempty"`
	HistorySince        *string `json:"history_since,omitempty"`
	KeepLostProjectData *bool   `json:"keep_lost_project_data,omitempty"`
}

// UpdateResult is the integration after a change.
type UpdateResult struct {
	Integration View     `json:"integration"`
	Changed     []string `json:"changed"`
	Notices     []string `json:"notices,omitempty"`
}

// Update validates what changes and saves it: a new CA must let labsync
// reach GitLab's API, a new token passes the whole check, the webhook
// opt-in needs the api scope, the plain-http opt-in needs an http:// URL
// of a self-managed GitLab, the sync settings must be in range. Nothing is
// saved when a check fails. One audit entry, "integration.updated", names
// the fields that changed.
func (s *Service) Update(ctx context.Context, who Actor, id int64, in UpdateInput) (UpdateResult, error) {
	i, err := s.st.Integration(ctx, who.OrgID, id)
	if err != nil {
		return UpdateResult{}, err
	}
	if i.Status == store.StatusDisconnected {
		return UpdateResult{}, &problem.Error{Kind: problem.Conflict, Code: CodeUnusable, Message: fmt.Sprintf("integration %q is disconnected", i.Alias), Remedy: "Connect the GitLab again."}
	}
	base, err := storedURL(i.BaseURL, i.AllowInsecureHTTP)
	if err != nil {
		return UpdateResult{}, err
	}
	var res UpdateResult
	var set store.IntegrationSettings
	if in.Alias != nil && *in.Alias != i.Alias {
		if strings.TrimSpace(*in.Alias) == "" {
			return UpdateResult{}, invalid("alias", "Give a name that tells this connection apart.", "the alias must not be empty")
		}
		a, err := s.checkAlias(ctx, who.OrgID, *in.Alias, base, &i)
		if err != nil {
			return UpdateResult{}, err
		}
		set.Alias = &a
		res.Changed = append(res.Changed, "alias")
	}
	ca := i.CAPEM
	if in.CAPEM != nil && strings.TrimSpace(*in.CAPEM) != strings.TrimSpace(i.CAPEM) {
		if err := checkCA(*in.CAPEM); err != nil {
			return UpdateResult{}, err
		}
		ca = *in.CAPEM
		if rep := diagnose.Run(ctx, s.diagnoseInput(base, ca, secret.Secret{})); !rep.OK {
			e := checkFailed(rep, "with the new CA, GitLab cannot be reached")
			e.Field = "ca_pem"
			return UpdateResult{}, e
		}
		set.CAPEM = &ca
		res.Changed = append(res.Changed, "ca_pem")
	}
	hooks := i.AllowHookRegistration
	if in.AllowHookRegistration != nil && *in.AllowHookRegistration != i.AllowHookRegistration {
		hooks = *in.AllowHookRegistration
		set.AllowHookRegistration = &hooks
		res.Changed = append(res.Changed, "allow_hook_registration")
	}
	if in.AllowInsecureHTTP != nil && *in.AllowInsecureHTTP != i.AllowInsecureHTTP {
		if *in.AllowInsecureHTTP {
			if err := checkInsecureOptIn(i.BaseURL); err != nil {
				return UpdateResult{}, err
			}
		} else if _, err := gitlab.NormalizeBaseURL(i.BaseURL); err != nil {
			return UpdateResult{}, invalid("allow_insecure_http", "Serve GitLab over https, then disconnect this integration and connect its https:// URL.",
				"%s is reached over plain http: without the opt-in labsync could not reach it at all", i.BaseURL)
		}
		v := *in.AllowInsecureHTTP
		set.AllowInsecureHTTP = &v
		res.Changed = append(res.Changed, "allow_insecure_http")
	}
	sync, err := s.st.SyncSettingsFor(ctx, who.OrgID, id)
	if err != nil {
		return UpdateResult{}, err
	}
	syncChanged, err := applySettings(&sync, in)
	if err != nil {
		return UpdateResult{}, err
	}
	res.Changed = append(res.Changed, syncChanged...)
	var newToken *validated
	if !in.Token.IsZero() {
		if i.AuthMethod != store.AuthMethodToken {
			return UpdateResult{}, invalid("token", fmt.Sprintf("Reauthorize instead: POST /api/v1/integrations/gitlab/start {\"integration_id\": %d}.", i.ID),
				"integration %q is connected with OAuth; it takes no access token", i.Alias)
		}
		v, err := s.validateToken(ctx, base, in.Token, ca, hooks)
		if err != nil {
			return UpdateResult{}, err
		}
		if i.GitLabUserID != nil && *i.GitLabUserID != v.userID {
			v.notices = append(v.notices, fmt.Sprintf("The new token belongs to @%s, the previous one to @%s: the projects labsync can see may differ.", v.username, i.GitLabUsername))
		}
		newToken = &v
		res.Notices = append(res.Notices, v.notices...)
		res.Changed = append(res.Changed, "token")
	} else if set.AllowHookRegistration != nil && hooks {
		cred, err := s.st.Credential(ctx, who.OrgID, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return UpdateResult{}, err
		}
		switch {
		case len(cred.Scopes) == 0:
			res.Notices = append(res.Notices, "This GitLab does not list the token's scopes; webhook registration works only if the token has the api scope.")
		case !slices.Contains(cred.Scopes, "api"):
			e := &problem.Error{Kind: problem.Invalid, Code: CodeNeedsScope, Field: "allow_hook_registration",
				Message: fmt.Sprintf("webhook registration needs the api scope; this credential has %s", strings.Join(cred.Scopes, ", "))}
			if i.AuthMethod == store.AuthMethodOAuth {
				e.Remedy = fmt.Sprintf("Allow the api scope in the GitLab application, then reauthorize with allow_hook_registration (POST /api/v1/integrations/gitlab/start {\"integration_id\": %d}) after turning this on — or create the webhook in GitLab yourself.", i.ID)
			} else {
				e.Remedy = "Give a token with the api scope in the same request (\"token\"), or create the webhook in GitLab yourself."
			}
			return UpdateResult{}, e
		}
	}
	if len(res.Changed) == 0 {
		v, err := s.view(ctx, i)
		res.Integration, res.Changed = v, []string{}
		return res, err
	}
	if err := s.warmKey(ctx, who.OrgID); err != nil {
		return UpdateResult{}, err
	}
	err = s.st.InTx(ctx, func(tx *sql.Tx) error {
		if newToken == nil {
			return nil
		}
		uid := newToken.userID
		if err := s.st.SetIntegrationAccount(ctx, tx, who.OrgID, id, newToken.username, &uid); err != nil {
			return err
		}
		return s.saveToken(ctx, tx, who.OrgID, id, *newToken)
	})
	if err != nil {
		return UpdateResult{}, err
	}
	if err := s.st.UpdateIntegrationSettings(ctx, who.OrgID, id, set); err != nil {
		return UpdateResult{}, err
	}
	if len(syncChanged) > 0 {
		if err := s.st.SaveSyncSettings(ctx, who.OrgID, id, sync); err != nil {
			return UpdateResult{}, err
		}
	}
	if newToken != nil {
		_ = s.st.SetIntegrationVersion(ctx, who.OrgID, id, newToken.version)
	}
	s.forget(id)
	detail := map[string]any{"changed": res.Changed}
	if who.Via != "" {
		detail["via"] = who.Via
	}
	s.audit(ctx, who.OrgID, &who.UserID, "user", "integration.updated", id, detail)
	v, err := s.View(ctx, who.OrgID, id)
	if err != nil {
		return UpdateResult{}, err
	}
	s.updateGauge(v)
	res.Integration = v
	return res, nil
}

// DisconnectResult says what disconnecting did.
type DisconnectResult struct {
	Integration View `json:"integration"`
	// Revoked is true when GitLab confirmed the OAuth token's revocation.
	Revoked         bool   `json:"revoked"`
	RevocationError string `json:"revocation_error,omitempty"`
	// Hooks says, per project, whether the webhooks labsync registered
	// were removed.
	Hooks []webhook.ProjectHookResult `json:"webhooks_removed,omitempty"`
	// OAuthAppDeleted is true when the OAuth application's client secret
	// was deleted too (no other live integration used it).
	OAuthAppDeleted bool `json:"oauth_app_deleted"`
	// PurgeDeadline is when every synced row will have been deleted.
	PurgeDeadline time.Time `json:"purge_deadline"`
	Note          string    `json:"note"`
}

// Disconnect, in one step: removes the webhooks labsync registered in
// GitLab (while the credential still works), revokes an OAuth token at
// GitLab, then in one transaction hard-deletes the credentials, the
// webhook secret and signing token (later deliveries answer 404), pending
// OAuth states and the OAuth application when nothing else uses it, and
// records a purge deadline PurgeWindow ahead; the purge job then deletes
// every synced row. An access token cannot be revoked by labsync, which
// never writes to GitLab: the note says to revoke it in GitLab.
func (s *Service) Disconnect(ctx context.Context, who Actor, id int64) (DisconnectResult, error) {
	i, err := s.st.Integration(ctx, who.OrgID, id)
	if err != nil {
		return DisconnectResult{}, err
	}
	var res DisconnectResult
	if i.Status == store.StatusDisconnected {
		res.Integration, err = s.view(ctx, i)
		res.Note = "The integration was already disconnected."
		if i.Purge != nil {
			res.PurgeDeadline = i.Purge.Deadline
		}
		return res, err
	}
	if s.webhooks != nil {
		c, cerr := s.Client(ctx, who.OrgID, id)
		if res.Hooks, err = s.removeRegisteredHooks(ctx, c, cerr, who.OrgID, id); err != nil {
			return DisconnectResult{}, err
		}
	}
	if i.AuthMethod == store.AuthMethodOAuth {
		res.Revoked, res.RevocationError = s.revokeIntegration(ctx, i)
		if res.Revoked {
			res.Note = "The OAuth token was revoked at GitLab and labsync's copy deleted."
		} else {
			res.Note = "labsync's copy of the OAuth token was deleted, but GitLab could not confirm the revocation: revoke labsync's access in GitLab (User settings → Applications → Authorized applications)."
		}
	} else {
		res.Note = "labsync deleted its copy of the access token. labsync never writes to GitLab, so it cannot revoke the token: revoke it in GitLab (User settings → Access tokens) if nothing else uses it."
	}
	now := s.clock()
	res.PurgeDeadline = now.Add(PurgeWindow)
	reason := fmt.Sprintf("disconnected by user %d on %s", who.UserID, now.Format(time.DateOnly))
	d, err := s.st.DisconnectIntegration(ctx, who.OrgID, id, reason, res.PurgeDeadline)
	if err != nil {
		return DisconnectResult{}, err
	}
	res.OAuthAppDeleted = d.OAuthAppDeleted
	// Repository mirrors go at once, like the credential; the purge tries
	// again if this fails.
	if err := s.removeMirrors(ctx, who.OrgID, id); err != nil {
		s.log.Error("repository mirrors not deleted at disconnect; the purge deletes them", "integration", id, "err", err)
	}
	res.Note += fmt.Sprintf(" The webhook secret is deleted: deliveries to its URL now answer 404. Every synced merge request, issue, pipeline, push and commit of this integration will be deleted by %s.",
		res.PurgeDeadline.Format(time.RFC3339))
	s.forget(id)
	if s.webhooks != nil && i.WebhookHookID != nil {
		s.webhooks.Invalidate(*i.WebhookHookID)
	}
	s.daysToExpiry.DeleteLabelValues(fmt.Sprint(id))
	s.audit(ctx, who.OrgID, &who.UserID, "user", "integration.disconnected", id, map[string]any{"alias": i.Alias,
		"revoked": res.Revoked, "revocation_error": res.RevocationError, "auth_method": i.AuthMethod,
		"oauth_app_deleted": d.OAuthAppDeleted, "purge_deadline": res.PurgeDeadline})
	s.schedulePurge(ctx, who.OrgID, id)
	res.Integration, err = s.View(ctx, who.OrgID, id)
	return res, err
}

// TestInput is a connection to diagnose without saving it.
type TestInput struct {
	BaseURL string        `json:"base_url"`
	Token   secret.Secret `json:"token,omitzero"`
	CAPEM   string        `json:"ca_pem,omitempty"`
	// AllowInsecureHTTP opts in to plain http to a self-managed GitLab
	// that is not on this machine (never GitLab.com).
	AllowInsecureHTTP bool `json:"allow_insecure_http,omitempty"`
	// TimeoutSeconds bounds each network operation (default 10, at most 60).
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty"`
}

func (s *Service) timeout(seconds float64) time.Duration {
	if seconds <= 0 {
		return min(s.netTimeout, diagnose.DefaultTimeout)
	}
	return time.Duration(min(seconds, 60) * float64(time.Second))
}

// Test runs the diagnosis on input that is not saved, under the service's
// address policy.
func (s *Service) Test(ctx context.Context, in TestInput) diagnose.Report {
	return diagnose.Run(ctx, diagnose.Input{URL: in.BaseURL, Token: in.Token, CAPEM: []byte(in.CAPEM), Policy: s.policy, Proxy: s.cfg.GitLabProxy,
		AllowInsecureHTTP: in.AllowInsecureHTTP, Timeout: s.timeout(in.TimeoutSeconds)})
}

// TestSaved runs the diagnosis for org's saved integration with its own
// credential and CA. For OAuth the token, account and project steps use the
// OAuth token (the diagnosis itself only speaks access tokens).
func (s *Service) TestSaved(ctx context.Context, orgID, id int64) (diagnose.Report, error) {
	i, err := s.st.Integration(ctx, orgID, id)
	if err != nil {
		return diagnose.Report{}, err
	}
	in := diagnose.Input{URL: i.BaseURL, CAPEM: []byte(i.CAPEM), Policy: s.policy, Proxy: s.cfg.GitLabProxy,
		AllowInsecureHTTP: i.AllowInsecureHTTP, Timeout: s.timeout(0)}
	cred, err := s.st.Credential(ctx, orgID, id)
	if errors.Is(err, store.ErrNotFound) {
		return diagnose.Run(ctx, in), nil
	}
	if err != nil {
		return diagnose.Report{}, err
	}
	if cred.Kind == store.CredentialAccessToken {
		pt, err := s.vault.Open(ctx, orgID, credentialBinding(id, cred.Kind), cred.Ciphertext)
		if err != nil {
			return diagnose.Report{}, err
		}
		in.Token = secret.New(string(pt))
		rep := diagnose.Run(ctx, in)
		s.noteTestResult(ctx, i, rep)
		return rep, nil
	}
	rep := diagnose.Run(ctx, in)
	if !rep.OK {
		return rep, nil
	}
	s.oauthSteps(ctx, i, &rep)
	return rep, nil
}

// noteTestResult marks a token integration whose diagnosis shows GitLab
// refusing the token.
func (s *Service) noteTestResult(ctx context.Context, i store.Integration, rep diagnose.Report) {
	st, ok := rep.Step(diagnose.StepToken)
	if !ok || st.Status != diagnose.Fail {
		return
	}
	switch st.Kind {
	case gitlab.KindTokenExpired, gitlab.KindTokenRevoked, gitlab.KindTokenInvalid:
		s.tokenRejected(ctx, i.OrgID, i.ID, i.AuthMethod, &gitlab.APIError{Status: 401, Kind: st.Kind})
	}
}

// oauthSteps replaces the steps the diagnosis skipped without a token with
// checks made with the integration's OAuth token.
func (s *Service) oauthSteps(ctx context.Context, i store.Integration, rep *diagnose.Report) {
	set := func(st diagnose.Step) {
		for k := range rep.Steps {
			if rep.Steps[k].ID == st.ID {
				st.Title = rep.Steps[k].Title
				rep.Steps[k] = st
			}
		}
		if st.Status == diagnose.Fail {
			rep.OK = false
		}
	}
	skipRest := func(from string, why string) {
		started := false
		for k := range rep.Steps {
			if rep.Steps[k].ID == from {
				started = true
				continue
			}
			if started {
				rep.Steps[k].Status, rep.Steps[k].Seen, rep.Steps[k].Remedy = diagnose.Skip, why, ""
			}
		}
	}
	c, err := s.Client(ctx, i.OrgID, i.ID)
	if err != nil {
		st := diagnose.Step{ID: diagnose.StepVersion, Status: diagnose.Fail, Seen: err.Error()}
		var e *problem.Error
		if errors.As(err, &e) {
			st.Remedy, st.Kind = e.Remedy, gitlab.Kind(e.Reason)
		}
		set(st)
		skipRest(diagnose.StepVersion, "Not checked: the integration cannot be used.")
		return
	}
	v, err := s.inspect(ctx, c)
	if err != nil {
		ae := gitlab.ClassifyError(err)
		set(diagnose.Step{ID: diagnose.StepVersion, Status: diagnose.Fail, Kind: ae.Kind, Seen: "Reading /version with the OAuth token failed: " + ae.Error() + ".", Remedy: ae.Remedy()})
		skipRest(diagnose.StepVersion, "Not checked: GitLab did not accept the OAuth token.")
		return
	}
	set(diagnose.Step{ID: diagnose.StepVersion, Status: diagnose.Pass, Seen: "GitLab " + v.Version + "."})
	if ver, err := gitlab.ParseVersion(v.Version); err == nil {
		rep.Version = &ver
	}
	p, err := s.freshToken(ctx, i.OrgID, i.ID, "")
	if err != nil {
		set(diagnose.Step{ID: diagnose.StepToken, Status: diagnose.Fail, Seen: err.Error()})
		skipRest(diagnose.StepToken, "Not checked: no usable OAuth token.")
		return
	}
	base, _ := storedURL(i.BaseURL, i.AllowInsecureHTTP)
	hc, err := s.bareHTTP(base, i.CAPEM)
	if err != nil {
		return
	}
	scopes, err := tokenInfoScopes(ctx, hc, base, p.AccessToken)
	if err != nil {
		set(diagnose.Step{ID: diagnose.StepToken, Status: diagnose.Fail, Seen: err.Error()})
		skipRest(diagnose.StepToken, "Not checked: GitLab did not accept the OAuth token.")
		return
	}
	seen := fmt.Sprintf("OAuth token with scopes %s", strings.Join(scopes, ", "))
	if !p.Expiry.IsZero() {
		seen += fmt.Sprintf("; it expires at %s and labsync renews it %s before", p.Expiry.Format(time.RFC3339), RefreshBefore)
	}
	rep.Token = &diagnose.TokenInfo{Scopes: scopes, Active: true}
	if !hasAny(scopes, "read_api", "api") {
		set(diagnose.Step{ID: diagnose.StepToken, Status: diagnose.Fail, Kind: gitlab.KindInsufficientScope, Seen: seen + "; read_api (or api) is missing.",
			Remedy: "Allow read_api in the GitLab application and reauthorize."})
		skipRest(diagnose.StepToken, "Not checked: the token lacks read_api.")
		return
	}
	set(diagnose.Step{ID: diagnose.StepToken, Status: diagnose.Pass, Seen: seen + "."})
	u, err := c.CurrentUser(ctx)
	if err != nil {
		ae := gitlab.ClassifyError(err)
		set(diagnose.Step{ID: diagnose.StepIdentity, Status: diagnose.Fail, Kind: ae.Kind, Seen: "Reading /user failed: " + ae.Error() + ".", Remedy: ae.Remedy()})
		return
	}
	rep.User = &diagnose.UserInfo{Username: u.Username, Name: u.Name, Admin: u.IsAdmin, Bot: u.Bot, State: u.State}
	set(diagnose.Step{ID: diagnose.StepIdentity, Status: diagnose.Pass, Seen: fmt.Sprintf("The token acts as @%s.", u.Username)})
	pg, err := c.FirstProjectsPage(ctx, gitlab.ProjectFilter{Membership: true, MinAccessLevel: gitlab.ReporterAccess})
	if err != nil {
		ae := gitlab.ClassifyError(err)
		set(diagnose.Step{ID: diagnose.StepProjects, Status: diagnose.Fail, Kind: ae.Kind, Seen: "Listing projects failed: " + ae.Error() + ".", Remedy: ae.Remedy()})
		return
	}
	n := pg.Listed
	if pg.HasTotal {
		n = pg.Total
	}
	rep.Projects = &diagnose.ProjectCount{Count: n, Exact: pg.HasTotal}
	if n == 0 {
		set(diagnose.Step{ID: diagnose.StepProjects, Status: diagnose.Warn, Seen: fmt.Sprintf("@%s is not a member with the Reporter role or higher of any project.", u.Username),
			Remedy: fmt.Sprintf("Add @%s to the groups or projects labsync should sync with at least the Reporter role.", u.Username)})
		return
	}
	set(diagnose.Step{ID: diagnose.StepProjects, Status: diagnose.Pass, Seen: fmt.Sprintf("The account is a member of %d projects with the Reporter role or higher.", n)})
}

// OAuthAppView is an organisation's application without its secret.
type OAuthAppView struct {
	ID        int64     `json:"id"`
	BaseURL   string    `json:"base_url"`
	ClientID  string    `json:"client_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OAuthApps lists org's applications.
func (s *Service) OAuthApps(ctx context.Context, orgID int64) ([]OAuthAppView, error) {
	apps, err := s.st.OrgOAuthApps(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]OAuthAppView, 0, len(apps))
	for _, a := range apps {
		out = append(out, AppView(a))
	}
	return out, nil
}

// AppView hides the secret of an application.
func AppView(a store.OAuthApp) OAuthAppView {
	return OAuthAppView{ID: a.ID, BaseURL: a.BaseURL, ClientID: a.ClientID, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

var _ oauth2.TokenSource = (*oauthSource)(nil)
