package integrations_test

import (
	"context"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
)

// TestTheTokenKindComesFromGitLabsFieldsAndTheSummarySaysWhatItMeans:
// personal, project, group (as Owner), a group bot that may not list its
// group's tokens and a service account are told apart from /user's bot
// field and the resource token lists, never the user name; the connect
// summary and the stored view name the kind with its expiry and
// visibility.
func TestTheTokenKindComesFromGitLabsFieldsAndTheSummarySaysWhatItMeans(t *testing.T) {
	e := newEnv(t, sandbox.Config{Version: "17.11", Groups: 2, Projects: 4, MRs: 1, Issues: 1, Pipelines: 1, Commits: 1})
	m := e.sb.Manifest()
	project, group := m.PerProject[0], m.PerGroup[0]
	cases := []struct {
		name       string
		spec       *sandbox.AccessTokenSpec // nil: root's personal token
		kind       string
		resource   string
		visibility string
	}{
		{"a personal access token", nil, "personal", "", "what its owner sees"},
		{"a project access token", &sandbox.AccessTokenSpec{Kind: sandbox.TokenProject, ProjectID: project.ID}, "project", project.Path, "only that project"},
		{"a group access token with the Owner role", &sandbox.AccessTokenSpec{Kind: sandbox.TokenGroup, GroupID: group.ID, AccessLevel: 50}, "group", group.FullPath, "its subgroups"},
		{"a group access token GitLab does not name to a Maintainer", &sandbox.AccessTokenSpec{Kind: sandbox.TokenGroup, GroupID: group.ID}, "bot", "", "only the groups and projects the bot is a member of"},
		{"a service account in a group", &sandbox.AccessTokenSpec{Kind: sandbox.TokenServiceAccount, GroupID: group.ID}, "bot", "", "only the groups and projects the bot is a member of"},
		{"a service account in a project", &sandbox.AccessTokenSpec{Kind: sandbox.TokenServiceAccount, ProjectID: project.ID}, "bot", "", "Owners and administrators"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tok string
			if c.spec == nil {
				tok = e.sb.CreateToken(sandbox.TokenSpec{User: "root", Scopes: []string{"read_api"}})
			} else {
				c.spec.Scopes = []string{"read_api"}
				at, err := e.sb.CreateAccessToken(*c.spec)
				if err != nil {
					t.Fatal(err)
				}
				tok = at.Token
			}
			res, err := e.svc.ConnectToken(context.Background(), e.who, integrations.TokenInput{
				BaseURL: e.sb.URL(), Token: secret.New(tok), Alias: "kind-" + string(rune('a'+i)), CAPEM: string(e.sb.CAPEM())})
			if err != nil {
				t.Fatalf("connect: %s", describe(err))
			}
			k := res.TokenKind
			if k.Kind != c.kind || k.Resource != c.resource || !strings.Contains(k.Visibility, c.visibility) || k.Expiry == "" || k.Text == "" {
				t.Fatalf("token kind %+v, want %s of %q seeing %q", k, c.kind, c.resource, c.visibility)
			}
			if c.kind != "oauth" && !strings.Contains(k.Expiry, "expires on") {
				t.Errorf("a token with an expiry date does not say it: %q", k.Expiry)
			}
			v, err := e.svc.View(context.Background(), e.who.OrgID, res.Integration.ID)
			if err != nil || v.Token == nil || v.Token.Kind != c.kind || v.Token.KindText != k.Text || v.Token.KindVisibility == "" {
				t.Fatalf("stored view %+v %v", v.Token, err)
			}
		})
	}
}
