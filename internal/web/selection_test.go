package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/accounts"
)

func TestChangingTheSelectionIsAuditedAsTheUserWhicheverDoorItCameThrough(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	seedPicker(t, f.st, f.org, f.integA, 30, 3)
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	id := strconv.FormatInt(f.integA, 10)

	picker := b.get("/integrations/" + id + "/projects")
	form := url.Values{"csrf_token": {csrfOf(t, picker)}, "page_ids": {"100000,100001"}, "project": {"100001"},
		"exclusions": {"group-000/*"}, "svc_merge_requests": {"on"}}
	if p := b.post("/integrations/"+id+"/projects", form); p.status != http.StatusSeeOther {
		t.Fatalf("saving the picker: %d %s", p.status, p.body)
	}
	put := func(body string) (int, string) {
		req, _ := http.NewRequest("PUT", f.srv.URL+"/api/v1/integrations/"+id+"/selection", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(accounts.CSRFHeader, csrfOf(t, b.get("/connectors")))
		p := b.do(req)
		return p.status, p.body
	}
	if status, body := put(`{"exclusions": ["group-001/*"]}`); status != http.StatusOK {
		t.Fatalf("PUT selection with the session: %d %s", status, body)
	}
	if status, body := put(`{"exclusions": [""]}`); status != http.StatusBadRequest || !strings.Contains(body, `"field":"exclusions"`) {
		t.Fatalf("PUT an empty exclusion pattern: %d %s; want 400 about exclusions", status, body)
	}

	entries, err := f.st.AuditLog(ctx, f.org, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	via := map[string]int{}
	for _, e := range entries {
		if e.Action != "sync.selection_changed" {
			continue
		}
		if e.Actor != "user" || e.ActorUserID == nil || *e.ActorUserID != f.owner.ID || e.Target != "integration:"+id {
			t.Errorf("entry %s by %q (user %v) on %s; want the owner as a user", e.Detail, e.Actor, e.ActorUserID, e.Target)
		}
		var d struct{ Via string }
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatalf("detail %s: %v", e.Detail, err)
		}
		via[d.Via]++
	}
	if len(via) != 2 || via["ui"] != 1 || via["api"] != 1 {
		t.Fatalf("selection changes audited with details %v; want one through the UI and one through the API (and none for the refused one)", via)
	}
}
