package sandbox

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GraphQL: the one query shape labsync needs, pipelines of a project a
// page at a time with their timings,
//
//	query($path: ID!, $after: String) {
//	  project(fullPath: $path) {
//	    pipelines(first: 100, after: $after) {
//	      pageInfo { hasNextPage endCursor }
//	      nodes { id iid status duration startedAt finishedAt createdAt updatedAt }
//	    }
//	  }
//	}
//
// served at GET (and POST) /api/graphql as GitLab's GraphqlController does
// (app/controllers/graphql_controller.rb): the query and its JSON
// variables come as parameters; a mutation over GET or HEAD answers 422
// {"errors":[{"message":"Mutations are forbidden in GET requests"}]}; a
// query above 10,000 characters 422 "Query too large"; an unknown token 401
// "Invalid token". Anything the sandbox does not model (other root fields,
// other types' fields, fragments, directives, subscriptions) answers 200
// with graphql-ruby's error objects — "Field 'x' doesn't exist on type
// 'Pipeline'" with locations, path and extensions {code: undefinedField} —
// as GitLab answers for fields it does not have. Mutations over POST are
// refused the same way: the sandbox models none.
//
// Versions: the GraphQL API is on by default from 12.1 (the graphql feature
// flag); before, /api/graphql answers 404. Project.pipelines with id, iid,
// sha, beforeSha, status, duration, coverage, createdAt, updatedAt,
// startedAt, finishedAt and committedAt exist from then on (the Pipeline
// type of 11.x already had them). queuedDuration from 13.12 (gitlab!59901,
// see hasQueuedDuration). ref from 13.6 (an estimate: a copy of
// app/graphql/types/ci/pipeline_type.rb from about 14.0 has ref, an older
// one of 13.x has not; the release between was not found). source from
// 16.8 (an estimate: the 14.0-era copy has no source field; it is in a
// later copy next to type, child, latest and the other pipeline-detail
// fields of gitlab#433244, gitlab!141083, December 2023). The
// updatedAfter/updatedBefore arguments from 14.7 (an estimate:
// app/graphql/resolvers/concerns/resolves_pipelines.rb has them in a
// 15.0-era copy and not in a 14.x copy that already uses
// GraphQL::Types::String; gitlab!77396, December 2021, which added
// arguments to Project.pipelines for gitlab#218728, is the likely source
// and its release was not found). Ids are global ids ("gid://gitlab/Ci::Pipeline/42")
// on every version: Types::BaseObject#id answers GitlabSchema.id_from_object
// ("All graphql fields exposing an id, should expose a global id",
// app/graphql/types/base_object.rb).
// Pages are keyset connections ordered by id, newest first; cursors are
// opaque (base64 of {"id":"…"}); first is capped at 100 and defaults to 100.
// A project the caller cannot read is null; one with CI/CD disabled lists
// no pipelines.

const graphqlMaxQuerySize = 10000

func (v version) hasGraphQL() bool            { return v.atLeast(12, 1) }
func (v version) hasPipelineRef() bool        { return v.atLeast(13, 6) }
func (v version) hasPipelineSource() bool     { return v.atLeast(16, 8) }
func (v version) hasPipelineUpdatedArg() bool { return v.atLeast(14, 7) }

// gqlField is one field of a selection set.
type gqlField struct {
	alias, name string
	args        map[string]gqlValue
	sel         []*gqlField
	line, col   int
}

func (f *gqlField) key() string { return cmp.Or(f.alias, f.name) }

// gqlValue is an argument value: a literal or a $variable.
type gqlValue struct {
	variable string
	lit      any
}

type gqlError struct {
	Message    string           `json:"message"`
	Locations  []map[string]int `json:"locations,omitempty"`
	Path       []string         `json:"path,omitempty"`
	Extensions map[string]any   `json:"extensions,omitempty"`
}

func (e *gqlError) Error() string { return e.Message }

// --- lexing and parsing ---------------------------------------------------

type gqlToken struct {
	kind      byte // 'n' name, 's' string, 'i' int, 'f' float, 'p' punctuator, 'v' $variable, 0 end
	text      string
	line, col int
}

func gqlLex(src string) ([]gqlToken, error) {
	var out []gqlToken
	line, col := 1, 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line, col, i = line+1, 1, i+1
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == ',' || c == 0xef || c == 0xbb || c == 0xbf:
			i, col = i+1, col+1
			continue
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		}
		start, sc := i, col
		switch {
		case c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					default:
						b.WriteByte(src[j])
					}
				} else if src[j] == '\n' {
					break
				} else {
					b.WriteByte(src[j])
				}
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil, &gqlError{Message: fmt.Sprintf("Parse error on bad Unicode escape sequence: %q (error) at [%d, %d]", src[start:min(j, len(src))], line, sc),
					Locations: []map[string]int{{"line": line, "column": sc}}}
			}
			out = append(out, gqlToken{'s', b.String(), line, sc})
			i = j + 1
		case c == '$' || c == '_' || isLetter(c):
			j := i + 1
			for j < len(src) && (src[j] == '_' || isLetter(src[j]) || isDigit(src[j])) {
				j++
			}
			kind := byte('n')
			if c == '$' {
				kind = 'v'
			}
			out = append(out, gqlToken{kind, src[i:j], line, sc})
			i = j
		case c == '-' || isDigit(c):
			j := i + 1
			kind := byte('i')
			for j < len(src) && (isDigit(src[j]) || src[j] == '.' || src[j] == 'e' || src[j] == 'E') {
				if !isDigit(src[j]) {
					kind = 'f'
				}
				j++
			}
			out = append(out, gqlToken{kind, src[i:j], line, sc})
			i = j
		case strings.IndexByte("{}()[]:!=@|&", c) >= 0:
			out = append(out, gqlToken{'p', string(c), line, sc})
			i++
		case c == '.' && strings.HasPrefix(src[i:], "..."):
			out = append(out, gqlToken{'p', "...", line, sc})
			i += 3
		default:
			return nil, &gqlError{Message: fmt.Sprintf("Parse error on %q (error) at [%d, %d]", string(c), line, sc),
				Locations: []map[string]int{{"line": line, "column": sc}}}
		}
		col += i - start
	}
	return append(out, gqlToken{kind: 0, line: line, col: col}), nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

type gqlParser struct {
	toks []gqlToken
	pos  int
}

func (p *gqlParser) peek() gqlToken { return p.toks[p.pos] }
func (p *gqlParser) next() gqlToken {
	t := p.toks[p.pos]
	p.pos = min(p.pos+1, len(p.toks)-1)
	return t
}

func (p *gqlParser) fail(t gqlToken) error {
	what, kind := t.text, map[byte]string{'n': "IDENTIFIER", 's': "STRING", 'i': "INT", 'f': "FLOAT", 'p': "PUNCTUATOR", 'v': "VAR_SIGN", 0: "EOF"}[t.kind]
	if t.kind == 0 {
		what = "end of file"
	}
	return &gqlError{Message: fmt.Sprintf("Parse error on %q (%s) at [%d, %d]", what, kind, t.line, t.col),
		Locations: []map[string]int{{"line": t.line, "column": t.col}}}
}

func (p *gqlParser) expect(text string) error {
	if t := p.next(); t.kind != 'p' || t.text != text {
		return p.fail(t)
	}
	return nil
}

// gqlOperation is the parsed document: one operation.
type gqlOperation struct {
	kind string // query, mutation, subscription
	vars map[string]gqlValue
	sel  []*gqlField
}

func gqlParse(src string) (*gqlOperation, error) {
	toks, err := gqlLex(src)
	if err != nil {
		return nil, err
	}
	p := &gqlParser{toks: toks}
	op := &gqlOperation{kind: "query", vars: map[string]gqlValue{}}
	t := p.peek()
	if t.kind == 'n' {
		switch t.text {
		case "query", "mutation", "subscription":
			op.kind = t.text
			p.next()
		case "fragment":
			return nil, &gqlError{Message: "The sandbox's GraphQL takes no fragments", Locations: []map[string]int{{"line": t.line, "column": t.col}}}
		default:
			return nil, p.fail(t)
		}
		if p.peek().kind == 'n' { // operation name
			p.next()
		}
		if t := p.peek(); t.kind == 'p' && t.text == "(" {
			p.next()
			for {
				t := p.next()
				if t.kind == 'p' && t.text == ")" {
					break
				}
				if t.kind != 'v' {
					return nil, p.fail(t)
				}
				if err := p.expect(":"); err != nil {
					return nil, err
				}
				if err := p.skipType(); err != nil {
					return nil, err
				}
				def := gqlValue{}
				if t2 := p.peek(); t2.kind == 'p' && t2.text == "=" {
					p.next()
					if def, err = p.value(); err != nil {
						return nil, err
					}
				}
				op.vars[t.text[1:]] = def
			}
		}
	}
	if op.sel, err = p.selectionSet(); err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != 0 {
		if t.kind == 'n' && (t.text == "query" || t.text == "mutation" || t.text == "fragment") {
			return nil, &gqlError{Message: "The sandbox's GraphQL takes one operation per document", Locations: []map[string]int{{"line": t.line, "column": t.col}}}
		}
		return nil, p.fail(t)
	}
	return op, nil
}

func (p *gqlParser) skipType() error {
	t := p.next()
	switch {
	case t.kind == 'n':
	case t.kind == 'p' && t.text == "[":
		if err := p.skipType(); err != nil {
			return err
		}
		if err := p.expect("]"); err != nil {
			return err
		}
	default:
		return p.fail(t)
	}
	if t := p.peek(); t.kind == 'p' && t.text == "!" {
		p.next()
	}
	return nil
}

func (p *gqlParser) value() (gqlValue, error) {
	t := p.next()
	switch t.kind {
	case 'v':
		return gqlValue{variable: t.text[1:]}, nil
	case 's':
		return gqlValue{lit: t.text}, nil
	case 'i':
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return gqlValue{}, p.fail(t)
		}
		return gqlValue{lit: n}, nil
	case 'f':
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return gqlValue{}, p.fail(t)
		}
		return gqlValue{lit: f}, nil
	case 'n':
		switch t.text {
		case "true":
			return gqlValue{lit: true}, nil
		case "false":
			return gqlValue{lit: false}, nil
		case "null":
			return gqlValue{}, nil
		}
		return gqlValue{lit: gqlEnum(t.text)}, nil
	case 'p':
		switch t.text {
		case "[":
			var list []any
			for {
				if n := p.peek(); n.kind == 'p' && n.text == "]" {
					p.next()
					return gqlValue{lit: list}, nil
				}
				v, err := p.value()
				if err != nil {
					return gqlValue{}, err
				}
				list = append(list, v.lit)
			}
		case "{":
			obj := map[string]any{}
			for {
				k := p.next()
				if k.kind == 'p' && k.text == "}" {
					return gqlValue{lit: obj}, nil
				}
				if k.kind != 'n' {
					return gqlValue{}, p.fail(k)
				}
				if err := p.expect(":"); err != nil {
					return gqlValue{}, err
				}
				v, err := p.value()
				if err != nil {
					return gqlValue{}, err
				}
				obj[k.text] = v.lit
			}
		}
	}
	return gqlValue{}, p.fail(t)
}

// gqlEnum is an enum literal such as SUCCESS.
type gqlEnum string

func (p *gqlParser) selectionSet() ([]*gqlField, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var out []*gqlField
	for {
		t := p.next()
		if t.kind == 'p' && t.text == "}" {
			if len(out) == 0 {
				return nil, p.fail(t)
			}
			return out, nil
		}
		if t.kind == 'p' && (t.text == "..." || t.text == "@") {
			return nil, &gqlError{Message: "The sandbox's GraphQL takes no fragments or directives", Locations: []map[string]int{{"line": t.line, "column": t.col}}}
		}
		if t.kind != 'n' {
			return nil, p.fail(t)
		}
		f := &gqlField{name: t.text, line: t.line, col: t.col}
		if n := p.peek(); n.kind == 'p' && n.text == ":" {
			p.next()
			nt := p.next()
			if nt.kind != 'n' {
				return nil, p.fail(nt)
			}
			f.alias, f.name = t.text, nt.text
		}
		if n := p.peek(); n.kind == 'p' && n.text == "(" {
			p.next()
			f.args = map[string]gqlValue{}
			for {
				at := p.next()
				if at.kind == 'p' && at.text == ")" {
					break
				}
				if at.kind != 'n' {
					return nil, p.fail(at)
				}
				if err := p.expect(":"); err != nil {
					return nil, err
				}
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				f.args[at.text] = v
			}
		}
		if n := p.peek(); n.kind == 'p' && n.text == "@" {
			return nil, &gqlError{Message: "The sandbox's GraphQL takes no fragments or directives", Locations: []map[string]int{{"line": n.line, "column": n.col}}}
		}
		if n := p.peek(); n.kind == 'p' && n.text == "{" {
			sel, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			f.sel = sel
		}
		out = append(out, f)
	}
}

// --- execution ------------------------------------------------------------

// gqlObject keeps the order of the selection in the answer.
type gqlObject []struct {
	k string
	v any
}

func (o gqlObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.k)
		v, err := json.Marshal(kv.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o *gqlObject) set(k string, v any) {
	*o = append(*o, struct {
		k string
		v any
	}{k, v})
}

type gqlExec struct {
	s    *Sandbox
	user *user
	vars map[string]any
	errs []*gqlError
}

func (x *gqlExec) undefined(f *gqlField, typ string, path []string) {
	x.errs = append(x.errs, &gqlError{Message: fmt.Sprintf("Field '%s' doesn't exist on type '%s'", f.name, typ),
		Locations: []map[string]int{{"line": f.line, "column": f.col}}, Path: append(slices.Clone(path), f.key()),
		Extensions: map[string]any{"code": "undefinedField", "typeName": typ, "fieldName": f.name}})
}

func (x *gqlExec) badArg(f *gqlField, arg string, path []string) {
	x.errs = append(x.errs, &gqlError{Message: fmt.Sprintf("Field '%s' doesn't accept argument '%s'", f.name, arg),
		Locations: []map[string]int{{"line": f.line, "column": f.col}}, Path: append(slices.Clone(path), f.key(), arg),
		Extensions: map[string]any{"code": "argumentNotAccepted", "name": f.name, "typeName": "Field", "argumentName": arg}})
}

func (x *gqlExec) arg(f *gqlField, name string) (any, bool) {
	v, ok := f.args[name]
	if !ok {
		return nil, false
	}
	if v.variable != "" {
		val, ok := x.vars[v.variable]
		return val, ok && val != nil
	}
	return v.lit, v.lit != nil
}

// checkArgs reports arguments the field does not take.
func (x *gqlExec) checkArgs(f *gqlField, path []string, allowed ...string) bool {
	ok := true
	for a := range f.args {
		if !slices.Contains(allowed, a) {
			x.badArg(f, a, path)
			ok = false
		}
	}
	return ok
}

func (x *gqlExec) query(sel []*gqlField) gqlObject {
	out := gqlObject{}
	path := []string{"query"}
	for _, f := range sel {
		switch f.name {
		case "__typename":
			out.set(f.key(), "Query")
		case "project":
			if !x.checkArgs(f, path, "fullPath") {
				continue
			}
			out.set(f.key(), x.project(f, append(path, f.key())))
		default:
			x.undefined(f, "Query", path)
		}
	}
	return out
}

func (x *gqlExec) project(f *gqlField, path []string) any {
	v, _ := x.arg(f, "fullPath")
	full, _ := v.(string)
	p := x.s.projectByRef(full)
	if p == nil || p.deleted || !canRead(p, x.user) || full == "" || strings.Trim(full, "0123456789") == "" {
		return nil
	}
	out := gqlObject{}
	for _, g := range f.sel {
		switch g.name {
		case "__typename":
			out.set(g.key(), "Project")
		case "id":
			out.set(g.key(), fmt.Sprintf("gid://gitlab/Project/%d", p.id))
		case "fullPath":
			out.set(g.key(), p.fullPath())
		case "pipelines":
			out.set(g.key(), x.pipelines(p, g, path))
		default:
			x.undefined(g, "Project", path)
		}
	}
	return out
}

func gqlCursor(id int64) string {
	b, _ := json.Marshal(map[string]string{"id": strconv.FormatInt(id, 10)})
	return base64.StdEncoding.EncodeToString(b)
}

func (x *gqlExec) pipelines(p *project, f *gqlField, path []string) any {
	s := x.s
	allowed := []string{"first", "after", "status", "ref", "sha"}
	if s.ver.hasPipelineUpdatedArg() {
		allowed = append(allowed, "updatedAfter", "updatedBefore")
	}
	if !x.checkArgs(f, path, allowed...) {
		return nil
	}
	first := int64(100)
	if v, ok := x.arg(f, "first"); ok {
		n, isInt := gqlInt(v)
		if !isInt || n < 0 {
			x.errs = append(x.errs, &gqlError{Message: "first must be a non-negative integer", Path: append(slices.Clone(path), f.key())})
			return nil
		}
		first = min(n, 100)
	}
	var afterID int64
	if v, ok := x.arg(f, "after"); ok {
		c, _ := v.(string)
		id, ok := parseGQLCursor(c)
		if !ok {
			x.errs = append(x.errs, &gqlError{Message: "Please provide a valid cursor", Path: append(slices.Clone(path), f.key())})
			return nil
		}
		afterID = id
	}
	str := func(name string) string {
		switch v, _ := x.arg(f, name); v := v.(type) {
		case string:
			return v
		case gqlEnum:
			return string(v)
		}
		return ""
	}
	status, ref, sha := strings.ToLower(str("status")), str("ref"), str("sha")
	var upAfter, upBefore time.Time
	for _, a := range []struct {
		name string
		dst  *time.Time
	}{{"updatedAfter", &upAfter}, {"updatedBefore", &upBefore}} {
		if v := str(a.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				x.errs = append(x.errs, &gqlError{Message: fmt.Sprintf("Argument '%s' on Field 'pipelines' has an invalid value (%q). Expected type 'Time'.", a.name, v),
					Path: append(slices.Clone(path), f.key()), Extensions: map[string]any{"code": "argumentLiteralsIncompatible"}})
				return nil
			}
			*a.dst = t
		}
	}
	var pls []*pipeline
	if p.ciEnabled {
		for _, pl := range p.pipelines {
			if (status != "" && pl.status != status) || (ref != "" && pl.ref != ref) || (sha != "" && pl.sha != sha) ||
				(!upAfter.IsZero() && pl.updated.Before(upAfter)) || (!upBefore.IsZero() && pl.updated.After(upBefore)) {
				continue
			}
			pls = append(pls, pl)
		}
	}
	slices.SortFunc(pls, func(a, b *pipeline) int { return cmp.Compare(b.id, a.id) })
	start := 0
	if afterID > 0 {
		for start < len(pls) && pls[start].id >= afterID {
			start++
		}
	}
	end := min(start+int(first), len(pls))
	page := pls[start:end]
	cpath := append(slices.Clone(path), f.key())
	out := gqlObject{}
	for _, g := range f.sel {
		switch g.name {
		case "__typename":
			out.set(g.key(), "PipelineConnection")
		case "count":
			out.set(g.key(), len(pls))
		case "pageInfo":
			pi := gqlObject{}
			for _, h := range g.sel {
				switch h.name {
				case "hasNextPage":
					pi.set(h.key(), end < len(pls))
				case "hasPreviousPage":
					pi.set(h.key(), start > 0)
				case "endCursor", "startCursor":
					var c any
					if len(page) > 0 {
						c = gqlCursor(page[len(page)-1].id)
						if h.name == "startCursor" {
							c = gqlCursor(page[0].id)
						}
					}
					pi.set(h.key(), c)
				case "__typename":
					pi.set(h.key(), "PageInfo")
				default:
					x.undefined(h, "PageInfo", append(cpath, g.key()))
				}
			}
			out.set(g.key(), pi)
		case "nodes":
			nodes := make([]any, 0, len(page))
			for i, pl := range page {
				nodes = append(nodes, x.pipeline(pl, g.sel, append(cpath, g.key()), i == 0))
			}
			out.set(g.key(), nodes)
		case "edges":
			edges := make([]any, 0, len(page))
			for i, pl := range page {
				e := gqlObject{}
				for _, h := range g.sel {
					switch h.name {
					case "cursor":
						e.set(h.key(), gqlCursor(pl.id))
					case "node":
						e.set(h.key(), x.pipeline(pl, h.sel, append(cpath, g.key(), h.key()), i == 0))
					default:
						if i == 0 {
							x.undefined(h, "PipelineEdge", append(cpath, g.key()))
						}
					}
				}
				edges = append(edges, e)
			}
			out.set(g.key(), edges)
		default:
			x.undefined(g, "PipelineConnection", cpath)
		}
	}
	return out
}

func gqlInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64: // from JSON variables
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}

func parseGQLCursor(c string) (int64, bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(c); err != nil {
			return 0, false
		}
	}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil {
		return 0, false
	}
	id, err := strconv.ParseInt(m["id"], 10, 64)
	return id, err == nil
}

func gqlTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// pipeline renders one Pipeline; errors for unknown fields are reported
// once (report is true for the first node).
func (x *gqlExec) pipeline(pl *pipeline, sel []*gqlField, path []string, report bool) gqlObject {
	s := x.s
	out := gqlObject{}
	for _, f := range sel {
		var v any
		switch f.name {
		case "__typename":
			v = "Pipeline"
		case "id":
			v = fmt.Sprintf("gid://gitlab/Ci::Pipeline/%d", pl.id)
		case "iid":
			v = strconv.FormatInt(pl.iid, 10)
		case "sha":
			v = pl.sha
		case "beforeSha":
			v = zeroSHA(pl.p.sha256)
		case "status":
			v = strings.ToUpper(pl.status)
		case "duration":
			if !pl.started.IsZero() && !pl.finished.IsZero() {
				v = int64(pl.finished.Sub(pl.started) / time.Second)
			}
		case "coverage":
			v = nil
		case "createdAt":
			v = gqlTime(pl.created)
		case "updatedAt":
			v = gqlTime(pl.updated)
		case "startedAt":
			v = gqlTime(pl.started)
		case "finishedAt":
			v = gqlTime(pl.finished)
		case "committedAt":
			v = gqlTime(pipelineCommit(s, pl).created)
		case "ref", "source", "queuedDuration":
			if (f.name == "ref" && !s.ver.hasPipelineRef()) || (f.name == "source" && !s.ver.hasPipelineSource()) ||
				(f.name == "queuedDuration" && !s.ver.hasQueuedDuration()) {
				if report {
					x.undefined(f, "Pipeline", path)
				}
				continue
			}
			switch f.name {
			case "ref":
				v = pl.ref
			case "source":
				v = pl.source
			default:
				if !pl.started.IsZero() {
					v = pl.started.Sub(pl.created).Seconds()
				}
			}
		default:
			if report {
				x.undefined(f, "Pipeline", path)
			}
			continue
		}
		out.set(f.key(), v)
	}
	return out
}

// serveGraphQL serves /api/graphql.
func (s *Sandbox) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if !s.ver.hasGraphQL() {
		writeErr(w, &apiError{status: http.StatusNotFound, text: "Not Found\n"})
		return
	}
	gqlErr := func(status int, msg string) {
		writeJSON(w, status, map[string]any{"errors": []map[string]string{{"message": msg}}})
	}
	// Injected faults, as on the REST API (serveAPI): stalls, then a share
	// of 500s (GitLab's GraphQL error shape) and 502s (nginx's page).
	if f := s.faults.Load(); f.StallRate > 0 && rand.Float64() < f.StallRate {
		t := time.NewTimer(f.StallFor)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			w.WriteHeader(499)
			return
		}
	} else if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		if rand.IntN(2) == 0 {
			gqlErr(http.StatusInternalServerError, "Internal server error")
		} else {
			writeErr(w, &apiError{status: http.StatusBadGateway, text: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"})
		}
		return
	}
	tokValue := tokenFromRequest(r)
	if err := s.rate.check(s, w, r, tokValue); err != nil {
		writeErr(w, err)
		return
	}
	var u *user
	if tokValue != "" {
		t, err := s.authenticate(tokValue)
		if err != nil {
			gqlErr(http.StatusUnauthorized, "Invalid token")
			return
		}
		if checkScope(t, http.MethodGet, accessRead, s.ver.hasReadAPI()) != nil {
			// An api or read_api scope is needed (GraphqlController
			// authenticates with the graphql_api scopes).
			gqlErr(http.StatusForbidden, "API not accessible for user")
			return
		}
		u = t.user
	}
	query, rawVars := r.URL.Query().Get("query"), r.URL.Query().Get("variables")
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var in struct {
			Query     string          `json:"query"`
			Variables json.RawMessage `json:"variables"`
		}
		if json.Unmarshal(body, &in) == nil && in.Query != "" {
			query, rawVars = in.Query, string(in.Variables)
		}
	}
	if len(query) > graphqlMaxQuerySize {
		gqlErr(http.StatusUnprocessableEntity, "Query too large")
		return
	}
	vars := map[string]any{}
	if rawVars != "" && rawVars != "null" {
		if err := json.Unmarshal([]byte(rawVars), &vars); err != nil {
			gqlErr(http.StatusUnprocessableEntity, "Unexpected end of document")
			return
		}
	}
	if strings.TrimSpace(query) == "" {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []map[string]string{{"message": "No query string was present"}}})
		return
	}
	op, err := gqlParse(query)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []error{err}})
		return
	}
	if op.kind == "mutation" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		gqlErr(http.StatusUnprocessableEntity, "Mutations are forbidden in "+r.Method+" requests")
		return
	}
	if op.kind != "query" {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []map[string]string{{"message": "The sandbox's GraphQL models queries only, no " + op.kind + "s"}}})
		return
	}
	for name, def := range op.vars {
		if _, ok := vars[name]; !ok && def.lit != nil {
			vars[name] = def.lit
		}
	}
	x := &gqlExec{s: s, user: u, vars: vars}
	s.reap()
	s.mu.RLock()
	data := x.query(op.sel)
	body, err := json.Marshal(data)
	s.mu.RUnlock()
	if err != nil {
		gqlErr(http.StatusInternalServerError, "Internal server error")
		return
	}
	if len(x.errs) > 0 {
		// graphql-ruby answers validation errors without data.
		writeJSON(w, http.StatusOK, map[string]any{"errors": x.errs})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"data":`))
	_, _ = w.Write(body)
	_, _ = w.Write([]byte("}"))
}
