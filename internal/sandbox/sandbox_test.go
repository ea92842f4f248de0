package sandbox

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDeterministicDataset(t *testing.T) {
	cfg := Config{Seed: 42, Groups: 3, Projects: 6, MRs: 4, Issues: 4, Pipelines: 2, Commits: 5}
	a, b := start(t, cfg), start(t, cfg)
	cfg.Seed = 43
	c := start(t, cfg)
	if !reflect.DeepEqual(a.Manifest(), b.Manifest()) {
		t.Error("same seed, different manifests")
	}
	for _, path := range []string{"/api/v4/projects/2/merge_requests", "/api/v4/projects/3/issues", "/api/v4/projects/1/repository/commits", "/api/v4/projects"} {
		ra := strings.ReplaceAll(string(get(t, a, path, a.AdminToken()).body), a.URL(), "")
		rb := strings.ReplaceAll(string(get(t, b, path, b.AdminToken()).body), b.URL(), "")
		rc := strings.ReplaceAll(string(get(t, c, path, c.AdminToken()).body), c.URL(), "")
		if ra != rb {
			t.Errorf("%s differs between equal seeds", path)
		}
		if ra == rc {
			t.Errorf("%s equal for different seeds", path)
		}
	}
}

func TestStartRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "10.0.0.1:0", "example.com:80"} {
		if sb, err := Start(context.Background(), Config{Addr: addr}); err == nil {
			sb.Close()
			t.Errorf("Start(%s) accepted a non-loopback address", addr)
		}
	}
}

func TestAdminAPI(t *testing.T) {
	sb := start(t, Config{Seed: 1, Projects: 2, MRs: 3, Commits: 2})
	admin := sb.AdminToken()
	since := sb.Now().Add(-time.Second).UTC().Format(time.RFC3339)

	r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/activity", admin, `{"action":"open_mr","project_id":1,"title":"From HTTP"}`)
	if r.status != 200 || r.json(t)["iid"] != float64(4) {
		t.Fatalf("open_mr: %d %s", r.status, r.body)
	}
	var mrs []map[string]any
	mustJSON(t, get(t, sb, "/api/v4/projects/1/merge_requests?updated_after="+since, admin).body, &mrs)
	if len(mrs) != 1 || mrs[0]["title"] != "From HTTP" {
		t.Errorf("updated_after lists %d MRs, want the new one", len(mrs))
	}
	if r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/activity", admin, `{"action":"run_pipeline","project_id":99}`); r.status != 404 {
		t.Errorf("unknown project: %d", r.status)
	}
	if r := do(t, nil, http.MethodPut, sb.URL()+"/-/sandbox/faults", admin, "errors=0.25,drop-webhooks"); r.status != 200 || sb.Faults().ErrorRate != 0.25 || !sb.Faults().DropWebhooks {
		t.Errorf("faults: %d %s", r.status, r.body)
	}
	sb.SetFaults(Faults{})
	alice := sb.CreateToken(TokenSpec{User: "alice"})
	if r := get(t, sb, "/-/sandbox/manifest", alice); r.status != 403 {
		t.Errorf("non-admin manifest: %d", r.status)
	}
	if r := get(t, sb, "/-/sandbox/manifest", ""); r.status != 401 {
		t.Errorf("anonymous manifest: %d", r.status)
	}
	if m := get(t, sb, "/-/sandbox/manifest", admin).json(t); m["projects"] != float64(2) {
		t.Errorf("manifest %v", m)
	}
	r = do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/tokens", admin, `{"user":"bob","scopes":["read_api"]}`)
	tok, _ := r.json(t)["token"].(string)
	if u := get(t, sb, "/api/v4/user", tok).json(t); u["username"] != "bob" {
		t.Errorf("token for bob is %v's", u["username"])
	}
}

func TestGenerator(t *testing.T) {
	sb := start(t, Config{Seed: 1, Projects: 3, MRs: 2, Issues: 2, Commits: 2, Generator: 6000})
	before := sb.Manifest().Totals
	deadline := time.Now().Add(5 * time.Second)
	for sb.Manifest().Totals == before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if sb.Manifest().Totals == before {
		t.Error("generator made no activity")
	}
}
