package store_test

import (
	"context"
	"testing"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// newOrgIntegration opens a store (storetest.Open) holding one organisation
// and one token integration of it, and returns the three.
func newOrgIntegration(t *testing.T) (st *store.Store, org, integ int64) {
	t.Helper()
	ctx := context.Background()
	st = storetest.Open(t)
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a.test", "x")
	if err != nil {
		t.Fatal(err)
	}
	in := &store.Integration{OrgID: b.Org.ID, Alias: "g", BaseURL: "https://gitlab.test", AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	return st, b.Org.ID, in.ID
}
