package sandbox

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReviewAndDeliveryEndpointsAnswerAsEachVersionDid checks the version
// gates of the new endpoints and their parameters.
func TestReviewAndDeliveryEndpointsAnswerAsEachVersionDid(t *testing.T) {
	boxes := map[string]*Sandbox{}
	for _, v := range []string{"10.8", "12.10", "15.11", "19.0"} {
		cfg := fidelityConfig
		cfg.Version = v
		boxes[v] = start(t, cfg)
	}
	// A project with CI/CD, deployments and issues.
	pid := int64(0)
	for _, pc := range boxes["19.0"].Manifest().PerProject {
		if pc.Deployments > 0 && pc.Incidents > 0 {
			pid = pc.ID
			break
		}
	}
	if pid == 0 {
		t.Fatal("no project with deployments and incidents in the dataset")
	}
	path := func(s string) string { return fmt.Sprintf("/api/v4/projects/%d/%s", pid, s) }
	tests := []struct {
		name, version, path string
		status              int
		has, lacks          []string // substrings of the body
		header              string   // a header that must be set
		noHeader            string   // a header that must not be set
	}{
		{"deployments filtered by updated_after without the updated_at order on 19.0", "19.0", path("deployments?updated_after=2020-01-01T00:00:00Z"),
			http.StatusBadRequest, []string{"`updated_at` filter requires `updated_at` sort"}, nil, "", ""},
		{"deployments filtered by updated_after without the updated_at order are listed on 15.11", "15.11", path("deployments?updated_after=2020-01-01T00:00:00Z&order_by=id"),
			http.StatusOK, []string{`"updated_at"`, `"deployable"`}, []string{"`updated_at` filter"}, "", ""},
		{"deployments filtered by updated_after without the order on 12.10", "12.10", path("deployments?updated_after=2020-01-01T00:00:00Z"),
			http.StatusOK, []string{`"updated_at"`}, nil, "", ""},
		{"deployments filtered and ordered by updated_at on 19.0", "19.0", path("deployments?updated_after=2020-01-01T00:00:00Z&order_by=updated_at"),
			http.StatusOK, []string{`"deployable"`, `"environment"`}, []string{`"tier"`}, "", ""},
		{"deployments on 10.8 have no updated_at", "10.8", path("deployments"), http.StatusOK, []string{`Z","status":"`}, nil, "", ""}, // created_at straight before status
		{"jobs keyset in ascending order is refused on 19.0", "19.0", path("jobs?pagination=keyset&order_by=id&sort=asc"),
			http.StatusMethodNotAllowed, []string{"Keyset pagination is not yet available for this type of request"}, nil, "", ""},
		{"jobs keyset pages carry a cursor and no totals on 19.0", "19.0", path("jobs?pagination=keyset&per_page=2"),
			http.StatusOK, []string{`"queued_duration"`}, nil, "Link", "X-Total"},
		{"jobs keyset is ignored on 12.10", "12.10", path("jobs?pagination=keyset&per_page=2"), http.StatusOK, nil, []string{`"queued_duration"`}, "X-Total", ""},
		{"environments have a tier on 15.11", "15.11", path("environments"), http.StatusOK, []string{`"tier":"production"`, `"tier":"staging"`}, nil, "", ""},
		{"environments have no tier on 12.10", "12.10", path("environments"), http.StatusOK, []string{`"name":"production"`}, []string{`"tier"`}, "", ""},
		{"releases do not exist on 10.8", "10.8", path("releases"), http.StatusNotFound, nil, nil, "", ""},
		{"incidents are typed on 15.11", "15.11", path("issues?per_page=100"), http.StatusOK, []string{`"issue_type":"incident"`, `"type":"INCIDENT"`}, nil, "", ""},
		{"incidents are labelled on 12.10", "12.10", path("issues?per_page=100"), http.StatusOK, []string{`"incident"`}, []string{`"issue_type"`}, "", ""},
		{"approvals do not exist on 12.10", "12.10", path("merge_requests/1/approvals"), http.StatusNotFound, nil, nil, "", ""},
		{"approvals in CE's shape on 15.11", "15.11", path("merge_requests/1/approvals"), http.StatusOK, []string{`"approved_by"`, `"user_can_approve"`}, []string{`"approved_at"`, `"approvals_required"`}, "", ""},
		{"approvals carry approved_at on 19.0", "19.0", path("merge_requests/1/approvals"), http.StatusOK, []string{`"approved_by"`}, nil, "", ""},
		{"approved events exist on 15.11", "15.11", path("events?action=approved&per_page=100"), http.StatusOK, []string{`"action_name":"approved"`}, nil, "", ""},
		{"the approved action is refused on 12.10", "12.10", path("events?action=approved"), http.StatusBadRequest, []string{"action does not have a valid value"}, nil, "", ""},
		{"an unknown action is refused on 19.0", "19.0", path("events?action=reviewed"), http.StatusBadRequest, []string{"action does not have a valid value"}, nil, "", ""},
		{"comment events carry their note", "12.10", path("events?action=commented&per_page=100"), http.StatusOK,
			[]string{`"action_name":"commented on"`, `"noteable_type":"MergeRequest"`, `"noteable_iid"`}, []string{`"action_name":"opened"`}, "", ""},
		{"target_type=note keeps plain notes only", "19.0", path("events?target_type=note&per_page=100"), http.StatusOK,
			[]string{`"target_type":"Note"`}, []string{`"target_type":"DiffNote"`, `"target_type":"MergeRequest"`}, "", ""},
		{"action=commented lists diff notes too", "19.0", path("events?action=commented&per_page=100"), http.StatusOK,
			[]string{`"target_type":"Note"`, `"target_type":"DiffNote"`}, nil, "", ""},
		{"discussions exist on 10.8", "10.8", path("merge_requests/1/discussions"), http.StatusOK, []string{`"individual_note"`}, nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := boxes[tc.version]
			r := get(t, sb, tc.path, sb.AdminToken())
			if r.status != tc.status {
				t.Fatalf("%s answered %d %s, want %d", tc.path, r.status, r.body, tc.status)
			}
			for _, s := range tc.has {
				if !strings.Contains(string(r.body), s) {
					t.Errorf("body lacks %s: %.300s", s, r.body)
				}
			}
			for _, s := range tc.lacks {
				if strings.Contains(string(r.body), s) {
					t.Errorf("body carries %s: %.300s", s, r.body)
				}
			}
			if tc.header != "" && r.header.Get(tc.header) == "" {
				t.Errorf("no %s header", tc.header)
			}
			if tc.noHeader != "" && r.header.Get(tc.noHeader) != "" {
				t.Errorf("%s header set", tc.noHeader)
			}
		})
	}
}

// TestGitLabComLimitsProjectJobsTo600AMinute: the 601st request in a
// minute to GET /projects/:id/jobs answers 429 with Retry-After.
func TestGitLabComLimitsProjectJobsTo600AMinute(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 5, 0, time.UTC)
	cfg := fidelityConfig
	cfg.Profile, cfg.PublicProjects, cfg.Now = ProfileGitLabCom, 10, func() time.Time { return now }
	sb := start(t, cfg)
	m := sb.Manifest()
	pid := m.UserProjects[0]
	for _, id := range m.UserProjects {
		if m.PerProject[id-1].CIEnabled {
			pid = id
			break
		}
	}
	url := fmt.Sprintf("/api/v4/projects/%d/jobs", pid)
	for i := range 600 {
		if r := get(t, sb, url, sb.UserToken()); r.status != http.StatusOK {
			t.Fatalf("request %d answered %d %s", i+1, r.status, r.body)
		}
	}
	r := get(t, sb, url, sb.UserToken())
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "60" || !strings.Contains(string(r.body), "This endpoint has been requested too many times") {
		t.Errorf("601st request answered %d %v %s", r.status, r.header.Get("Retry-After"), r.body)
	}
}
