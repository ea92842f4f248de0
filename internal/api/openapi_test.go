package api_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/sandbox"
)

// routeHandlers reads the package's route files and returns, for every
// pattern mounted with a.route or a.public, whether its handler decodes a
// request body (calls decode).
func routeHandlers(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	decodes := map[string]bool{} // handler name -> calls decode
	mounted := map[string]string{}
	mount := regexp.MustCompile(`a\.(?:route|public)\(mux, "([A-Z]+ [^"]+)",(?: [a-zA-Z]+,)? a\.([a-zA-Z]+)\)`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mount.FindAllStringSubmatch(string(src), -1) {
			mounted[m[1]] = m[2]
		}
		af, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if c, ok := n.(*ast.CallExpr); ok {
					if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "decode" {
						decodes[fd.Name.Name] = true
					}
				}
				return true
			})
		}
	}
	out := map[string]bool{}
	for p, h := range mounted {
		out[p] = decodes[h]
	}
	return out
}

// TestEveryRouteHasSchemas: every mounted route has a success answer with
// a schema in /api/v1/openapi.json, and a request schema when its handler
// decodes a body; real answers of a connected sandbox validate against
// their schemas, unknown fields included.
func TestEveryRouteHasSchemas(t *testing.T) {
	f := newConnectFixture(t)
	var doc map[string]any
	code, raw := f.raw(t, "GET", "/api/v1/openapi.json", "", nil)
	if code != 200 {
		t.Fatalf("openapi: %d", code)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	handlers := routeHandlers(t)
	op := func(pattern string) map[string]any {
		method, path, _ := strings.Cut(pattern, " ")
		p, _ := paths[path].(map[string]any)
		o, _ := p[strings.ToLower(method)].(map[string]any)
		return o
	}
	var patterns []string
	for _, rt := range f.api.Routes() {
		patterns = append(patterns, rt.Pattern)
	}
	patterns = append(patterns, "POST /api/v1/webhooks/gitlab/{hook_id}", "GET /api/v1/connectors/gitlab/callback",
		"GET /api/v1/openapi.json", "POST /api/v1/invitations/redeem")
	if len(patterns) < 45 {
		t.Fatalf("only %d routes mounted", len(patterns))
	}
	for _, p := range patterns {
		o := op(p)
		if o == nil {
			t.Errorf("%s is not in the document", p)
			continue
		}
		ok := false
		for status, r := range o["responses"].(map[string]any) {
			if status[0] != '2' {
				continue
			}
			for _, media := range r.(map[string]any)["content"].(map[string]any) {
				if media.(map[string]any)["schema"] != nil {
					ok = true
				}
			}
		}
		if !ok {
			t.Errorf("%s has no success answer with a schema", p)
		}
		decodes, known := handlers[p]
		if !known && p != "GET /api/v1/connectors/gitlab/callback" && p != "POST /api/v1/webhooks/gitlab/{hook_id}" {
			t.Errorf("%s: no handler found in the route files", p)
		}
		if decodes && o["requestBody"] == nil {
			t.Errorf("%s decodes a body but documents none", p)
		}
		if !decodes && known && o["requestBody"] != nil {
			t.Errorf("%s documents a body its handler never reads", p)
		}
	}

	// Real answers against their schemas.
	comps, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
	check := func(pattern string, status int, body []byte) {
		t.Helper()
		o := op(pattern)
		resp, _ := o["responses"].(map[string]any)[fmt.Sprint(status)].(map[string]any)
		if resp == nil {
			t.Errorf("%s answered %d, which the document does not list", pattern, status)
			return
		}
		schema := resp["content"].(map[string]any)["application/json"].(map[string]any)["schema"]
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		if errs := validate(schema, v, "$", comps); len(errs) > 0 {
			sort.Strings(errs)
			t.Errorf("%s answer does not match its schema:\n  %s", pattern, strings.Join(errs, "\n  "))
		}
	}
	sb := startSB(t, small(sandbox.Config{Version: "17.11"}))
	code, body := f.raw(t, "POST", "/api/v1/integrations/gitlab/token", f.owner,
		map[string]any{"base_url": sb.URL(), "token": sb.AdminToken(), "alias": "schemas"})
	if code != http.StatusCreated {
		t.Fatalf("connect: %d %s", code, body)
	}
	check("POST /api/v1/integrations/gitlab/token", code, body)
	var connected struct {
		Integration struct {
			ID int64 `json:"id"`
		} `json:"integration"`
	}
	json.Unmarshal(body, &connected)
	id := itoa(connected.Integration.ID)
	for _, c := range []struct{ pattern, path string }{
		{"GET /api/v1/me", "/api/v1/me"},
		{"GET /api/v1/integrations", "/api/v1/integrations"},
		{"GET /api/v1/integrations/{id}", "/api/v1/integrations/" + id},
		{"GET /api/v1/members", "/api/v1/members"},
		{"GET /api/v1/tokens", "/api/v1/tokens"},
		{"GET /api/v1/audit", "/api/v1/audit"},
		{"GET /api/v1/organization", "/api/v1/organization"},
		{"GET /api/v1/integrations/{id}/webhook/health", "/api/v1/integrations/" + id + "/webhook/health"},
		{"GET /api/v1/integrations/{id}/webhook", "/api/v1/integrations/" + id + "/webhook"},
		{"GET /api/v1/integrations/{id}/selection", "/api/v1/integrations/" + id + "/selection"},
		{"GET /api/v1/integrations/{id}/sync", "/api/v1/integrations/" + id + "/sync"},
		{"GET /api/v1/integrations/{id}/repositories", "/api/v1/integrations/" + id + "/repositories"},
		{"GET /api/v1/integrations/{id}/groups", "/api/v1/integrations/" + id + "/groups"},
		{"GET /api/v1/oauth-apps", "/api/v1/oauth-apps"},
		{"GET /api/v1/events", "/api/v1/events"},
	} {
		code, body := f.raw(t, "GET", c.path, f.owner, nil)
		if code != 200 {
			t.Errorf("%s: %d %s", c.path, code, body)
			continue
		}
		check(c.pattern, code, body)
	}
	// An error answer matches the default schema.
	code, body = f.raw(t, "GET", "/api/v1/integrations/999999", f.owner, nil)
	if code != 404 {
		t.Fatalf("missing integration: %d", code)
	}
	var v any
	json.Unmarshal(body, &v)
	def := op("GET /api/v1/integrations/{id}")["responses"].(map[string]any)["default"].(map[string]any)
	if errs := validate(def["content"].(map[string]any)["application/json"].(map[string]any)["schema"], v, "$", comps); len(errs) > 0 {
		t.Errorf("error answer: %v", errs)
	}
}

// validate checks v against the JSON Schema subset the generator emits
// (type, properties, required, items, additionalProperties, anyOf, $ref),
// refusing object fields the schema does not name.
func validate(schema, v any, at string, comps map[string]any) []string {
	s, _ := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		return validate(comps[strings.TrimPrefix(ref, "#/components/schemas/")], v, at, comps)
	}
	if alts, ok := s["anyOf"].([]any); ok {
		var all []string
		for _, a := range alts {
			errs := validate(a, v, at, comps)
			if len(errs) == 0 {
				return nil
			}
			all = append(all, errs...)
		}
		return all
	}
	if ty, ok := s["type"]; ok {
		var types []string
		switch x := ty.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, e := range x {
				types = append(types, e.(string))
			}
		}
		if !hasType(types, v) {
			return []string{fmt.Sprintf("%s: %T %.60v is not %v", at, v, v, types)}
		}
	}
	var errs []string
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, val := range x {
			if ps, ok := props[k]; ok {
				errs = append(errs, validate(ps, val, at+"."+k, comps)...)
			} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
				errs = append(errs, validate(ap, val, at+"."+k, comps)...)
			} else if props != nil || s["additionalProperties"] == false {
				errs = append(errs, fmt.Sprintf("%s.%s: not in the schema", at, k))
			}
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := x[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s.%s: required but missing", at, r))
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range x {
				errs = append(errs, validate(items, e, fmt.Sprintf("%s[%d]", at, i), comps)...)
			}
		}
	}
	return errs
}

func hasType(types []string, v any) bool {
	for _, t := range types {
		switch x := v.(type) {
		case nil:
			if t == "null" {
				return true
			}
		case bool:
			if t == "boolean" {
				return true
			}
		case float64:
			if t == "number" || (t == "integer" && x == float64(int64(x))) {
				return true
			}
		case string:
			if t == "string" {
				return true
			}
		case []any:
			if t == "array" {
				return true
			}
		case map[string]any:
			if t == "object" {
				return true
			}
		}
	}
	return false
}

// raw sends a JSON request and returns the status and the body as sent.
func (f *connectFixture) raw(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}
