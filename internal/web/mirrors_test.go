package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/mirror"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/syncer"
)

func TestTheIntegrationPageShowsEachProjectsMirrorOnceTheRepositoryServiceIsOn(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: "17.11", Seed: 11, Groups: 1, Projects: 2, MRs: 1, Issues: 1, Pipelines: 1, Commits: 3,
		Git: true, TLS: sandbox.TLSCA})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	who := integrations.Actor{OrgID: f.org, UserID: f.owner.ID}
	res, err := f.deps.Integrations.ConnectToken(ctx, who, integrations.TokenInput{BaseURL: sb.URL(), Token: secret.New(sb.AdminToken()),
		Alias: "with-git", CAPEM: string(sb.CAPEM())})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Integration.ID
	if err := f.deps.Sync.Discover(ctx, f.org, id); err != nil {
		t.Fatal(err)
	}
	ps, _ := f.st.AllProjects(ctx, f.org, id)
	sel := store.Selection{Services: store.AllServices}
	for _, p := range ps {
		sel.Projects = append(sel.Projects, p.GitLabID)
	}
	if _, err := f.deps.Sync.SaveSelection(ctx, f.org, id, sel); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	path := "/integrations/" + strconv.FormatInt(id, 10)
	if p := b.get(path); p.status != 200 || !strings.Contains(p.body, "The repository service is off") {
		t.Fatalf("with the service off: %d %.300s", p.status, p.body)
	}

	on := sel.Services
	on.Repository = true
	if _, err := f.deps.Integrations.ChangeSelection(ctx, who, id, syncer.SelectionChange{Services: &on}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		list, err := f.deps.Repository.Mirrors(ctx, f.org, id, "")
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, m := range list.Mirrors {
			if m.State == mirror.StateReady {
				ready++
			}
		}
		if ready == len(ps) {
			break
		}
		if i == 600 {
			t.Fatalf("mirrors never ready: %+v", list)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := b.get(path)
	if p.status != 200 {
		t.Fatalf("integration page: %d", p.status)
	}
	for _, want := range []string{`id="mirrors"`, "Repository mirrors", `mirror-ready`, "up to date", "labsync git-credential",
		fmt.Sprintf("%s/git/%d/%s.git", f.srv.URL, id, ps[0].PathWithNamespace)} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func TestThePickerSwitchesTheRepositoryServiceOnAndOff(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, accounts.Options{})
	seedPicker(t, f.st, f.org, f.integA, 30, 3)
	b := f.browser(t)
	b.mustSignin("owner@a.test")
	id := strconv.FormatInt(f.integA, 10)
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			picker := b.get("/integrations/" + id + "/projects")
			if !strings.Contains(picker.body, `name="svc_repository"`) {
				t.Fatal("the picker has no repository service checkbox")
			}
			form := url.Values{"csrf_token": {csrfOf(t, picker)}, "page_ids": {"100000"}, "project": {"100000"}, "svc_pushes": {"on"}}
			if on {
				form.Set("svc_repository", "on")
			}
			if p := b.post("/integrations/"+id+"/projects", form); p.status != http.StatusSeeOther {
				t.Fatalf("saving the picker: %d %.300s", p.status, p.body)
			}
			sel, err := f.st.SelectionFor(ctx, f.org, f.integA)
			if err != nil {
				t.Fatal(err)
			}
			if sel.Services.Repository != on {
				t.Errorf("repository service %v after the picker, want %v", sel.Services.Repository, on)
			}
		})
	}
}
