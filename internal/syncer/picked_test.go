package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
)

// On gitlab.com a user may pick by id a public project they are not a
// member of. A membership listing never returns it, so discovery asks for
// it by id: it is kept, marked selected and synced like the user's own,
// and no other project outside the user's memberships is stored.
func TestAPublicProjectPickedByIDIsSyncedThoughTheUserIsNotAMember(t *testing.T) {
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Config{Profile: sandbox.ProfileGitLabCom, PublicProjects: 500, Seed: 9,
		Groups: 4, Projects: 12, MRs: 3, Issues: 3, Pipelines: 1, Commits: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	f := attach(t, sb, storetest.Open(t))
	token := sb.UserToken()
	f.setToken(token)
	members := memberProjects(t, sb.URL(), token)

	// A public project of the wider world, which the user is not a member
	// of, with merge requests of its own.
	var pickedID int64
	var list []struct {
		ID       int64 `json:"id"`
		Archived bool  `json:"archived"`
	}
	getJSON(t, sb.URL()+"/api/v4/projects?visibility=public&per_page=100", token, &list)
	for _, p := range list {
		if !members[p.ID] && !p.Archived {
			pickedID = p.ID
			break
		}
	}
	if pickedID == 0 {
		t.Fatal("the public world lists no project the user is not a member of")
	}
	for i := range 3 {
		if _, err := sb.OpenMR(pickedID, fmt.Sprintf("A change by someone else %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var mrsThere []struct {
		ID int64 `json:"id"`
	}
	getJSON(t, fmt.Sprintf("%s/api/v4/projects/%d/merge_requests?state=all&per_page=100", sb.URL(), pickedID), token, &mrsThere)
	var own int64
	for id := range members {
		own = id
		break
	}

	svc := f.service(syncer.Options{Concurrency: 2, PerPage: 20})
	if err := svc.Discover(ctx, f.org, f.integ); err != nil {
		t.Fatal(err)
	}
	sel := store.Selection{Services: store.AllServices, Projects: []int64{own, pickedID}}
	if _, err := svc.SaveSelection(ctx, f.org, f.integ, sel); err != nil {
		t.Fatal(err)
	}
	if err := svc.Run(ctx, f.org, f.integ, syncer.ModeFull); err != nil {
		t.Fatal(err)
	}

	ps, err := f.st.AllProjects(ctx, f.org, f.integ)
	if err != nil {
		t.Fatal(err)
	}
	selected := false
	for _, p := range ps {
		if p.GitLabID == pickedID {
			selected = p.Selected && p.Gone == ""
		}
		if !members[p.GitLabID] && p.GitLabID != pickedID {
			t.Fatalf("stored %s, whose user is not a member and which was not picked", p.PathWithNamespace)
		}
	}
	if !selected {
		t.Fatalf("the picked public project %s is not a selected project after a full sync", fmt.Sprint(pickedID))
	}
	mrs, err := f.st.MergeRequests(ctx, f.org, store.DataQuery{IntegrationID: f.integ, ProjectGitLabID: pickedID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(mrs) != len(mrsThere) {
		t.Fatalf("the picked public project has %d merge requests stored, GitLab lists %d", len(mrs), len(mrsThere))
	}
}

func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("PRIVATE-TOKEN", token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
