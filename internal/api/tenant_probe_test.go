package api_test

import (
	"context"
	"sort"
	"strings"
	"testing"
)

// An owner of organisation B probing for organisation A's users learns
// nothing: adding a known address answers exactly as adding a new one,
// and once the user joins, B's member list shows facts of B only.
func TestAddingAMemberRevealsNothingOfOtherOrganisations(t *testing.T) {
	f := newConnectFixture(t)
	ctx := context.Background()
	ownerA, err := f.st.UserByEmail(ctx, "owner@a")
	if err != nil {
		t.Fatal(err)
	}
	// owner@a has signed in to organisation A.
	if err := f.st.MarkSignedIn(ctx, ownerA.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.st.MarkMemberSignedIn(ctx, f.org, ownerA.ID); err != nil {
		t.Fatal(err)
	}

	shape := func(body map[string]any) string {
		var keys []string
		for k, v := range body {
			if m, ok := v.(map[string]any); ok {
				for k2 := range m {
					keys = append(keys, k+"."+k2)
				}
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return strings.Join(keys, ",")
	}
	codeKnown, known := f.call(t, "POST", "/api/v1/members", f.other, map[string]any{"email": "owner@a", "role": "member"})
	codeNew, fresh := f.call(t, "POST", "/api/v1/members", f.other, map[string]any{"email": "stranger@example.com", "role": "member"})
	if codeKnown != 201 || codeNew != 201 || shape(known) != shape(fresh) {
		t.Fatalf("known address: %d %v\nnew address: %d %v\nwant the same answer", codeKnown, known, codeNew, fresh)
	}
	for _, leak := range []string{ownerA.Name, "one_time_password", "user_id", "last_sign_in_at"} {
		if leak != "" && strings.Contains(mustJSON(known), leak) {
			t.Fatalf("adding a known address shows %q: %v", leak, known)
		}
	}
	// Not a member of B until they accept.
	_, list := f.call(t, "GET", "/api/v1/members", f.other, nil)
	if strings.Contains(mustJSON(list), "owner@a") {
		t.Fatalf("an invited address is listed as a member before accepting: %v", list)
	}
	// owner@a accepts while signed in (their organisation A token).
	if code, body := f.call(t, "POST", "/api/v1/invitations/accept", f.owner, map[string]any{"code": known["code"]}); code != 200 {
		t.Fatalf("accept: %d %v", code, body)
	}
	// Another user cannot accept an invitation that is not theirs.
	if code, _ := f.call(t, "POST", "/api/v1/invitations/accept", f.member, map[string]any{"code": fresh["code"]}); code != 401 {
		t.Fatalf("a user accepted another address's invitation: %d", code)
	}
	_, list = f.call(t, "GET", "/api/v1/members", f.other, nil)
	found := false
	for _, m := range list["members"].([]any) {
		m := m.(map[string]any)
		if m["email"] != "owner@a" {
			continue
		}
		found = true
		if _, ok := m["last_sign_in_at"]; ok {
			t.Fatalf("B's member list shows owner@a's sign-in into A: %v", m)
		}
	}
	if !found {
		t.Fatalf("owner@a is not a member of B after accepting: %v", list)
	}
}
