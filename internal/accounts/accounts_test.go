package accounts_test

import (
	"context"
	"errors"
	"testing"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

func TestSetupCreatesTheFirstOrganisationOnceWithAPasswordThatSignsIn(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	first, created, err := accounts.Setup(ctx, st)
	if err != nil || !created {
		t.Fatalf("first Setup: created %v, err %v", created, err)
	}
	if first.Org.Name != "Default" || first.Owner.Email != "owner@localhost" || len(first.Password) != 20 {
		t.Fatalf("first start = %q %q password of %d characters", first.Org.Name, first.Owner.Email, len(first.Password))
	}
	if _, again, err := accounts.Setup(ctx, st); err != nil || again {
		t.Fatalf("second Setup: created %v, err %v", again, err)
	}
	svc := accounts.New(st, nil, nil, accounts.Options{})
	in, err := svc.SignIn(ctx, "owner@localhost", first.Password, "127.0.0.1")
	if err != nil || in.Token == "" || in.OrgID != first.Org.ID {
		t.Fatalf("sign-in with the one-time password: %+v, %v", in.Principal, err)
	}
	se, err := svc.LookupSession(ctx, in.Token)
	if err != nil || se == nil || se.UserID != first.Owner.ID {
		t.Fatalf("the new session is not found: %v %v", se, err)
	}
}

func TestSignInRefusalsAreProblemsOfTheirKind(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	first, _, err := accounts.Setup(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	svc := accounts.New(st, nil, nil, accounts.Options{})
	kindOf := func(err error) problem.Kind {
		var p *problem.Error
		if !errors.As(err, &p) {
			t.Fatalf("not a problem: %v", err)
		}
		return p.Kind
	}
	if _, err := svc.SignIn(ctx, "", "x", "10.0.0.1"); kindOf(err) != problem.Malformed {
		t.Fatalf("empty email: %v", err)
	}
	for i := range accounts.MaxFailuresPerPair {
		if _, err := svc.SignIn(ctx, "owner@localhost", "wrong", "10.0.0.1"); kindOf(err) != problem.Unauthenticated {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	_, err = svc.SignIn(ctx, "owner@localhost", first.Password, "10.0.0.1")
	var th *accounts.Throttled
	if kindOf(err) != problem.RateLimited || !errors.As(err, &th) || th.Wait <= 0 || th.Wait > accounts.FailureWindow {
		t.Fatalf("after %d failures the right password: %v", accounts.MaxFailuresPerPair, err)
	}
}

func TestMembersAndTokensStayWithinTheRolesTheyAreGiven(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	first, _, err := accounts.Setup(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	svc := accounts.New(st, nil, nil, accounts.Options{})
	owner := accounts.Principal{OrgID: first.Org.ID, UserID: first.Owner.ID, Role: store.RoleOwner}
	// join invites email with role as p and redeems the invitation as the
	// new user would.
	join := func(p accounts.Principal, email, role string) store.User {
		t.Helper()
		inv, err := svc.AddMember(ctx, p, email, role)
		if err != nil || inv.Code == "" {
			t.Fatalf("invite %s: %+v, %v", email, inv, err)
		}
		if _, err := svc.RedeemInvitation(ctx, inv.Code, "", "a password of their own", "192.0.2.1"); err != nil {
			t.Fatalf("redeem %s: %v", email, err)
		}
		u, err := st.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	admin := join(owner, "ada@example.com", "admin")
	asAdmin := accounts.Principal{OrgID: first.Org.ID, UserID: admin.ID, Role: store.RoleAdmin}
	mem := join(asAdmin, "bob@example.com", "")
	if r, err := st.MemberRole(ctx, first.Org.ID, mem.ID); err != nil || r != store.RoleMember {
		t.Fatalf("admin adds a member: %v, %v", r, err)
	}
	asMember := accounts.Principal{OrgID: first.Org.ID, UserID: mem.ID, Role: store.RoleMember}
	cases := []struct {
		name string
		do   func() error
		kind problem.Kind
	}{
		{"an admin cannot make an owner", func() error {
			_, _, err := svc.ChangeMember(ctx, asAdmin, mem.ID, "owner")
			return err
		}, problem.Forbidden},
		{"an admin cannot change an owner", func() error {
			_, err := svc.RemoveMember(ctx, asAdmin, first.Owner.ID)
			return err
		}, problem.Forbidden},
		{"the last owner stays an owner", func() error {
			_, _, err := svc.ChangeMember(ctx, owner, first.Owner.ID, "member")
			return err
		}, problem.Conflict},
		{"a role must be one labsync knows", func() error {
			_, err := svc.AddMember(ctx, owner, "cy@example.com", "boss")
			return err
		}, problem.Malformed},
		{"a token lives at most a year and a day", func() error {
			_, err := svc.CreateToken(ctx, asMember, "ci", accounts.MaxTokenDays+1)
			return err
		}, problem.Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p *problem.Error
			if err := c.do(); !errors.As(err, &p) || p.Kind != c.kind {
				t.Fatalf("got %v, want a %v problem", err, c.kind)
			}
		})
	}
	t.Run("a member cannot revoke another's token, which stays live", func(t *testing.T) {
		tok, err := svc.CreateToken(ctx, asAdmin, "deploy", 30)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.RevokeToken(ctx, asMember, tok.APIToken.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("member revoking an admin's token: %v", err)
		}
		list, err := svc.Tokens(ctx, asMember)
		if err != nil || len(list) != 0 {
			t.Fatalf("a member sees %d tokens (%v), want only their own (none)", len(list), err)
		}
		if err := svc.RevokeToken(ctx, owner, tok.APIToken.ID); err != nil {
			t.Fatalf("owner revoking: %v", err)
		}
	})
}
