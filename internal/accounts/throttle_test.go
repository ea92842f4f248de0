package accounts_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/store/storetest"
)

func problemKind(err error) problem.Kind {
	var p *problem.Error
	if errors.As(err, &p) {
		return p.Kind
	}
	return -1
}

func TestParallelWrongPasswordsForOneAccountAreCheckedAtMostFiveTimes(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	if _, _, err := accounts.Setup(ctx, st); err != nil {
		t.Fatal(err)
	}
	// Two services over one database stand for two replicas.
	replicas := []*accounts.Service{accounts.New(st, nil, nil, accounts.Options{}), accounts.New(st, nil, nil, accounts.Options{})}
	const n = 30
	var wg sync.WaitGroup
	kinds := make([]problem.Kind, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := replicas[i%2].SignIn(ctx, "owner@localhost", "wrong password", "198.51.100.7")
			kinds[i] = problemKind(err)
		}()
	}
	wg.Wait()
	checked, limited := 0, 0
	for i, k := range kinds {
		switch k {
		case problem.Unauthenticated:
			checked++
		case problem.RateLimited:
			limited++
		default:
			t.Errorf("attempt %d: kind %v", i, k)
		}
	}
	if checked > accounts.MaxFailuresPerPair || checked+limited != n {
		t.Fatalf("%d of %d parallel wrong passwords were checked, %d refused; want at most %d checked",
			checked, n, limited, accounts.MaxFailuresPerPair)
	}
}

func TestFailuresFromOneAddressDoNotStopACorrectSignInFromAnother(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	first, _, err := accounts.Setup(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	svc := accounts.New(st, nil, nil, accounts.Options{})
	// The attacker exhausts its own address, on the owner's account and
	// on many made-up ones.
	for i := range accounts.MaxFailuresPerAddress + 5 {
		email := "owner@localhost"
		if i >= accounts.MaxFailuresPerPair {
			email = "nobody" + string(rune('a'+i)) + "@example.com"
		}
		if _, err := svc.SignIn(ctx, email, "guess", "203.0.113.9"); err == nil {
			t.Fatal("a guess signed in")
		}
	}
	if _, err := svc.SignIn(ctx, "owner@localhost", first.Password, "203.0.113.9"); problemKind(err) != problem.RateLimited {
		t.Fatalf("the attacker's address is not paused: %v", err)
	}
	if _, err := svc.SignIn(ctx, "owner@localhost", first.Password, "192.0.2.44"); err != nil {
		t.Fatalf("the owner, from their own address, was refused: %v", err)
	}
}

func TestAnAccountUnderAttackFromManyAddressesSlowsDownButIsNotLocked(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	first, _, err := accounts.Setup(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	st.SetClock(func() time.Time { return clock })
	svc := accounts.New(st, nil, nil, accounts.Options{})
	for i := range accounts.AccountSlowAfter {
		addr := "198.51.100." + string(rune('1'+i%9)) + string(rune('0'+i/9))
		if _, err := svc.SignIn(ctx, "owner@localhost", "guess", addr); problemKind(err) != problem.Unauthenticated {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	_, err = svc.SignIn(ctx, "owner@localhost", first.Password, "192.0.2.44")
	var th *accounts.Throttled
	if problemKind(err) != problem.RateLimited || !errors.As(err, &th) || th.Wait > accounts.AccountSpacing {
		t.Fatalf("right after the guesses: %v, want a pause of at most %s", err, accounts.AccountSpacing)
	}
	clock = clock.Add(accounts.AccountSpacing)
	if _, err := svc.SignIn(ctx, "owner@localhost", first.Password, "192.0.2.44"); err != nil {
		t.Fatalf("after the slow-down's spacing the owner is still refused: %v", err)
	}
}

func TestWrongCurrentPasswordsOnThePasswordFormAreThrottled(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	first, _, err := accounts.Setup(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	svc := accounts.New(st, nil, nil, accounts.Options{})
	in, err := svc.SignIn(ctx, "owner@localhost", first.Password, "192.0.2.44")
	if err != nil {
		t.Fatal(err)
	}
	se, err := svc.LookupSession(ctx, in.Token)
	if err != nil || se == nil {
		t.Fatalf("session: %v", err)
	}
	checked := 0
	for range 10 {
		err := svc.ChangePassword(ctx, se, "not the password", "a brand new password", "a brand new password", "192.0.2.44")
		switch problemKind(err) {
		case problem.Invalid:
			checked++
		case problem.RateLimited:
		default:
			t.Fatalf("wrong current password: %v", err)
		}
	}
	if checked > accounts.MaxFailuresPerPair {
		t.Fatalf("%d of 10 wrong current passwords were checked, want at most %d", checked, accounts.MaxFailuresPerPair)
	}
	if err := svc.ChangePassword(ctx, se, first.Password, "a brand new password", "a brand new password", "192.0.2.44"); problemKind(err) != problem.RateLimited {
		t.Fatalf("the right current password after the pause began: %v", err)
	}
}
