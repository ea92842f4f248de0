package accounts_test

import (
	"context"
	"testing"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

func TestAnInvitedExistingUserJoinsOnlyWithTheirOwnPassword(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	first, _, err := accounts.Setup(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	svc := accounts.New(st, nil, nil, accounts.Options{})
	created, err := svc.CreateOrganization(ctx, "B", "owner-b@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ownerB := accounts.Principal{OrgID: created.Org.ID, UserID: created.Owner.ID, Role: store.RoleOwner}
	inv, err := svc.AddMember(ctx, ownerB, "owner@localhost", "admin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, code, password string
		kind                 problem.Kind
	}{
		{"a password that is not theirs", inv.Code, "the inviter's guess at it", problem.Unauthenticated},
		{"an unknown code", accounts.InvitationPrefix + "nothing-like-it", first.Password, problem.Unauthenticated},
		{"a short password", inv.Code, "short", problem.Invalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := svc.RedeemInvitation(ctx, c.code, "", c.password, "192.0.2.9"); problemKind(err) != c.kind {
				t.Fatalf("got %v, want a %v problem", err, c.kind)
			}
		})
	}
	if _, err := st.MemberRole(ctx, created.Org.ID, first.Owner.ID); err == nil {
		t.Fatal("joined without their password")
	}
	if _, err := svc.RedeemInvitation(ctx, inv.Code, "", first.Password, "192.0.2.9"); err != nil {
		t.Fatalf("with their own password: %v", err)
	}
	if r, err := st.MemberRole(ctx, created.Org.ID, first.Owner.ID); err != nil || r != store.RoleAdmin {
		t.Fatalf("after redeeming: role %q, %v", r, err)
	}
	if _, err := svc.RedeemInvitation(ctx, inv.Code, "", first.Password, "192.0.2.9"); problemKind(err) != problem.Unauthenticated {
		t.Fatalf("a used code redeemed again: %v", err)
	}
}

func TestGuessingAnInvitedUsersPasswordIsThrottled(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	if _, _, err := accounts.Setup(ctx, st); err != nil {
		t.Fatal(err)
	}
	svc := accounts.New(st, nil, nil, accounts.Options{})
	created, err := svc.CreateOrganization(ctx, "B", "owner-b@example.com")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := svc.AddMember(ctx, accounts.Principal{OrgID: created.Org.ID, UserID: created.Owner.ID, Role: store.RoleOwner}, "owner@localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for range 10 {
		_, err := svc.RedeemInvitation(ctx, inv.Code, "", "a guess at the password", "203.0.113.5")
		if problemKind(err) == problem.Unauthenticated {
			checked++
		}
	}
	if checked > accounts.MaxFailuresPerPair {
		t.Fatalf("%d of 10 guesses were checked, want at most %d", checked, accounts.MaxFailuresPerPair)
	}
}
