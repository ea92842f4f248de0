package diagnose

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/secret"
)

func jsonObject(b []byte, v *map[string]any) bool { return json.Unmarshal(b, v) == nil && *v != nil }

const noTokenSeen = "No token was given, so only the way to GitLab was checked."

// prepareToken runs once before the version step: it trims the token,
// recognises tokens of the wrong kind and builds the authenticated client.
func (r *runner) prepareToken() {
	raw := r.in.Token.Reveal()
	r.token = strings.TrimSpace(raw)
	r.trimmed = r.token != raw
	if r.token == "" {
		r.noToken = true
		return
	}
	if k := classifyToken(r.token); k != nil && k.wrong {
		r.badKind = k
		return
	}
	if strings.IndexFunc(r.token, unicode.IsSpace) >= 0 {
		r.badKind = &tokenKind{name: "text with spaces or line breaks inside", wrong: true,
			remedy: "Paste the token again as one word; a GitLab token never contains spaces."}
		return
	}
	c, err := gitlab.New(gitlab.Options{BaseURL: r.base, Token: secret.New(r.token), CAPEM: r.in.CAPEM,
		Policy: r.in.Policy, Timeout: r.in.Timeout, UserAgent: "labsync-doctor",
		Proxy: r.in.Proxy, Resolver: r.clientResolver(), AllowInsecureHTTP: r.in.AllowInsecureHTTP})
	if err != nil {
		r.badKind = &tokenKind{name: "unusable", wrong: true, remedy: err.Error()}
		return
	}
	r.api = c
}

func (r *runner) checkVersion(ctx context.Context) Step {
	r.prepareToken()
	switch {
	case r.noToken:
		r.stopped = "Not checked: no token was given."
		return Step{Status: Skip, Seen: noTokenSeen, Remedy: "Give an access token with the read_api scope to check the version, the token, its account and its projects."}
	case r.badKind != nil:
		return Step{Status: Skip, Seen: "Not checked: the token cannot be used (see the token step)."}
	}
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	v, err := r.api.ServerVersion(octx)
	if err != nil {
		ae := gitlab.ClassifyError(err)
		if ae.IsTokenProblem() || ae.Kind == gitlab.KindForbidden {
			r.authErr = ae
			return Step{Status: Skip, Kind: ae.Kind, Seen: "GitLab did not accept the token for /version, so the version is unknown (see the token step)."}
		}
		return Step{Status: Fail, Kind: ae.Kind, Seen: "Reading /version failed: " + ae.Error() + ".", Remedy: ae.Remedy()}
	}
	ver, perr := gitlab.ParseVersion(v.Version)
	if perr != nil {
		return Step{Status: Warn, Kind: gitlab.KindUnexpected, Seen: fmt.Sprintf("GitLab reported the version %q, which labsync cannot read.", v.Version),
			Remedy: "labsync assumes an old GitLab and uses the most compatible requests."}
	}
	hasMeta := false
	if ver.AtLeast(15, 2) {
		if md, err := r.api.Metadata(octx); err == nil {
			hasMeta = true
			if md.Enterprise {
				ver.Enterprise = true
			}
		}
	}
	r.version = &ver
	r.report.Version = &ver
	caps := gitlab.Capabilities(ver, hasMeta)
	r.report.Capabilities = caps
	var degraded []string
	ok := 0
	for _, c := range caps {
		if c.Status == gitlab.CapOK {
			ok++
		} else {
			degraded = append(degraded, c.Name)
		}
	}
	seen := fmt.Sprintf("GitLab %s %s", ver, ver.Edition())
	if v.Revision != "" {
		seen += fmt.Sprintf(" (revision %s)", v.Revision)
	}
	seen += fmt.Sprintf(". %d of %d capabilities fully available", ok, len(caps))
	if len(degraded) > 0 {
		seen += "; limited: " + strings.Join(degraded, ", ")
	}
	seen += "."
	switch {
	case !ver.Supported():
		return Step{Status: Fail, Kind: gitlab.KindUnexpected, Seen: seen + fmt.Sprintf(" GitLab older than %d.%d is not supported.", gitlab.MinMajor, gitlab.MinMinor),
			Remedy: "Upgrade GitLab; labsync needs 9.0 or newer, and 14.0 or newer for full pipeline and merge request data."}
	case !ver.AtLeast(gitlab.FullSupportMajor, gitlab.FullSupportMinor):
		return Step{Status: Warn, Seen: seen + " Older than 14: pipelines and merge request fields are degraded.",
			Remedy: "Upgrade GitLab to 14.0 or newer for full pipeline and merge request data; until then labsync syncs with less detail."}
	}
	return Step{Status: Pass, Seen: seen}
}

func (r *runner) checkToken(ctx context.Context) Step {
	if r.badKind != nil {
		r.stopped = "Not checked: the token cannot be used."
		s := Step{Status: Fail, Kind: gitlab.KindTokenInvalid,
			Seen: fmt.Sprintf("This is not an access token labsync can use: it looks like %s.", r.badKind.name)}
		s.Remedy = r.badKind.remedy
		if s.Remedy == "" {
			s.Remedy = createTokenRemedy
		}
		return s
	}
	trimNote := ""
	if r.trimmed {
		trimNote = " The token had spaces or line breaks around it; they were removed."
	}
	if r.authErr != nil {
		r.stopped = "Not checked: GitLab did not accept the token."
		return tokenRefused(r.authErr, r.token, trimNote)
	}
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	if r.version == nil || r.version.AtLeast(15, 5) {
		pat, err := r.api.AccessTokenSelf(octx)
		if err == nil {
			return r.judgePAT(pat, trimNote)
		}
		ae := gitlab.ClassifyError(err)
		if ae.IsTokenProblem() && ae.Kind != gitlab.KindInsufficientScope {
			r.stopped = "Not checked: GitLab did not accept the token."
			return tokenRefused(ae, r.token, trimNote)
		}
		// Not a personal access token (OAuth), or the endpoint is refused:
		// fall back to /user and a scope probe.
	}
	return r.probeToken(octx, trimNote)
}

const createTokenRemedy = "Create a personal access token (or a group or project access token) with the read_api scope in GitLab: User settings → Access tokens. Use api instead only if labsync should register webhooks."

func tokenRefused(ae *gitlab.APIError, token, trimNote string) Step {
	s := Step{Status: Fail, Kind: ae.Kind, Remedy: ae.Remedy()}
	switch ae.Kind {
	case gitlab.KindTokenExpired:
		s.Seen = "GitLab says the token has expired."
	case gitlab.KindTokenRevoked:
		s.Seen = "GitLab says the token has been revoked."
	case gitlab.KindTokenInvalid:
		s.Seen = "GitLab does not know this token (401)."
		if k := classifyToken(token); k != nil && !k.wrong {
			s.Seen += " It looks like " + k.name + "."
		}
		if trimNote == "" && len(token) < 20 {
			s.Seen += fmt.Sprintf(" It is only %d characters long; it may have been cut when copied.", len(token))
		}
	case gitlab.KindInsufficientScope:
		s.Seen = "The token lacks the scope GitLab needs to read the API"
		if len(ae.RequiredScopes) > 0 {
			s.Seen += " (GitLab asks for one of: " + strings.Join(ae.RequiredScopes, ", ") + ")"
		}
		s.Seen += "."
		s.Remedy = createTokenRemedy + " The scopes of an existing token cannot be changed."
	case gitlab.KindForbidden:
		s.Seen = "GitLab refused the token's account (403)."
		if ae.GitLabMessage != "" {
			s.Seen += fmt.Sprintf(" GitLab says: %q.", ae.GitLabMessage)
		}
		s.Remedy = "The account may be blocked, deactivated or awaiting terms acceptance; ask a GitLab administrator to check it, or use a token of an active account."
	default:
		s.Seen = "Checking the token failed: " + ae.Error() + "."
	}
	if ae.GitLabMessage != "" && ae.Kind != gitlab.KindForbidden && ae.Kind != gitlab.KindTokenInvalid {
		s.Seen += fmt.Sprintf(" (GitLab: %q)", ae.GitLabMessage)
	}
	s.Seen += trimNote
	return s
}

func (r *runner) judgePAT(pat gitlab.AccessToken, trimNote string) Step {
	info := &TokenInfo{Name: pat.Name, Scopes: pat.Scopes, Active: pat.Active && !pat.Revoked}
	r.report.Token = info
	var exp time.Time
	if pat.ExpiresAt != nil {
		exp = *pat.ExpiresAt
		info.ExpiresAt = exp.Format(time.DateOnly)
	}
	seen := fmt.Sprintf("Access token %q with scopes %s", pat.Name, strings.Join(pat.Scopes, ", "))
	if info.ExpiresAt != "" {
		seen += ", expires " + info.ExpiresAt
	} else {
		seen += ", never expires"
	}
	seen += "."
	if !info.Active {
		r.stopped = "Not checked: the token is not active."
		return Step{Status: Fail, Kind: gitlab.KindTokenRevoked, Seen: seen + " GitLab reports it as no longer active." + trimNote, Remedy: createTokenRemedy}
	}
	hasRead := slices.Contains(pat.Scopes, "read_api") || slices.Contains(pat.Scopes, "api")
	if !hasRead {
		r.stopped = "Not checked: the token lacks the read_api scope."
		return Step{Status: Fail, Kind: gitlab.KindInsufficientScope,
			Seen:   seen + " labsync needs read_api (or api) to read projects, merge requests, issues and pipelines." + trimNote,
			Remedy: createTokenRemedy + " The scopes of an existing token cannot be changed."}
	}
	if slices.Contains(pat.Scopes, "api") {
		seen += " The api scope also allows writing; labsync only reads, so read_api is enough unless labsync should register webhooks."
	}
	status, remedy := Pass, ""
	if !exp.IsZero() {
		days := int(time.Until(exp).Hours() / 24)
		switch {
		case time.Now().After(exp):
			r.stopped = "Not checked: the token has expired."
			return Step{Status: Fail, Kind: gitlab.KindTokenExpired, Seen: seen + " It has expired." + trimNote, Remedy: createTokenRemedy}
		case days <= 30:
			status = Warn
			seen += fmt.Sprintf(" It expires in %d days.", days)
			remedy = "Create a replacement token before " + info.ExpiresAt + " and update the connection; labsync stops syncing when the token expires."
		}
	}
	if r.trimmed {
		status = Warn
		seen += trimNote
		remedy = strings.TrimSpace(remedy + " Store the token without surrounding spaces or line breaks.")
	}
	return Step{Status: status, Seen: seen, Remedy: remedy}
}

// probeToken checks a token whose scopes cannot be listed: /user must answer,
// then one page of /projects shows whether the API scope is there.
func (r *runner) probeToken(ctx context.Context, trimNote string) Step {
	u, err := r.api.CurrentUser(ctx)
	if err != nil {
		ae := gitlab.ClassifyError(err)
		if ae.IsTokenProblem() || ae.Kind == gitlab.KindForbidden {
			r.stopped = "Not checked: GitLab did not accept the token."
			return tokenRefused(ae, r.token, trimNote)
		}
		return Step{Status: Fail, Kind: ae.Kind, Seen: "Reading /user failed: " + ae.Error() + ".", Remedy: ae.Remedy()}
	}
	r.setUser(u)
	_, err = r.api.FirstProjectsPage(ctx, gitlab.ProjectFilter{})
	if err != nil {
		ae := gitlab.ClassifyError(err)
		if ae.IsTokenProblem() {
			r.stopped = "Not checked: the token cannot read projects."
			s := tokenRefused(ae, r.token, trimNote)
			s.Seen = "The token can read its user profile but not the API. " + s.Seen
			return s
		}
		return Step{Status: Fail, Kind: ae.Kind, Seen: "Reading /projects failed: " + ae.Error() + ".", Remedy: ae.Remedy()}
	}
	r.report.Token = &TokenInfo{Active: true}
	seen := "GitLab accepted the token for /user and /projects, so it has read_api or api. Its scopes and expiry cannot be read"
	if r.version != nil && !r.version.AtLeast(15, 5) {
		seen += " on GitLab before 15.5."
	} else {
		seen += " for this kind of token."
	}
	if r.trimmed {
		return Step{Status: Warn, Seen: seen + trimNote, Remedy: "Store the token without surrounding spaces or line breaks."}
	}
	return Step{Status: Pass, Seen: seen}
}

func (r *runner) setUser(u gitlab.User) {
	r.report.User = &UserInfo{Username: u.Username, Name: u.Name, Admin: u.IsAdmin, Bot: u.Bot, State: u.State}
}

func (r *runner) checkIdentity(ctx context.Context) Step {
	if r.report.User == nil {
		octx, cancel := r.opCtx(ctx)
		defer cancel()
		u, err := r.api.CurrentUser(octx)
		if err != nil {
			ae := gitlab.ClassifyError(err)
			return Step{Status: Fail, Kind: ae.Kind, Seen: "Reading /user failed: " + ae.Error() + ".", Remedy: ae.Remedy()}
		}
		r.setUser(u)
	}
	u := r.report.User
	seen := fmt.Sprintf("The token belongs to @%s", u.Username)
	if u.Name != "" {
		seen += fmt.Sprintf(" (%s)", u.Name)
	}
	seen += fmt.Sprintf("; administrator: %s; bot: %s.", yesNo(u.Admin), yesNo(u.Bot))
	if u.Bot {
		seen += " A bot account belongs to a project or group access token: it sees only that project or group."
	}
	if u.Admin {
		seen += " An administrator's token can see every project; a dedicated account with the Reporter role on the synced groups is safer."
	}
	if u.State != "" && u.State != "active" {
		return Step{Status: Warn, Seen: seen + fmt.Sprintf(" The account's state is %q.", u.State),
			Remedy: "Ask a GitLab administrator to reactivate or unblock the account, or use a token of an active account."}
	}
	return Step{Status: Pass, Seen: seen}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (r *runner) checkProjects(ctx context.Context) Step {
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	n, exact, err := r.countProjects(octx, true, gitlab.ReporterAccess)
	if err != nil {
		ae := gitlab.ClassifyError(err)
		s := Step{Status: Fail, Kind: ae.Kind, Seen: "Listing projects failed: " + ae.Error() + ".", Remedy: ae.Remedy()}
		if ae.Kind == gitlab.KindInsufficientScope {
			s.Remedy = createTokenRemedy
		}
		return s
	}
	r.report.Projects = &ProjectCount{Count: n, Exact: exact}
	if n > 0 {
		count := fmt.Sprint(n)
		if !exact {
			count = "at least " + count
		}
		return Step{Status: Pass, Seen: fmt.Sprintf("The account is a member of %s projects with the Reporter role or higher; labsync can sync them.", count)}
	}
	who := "the token's account"
	if r.report.User != nil {
		who = "@" + r.report.User.Username
	}
	seen := fmt.Sprintf("%s is not a member with the Reporter role or higher of any project.", who)
	if m, _, err := r.countProjects(octx, true, 0); err == nil && m > 0 {
		seen += fmt.Sprintf(" It is a member of %d projects, but with the Guest role (or a custom role below Reporter).", m)
	}
	if v, exact, err := r.countProjects(octx, false, 0); err == nil && v > 0 {
		more := ""
		if !exact {
			more = "at least "
		}
		seen += fmt.Sprintf(" It can see %s%d public or internal projects it is not a member of; labsync syncs only projects of which the account is a member.", more, v)
	}
	remedy := fmt.Sprintf("Add %s to the groups or projects labsync should sync with at least the Reporter role (Maintainer if labsync should register project webhooks, Owner for group webhooks); membership of a group covers its subgroups and projects. Check the projects' visibility and that the token has read_api or api.", who)
	if r.report.User != nil && r.report.User.Bot {
		remedy += " This is a project or group access token: it only sees its own project or group."
	}
	return Step{Status: Warn, Seen: seen, Remedy: remedy}
}

// countProjects counts projects with one small request: X-Total when GitLab
// sends it (it does not above 10,000), else a lower bound from the page.
func (r *runner) countProjects(ctx context.Context, membership bool, minLevel int) (int64, bool, error) {
	pg, err := r.api.FirstProjectsPage(ctx, gitlab.ProjectFilter{Membership: membership, MinAccessLevel: minLevel})
	if err != nil {
		return 0, false, err
	}
	if pg.HasTotal {
		return pg.Total, true, nil
	}
	n := pg.Listed
	if pg.More {
		n++
	}
	return n, n == 0, nil
}
