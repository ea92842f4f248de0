package gitlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// Token kinds labsync tells apart.
const (
	TokenPersonal       = "personal"
	TokenProject        = "project"
	TokenGroup          = "group"
	TokenServiceAccount = "service_account"
	// TokenBot is a bot GitLab says no more of to the token itself: a group
	// access token without the Owner role, or a service account.
	TokenBot   = "bot"
	TokenOAuth = "oauth"
)

// TokenKind is what GitLab's own fields say about the kind of an access
// token, and how that was learned.
type TokenKind struct {
	Kind string
	// ResourceID and ResourcePath are the project or group a project or
	// group access token belongs to (0 and "" otherwise).
	ResourceID   int64
	ResourcePath string
	// Evidence names the GitLab fields that told.
	Evidence string
}

// How GitLab shows a token's kind to the token itself (checked in GitLab's
// User model, API::Entities and the resource access tokens API):
//
//   - GET /user answers "bot": true for the bot users behind project and
//     group access tokens (user_type project_bot, both kinds) and service
//     accounts (user_type service_account, 16.1+); false for people. Older
//     GitLabs without the field are people's tokens.
//   - user_type itself is shown only to administrators; it is used when
//     GitLab answers it.
//   - GET /personal_access_tokens/self (15.5) has no kind field.
//   - GET /projects/:id/access_tokens (13.9+, Maintainers) and
//     GET /groups/:id/access_tokens (14.7+, Owners) list the tokens of the
//     resource's own bots with their user_id. A project bot is a direct
//     member of one project, at Maintainer by default, so it finds its own
//     token there; a group bot finds its own in its group's list only with
//     the Owner role.
//
// The user name (project_123_bot…) is never used: GitLab does not promise
// it, and a person may be called that.

// ClassifyToken tells the kind of the access token the client holds, for
// the account u it acts as (from CurrentUser). A person's token costs no
// request; a bot's a few GETs. When GitLab does not tell which bot it is,
// the kind is TokenBot.
func (c *Client) ClassifyToken(ctx context.Context, u User) (TokenKind, error) {
	if !u.Bot {
		return TokenKind{Kind: TokenPersonal, Evidence: "GET /user: bot is false"}, nil
	}
	userType := ""
	var raw struct {
		UserType *string `json:"user_type"`
	}
	var buf bytes.Buffer
	if _, err := c.Get(ctx, c.APIURL("user", nil), &buf); err != nil {
		return TokenKind{}, err
	}
	if json.Unmarshal(buf.Bytes(), &raw) == nil && raw.UserType != nil {
		userType = *raw.UserType
	}
	if userType == "service_account" {
		return TokenKind{Kind: TokenServiceAccount, Evidence: "GET /user: user_type service_account"}, nil
	}
	// A project bot is a member of exactly one project and lists its own
	// token among that project's access tokens.
	projects, err := c.idList(ctx, "projects", url.Values{"membership": {"true"}, "simple": {"true"}, "per_page": {"2"}})
	if err != nil {
		return TokenKind{}, err
	}
	if len(projects) == 1 {
		if mine, err := c.ownsResourceToken(ctx, "projects", projects[0].ID, u.ID); err == nil && mine {
			return TokenKind{Kind: TokenProject, ResourceID: projects[0].ID, ResourcePath: projects[0].Path,
				Evidence: "GET /user: bot; GET /projects/:id/access_tokens lists this token's user"}, nil
		}
	}
	groups, err := c.idList(ctx, "groups", url.Values{"min_access_level": {"10"}, "per_page": {"5"}})
	if err != nil {
		return TokenKind{}, err
	}
	for _, g := range groups {
		if mine, err := c.ownsResourceToken(ctx, "groups", g.ID, u.ID); err == nil && mine {
			return TokenKind{Kind: TokenGroup, ResourceID: g.ID, ResourcePath: g.Path,
				Evidence: "GET /user: bot; GET /groups/:id/access_tokens lists this token's user"}, nil
		}
	}
	if userType == "project_bot" && len(groups) > 0 {
		// A project_bot that is not its project's and belongs to a group
		// is that group's bot.
		return TokenKind{Kind: TokenGroup, ResourceID: groups[0].ID, ResourcePath: groups[0].Path,
			Evidence: "GET /user: user_type project_bot, a member of a group"}, nil
	}
	return TokenKind{Kind: TokenBot, Evidence: "GET /user: bot; GitLab shows which kind of bot only to the group's Owners and administrators"}, nil
}

type idPath struct {
	ID   int64  `json:"id"`
	Path string `json:"path_with_namespace"`
	Full string `json:"full_path"`
}

// idList reads one page of projects or groups (ids and paths).
func (c *Client) idList(ctx context.Context, what string, q url.Values) ([]idPath, error) {
	var buf bytes.Buffer
	if _, err := c.Get(ctx, c.APIURL(what, q), &buf); err != nil {
		return nil, err
	}
	var out []idPath
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("gitlab: unable to read the %s list: %w", what, err)
	}
	for i := range out {
		if out[i].Path == "" {
			out[i].Path = out[i].Full
		}
	}
	return out, nil
}

// ownsResourceToken reports whether the access tokens of the project or
// group id include one of user userID. A refusal (not allowed to list
// them) is an error.
func (c *Client) ownsResourceToken(ctx context.Context, what string, id, userID int64) (bool, error) {
	var buf bytes.Buffer
	if _, err := c.Get(ctx, c.APIURL(fmt.Sprintf("%s/%d/access_tokens", what, id), url.Values{"per_page": {"100"}}), &buf); err != nil {
		return false, err
	}
	var toks []struct {
		UserID int64 `json:"user_id"`
	}
	if err := json.Unmarshal(buf.Bytes(), &toks); err != nil {
		return false, err
	}
	for _, t := range toks {
		if t.UserID == userID {
			return true, nil
		}
	}
	return false, nil
}
