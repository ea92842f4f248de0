package sandbox

import (
	"net/http"
	"strings"
	"testing"
)

func TestPaginationHeaders(t *testing.T) {
	// 10,001 empty projects: enough rows to exceed GitLab's count limit, cheaply.
	big := start(t, Config{Seed: 1, Projects: 10001})
	small := start(t, Config{Seed: 1, Projects: 7})
	const offsetCapBody = `{"error":"Offset pagination has a maximum allowed offset of 50000 for requests that return objects of type Project. Remaining records can be retrieved using keyset pagination."}` + "\n"

	tests := []struct {
		name     string
		sb       *Sandbox
		path     string
		status   int
		header   map[string]string // "" means absent
		linkRels []string
		body     string
	}{
		{name: "counted", sb: small, path: "/api/v4/projects?per_page=3&page=2", status: 200,
			header:   map[string]string{"X-Total": "7", "X-Total-Pages": "3", "X-Page": "2", "X-Per-Page": "3", "X-Next-Page": "3", "X-Prev-Page": "1"},
			linkRels: []string{"prev", "next", "first", "last"}},
		{name: "last page", sb: small, path: "/api/v4/projects?per_page=3&page=3", status: 200,
			header: map[string]string{"X-Next-Page": "", "X-Prev-Page": "2", "X-Total": "7"}, linkRels: []string{"prev", "first", "last"}},
		{name: "per_page capped at 100", sb: big, path: "/api/v4/projects?per_page=500", status: 200,
			header: map[string]string{"X-Per-Page": "100", "X-Next-Page": "2"}},
		{name: "above 10000 rows no totals", sb: big, path: "/api/v4/projects?per_page=1", status: 200,
			header:   map[string]string{"X-Total": "", "X-Total-Pages": "", "X-Next-Page": "2", "X-Page": "1"},
			linkRels: []string{"next", "first"}},
		{name: "offset cap reached", sb: big, path: "/api/v4/projects?per_page=100&page=500", status: 200,
			header: map[string]string{"X-Page": "500"}},
		{name: "offset cap exceeded", sb: big, path: "/api/v4/projects?per_page=100&page=501", status: http.StatusMethodNotAllowed, body: offsetCapBody},
		{name: "offset cap exceeded on small data", sb: small, path: "/api/v4/projects?per_page=1&page=50001", status: http.StatusMethodNotAllowed, body: offsetCapBody},
		{name: "keyset", sb: big, path: "/api/v4/projects?pagination=keyset&order_by=id&sort=asc&per_page=50", status: 200,
			header: map[string]string{"X-Total": "", "X-Page": "", "X-Next-Page": ""}, linkRels: []string{"next"}},
		{name: "keyset needs order_by=id", sb: small, path: "/api/v4/projects?pagination=keyset&order_by=name", status: http.StatusMethodNotAllowed,
			body: `{"error":"Keyset pagination is not yet available for this type of request"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.sb, tt.path, tt.sb.AdminToken())
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			for k, want := range tt.header {
				got, ok := r.header[http.CanonicalHeaderKey(k)]
				if want == "" && k != "X-Next-Page" && ok {
					t.Errorf("%s present (%q), want absent", k, got)
				}
				if want != "" && r.header.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, r.header.Get(k), want)
				}
			}
			if tt.linkRels != nil {
				link := r.header.Get("Link")
				for _, rel := range []string{"prev", "next", "first", "last"} {
					if strings.Contains(link, `rel="`+rel+`"`) != contains(tt.linkRels, rel) {
						t.Errorf("Link %q: rel=%s presence wrong, want rels %v", link, rel, tt.linkRels)
					}
				}
			}
			if tt.body != "" && string(r.body) != tt.body {
				t.Errorf("body %s, want %s", r.body, tt.body)
			}
		})
	}

	t.Run("keyset walks every project once", func(t *testing.T) {
		url := big.URL() + "/api/v4/projects?pagination=keyset&order_by=id&sort=desc&per_page=100"
		seen, pages := 0, 0
		last := int64(1 << 62)
		for url != "" {
			r := do(t, nil, http.MethodGet, url, big.AdminToken(), "")
			var ps []struct{ ID int64 }
			mustJSON(t, r.body, &ps)
			for _, p := range ps {
				if p.ID >= last {
					t.Fatalf("ids not descending: %d after %d", p.ID, last)
				}
				last = p.ID
			}
			seen += len(ps)
			pages++
			url = ""
			if l := r.header.Get("Link"); l != "" {
				if !strings.Contains(l, "id_before=") {
					t.Fatalf("Link %q lacks id_before", l)
				}
				url = strings.TrimSuffix(strings.TrimPrefix(strings.Split(l, ";")[0], "<"), ">")
			}
		}
		if seen != 10001 || pages != 101 {
			t.Errorf("keyset listed %d projects in %d pages, want 10001 in 101", seen, pages)
		}
	})
}
