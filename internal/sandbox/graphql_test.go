package sandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const pipelinesQuery = `query($path: ID!, $after: String) {
  project(fullPath: $path) {
    pipelines(first: 3, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id iid status duration startedAt finishedAt createdAt updatedAt }
    }
  }
}`

type gqlPipelinesAnswer struct {
	Data struct {
		Project *struct {
			Pipelines struct {
				PageInfo struct {
					HasNextPage bool    `json:"hasNextPage"`
					EndCursor   *string `json:"endCursor"`
				} `json:"pageInfo"`
				Nodes []struct {
					ID         string     `json:"id"`
					IID        string     `json:"iid"`
					Status     string     `json:"status"`
					Duration   *int64     `json:"duration"`
					StartedAt  *time.Time `json:"startedAt"`
					FinishedAt *time.Time `json:"finishedAt"`
					CreatedAt  time.Time  `json:"createdAt"`
					UpdatedAt  time.Time  `json:"updatedAt"`
				} `json:"nodes"`
			} `json:"pipelines"`
		} `json:"project"`
	} `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func graphqlGET(t *testing.T, sb *Sandbox, token, query string, vars map[string]any) rawResponse {
	t.Helper()
	q := url.Values{"query": {query}}
	if vars != nil {
		b, _ := json.Marshal(vars)
		q.Set("variables", string(b))
	}
	return do(t, nil, http.MethodGet, sb.URL()+"/api/graphql?"+q.Encode(), token, "")
}

// TestGraphQLPagesThroughEveryPipelineWithItsTimings pages each project's
// pipelines over GET /api/graphql and finds every pipeline once, with the
// duration and times the REST detail endpoint gives.
func TestGraphQLPagesThroughEveryPipelineWithItsTimings(t *testing.T) {
	for _, version := range []string{"12.10", "15.11", "19.0"} {
		t.Run(version, func(t *testing.T) {
			cfg := fidelityConfig
			cfg.Version = version
			sb := start(t, cfg)
			m := sb.Manifest()
			total := 0
			for _, pc := range m.PerProject {
				seen := map[string]bool{}
				var after any
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatalf("project %d: more than 100 pages", pc.ID)
					}
					r := graphqlGET(t, sb, sb.AdminToken(), pipelinesQuery, map[string]any{"path": pc.Path, "after": after})
					var a gqlPipelinesAnswer
					mustJSON(t, r.body, &a)
					if r.status != http.StatusOK || len(a.Errors) > 0 || a.Data.Project == nil {
						t.Fatalf("project %s: %d %s", pc.Path, r.status, r.body)
					}
					for _, n := range a.Data.Project.Pipelines.Nodes {
						if seen[n.ID] {
							t.Errorf("pipeline %s listed twice", n.ID)
						}
						seen[n.ID] = true
						id, err := strconv.ParseInt(n.ID[strings.LastIndex(n.ID, "/")+1:], 10, 64)
						if err != nil {
							t.Fatalf("id %q", n.ID)
						}
						if !strings.HasPrefix(n.ID, "gid://gitlab/Ci::Pipeline/") {
							t.Errorf("id %q on %s", n.ID, version)
						}
						var rest struct {
							Status     string     `json:"status"`
							Duration   *int64     `json:"duration"`
							StartedAt  *time.Time `json:"started_at"`
							FinishedAt *time.Time `json:"finished_at"`
							CreatedAt  time.Time  `json:"created_at"`
						}
						mustJSON(t, get(t, sb, "/api/v4/projects/"+itoa(int(pc.ID))+"/pipelines/"+strconv.FormatInt(id, 10), sb.AdminToken()).body, &rest)
						if strings.ToLower(n.Status) != rest.Status || n.Duration == nil || rest.Duration == nil || *n.Duration != *rest.Duration ||
							!n.StartedAt.Equal(rest.StartedAt.Truncate(time.Second)) || !n.FinishedAt.Equal(rest.FinishedAt.Truncate(time.Second)) ||
							!n.CreatedAt.Equal(rest.CreatedAt.Truncate(time.Second)) {
							t.Errorf("pipeline %d: GraphQL %+v, REST %+v", id, n, rest)
						}
					}
					pi := a.Data.Project.Pipelines.PageInfo
					if !pi.HasNextPage {
						break
					}
					after = *pi.EndCursor
				}
				if len(seen) != pc.Pipelines {
					t.Errorf("project %s: %d pipelines over GraphQL, manifest %d", pc.Path, len(seen), pc.Pipelines)
				}
				total += len(seen)
			}
			if total == 0 || total != m.Totals.Pipelines {
				t.Errorf("%d pipelines over GraphQL, manifest %d", total, m.Totals.Pipelines)
			}
		})
	}
}

// TestGraphQLRefusesWhatGitLabRefuses: mutations over GET, unknown fields,
// bad tokens, oversized queries, and versions before the API existed.
func TestGraphQLRefusesWhatGitLabRefuses(t *testing.T) {
	sb := start(t, fidelityConfig)
	path := sb.Manifest().PerProject[0].Path
	tests := []struct {
		name, token, query string
		status             int
		message, code      string
	}{
		{"a mutation over GET", sb.AdminToken(), `mutation { createIssue(input: {projectPath: "x", title: "y"}) { errors } }`,
			http.StatusUnprocessableEntity, "Mutations are forbidden in GET requests", ""},
		{"a field the Pipeline type lacks", sb.AdminToken(), `{ project(fullPath: "` + path + `") { pipelines { nodes { id bogus } } } }`,
			http.StatusOK, "Field 'bogus' doesn't exist on type 'Pipeline'", "undefinedField"},
		{"a root field the sandbox does not model", sb.AdminToken(), `{ currentUser { username } }`,
			http.StatusOK, "Field 'currentUser' doesn't exist on type 'Query'", "undefinedField"},
		{"an argument pipelines does not take", sb.AdminToken(), `{ project(fullPath: "` + path + `") { pipelines(color: "red") { nodes { id } } } }`,
			http.StatusOK, "Field 'pipelines' doesn't accept argument 'color'", "argumentNotAccepted"},
		{"a fragment", sb.AdminToken(), `{ project(fullPath: "` + path + `") { ...F } } fragment F on Project { id }`,
			http.StatusOK, "The sandbox's GraphQL takes no fragments or directives", ""},
		{"a syntax error", sb.AdminToken(), `{ project(fullPath: "` + path + `") { `, http.StatusOK, "Parse error on \"end of file\" (EOF) at [1, ", ""},
		{"an unknown token", "glpat-nope", `{ project(fullPath: "` + path + `") { id } }`, http.StatusUnauthorized, "Invalid token", ""},
		{"a query above 10,000 characters", sb.AdminToken(), `{ project(fullPath: "` + strings.Repeat("a", 10001) + `") { id } }`,
			http.StatusUnprocessableEntity, "Query too large", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := graphqlGET(t, sb, tc.token, tc.query, nil)
			var a gqlPipelinesAnswer
			mustJSON(t, r.body, &a)
			if r.status != tc.status || len(a.Errors) == 0 || !strings.HasPrefix(a.Errors[0].Message, tc.message) {
				t.Fatalf("answered %d %s; want %d %q", r.status, r.body, tc.status, tc.message)
			}
			if tc.code != "" && a.Errors[0].Extensions["code"] != tc.code {
				t.Errorf("extensions %v, want code %s", a.Errors[0].Extensions, tc.code)
			}
		})
	}
	t.Run("a project the caller cannot read is null", func(t *testing.T) {
		r := graphqlGET(t, sb, "", `{ project(fullPath: "no/such") { pipelines { nodes { id } } } }`, nil)
		if r.status != http.StatusOK || string(r.body) != `{"data":{"project":null}}` {
			t.Errorf("answered %d %s", r.status, r.body)
		}
	})
	t.Run("11.11 has no GraphQL API", func(t *testing.T) {
		cfg := fidelityConfig
		cfg.Version = "11.11"
		old := start(t, cfg)
		if r := graphqlGET(t, old, old.AdminToken(), `{ project(fullPath: "x") { id } }`, nil); r.status != http.StatusNotFound {
			t.Errorf("answered %d %s, want 404", r.status, r.body)
		}
	})
}

// TestGraphQLAnswersTheQueryLabsyncSends runs the query internal/gitlab's
// PipelineTimesQuery builds (variables fullPath, first and after;
// queuedDuration from 13.12) and finds every pipeline on ceil(n/3) pages.
func TestGraphQLAnswersTheQueryLabsyncSends(t *testing.T) {
	for _, version := range []string{"12.10", "13.12", "19.0"} {
		t.Run(version, func(t *testing.T) {
			cfg := fidelityConfig
			cfg.Version = version
			sb := start(t, cfg)
			fields := "id status duration startedAt finishedAt updatedAt"
			if sb.ver.hasQueuedDuration() {
				fields += " queuedDuration"
			}
			q := "query($fullPath: ID!, $first: Int, $after: String) { project(fullPath: $fullPath) { pipelines(first: $first, after: $after) " +
				"{ pageInfo { hasNextPage endCursor } nodes { " + fields + " } } } }"
			for _, pc := range sb.Manifest().PerProject {
				vars := map[string]any{"fullPath": pc.Path, "first": 3}
				n, pages := 0, 0
				for {
					r := graphqlGET(t, sb, sb.AdminToken(), q, vars)
					var a struct {
						Data struct {
							Project struct {
								Pipelines struct {
									PageInfo struct {
										HasNextPage bool   `json:"hasNextPage"`
										EndCursor   string `json:"endCursor"`
									} `json:"pageInfo"`
									Nodes []map[string]any `json:"nodes"`
								} `json:"pipelines"`
							} `json:"project"`
						} `json:"data"`
						Errors []any `json:"errors"`
					}
					mustJSON(t, r.body, &a)
					if r.status != http.StatusOK || len(a.Errors) > 0 {
						t.Fatalf("%d %s", r.status, r.body)
					}
					pages++
					for _, node := range a.Data.Project.Pipelines.Nodes {
						n++
						if _, ok := node["queuedDuration"]; ok != sb.ver.hasQueuedDuration() {
							t.Errorf("node %v on %s", node, version)
						}
					}
					pi := a.Data.Project.Pipelines.PageInfo
					if !pi.HasNextPage {
						break
					}
					vars["after"] = pi.EndCursor
				}
				if n != pc.Pipelines || (n > 0 && pages != (n+2)/3) {
					t.Errorf("project %s: %d pipelines on %d pages, manifest %d", pc.Path, n, pages, pc.Pipelines)
				}
			}
		})
	}
}

// TestGraphQLFailsAsInjected: with every request failing, GraphQL answers
// 500 or 502 as the REST API does.
func TestGraphQLFailsAsInjected(t *testing.T) {
	sb := start(t, fidelityConfig)
	sb.SetFaults(Faults{ErrorRate: 1})
	for range 4 {
		r := graphqlGET(t, sb, sb.AdminToken(), pipelinesQuery, map[string]any{"path": sb.Manifest().PerProject[0].Path})
		if r.status != http.StatusInternalServerError && r.status != http.StatusBadGateway {
			t.Errorf("answered %d %s under errors=1", r.status, r.body)
		}
	}
}
