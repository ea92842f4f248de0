package sandbox

import (
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	sb := start(t, Config{Version: "17.11", Seed: 1, Groups: 2, Projects: 4, MRs: 1})
	expired := sb.CreateToken(TokenSpec{User: "alice", ExpiresAt: time.Now().Add(-time.Hour)})
	revoked := sb.CreateToken(TokenSpec{User: "alice"})
	sb.RevokeToken(revoked)
	readUser := sb.CreateToken(TokenSpec{User: "alice", Scopes: []string{"read_user"}})
	readAPI := sb.CreateToken(TokenSpec{User: "root", Scopes: []string{"read_api"}})

	tests := []struct {
		name, method, path, token, body string
		status                          int
		want                            string
		wwwAuth                         bool
	}{
		{name: "expired", method: "GET", path: "/api/v4/projects", token: expired, status: 401,
			want: `{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}`, wwwAuth: true},
		{name: "revoked", method: "GET", path: "/api/v4/user", token: revoked, status: 401,
			want: `{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}`, wwwAuth: true},
		{name: "unknown", method: "GET", path: "/api/v4/user", token: "glpat-nope", status: 401, want: `{"message":"401 Unauthorized"}`},
		{name: "anonymous user", method: "GET", path: "/api/v4/user", status: 401, want: `{"message":"401 Unauthorized"}`},
		{name: "anonymous version", method: "GET", path: "/api/v4/version", status: 401, want: `{"message":"401 Unauthorized"}`},
		{name: "read_user on projects", method: "GET", path: "/api/v4/projects", token: readUser, status: 403,
			want: `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api read_api"}`},
		{name: "read_user on user", method: "GET", path: "/api/v4/user", token: readUser, status: 200},
		{name: "read_api may not write", method: "POST", path: "/api/v4/projects/1/hooks", token: readAPI, body: `{"url":"http://127.0.0.1:9/x"}`, status: 403,
			want: `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}`},
		{name: "read_api reads", method: "GET", path: "/api/v4/projects", token: readAPI, status: 200},
		{name: "developer may not manage hooks", method: "GET", path: "/api/v4/projects/1/hooks", token: sb.CreateToken(TokenSpec{User: "alice"}), status: 403,
			want: `{"message":"403 Forbidden"}`},
		{name: "project not found", method: "GET", path: "/api/v4/projects/999", token: sb.AdminToken(), status: 404, want: `{"message":"404 Project Not Found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, nil, tt.method, sb.URL()+tt.path, tt.token, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.want != "" && strings.TrimSpace(string(r.body)) != tt.want {
				t.Errorf("body %s\nwant %s", r.body, tt.want)
			}
			if got := r.header.Get("WWW-Authenticate"); tt.wwwAuth != (got != "") || (got != "" && !strings.Contains(got, `error="invalid_token"`)) {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}

	t.Run("personal_access_tokens/self", func(t *testing.T) {
		r := get(t, sb, "/api/v4/personal_access_tokens/self", readAPI)
		m := r.json(t)
		if r.status != 200 || m["active"] != true || m["revoked"] != false || m["expires_at"] == nil {
			t.Errorf("self: %d %v (16.0+ tokens must expire)", r.status, m)
		}
		if sc := m["scopes"].([]any); len(sc) != 1 || sc[0] != "read_api" {
			t.Errorf("scopes %v", sc)
		}
	})
	t.Run("membership and min_access_level", func(t *testing.T) {
		alice := sb.CreateToken(TokenSpec{User: "alice", Scopes: []string{"read_api"}})
		var all, member, maint []map[string]any
		mustJSON(t, get(t, sb, "/api/v4/projects", alice).body, &all)
		mustJSON(t, get(t, sb, "/api/v4/projects?membership=true", alice).body, &member)
		mustJSON(t, get(t, sb, "/api/v4/projects?min_access_level=40", alice).body, &maint)
		if len(member) == 0 || len(member) > len(all) || len(maint) > len(member) {
			t.Errorf("alice sees %d projects, member of %d, maintainer of %d", len(all), len(member), len(maint))
		}
		for _, p := range member {
			perm := p["permissions"].(map[string]any)
			if perm["project_access"] == nil && perm["group_access"] == nil {
				t.Errorf("membership project %v without access", p["id"])
			}
		}
	})
}
