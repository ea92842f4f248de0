package accounts_test

import (
	"context"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/store/storetest"
)

// A runner's clone is several authenticated requests in a second; each
// must not cost a write on the single writer, yet the token's last use
// must still be shown to within a minute.
func TestATokensLastUseIsWrittenAtMostOnceAMinute(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	if _, _, err := accounts.Setup(ctx, st); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	st.SetClock(func() time.Time { return now })
	svc := accounts.New(st, nil, nil, accounts.Options{})
	issued, err := svc.IssueOperatorToken(ctx, "", "runner")
	if err != nil {
		t.Fatal(err)
	}
	lastUse := func() time.Time {
		t.Helper()
		toks, err := st.APITokens(ctx, issued.Org.ID, 0)
		if err != nil || len(toks) != 1 {
			t.Fatalf("tokens: %v %v", toks, err)
		}
		if toks[0].LastUsedAt == nil {
			return time.Time{}
		}
		return toks[0].LastUsedAt.UTC()
	}
	use := func() {
		t.Helper()
		if _, err := svc.APIToken(ctx, issued.Token); err != nil {
			t.Fatalf("the live token is refused: %v", err)
		}
	}

	use()
	if got := lastUse(); !got.Equal(now) {
		t.Fatalf("first use: last used %v, want %v", got, now)
	}
	first := now
	now = now.Add(30 * time.Second)
	use()
	if got := lastUse(); !got.Equal(first) {
		t.Fatalf("a use 30 s later rewrote the last use: %v, want %v kept", got, first)
	}
	now = now.Add(time.Minute)
	use()
	if got := lastUse(); !got.Equal(now) {
		t.Fatalf("a use 90 s after the first: last used %v, want %v", got, now)
	}
}
