package ingest

import (
	"regexp"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// personJSON is a user object as API items (author, user, resolved_by:
// Entities::UserBasic — id, username, name, state, avatar_url, web_url;
// the users API adds bot in 13.x) and payloads (user: id, name, username,
// avatar_url, email — User#hook_attrs) show one.
type personJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Bot      *bool  `json:"bot"`
	UserType string `json:"user_type"` // admin views of the users API
}

func (p *personJSON) username() string {
	if p == nil {
		return ""
	}
	return p.Username
}

func (p *personJSON) id() *int64 {
	if p == nil || p.ID == 0 {
		return nil
	}
	id := p.ID
	return &id
}

// botUsernames are the usernames GitLab gives its internal bot users
// (app/models/user.rb, User.<kind>_bot; user_type in
// app/models/concerns/has_user_type.rb): each is created on first use,
// with this username, suffixed by a number when taken.
var botUsernames = regexp.MustCompile(`^(alert-bot|support-bot|visual-review-bot|migration-bot|security-bot|automation-bot|` +
	`security-policy-bot|admin-bot|suggested-reviewers-bot|llm-bot|duo-code-review-bot|gitlab-duo)\d*$`)

// resourceBot matches project and group access token users
// (ResourceAccessTokens::CreateService: "project_<id>_bot" in 13.x, then
// "project_<id>_bot_<hex>"; groups alike from 14.x) and service accounts
// ("service_account_…", 16.x).
var resourceBot = regexp.MustCompile(`^((project|group)_\d+_bot(\d+|_[0-9a-f]+)?|service_account_.+)$`)

// IsBot reports whether a user is a bot: GitLab's own flag or user_type
// where the payload carries one, otherwise the usernames GitLab gives its
// bot users.
func IsBot(username, userType string, flag *bool) bool {
	if flag != nil {
		return *flag
	}
	switch userType {
	case "":
	case "human", "ghost":
		return false
	default:
		return true
	}
	return botUsernames.MatchString(username) || resourceBot.MatchString(username)
}

// Person returns the store row of a user object seen at the given time, and
// whether the object named a user at all.
func (p *personJSON) person(integrationID int64, seen *time.Time) (store.Person, bool) {
	if p == nil || p.ID == 0 || p.Username == "" {
		return store.Person{}, false
	}
	out := store.Person{IntegrationID: integrationID, GitLabID: p.ID, Username: p.Username, Name: p.Name, UserType: p.UserType,
		Bot: IsBot(p.Username, p.UserType, p.Bot)}
	if seen != nil {
		out.SeenAt = *seen
	}
	return out, true
}

// people collects the persons of the given user objects, once each.
func people(integrationID int64, seen *time.Time, ps ...*personJSON) []store.Person {
	var out []store.Person
	have := map[int64]bool{}
	for _, p := range ps {
		if pr, ok := p.person(integrationID, seen); ok && !have[pr.GitLabID] {
			have[pr.GitLabID] = true
			out = append(out, pr)
		}
	}
	return out
}
