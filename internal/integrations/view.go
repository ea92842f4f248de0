package integrations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/store"
)

// View is an integration as the API shows it. It never holds a secret.
type View struct {
	ID          int64  `json:"id"`
	Alias       string `json:"alias"`
	BaseURL     string `json:"base_url"`
	IsGitLabCom bool   `json:"is_gitlab_com"`
	AuthMethod  string `json:"auth_method"`
	Status      string `json:"status"`
	// StatusText says the status in words; StatusReason why (GitLab's
	// words where it gave some); Remedy what to do.
	StatusText       string              `json:"status_text"`
	StatusReason     string              `json:"status_reason,omitempty"`
	Remedy           string              `json:"remedy,omitempty"`
	Version          string              `json:"version,omitempty"`
	Revision         string              `json:"revision,omitempty"`
	Edition          string              `json:"edition,omitempty"`
	VersionCheckedAt *time.Time          `json:"version_checked_at,omitempty"`
	Capabilities     []gitlab.Capability `json:"capabilities"`
	Account          *Account            `json:"account,omitempty"`
	Token            *TokenView          `json:"token,omitempty"`
	// MissingScopes lists, per feature, the scope the credential lacks.
	MissingScopes         []MissingScope `json:"missing_scopes"`
	CustomCA              bool           `json:"custom_ca"`
	CACertificates        []string       `json:"ca_certificates,omitempty"`
	AllowHookRegistration bool           `json:"allow_hook_registration"`
	// AllowInsecureHTTP is the integration's opt-in to plain http;
	// Insecure is true when its GitLab is reached over plain http on a
	// host that is not this machine, so the token and data travel
	// unencrypted, and InsecureWarning says so in words.
	AllowInsecureHTTP bool   `json:"allow_insecure_http"`
	Insecure          bool   `json:"insecure"`
	InsecureWarning   string `json:"insecure_warning,omitempty"`
	// Settings are the integration's sync settings.
	Settings Settings `json:"settings"`
	// RedirectURI and OAuthClientID are set for OAuth integrations: the
	// redirect URI registered in GitLab and the application's id.
	RedirectURI   string    `json:"redirect_uri,omitempty"`
	OAuthClientID string    `json:"oauth_client_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Purge is set once disconnected: the deadline by which every synced
	// row is deleted, when it was, and the last failure of the purge job.
	Purge *store.Purge `json:"purge,omitempty"`
}

// Account is the GitLab account the credential acts as.
type Account struct {
	Username string `json:"username"`
	ID       *int64 `json:"id,omitempty"`
}

// TokenView describes the credential without showing it.
type TokenView struct {
	// Kind is personal, project, group, service_account, bot or oauth.
	Kind string `json:"kind"`
	// Scopes are empty with ScopesKnown false when GitLab cannot list them
	// (before 15.5).
	Scopes      []string   `json:"scopes"`
	ScopesKnown bool       `json:"scopes_known"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	// DaysLeft is whole days until expiry (negative once expired); nil when
	// the token does not expire or its expiry is unknown.
	DaysLeft *int `json:"days_left,omitempty"`
	// Warning is set 30, 7 and 1 days before an access token expires.
	Warning *ExpiryWarning `json:"warning,omitempty"`
	// AutoRefresh is true for OAuth: labsync renews the token itself.
	AutoRefresh bool `json:"auto_refresh"`
	// KindText names Kind in words; KindExpiry and KindVisibility say
	// what the kind means for expiry and for what labsync sees.
	KindText       string `json:"kind_text"`
	KindExpiry     string `json:"kind_expiry"`
	KindVisibility string `json:"kind_visibility"`
}

// ExpiryWarning is the warning shown before an access token expires.
type ExpiryWarning struct {
	// Level is the threshold reached: 30, 7 or 1 days, 0 once expired.
	ThresholdDays int    `json:"threshold_days"`
	Message       string `json:"message"`
}

// MissingScope says which scope a feature needs that the credential lacks.
type MissingScope struct {
	Feature string   `json:"feature"`
	Needs   []string `json:"needs"`
	// Required is false for features the integration has not opted in to.
	Required bool   `json:"required"`
	Why      string `json:"why"`
}

// features lists what each labsync feature needs from a token (any one of
// Needs).
var features = []struct {
	name  string
	needs []string
	why   string
}{
	{"sync", []string{"read_api", "api"}, "reading projects, merge requests, issues, pipelines and pushes needs read_api (or api)"},
	{"account", []string{"read_user", "read_api", "api"}, "reading the token's own account (/user) needs read_user, read_api or api"},
	{"git", []string{"read_repository", "write_repository"}, "cloning repositories over HTTPS needs read_repository"},
	{"webhook_registration", []string{"api"}, "registering labsync's webhooks in GitLab needs api; without it, create the webhook in GitLab yourself"},
}

func missingScopes(scopes []string, hooks bool) []MissingScope {
	out := []MissingScope{}
	if len(scopes) == 0 {
		return out
	}
	for _, f := range features {
		if hasAny(scopes, f.needs...) {
			continue
		}
		out = append(out, MissingScope{Feature: f.name, Needs: f.needs, Required: f.name != "webhook_registration" || hooks, Why: f.why})
	}
	return out
}

func statusWords(status string) string {
	switch status {
	case store.StatusActive:
		return "connected"
	case store.StatusNeedsNewToken:
		return "needs a new token"
	case store.StatusNeedsReauthorization:
		return "needs reauthorization"
	case store.StatusUnreachable:
		return "GitLab is unreachable"
	case store.StatusDisconnected:
		return "disconnected"
	}
	return status
}

func statusRemedy(i store.Integration) string {
	switch i.Status {
	case store.StatusNeedsNewToken:
		return fmt.Sprintf("Create a new access token in GitLab with the read_api scope (api if labsync registers webhooks) and give it with PATCH /api/v1/integrations/%d {\"token\": …} or `labsync integrations set-token %d --gitlab-token-file FILE`.", i.ID, i.ID)
	case store.StatusNeedsReauthorization:
		return fmt.Sprintf("Reconnect with OAuth: POST /api/v1/integrations/gitlab/start {\"integration_id\": %d} or `labsync connect oauth --reauthorize %d`, and approve the request in GitLab.", i.ID, i.ID)
	case store.StatusUnreachable:
		return fmt.Sprintf("Run the diagnosis (POST /api/v1/integrations/%d/test or `labsync integrations test %d`) to see what is in the way.", i.ID, i.ID)
	case store.StatusDisconnected:
		return "Connect the GitLab again to resume."
	}
	return ""
}

// View returns org's integration as the API shows it, or store.ErrNotFound.
func (s *Service) View(ctx context.Context, orgID, id int64) (View, error) {
	i, err := s.st.Integration(ctx, orgID, id)
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, i)
}

// List returns org's integrations, oldest first.
func (s *Service) List(ctx context.Context, orgID int64) ([]View, error) {
	list, err := s.st.Integrations(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(list))
	for _, i := range list {
		v, err := s.view(ctx, i)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) view(ctx context.Context, i store.Integration) (View, error) {
	v := View{ID: i.ID, Alias: i.Alias, BaseURL: i.BaseURL, AuthMethod: i.AuthMethod, Status: i.Status,
		StatusText: statusWords(i.Status), StatusReason: i.StatusReason, Remedy: statusRemedy(i),
		Version: i.GitLabVersion, Revision: i.GitLabRevision, VersionCheckedAt: i.VersionCheckedAt,
		CustomCA: strings.TrimSpace(i.CAPEM) != "", AllowHookRegistration: i.AllowHookRegistration,
		CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, Capabilities: []gitlab.Capability{}, MissingScopes: []MissingScope{},
		Purge: i.Purge}
	if b, err := storedURL(i.BaseURL, i.AllowInsecureHTTP); err == nil {
		v.IsGitLabCom = b.IsGitLabCom()
		v.Insecure = b.Insecure()
	}
	v.AllowInsecureHTTP = i.AllowInsecureHTTP
	if v.Insecure {
		v.InsecureWarning = InsecureWarning
	}
	st, err := s.st.SyncSettingsFor(ctx, i.OrgID, i.ID)
	if err != nil {
		return View{}, err
	}
	v.Settings = settingsView(st)
	if i.GitLabVersion != "" {
		v.Edition = "Community Edition"
		if i.GitLabEnterprise {
			v.Edition = "Enterprise Edition"
		}
	}
	_ = json.Unmarshal(i.Capabilities, &v.Capabilities)
	if v.Capabilities == nil {
		v.Capabilities = []gitlab.Capability{}
	}
	if v.CustomCA {
		if certs, err := gitlab.ParseCAPEM([]byte(i.CAPEM)); err == nil {
			for _, c := range certs {
				v.CACertificates = append(v.CACertificates, c.Subject.String()+" (until "+c.NotAfter.UTC().Format(time.DateOnly)+")")
			}
		}
	}
	if i.GitLabUsername != "" {
		v.Account = &Account{Username: i.GitLabUsername, ID: i.GitLabUserID}
	}
	if i.AuthMethod == store.AuthMethodOAuth {
		v.RedirectURI = s.RedirectURI()
		if i.OAuthAppID != nil {
			if app, err := s.st.OAuthAppByID(ctx, i.OrgID, *i.OAuthAppID); err == nil {
				v.OAuthClientID = app.ClientID
			}
		}
	}
	cred, err := s.st.Credential(ctx, i.OrgID, i.ID)
	if errors.Is(err, store.ErrNotFound) {
		return v, nil
	}
	if err != nil {
		return View{}, err
	}
	t := &TokenView{Kind: cred.TokenKind, Scopes: cred.Scopes, ScopesKnown: len(cred.Scopes) > 0, ExpiresAt: cred.ExpiresAt,
		AutoRefresh: cred.Kind == store.CredentialOAuth}
	if t.AutoRefresh {
		t.Kind = "oauth"
	}
	if t.Scopes == nil {
		t.Scopes = []string{}
	}
	ki := tokenKindInfo(t.Kind, cred.ExpiresAt, "")
	t.KindText, t.KindExpiry, t.KindVisibility = ki.Text, ki.Expiry, ki.Visibility
	if cred.ExpiresAt != nil {
		d := daysLeft(*cred.ExpiresAt, s.clock())
		t.DaysLeft = &d
		if cred.Kind == store.CredentialAccessToken {
			t.Warning = expiryWarning(*cred.ExpiresAt, s.clock())
		}
	}
	v.Token = t
	v.MissingScopes = missingScopes(cred.Scopes, i.AllowHookRegistration)
	return v, nil
}

// daysLeft is whole days from now until exp, rounded down (negative once
// expired).
func daysLeft(exp, now time.Time) int {
	return int(math.Floor(exp.Sub(now).Hours() / 24))
}

// thresholdFor is the warning threshold reached when exp is d whole days
// away from now: 30, 7 or 1; 0 for none yet; -1 once expired.
func thresholdFor(exp, now time.Time, d int) int {
	switch {
	case !exp.After(now):
		return -1
	case d <= 1:
		return 1
	case d <= 7:
		return 7
	case d <= 30:
		return 30
	}
	return 0
}

func expiryWarning(exp, now time.Time) *ExpiryWarning {
	d := daysLeft(exp, now)
	date := exp.UTC().Format(time.DateOnly)
	switch th := thresholdFor(exp, now, d); th {
	case 0:
		return nil
	case -1:
		return &ExpiryWarning{ThresholdDays: 0, Message: fmt.Sprintf("The access token expired on %s; labsync can no longer read this GitLab. Create a new token and give it to the integration.", date)}
	default:
		when := fmt.Sprintf("in %d days", d)
		if d < 1 {
			when = "within a day"
		} else if d == 1 {
			when = "in 1 day"
		}
		return &ExpiryWarning{ThresholdDays: th, Message: fmt.Sprintf("The access token expires %s (on %s). Create a new token with the same scopes before then and give it to the integration; labsync stops syncing when it expires.", when, date)}
	}
}
