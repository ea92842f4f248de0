package webhook

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
)

func TestRegisterVerifyAndRemoveProjectHooks(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, false)
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 5, Groups: 1, Projects: 3, MRs: 1, Issues: 1, Pipelines: 1, Commits: 2})
	check(t, err)
	defer sb.Close()
	var ids []int64
	for _, p := range sb.Manifest().PerProject[:2] {
		ids = append(ids, p.ID)
	}
	r.discover(t, true, ids...)
	base, err := gitlab.NormalizeBaseURL(sb.URL())
	check(t, err)
	client := func(allow bool) *gitlab.Client {
		c, err := gitlab.New(gitlab.Options{BaseURL: base, Token: secret.New(sb.AdminToken()),
			Policy: gitlab.AddressPolicy{AllowLoopback: true}, AllowHookWrites: allow, Timeout: 5 * time.Second})
		check(t, err)
		return c
	}
	writes := func() int {
		n := 0
		for _, q := range sb.Requests() {
			if q.Method != http.MethodGet && q.Method != http.MethodHead {
				n++
			}
		}
		return n
	}

	// Without the opt-in the guard refuses, per project, and GitLab sees no write.
	res, err := r.svc.Register(ctx, client(false), r.org, r.integ)
	check(t, err)
	if len(res) != 2 || res[0].Status != "failed" || res[1].Status != "failed" || writes() != 0 {
		t.Fatalf("without opt-in: %+v, %d writes", res, writes())
	}

	c := client(true)
	res, err = r.svc.Register(ctx, c, r.org, r.integ)
	check(t, err)
	for _, x := range res {
		if x.Status != "registered" || x.HookID == 0 {
			t.Fatalf("register: %+v", res)
		}
	}
	// Registering again updates in place: no duplicate hooks.
	res, err = r.svc.Register(ctx, c, r.org, r.integ)
	check(t, err)
	if res[0].Status != "updated" {
		t.Fatalf("second register: %+v", res)
	}
	if m := sb.Manifest(); m.Totals.Hooks != 2 {
		t.Fatalf("%d hooks at GitLab, want 2", m.Totals.Hooks)
	}
	// A change in GitLab now arrives through the registered hook.
	r.now = time.Now()
	_, err = sb.OpenIssue(ids[0], "via the registered hook")
	check(t, err)
	for range 1000 {
		if r.inboxRows(t) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.inboxRows(t) == 0 {
		t.Fatalf("no delivery through the registered hook: %+v", sb.Deliveries())
	}

	out, err := r.svc.Unregister(ctx, c, r.org, r.integ)
	check(t, err)
	if len(out) != 2 || out[0].Status != "removed" || out[1].Status != "removed" {
		t.Fatalf("unregister: %+v", out)
	}
	if m := sb.Manifest(); m.Totals.Hooks != 0 {
		t.Fatalf("%d hooks left at GitLab", m.Totals.Hooks)
	}
	if regs, _ := r.st.HookRegistrations(ctx, r.org, r.integ); len(regs) != 0 {
		t.Fatalf("registrations left: %+v", regs)
	}
}
