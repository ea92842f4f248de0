package integrations

import (
	"fmt"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
)

// TokenKindInfo says what kind of credential an integration holds and what
// that means for its expiry and for what labsync can see through it.
type TokenKindInfo struct {
	// Kind is personal, project, group, service_account, bot or oauth.
	Kind string `json:"kind"`
	// Text names the kind in words ("group access token").
	Text string `json:"text"`
	// Resource is the project or group a project or group access token
	// belongs to, when known.
	Resource string `json:"resource,omitempty"`
	// Expiry and Visibility say what the kind means for when the token
	// stops working and for what labsync sees through it.
	Expiry     string `json:"expiry"`
	Visibility string `json:"visibility"`
}

// tokenKindInfo describes kind; expires is the token's expiry (nil: none
// or unknown), resource the project or group of a resource token.
func tokenKindInfo(kind string, expires *time.Time, resource string) TokenKindInfo {
	in := TokenKindInfo{Kind: kind, Resource: resource}
	of := ""
	if resource != "" {
		of = " " + resource
	}
	never := "It has no expiry date; GitLab 16.0 and later no longer create such tokens, so its replacement will expire."
	if expires != nil {
		never = fmt.Sprintf("It expires on %s (at 00:00 UTC); labsync warns 30, 7 and 1 days before. GitLab 16.0 and later require an expiry (at most a year).", expires.UTC().Format(time.DateOnly))
	}
	switch kind {
	case gitlab.TokenPersonal:
		in.Text = "personal access token"
		in.Expiry = never + " It stops working if its owner is blocked or leaves."
		in.Visibility = "labsync sees what its owner sees: every project and group the person is a member of, and public ones."
	case gitlab.TokenProject:
		in.Text = "project access token"
		in.Expiry = never + " It is deleted with its project" + of + "."
		in.Visibility = "labsync sees only that project" + of + " (and public projects): its bot is a member of nothing else."
	case gitlab.TokenGroup:
		in.Text = "group access token"
		in.Expiry = never + " It is deleted with its group" + of + "."
		in.Visibility = "labsync sees that group" + of + ", its subgroups and their projects (and public projects), nothing else."
	case gitlab.TokenServiceAccount:
		in.Text = "service account token"
		in.Expiry = never + " It belongs to no person, so nobody leaving stops it."
		in.Visibility = "labsync sees the groups and projects the service account was added to (and public ones)."
	case gitlab.TokenBot:
		in.Text = "bot token (a group access token or a service account)"
		in.Expiry = never + " A group access token is deleted with its group; a service account's token belongs to no person."
		in.Visibility = "labsync sees only the groups and projects the bot is a member of (and public ones). GitLab tells which kind of bot it is only to the group's Owners and administrators."
	case gitlab.TokenOAuth:
		in.Text = "OAuth token"
		in.Expiry = "Each access token lives two hours (GitLab 15.0 and later); labsync renews it with the refresh token. It stops when the person revokes the application in GitLab or is blocked."
		in.Visibility = "labsync sees what the person who authorised it sees, within the scopes granted."
	default:
		in.Text = "access token"
	}
	return in
}
