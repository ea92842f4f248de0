package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// visibleIDs lists the ids of GET /projects?membership=true for token.
func memberProjectIDs(t *testing.T, sb *Sandbox, token string) []int64 {
	t.Helper()
	return listIDs(t, sb, "/api/v4/projects?membership=true&per_page=100", token)
}

func TestProjectGroupAndServiceAccountTokensActAsBotsThatSeeOnlyTheirResource(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 2, Groups: 4, Projects: 12, MRs: 1, Issues: 1, Commits: 1})
	// A private project and a top-level group with projects.
	var priv *project
	for _, p := range sb.projects {
		if p.vis == "private" && p.group != nil {
			priv = p
			break
		}
	}
	var top *group
	for _, g := range sb.groups {
		if g.parent == nil && len(g.projects) > 0 {
			top = g
			break
		}
	}
	if priv == nil || top == nil {
		t.Fatal("the dataset has no private project or no top-level group with projects")
	}
	var inTop []int64
	for _, p := range sb.projects {
		for g := p.group; g != nil; g = g.parent {
			if g == top {
				inTop = append(inTop, p.id)
				break
			}
		}
	}

	cases := []struct {
		name         string
		spec         AccessTokenSpec
		userPattern  string
		userType     string
		wantProjects []int64
	}{
		{"project token", AccessTokenSpec{Kind: TokenProject, ProjectID: priv.id, Scopes: []string{"read_api", "read_repository"}},
			fmt.Sprintf(`^project_%d_bot_[0-9a-f]{32}$`, priv.id), userTypeProjectBot, []int64{priv.id}},
		{"group token", AccessTokenSpec{Kind: TokenGroup, GroupID: top.id, AccessLevel: accessOwner, Scopes: []string{"read_api"}},
			fmt.Sprintf(`^group_%d_bot_[0-9a-f]{32}$`, top.id), userTypeProjectBot, inTop},
		{"service account without membership", AccessTokenSpec{Kind: TokenServiceAccount, Scopes: []string{"read_api"}},
			`^service_account_[0-9a-f]{32}$`, userTypeServiceAccount, nil},
		{"a group's service account added to the group", AccessTokenSpec{Kind: TokenServiceAccount, GroupID: top.id, AccessLevel: 20, Scopes: []string{"read_api"}},
			fmt.Sprintf(`^service_account_group_%d_[0-9a-f]{32}$`, top.id), userTypeServiceAccount, inTop},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at, err := sb.CreateAccessToken(tc.spec)
			if err != nil {
				t.Fatalf("CreateAccessToken: %v", err)
			}
			if !regexp.MustCompile(tc.userPattern).MatchString(at.Username) {
				t.Errorf("bot username %q, want %s", at.Username, tc.userPattern)
			}
			me := get(t, sb, "/api/v4/user", at.Token).json(t)
			if me["bot"] != true || me["username"] != at.Username || me["email"] != at.Username+"@noreply.127.0.0.1" {
				t.Errorf("/user = bot %v, username %v, email %v", me["bot"], me["username"], me["email"])
			}
			self := get(t, sb, "/api/v4/personal_access_tokens/self", at.Token).json(t)
			if self["user_id"] != float64(at.UserID) || self["expires_at"] == nil || fmt.Sprint(self["scopes"]) != fmt.Sprint(toAny(tc.spec.Scopes)) {
				t.Errorf("/personal_access_tokens/self = %v", self)
			}
			if got := memberProjectIDs(t, sb, at.Token); !equalIDs(got, tc.wantProjects) {
				t.Errorf("membership lists %v, want %v", got, tc.wantProjects)
			}
			if tc.spec.Kind != TokenProject {
				if r := get(t, sb, "/api/v4/projects/"+itoa(int(priv.id)), at.Token); r.status != http.StatusNotFound && !containsID(tc.wantProjects, priv.id) {
					t.Errorf("another resource's private project answers %d, want 404", r.status)
				}
			}
		})
	}

	t.Run("a project bot finds its own token among its project's access tokens", func(t *testing.T) {
		at, err := sb.CreateAccessToken(AccessTokenSpec{Kind: TokenProject, ProjectID: priv.id, Scopes: []string{"read_api"}})
		if err != nil {
			t.Fatal(err)
		}
		var list []map[string]any
		mustJSON(t, get(t, sb, "/api/v4/projects/"+itoa(int(priv.id))+"/access_tokens", at.Token).body, &list)
		found := false
		for _, x := range list {
			if x["user_id"] == float64(at.UserID) && x["access_level"] == float64(accessMaintainer) {
				found = true
			}
		}
		if !found {
			t.Fatalf("access_tokens %v has no token of user %d", list, at.UserID)
		}
		if r := get(t, sb, "/api/v4/groups/"+itoa(int(top.id))+"/access_tokens", at.Token); r.status != http.StatusNotFound && r.status != http.StatusForbidden {
			t.Fatalf("a project bot lists a group's tokens: %d", r.status)
		}
	})

	t.Run("a read_api project token cannot register a hook", func(t *testing.T) {
		at, _ := sb.CreateAccessToken(AccessTokenSpec{Kind: TokenProject, ProjectID: priv.id, Scopes: []string{"read_api"}})
		r := do(t, nil, http.MethodPost, sb.URL()+"/api/v4/projects/"+itoa(int(priv.id))+"/hooks", at.Token, `{"url":"http://127.0.0.1:1/h"}`)
		if r.status != http.StatusForbidden {
			t.Fatalf("status %d, want 403 insufficient_scope", r.status)
		}
	})

	t.Run("the manifest lists the bots and never a token value", func(t *testing.T) {
		r := get(t, sb, "/-/sandbox/manifest", sb.ControlToken())
		if strings.Contains(string(r.body), "glpat-") {
			t.Fatal("the manifest shows a token value")
		}
		var m Manifest
		mustJSON(t, r.body, &m)
		kinds := map[string]int{}
		for _, x := range m.AccessTokens {
			kinds[x.Kind]++
		}
		if kinds[TokenProject] < 1 || kinds[TokenGroup] != 1 || kinds[TokenServiceAccount] != 2 {
			t.Fatalf("manifest access tokens by kind %v", kinds)
		}
	})
}

func toAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func containsID(xs []int64, x int64) bool { return contains(xs, x) }

func TestTokenKindsAppearWithTheGitLabReleaseThatBroughtThem(t *testing.T) {
	cases := []struct {
		version string
		kind    string
		ok      bool
	}{
		{"12.10", TokenProject, false},
		{"13.12", TokenProject, true},
		{"14.0", TokenGroup, false},
		{"14.10", TokenGroup, true},
		{"15.11", TokenServiceAccount, false},
		{"16.11", TokenServiceAccount, true},
	}
	for _, tc := range cases {
		t.Run(tc.version+" "+tc.kind, func(t *testing.T) {
			sb := start(t, Config{Version: tc.version, Seed: 1, Groups: 1, Projects: 2})
			_, err := sb.CreateAccessToken(AccessTokenSpec{Kind: tc.kind, ProjectID: 1, GroupID: 1})
			if tc.ok && err != nil {
				t.Fatalf("CreateAccessToken: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
}

func TestBotUsernamesBefore16HaveNoRandomSegment(t *testing.T) {
	sb := start(t, Config{Version: "15.11", Seed: 1, Groups: 1, Projects: 2})
	var names []string
	for range 2 {
		at, err := sb.CreateAccessToken(AccessTokenSpec{Kind: TokenProject, ProjectID: 1})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, at.Username)
	}
	if names[0] != "project_1_bot" || names[1] != "project_1_bot1" {
		t.Fatalf("bot usernames %v, want project_1_bot and project_1_bot1", names)
	}
}

func TestTheControlAPICreatesTokensOfEveryKind(t *testing.T) {
	sb := start(t, Config{Version: "19.0", Seed: 1, Groups: 1, Projects: 2})
	for _, body := range []string{
		`{"kind":"project","project_id":1,"scopes":["read_api"]}`,
		`{"kind":"group","group_id":1,"scopes":["read_api"]}`,
		`{"kind":"service_account","scopes":["read_api"]}`,
		`{"user":"alice","scopes":["read_api"]}`,
	} {
		t.Run(body, func(t *testing.T) {
			r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/tokens", sb.ControlToken(), body)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			tok, _ := r.json(t)["token"].(string)
			if get(t, sb, "/api/v4/user", tok).status != http.StatusOK {
				t.Fatal("the created token does not authenticate")
			}
		})
	}
	if r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/tokens", sb.ControlToken(), `{"kind":"project"}`); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a project token without a project: %d %s, want 422", r.status, r.body)
	}
}
