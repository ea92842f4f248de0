package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

type fixture struct {
	st                           *store.Store
	srv                          *httptest.Server
	owner, member, other, revoke string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	mint := func(org, user int64) string { return mintToken(t, st, org, user) }
	f := &fixture{st: st}
	f.owner = mint(b.Org.ID, b.Owner.ID)
	m, _ := st.CreateUser(ctx, "member@a", "M", "")
	st.AddMember(ctx, b.Org.ID, m.ID, store.RoleMember)
	f.member = mint(b.Org.ID, m.ID)
	o, _ := st.CreateUser(ctx, "owner@b", "O", "")
	orgB, _ := st.CreateOrganization(ctx, "B", o.ID)
	f.other = mint(orgB.ID, o.ID)
	f.revoke = mint(b.Org.ID, b.Owner.ID)
	t2, _, _ := st.APITokenByHash(ctx, accounts.HashAPIToken(f.revoke))
	st.RevokeAPIToken(ctx, b.Org.ID, t2.ID)

	mux := http.NewServeMux()
	api.New(api.Deps{Store: st, Log: slog.New(slog.DiscardHandler)}).Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body
}

func TestAuthenticationAndRoles(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", "GET", "/api/v1/me", "", 401},
		{"garbage token", "GET", "/api/v1/me", "lsk_nope", 401},
		{"not a bearer token", "GET", "/api/v1/me", "", 401},
		{"revoked token", "GET", "/api/v1/me", f.revoke, 401},
		{"owner", "GET", "/api/v1/me", f.owner, 200},
		{"member reads", "GET", "/api/v1/me", f.member, 200},
		{"member on an admin route", "GET", "/api/v1/audit", f.member, 403},
		{"owner on an admin route", "GET", "/api/v1/audit", f.owner, 200},
		{"unknown endpoint", "GET", "/api/v1/nothing", f.owner, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := f.do(t, c.method, c.path, c.token)
			if code != c.want {
				t.Fatalf("got %d %v, want %d", code, body, c.want)
			}
			if code >= 400 {
				e, _ := body["error"].(map[string]any)
				if e == nil || e["message"] == "" {
					t.Fatalf("error body without message: %v", body)
				}
			}
		})
	}
}

func TestCallerSeesOnlyItsOrganization(t *testing.T) {
	f := newFixture(t)
	_, a := f.do(t, "GET", "/api/v1/me", f.owner)
	_, b := f.do(t, "GET", "/api/v1/me", f.other)
	if a["org_id"] == b["org_id"] {
		t.Fatalf("two organisations resolved to one: %v %v", a, b)
	}
	// The audit log of B holds nothing of A.
	code, body := f.do(t, "GET", "/api/v1/audit", f.other)
	if code != 200 || strings.Contains(mustJSON(body), "owner@a") {
		t.Fatalf("%d %v", code, body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// mintToken creates an API token for user in org and returns it.
func mintToken(t *testing.T, st *store.Store, org, user int64) string {
	t.Helper()
	tok, prefix, hash, err := accounts.NewAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAPIToken(context.Background(), org, user, "t", prefix, hash); err != nil {
		t.Fatal(err)
	}
	return tok
}
