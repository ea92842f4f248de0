package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/api"
	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
	"github.com/labsync/labsync/internal/syncer"
	"github.com/labsync/labsync/internal/vault"
)

type syncFixture struct {
	sb           *sandbox.Sandbox
	st           *store.Store
	org          int64
	srv          *httptest.Server
	owner, other string
	integ        int64
}

func newSyncFixture(t *testing.T, version string) *syncFixture {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Config{Version: version, Seed: 3, Groups: 3, Projects: 8, MRs: 7, Issues: 6, Pipelines: 4, Commits: 13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	st := storetest.Open(t)
	b, _, err := st.BootstrapIfEmpty(ctx, "A", "owner@a", "")
	if err != nil {
		t.Fatal(err)
	}
	mint := func(org, user int64) string { return mintToken(t, st, org, user) }
	in := &store.Integration{OrgID: b.Org.ID, Alias: "gl", BaseURL: sb.URL(), AuthMethod: store.AuthMethodToken}
	if err := st.CreateIntegration(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	o, _ := st.CreateUser(ctx, "owner@b", "O", "")
	orgB, _ := st.CreateOrganization(ctx, "B", o.ID)
	svc := syncer.New(st, syncer.Options{PerPage: 5, RetryBase: time.Millisecond,
		Clients: syncer.StaticClients(sb.URL(), nil, sb.AdminToken, 10*time.Second)})
	mux := http.NewServeMux()
	kek, _, _ := vault.GenerateKEK()
	integ := integrations.New(st, vault.New(kek, st.OrgKeys()), nil, config.Config{}, nil, nil)
	integ.SetPeers(nil, svc)
	api.New(api.Deps{Store: st, Log: slog.New(slog.DiscardHandler), Sync: svc, Integrations: integ}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &syncFixture{sb: sb, st: st, org: b.Org.ID, srv: srv, owner: mint(b.Org.ID, b.Owner.ID), other: mint(orgB.ID, o.ID), integ: in.ID}
}

func (f *syncFixture) call(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// count pages through a data list and returns the number of items.
func (f *syncFixture) count(t *testing.T, path string) int {
	t.Helper()
	n, cursor := 0, ""
	for i := 0; i < 1000; i++ {
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		if code := f.call(t, "GET", fmt.Sprintf("%s?limit=7&cursor=%s", path, cursor), f.owner, "", &page); code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		n += len(page.Items)
		if page.NextCursor == "" {
			return n
		}
		cursor = page.NextCursor
	}
	t.Fatal("cursor pagination did not end")
	return 0
}

func TestReadAPICountsEqualTheSandboxManifest(t *testing.T) {
	for _, v := range []string{"12.10", "15.11", "19.0"} {
		t.Run(v, func(t *testing.T) {
			f := newSyncFixture(t, v)
			base := fmt.Sprintf("/api/v1/integrations/%d", f.integ)
			var repos struct {
				Repositories []store.Project `json:"repositories"`
				NextCursor   string          `json:"next_cursor"`
			}
			if code := f.call(t, "GET", base+"/repositories?limit=3", f.owner, "", &repos); code != 200 || len(repos.Repositories) != 3 || repos.NextCursor == "" {
				t.Fatalf("repositories: %d %+v", code, repos)
			}
			var groups struct{ Groups []store.Group }
			if code := f.call(t, "GET", base+"/groups", f.owner, "", &groups); code != 200 || len(groups.Groups) == 0 {
				t.Fatalf("groups: %d %+v", code, groups)
			}
			var ids []string
			for _, g := range groups.Groups {
				ids = append(ids, fmt.Sprintf(`{"id": %d, "auto_import": true}`, g.GitLabID))
			}
			sel := `{"groups": [` + strings.Join(ids, ",") + `], "include_archived": true,
				"services": {"merge_requests": true, "issues": true, "pipelines": true, "pushes": true}}`
			if code := f.call(t, "PUT", base+"/selection", f.owner, sel, nil); code != 200 {
				t.Fatalf("selection: %d", code)
			}
			if code := f.call(t, "POST", base+"/sync", f.owner, "", nil); code != 202 {
				t.Fatalf("start sync: %d", code)
			}
			var rep syncer.Report
			f.call(t, "GET", base+"/sync", f.owner, "", &rep)
			if rep.State != store.SyncIdle || rep.Totals["all"] == nil || rep.Totals["all"].Done != rep.Totals["all"].Chains {
				t.Fatalf("progress after the sync: %+v", rep.SyncState)
			}
			m := f.sb.Manifest()
			pushes := 0
			for _, p := range m.PerProject {
				pushes += (p.Commits + 9) / 10 // one seeded push per ten commits
			}
			for path, want := range map[string]int{"/api/v1/merge_requests": m.Totals.MergeRequests, "/api/v1/issues": m.Totals.Issues,
				"/api/v1/pipelines": m.Totals.Pipelines, "/api/v1/pushes": pushes} {
				if got := f.count(t, path); got != want {
					t.Errorf("%s lists %d, manifest has %d", path, got, want)
				}
			}
			forbidden := 0
			for _, p := range rep.Projects {
				for _, r := range p.Resources {
					// Jobs and pipeline times of such a project say so too.
					if r.Status == store.ProgressCIDisabled && r.Resource == syncer.ResourcePipelines {
						forbidden++
					}
				}
			}
			if forbidden != m.CIDisabled {
				t.Errorf("%d pipelines show CI/CD disabled, manifest has %d projects with CI/CD disabled", forbidden, m.CIDisabled)
			}
			var feed struct {
				Events    []store.FeedEntry `json:"events"`
				NextAfter int64             `json:"next_after"`
			}
			f.call(t, "GET", "/api/v1/events?limit=10", f.owner, "", &feed)
			if len(feed.Events) != 10 || feed.NextAfter != feed.Events[9].ID {
				t.Fatalf("feed: %+v", feed)
			}

			// Another organisation sees none of it.
			for _, path := range []string{base + "/repositories", base + "/groups", base + "/sync"} {
				if code := f.call(t, "GET", path, f.other, "", nil); code != 404 {
					t.Errorf("org B GET %s: %d", path, code)
				}
			}
			var other struct{ Items []json.RawMessage }
			f.call(t, "GET", "/api/v1/merge_requests", f.other, "", &other)
			f.call(t, "GET", "/api/v1/events", f.other, "", &feed)
			if len(other.Items) != 0 || len(feed.Events) != 0 {
				t.Errorf("org B sees org A's data: %d items, %d events", len(other.Items), len(feed.Events))
			}
		})
	}
}

func TestEventStreamSendsTheFeed(t *testing.T) {
	f := newSyncFixture(t, "17.11")
	base := fmt.Sprintf("/api/v1/integrations/%d", f.integ)
	f.call(t, "PUT", base+"/selection", f.owner, `{"projects": [1], "services": {"merge_requests": true}}`, nil)
	f.call(t, "GET", base+"/repositories?refresh=true", f.owner, "", nil)
	f.call(t, "PUT", base+"/selection", f.owner, `{"projects": [1], "services": {"merge_requests": true}}`, nil)
	if code := f.call(t, "POST", base+"/sync", f.owner, "", nil); code != 202 {
		t.Fatalf("start: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+f.owner)
	req.Header.Set("Last-Event-ID", "2")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	buf := make([]byte, 4096)
	n, _ := res.Body.Read(buf)
	if s := string(buf[:n]); !strings.HasPrefix(s, "id: 3\nevent: change\ndata: {") {
		t.Fatalf("stream starts with %q", s)
	}
}

func TestSelectionFieldsLeftOutKeepTheirValue(t *testing.T) {
	f := newSyncFixture(t, "17.11")
	path := "/api/v1/integrations/" + strconv.FormatInt(f.integ, 10) + "/selection"
	var body map[string]any
	if code := f.call(t, "PUT", path, f.owner, `{"include_archived": true}`, &body); code != 200 {
		t.Fatalf("put: %d %v", code, body)
	}
	svc := body["services"].(map[string]any)
	for _, k := range []string{"merge_requests", "issues", "pipelines", "pushes"} {
		if svc[k] != true {
			t.Fatalf("leaving services out turned %s off: %v", k, body)
		}
	}
	f.call(t, "PUT", path, f.owner, `{"services": {"pipelines": false, "merge_requests": true, "issues": true, "pushes": true}}`, &body)
	body = nil
	f.call(t, "PUT", path, f.owner, `{"exclusions": ["group-1/**"]}`, &body)
	if body["services"].(map[string]any)["pipelines"] != false || body["include_archived"] != true {
		t.Fatalf("earlier choices were lost: %v", body)
	}
}

// A list in the body replaces the stored one as sent: a group sent without
// auto_import does not inherit the flag of the group stored before it, and
// null clears the list.
func TestSelectionListsAreReplacedNotMergedEntryByEntry(t *testing.T) {
	f := newSyncFixture(t, "17.11")
	path := "/api/v1/integrations/" + strconv.FormatInt(f.integ, 10) + "/selection"
	var body struct {
		Groups []struct {
			ID         int64 `json:"id"`
			AutoImport bool  `json:"auto_import"`
		} `json:"groups"`
		Exclusions []string `json:"exclusions"`
		Projects   []int64  `json:"projects"`
	}
	if code := f.call(t, "PUT", path, f.owner, `{"groups": [{"id": 3, "auto_import": true}], "exclusions": ["a/**"], "projects": [1, 2]}`, &body); code != 200 {
		t.Fatalf("put: %d", code)
	}
	if code := f.call(t, "PUT", path, f.owner, `{"groups": [{"id": 7}], "exclusions": null}`, &body); code != 200 {
		t.Fatalf("put: %d", code)
	}
	if len(body.Groups) != 1 || body.Groups[0].ID != 7 || body.Groups[0].AutoImport {
		t.Fatalf("groups after sending [{id 7}]: %+v", body.Groups)
	}
	if len(body.Exclusions) != 0 {
		t.Fatalf("exclusions after null: %v", body.Exclusions)
	}
	if len(body.Projects) != 2 {
		t.Fatalf("projects left out changed: %v", body.Projects)
	}
	var bad struct {
		Error struct{ Field, Message string }
	}
	if code := f.call(t, "PUT", path, f.owner, `{"groups": "all"}`, &bad); code != 400 || bad.Error.Field != "groups" ||
		bad.Error.Message != `field "groups" must be a list` {
		t.Fatalf("groups as a string: %d %+v", code, bad)
	}
}
