package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Token kinds for AccessTokenSpec.Kind.
const (
	// TokenPersonal is an ordinary user's personal access token.
	TokenPersonal = "personal"
	// TokenProject is a project access token: GitLab creates a bot user
	// (user_type project_bot) that is a member of that one project only
	// (13.0+; API 13.9+).
	TokenProject = "project"
	// TokenGroup is a group access token: a bot user (user_type
	// project_bot as well) that is a member of that one group (14.7+).
	TokenGroup = "group"
	// TokenServiceAccount is a personal access token of a service account
	// (user_type service_account, 16.1+): a bot that belongs to no project
	// or group until it is added as a member.
	TokenServiceAccount = "service_account"
)

// Bot user types as GitLab's HasUserType names them.
const (
	userTypeHuman          = ""
	userTypeProjectBot     = "project_bot"
	userTypeServiceAccount = "service_account"
)

// AccessTokenSpec describes a token to create with CreateAccessToken.
type AccessTokenSpec struct {
	// Kind is TokenPersonal (default), TokenProject, TokenGroup or
	// TokenServiceAccount.
	Kind string `json:"kind"`
	// User owns a personal token (default root); ignored for the others,
	// whose user is a new bot.
	User string `json:"user"`
	// ProjectID is the project of a project token, and for a service
	// account the project it is made a member of (0: none).
	ProjectID int64 `json:"project_id"`
	// GroupID is the group of a group token, and for a service account the
	// group it is made a member of (0: none).
	GroupID int64 `json:"group_id"`
	// AccessLevel is the bot's membership level (10 guest … 50 owner);
	// default 40 (Maintainer), ResourceAccessTokens::CreateService's default.
	AccessLevel int `json:"access_level"`
	// Name is the token's name, and a project or group bot's display name;
	// default "<Resource name> bot" for bots, "sandbox" otherwise.
	Name string `json:"name"`
	// Scopes default to ["api"].
	Scopes []string `json:"scopes"`
	// ExpiresAt as TokenSpec.ExpiresAt.
	ExpiresAt time.Time `json:"expires_at"`
}

// AccessToken is a token CreateAccessToken made, with the user it acts as.
type AccessToken struct {
	Token     string `json:"token"`
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`
	UserID    int64  `json:"user_id"`
	Username  string `json:"username"`
	ProjectID int64  `json:"project_id,omitempty"`
	GroupID   int64  `json:"group_id,omitempty"`
}

// botUsername is Gitlab::Utils::UsernameAndEmailGenerator's username:
// "<prefix>_<32 hex>" (the random segment came with 16.0 here, approximate;
// before, Uniquify's "<prefix>", "<prefix>1", … as in 13.x–15.x).
func (s *Sandbox) botUsername(prefix string) string {
	if s.ver.atLeast(16, 0) {
		return prefix + "_" + randomString(32)
	}
	name := prefix
	for i := 1; s.userByName(name) != nil; i++ {
		name = fmt.Sprintf("%s%d", prefix, i)
	}
	return name
}

// CreateAccessToken creates a token of spec.Kind as GitLab does: a project
// or group access token makes a bot user "project_<id>_bot_<hex>" or
// "group_<id>_bot_<hex>" (email <username>@noreply.<host>) that is a member
// of that project or group at AccessLevel, so the token sees that project
// or group (and public data) only; a service account is a bot
// "service_account_<hex>" (a group's: "service_account_group_<id>_<hex>")
// that is a member where ProjectID/GroupID say. Bots answer bot: true on
// /user. It fails with ErrInvalid where the version has no such kind
// (project 13.0, group 14.7, service accounts 16.1) and ErrNotFound for an
// unknown project, group or user.
func (s *Sandbox) CreateAccessToken(spec AccessTokenSpec) (AccessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.AccessLevel == 0 {
		spec.AccessLevel = accessMaintainer
	}
	if !slices.Contains([]int{10, 15, 20, 30, 40, 50}, spec.AccessLevel) {
		return AccessToken{}, fmt.Errorf("%w: access level %d", ErrInvalid, spec.AccessLevel)
	}
	var p *project
	var g *group
	if spec.ProjectID != 0 {
		if p = s.projectByRef(fmt.Sprint(spec.ProjectID)); p == nil || p.deleted {
			return AccessToken{}, fmt.Errorf("%w: project %d", ErrNotFound, spec.ProjectID)
		}
	}
	if spec.GroupID != 0 {
		if g = s.groupByRef(fmt.Sprint(spec.GroupID)); g == nil {
			return AccessToken{}, fmt.Errorf("%w: group %d", ErrNotFound, spec.GroupID)
		}
	}
	host := strings.TrimPrefix(strings.TrimPrefix(s.baseURL, "https://"), "http://")
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	var u *user
	out := AccessToken{Kind: spec.Kind}
	switch spec.Kind {
	case "", TokenPersonal:
		out.Kind = TokenPersonal
		if u = s.userByName(spec.User); u == nil {
			return AccessToken{}, fmt.Errorf("%w: user %q", ErrNotFound, spec.User)
		}
	case TokenProject:
		if !s.ver.atLeast(13, 0) {
			return AccessToken{}, fmt.Errorf("%w: project access tokens came with GitLab 13.0", ErrInvalid)
		}
		if p == nil {
			return AccessToken{}, fmt.Errorf("%w: a project token needs project_id", ErrInvalid)
		}
		name := spec.Name
		if name == "" {
			name = p.name + " bot"
		}
		u = s.addBot(s.botUsername(fmt.Sprintf("project_%d_bot", p.id)), name, userTypeProjectBot, host)
		p.members[u.id] = spec.AccessLevel
		out.ProjectID = p.id
	case TokenGroup:
		if !s.ver.atLeast(14, 7) {
			return AccessToken{}, fmt.Errorf("%w: group access tokens came with GitLab 14.7", ErrInvalid)
		}
		if g == nil {
			return AccessToken{}, fmt.Errorf("%w: a group token needs group_id", ErrInvalid)
		}
		name := spec.Name
		if name == "" {
			name = g.name + " bot"
		}
		u = s.addBot(s.botUsername(fmt.Sprintf("group_%d_bot", g.id)), name, userTypeProjectBot, host)
		g.members[u.id] = spec.AccessLevel
		out.GroupID = g.id
	case TokenServiceAccount:
		if !s.ver.atLeast(16, 1) {
			return AccessToken{}, fmt.Errorf("%w: service accounts came with GitLab 16.1", ErrInvalid)
		}
		prefix := "service_account"
		if g != nil {
			prefix = fmt.Sprintf("service_account_group_%d", g.id)
		}
		u = s.addBot(s.botUsername(prefix), "Service account user", userTypeServiceAccount, host)
		if g != nil {
			g.members[u.id] = spec.AccessLevel
			out.GroupID = g.id
		}
		if p != nil {
			p.members[u.id] = spec.AccessLevel
			out.ProjectID = p.id
		}
	default:
		return AccessToken{}, fmt.Errorf("%w: token kind %q (personal, project, group, service_account)", ErrInvalid, spec.Kind)
	}
	name := spec.Name
	if name == "" {
		name = "sandbox"
	}
	t := s.addPATLocked(u, name, spec.Scopes, spec.ExpiresAt)
	t.kindName = out.Kind
	out.Token, out.ID, out.UserID, out.Username = t.value, t.id, u.id, u.username
	return out, nil
}

// addBot appends a bot user; s.mu must be held.
func (s *Sandbox) addBot(username, name, userType, host string) *user {
	u := &user{id: int64(len(s.users) + 1), username: username, name: name, email: username + "@noreply." + host,
		created: s.clock().UTC().Truncate(time.Second), userType: userType}
	s.users = append(s.users, u)
	return u
}

// addPATLocked creates a personal access token of u; s.mu must be held.
func (s *Sandbox) addPATLocked(u *user, name string, scopes []string, exp time.Time) *token {
	if len(scopes) == 0 {
		scopes = []string{"api"}
	}
	now := s.clock()
	if exp.IsZero() && s.ver.patMustExpire() {
		exp = now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 365)
	}
	s.nextTokenID++
	prefix := ""
	if s.ver.atLeast(14, 5) {
		prefix = "glpat-"
	}
	t := &token{id: s.nextTokenID, value: prefix + randomString(20), kind: tokenPAT, name: name, user: u,
		scopes: slices.Clone(scopes), created: now, expires: exp}
	s.tokens[t.value] = t
	return t
}

// resourceTokens lists the active tokens of the bots that are members of
// members, with their access level, as ResourceAccessTokens finders do.
func (s *Sandbox) resourceTokens(members map[int64]int) (any, error) {
	now := s.clock()
	var out []any
	for _, t := range s.tokens {
		lvl, ok := members[t.user.id]
		if !ok || t.user.userType != userTypeProjectBot || t.kind != tokenPAT || t.revoked || t.expired(now) {
			continue
		}
		m := s.renderPAT(t)
		m["access_level"] = lvl
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b any) int { return int(a.(map[string]any)["id"].(int64) - b.(map[string]any)["id"].(int64)) })
	if out == nil {
		out = []any{}
	}
	return out, nil
}

// listProjectAccessTokens is GET /projects/:id/access_tokens (13.9+):
// Maintainers and above (a project bot with Maintainer access lists its own
// token, which is how a client tells a project token apart).
func (s *Sandbox) listProjectAccessTokens(c *call) (any, error) {
	p, err := c.maintainerProject()
	if err != nil {
		return nil, err
	}
	return s.resourceTokens(p.members)
}

// listGroupAccessTokens is GET /groups/:id/access_tokens (14.7+): Owners
// only (a group bot with Owner access lists its own token).
func (s *Sandbox) listGroupAccessTokens(c *call) (any, error) {
	g, err := c.group()
	if err != nil {
		return nil, err
	}
	if !c.user.admin && groupAccess(g, c.user.id) < accessOwner {
		return nil, errForbidden
	}
	return s.resourceTokens(g.members)
}

// typeName reports a user's type for the manifest ("human" for people).
func (u *user) typeName() string {
	if u.userType == userTypeHuman {
		return "human"
	}
	return u.userType
}

// accessTokensLocked lists the project, group and service-account tokens
// with the seeded projects and groups their users belong to (for the
// manifest); s.mu must be held.
func (s *Sandbox) accessTokensLocked() []AccessTokenInfo {
	var out []AccessTokenInfo
	for _, t := range s.tokens {
		if t.kindName == "" || t.kindName == TokenPersonal {
			continue
		}
		info := AccessTokenInfo{ID: t.id, Kind: t.kindName, UserID: t.user.id, Username: t.user.username, UserType: t.user.typeName(),
			Scopes: slices.Clone(t.scopes), Revoked: t.revoked}
		if !t.expires.IsZero() {
			info.ExpiresAt = t.expires.UTC().Format("2006-01-02")
		}
		for _, p := range s.projects[:s.seededProjects] {
			if _, ok := p.members[t.user.id]; ok {
				info.Projects = append(info.Projects, p.id)
			}
		}
		for _, g := range s.groups[:s.seededGroups] {
			if _, ok := g.members[t.user.id]; ok {
				info.Groups = append(info.Groups, g.id)
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b AccessTokenInfo) int { return int(a.ID - b.ID) })
	return out
}

// AccessTokenInfo describes a project, group or service-account token in the
// manifest (never its value).
type AccessTokenInfo struct {
	ID        int64    `json:"id"`
	Kind      string   `json:"kind"`
	UserID    int64    `json:"user_id"`
	Username  string   `json:"username"`
	UserType  string   `json:"user_type"`
	Scopes    []string `json:"scopes"`
	ExpiresAt string   `json:"expires_at,omitempty"`
	Revoked   bool     `json:"revoked,omitempty"`
	Projects  []int64  `json:"projects,omitempty"`
	Groups    []int64  `json:"groups,omitempty"`
}
