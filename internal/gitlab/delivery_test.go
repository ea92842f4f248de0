package gitlab_test

import (
	"bytes"
	"context"

	"errors"
	"github.com/labsync/labsync/internal/sandbox"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/secret"
)

func offlineClient(t *testing.T) *gitlab.Client {
	t.Helper()
	base, err := gitlab.NormalizeBaseURL("https://gitlab.example.test/sub")
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitlab.New(gitlab.Options{BaseURL: base, Token: secret.New("t"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeliveryListingsAskWhatGitLabDocuments(t *testing.T) {
	c := offlineClient(t)
	after := time.Date(2026, 3, 4, 15, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		req  func() (gitlab.Request, error)
		path string
		want url.Values
	}{
		{"comments as project events", func() (gitlab.Request, error) {
			return c.ProjectEvents(7, gitlab.EventFilter{TargetType: "note", After: &after}, gitlab.Page{PerPage: 100, Page: 2})
		}, "projects/7/events", url.Values{"target_type": {"note"}, "after": {"2026-03-04"}, "sort": {"asc"}, "per_page": {"100"}, "page": {"2"}}},
		{"approvals as project events", func() (gitlab.Request, error) {
			return c.ProjectEvents(7, gitlab.EventFilter{Action: "approved"}, gitlab.Page{PerPage: 100, Page: 1})
		}, "projects/7/events", url.Values{"action": {"approved"}, "sort": {"asc"}, "per_page": {"100"}, "page": {"1"}}},
		{"jobs by keyset", func() (gitlab.Request, error) { return c.ProjectJobs(7, gitlab.Page{PerPage: 100, Keyset: true}) },
			"projects/7/jobs", url.Values{"pagination": {"keyset"}, "per_page": {"100"}}},
		{"jobs by offset", func() (gitlab.Request, error) { return c.ProjectJobs(7, gitlab.Page{PerPage: 50, Page: 3}) },
			"projects/7/jobs", url.Values{"per_page": {"50"}, "page": {"3"}}},
		{"deployments updated after, ordered by updated_at", func() (gitlab.Request, error) {
			return c.ProjectDeployments(7, &after, gitlab.Page{PerPage: 100, Page: 1})
		}, "projects/7/deployments", url.Values{"order_by": {"updated_at"}, "sort": {"asc"}, "updated_after": {"2026-03-04T15:04:05Z"},
			"per_page": {"100"}, "page": {"1"}}},
		{"merge request commits", func() (gitlab.Request, error) {
			return c.MergeRequestCommits(7, 12, gitlab.Page{PerPage: 100, Page: 1})
		},
			"projects/7/merge_requests/12/commits", url.Values{"per_page": {"100"}, "page": {"1"}}},
		{"merge request approvals", func() (gitlab.Request, error) { return c.MergeRequestApprovals(7, 12) },
			"projects/7/merge_requests/12/approvals", url.Values{}},
		{"tags", func() (gitlab.Request, error) { return c.ProjectTags(7, gitlab.Page{PerPage: 100, Page: 1}) },
			"projects/7/repository/tags", url.Values{"per_page": {"100"}, "page": {"1"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.req()
			if err != nil {
				t.Fatal(err)
			}
			if r.Path != tc.path || r.Query.Encode() != tc.want.Encode() {
				t.Fatalf("asked %s?%s, want %s?%s", r.Path, r.Query.Encode(), tc.path, tc.want.Encode())
			}
		})
	}
}

func TestGraphQLQueriesGoOverGETAndMutationsNever(t *testing.T) {
	c := offlineClient(t)
	q := gitlab.PipelineTimesQuery(gitlab.Version{Major: 15, Minor: 11})
	u, err := c.GraphQLURL(q, gitlab.PipelineTimesVariables("g/p", 100, "abc"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/sub/api/graphql" || u.Query().Get("query") != q || !strings.Contains(u.Query().Get("variables"), `"fullPath":"g/p"`) {
		t.Fatalf("GraphQL address %s", u)
	}
	if !strings.Contains(q, "queuedDuration") || strings.Contains(gitlab.PipelineTimesQuery(gitlab.Version{Major: 12, Minor: 10}), "queuedDuration") {
		t.Fatal("queuedDuration must be asked from 14.0 only")
	}
	// The guard lets the GET through: it is a read.
	guard := gitlab.ReadOnly(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}, nil
	}), mustBase(t, "https://gitlab.example.test/sub"), false)
	if _, err := guard.RoundTrip(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}); err != nil {
		t.Fatalf("the guard refused a GraphQL GET: %v", err)
	}
	post := *u
	if _, err := guard.RoundTrip(&http.Request{Method: http.MethodPost, URL: &post, Header: http.Header{}}); err == nil {
		t.Fatal("the guard let a POST to /api/graphql through")
	}
	for _, m := range []string{"mutation { x }", "  subscription { y }"} {
		if _, err := c.GraphQLURL(m, ""); err == nil {
			t.Fatalf("%q was accepted", m)
		}
	}
	if _, err := c.GraphQLURL("query {"+strings.Repeat(" ", 10001)+"}", ""); err == nil {
		t.Fatal("a query over GitLab's 10,000 characters was accepted")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func mustBase(t *testing.T, s string) gitlab.BaseURL {
	t.Helper()
	b, err := gitlab.NormalizeBaseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPipelineTimesPagesAreReadWithTheirErrors(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		items   int
		next    bool
		wantErr func(error) bool
	}{
		{"a page", `{"data":{"project":{"pipelines":{"pageInfo":{"hasNextPage":true,"endCursor":"c1"},"nodes":[
			{"id":"gid://gitlab/Ci::Pipeline/42","status":"SUCCESS","duration":61,"queuedDuration":1.5,"startedAt":"2026-01-02T03:04:05Z","finishedAt":"2026-01-02T03:05:06Z"},
			{"id":"gid://gitlab/Ci::Pipeline/41","status":"RUNNING","duration":null,"startedAt":null,"finishedAt":null}]}}}}`, 2, true, nil},
		{"GraphQL errors", `{"errors":[{"message":"Field 'queuedDuration' doesn't exist on type 'Pipeline'"}]}`, 0, false,
			func(err error) bool { var ge *gitlab.GraphQLError; return errors.As(err, &ge) }},
		{"project not visible", `{"data":{"project":null}}`, 0, false,
			func(err error) bool { return errors.Is(err, gitlab.ErrProjectNotInGraphQL) }},
		{"a bad global id", `{"data":{"project":{"pipelines":{"pageInfo":{},"nodes":[{"id":"42"}]}}}}`, 0, false,
			func(err error) bool { return err != nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, next, _, err := gitlab.PipelineTimesPage([]byte(tc.body))
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err != nil || len(items) != tc.items || next != tc.next {
				t.Fatalf("%d items, next %v, err %v", len(items), next, err)
			}
			if items[0].ID != 42 || items[0].Status != "success" || *items[0].DurationS != 61 || items[0].FinishedAt == nil || items[1].DurationS != nil {
				t.Fatalf("read %+v", items[0])
			}
		})
	}
}

func TestPipelineTimesArePagedFromTheSandboxGraphQLOverGET(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		version string
		found   bool
	}{{"12.0", false}, {"12.10", true}, {"19.0", true}}
	for _, tc := range cases {
		t.Run(tc.version, func(t *testing.T) {
			sb, err := sandbox.Start(ctx, sandbox.Config{Version: tc.version, Seed: 3, Groups: 1, Projects: 2, MRs: 1, Issues: 1, Pipelines: 7, Commits: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			c := sandboxClient(t, sb, sb.AdminToken(), false)
			var pc sandbox.ProjectCounts
			for _, p := range sb.Manifest().PerProject {
				if p.Pipelines > 0 {
					pc = p
				}
			}
			if pc.ID == 0 {
				t.Fatal("no project with pipelines")
			}
			ver, _ := gitlab.ParseVersion(tc.version)
			seen, cursor, pages := map[int64]bool{}, "", 0
			for {
				u, err := c.GraphQLURL(gitlab.PipelineTimesQuery(ver), gitlab.PipelineTimesVariables(pc.Path, 3, cursor))
				if err != nil {
					t.Fatal(err)
				}
				var body bytes.Buffer
				_, err = c.Get(ctx, u, &body)
				if !tc.found {
					if gitlab.ClassifyError(err).Status != 404 {
						t.Fatalf("GraphQL before 12.1 answered %v, want 404", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				items, next, end, err := gitlab.PipelineTimesPage(body.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, it := range items {
					if seen[it.ID] {
						t.Fatalf("pipeline %d on two pages", it.ID)
					}
					seen[it.ID] = true
					if it.Status == "success" && (it.DurationS == nil || it.FinishedAt == nil) {
						t.Fatalf("a finished pipeline without times: %+v", it)
					}
				}
				if !next {
					break
				}
				cursor = end
			}
			if len(seen) != pc.Pipelines || pages != (pc.Pipelines+2)/3 {
				t.Fatalf("%d pipelines on %d pages, manifest %d", len(seen), pages, pc.Pipelines)
			}
		})
	}
}
