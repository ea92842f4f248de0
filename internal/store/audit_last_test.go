package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// TestLastAuditFindsTheNewestEntryOfAnActionAboutATargetInTheCallersOrganisationOnly:
// among several entries it returns the newest matching action and target,
// never another organisation's, and ErrNotFound when none matches.
func TestLastAuditFindsTheNewestEntryOfAnActionAboutATargetInTheCallersOrganisationOnly(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a.test", "x")
	if err != nil {
		t.Fatal(err)
	}
	org, uid := b.Org.ID, b.Owner.ID
	other, err := st.CreateOrganization(ctx, "B", uid)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []store.AuditEntry{
		{OrgID: org, ActorUserID: &uid, Actor: "user", Action: "integration.disconnected", Target: "integration:1", Detail: []byte(`{"n":1}`)},
		{OrgID: org, ActorUserID: &uid, Actor: "user", Action: "integration.disconnected", Target: "integration:1", Detail: []byte(`{"n":2}`)},
		{OrgID: org, Actor: "system", Action: "integration.disconnected", Target: "integration:2", Detail: []byte(`{"n":3}`)},
		{OrgID: org, ActorUserID: &uid, Actor: "user", Action: "integration.connected", Target: "integration:1", Detail: []byte(`{"n":4}`)},
		{OrgID: other.ID, ActorUserID: &uid, Actor: "user", Action: "integration.disconnected", Target: "integration:1", Detail: []byte(`{"n":5}`)},
	} {
		if err := st.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name           string
		org            int64
		action, target string
		want           int // the entry's "n"; 0 for none
	}{
		{"the newest of two", org, "integration.disconnected", "integration:1", 2},
		{"another target", org, "integration.disconnected", "integration:2", 3},
		{"another organisation's own", other.ID, "integration.disconnected", "integration:1", 5},
		{"nothing matches", org, "integration.disconnected", "integration:9", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := st.LastAudit(ctx, c.org, c.action, c.target)
			if c.want == 0 {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("got %+v, %v; want ErrNotFound", e, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var d struct{ N int }
			// PostgreSQL's jsonb respaces the detail: compare its value.
			if err := json.Unmarshal(e.Detail, &d); err != nil {
				t.Fatal(err)
			}
			if e.OrgID != c.org || e.Action != c.action || e.Target != c.target || d.N != c.want {
				t.Fatalf("got %+v (detail %s), want n=%d", e, e.Detail, c.want)
			}
		})
	}
}
